// Reading whole input files (models, configs, .npy) safely: every check comes
// before the first byte is read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/status.h"

namespace sy {

/// Reads the regular file `path` whole, if it holds at most `maxBytes` bytes.
/// The file is opened without blocking and checked on the open descriptor
/// first: a missing file is NotFound; a folder, a FIFO, a socket or a device
/// (e.g. /dev/zero, which would be read until memory runs out) and a file
/// larger than `maxBytes` are InvalidArgument, before anything is read.
/// Messages start with "<what> <path>: ". `limitHint` is added to the
/// too-large message (e.g. "protobuf models must be under 2 GiB").
Result<std::string> readRegularFile(const std::string& path, uint64_t maxBytes, std::string_view what,
                                    std::string_view limitHint = {});

}  // namespace sy
