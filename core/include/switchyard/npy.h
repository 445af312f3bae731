// NumPy .npy files: the exchange format for model inputs and outputs on the
// command line (`switchyard run --input x=x.npy`, `--output-dir`, `--expect`).
//
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//   "\x93NUMPY" major minor, header length (2 bytes LE in 1.0, 4 bytes LE in
//   2.0 and 3.0), a Python dict literal {'descr': '<f4', 'fortran_order':
//   False, 'shape': (2, 3), } padded with spaces and ended by '\n', then the
//   raw C-order data.
//
// Supported dtypes, both ways: '<f4' (f32), '<f2' (f16), '|i1' (i8), '<i4'
// (i32), '<i8' (i64), '|b1' (bool). Everything else is refused with a message
// that says what to convert it to: bf16 has no NumPy dtype, and float64,
// unsigned, big-endian, structured and object arrays have no Switchyard dtype.
// Fortran-order arrays are refused. Every length in the header is checked
// against the bytes present before anything is allocated, so a malformed or
// truncated file is an error naming the file and the problem, never a crash.
#pragma once

#include <string>
#include <string_view>

#include "switchyard/status.h"
#include "switchyard/tensor.h"

namespace sy {

/// Reads a .npy file. Errors name the file.
Result<Tensor> readNpyFile(const std::string& path);

/// Parses the bytes of a .npy file; `origin` names it in errors.
Result<Tensor> parseNpy(std::string_view bytes, const std::string& origin);

/// The .npy bytes of `tensor` (format 1.0, or 2.0 when the header does not fit
/// in 1.0). bf16 is refused (NumPy has no such dtype).
Result<std::string> encodeNpy(const Tensor& tensor);

/// Writes `tensor` to `path` as .npy (replacing the file).
Status writeNpyFile(const Tensor& tensor, const std::string& path);

/// The NumPy descr of a dtype ("<f4"), or an error for bf16.
Result<std::string> npyDescr(DType dtype);

}  // namespace sy
