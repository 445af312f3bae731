// The JSON side of the HTTP/REST transport (KServe v2 plus Triton's
// binary-data extension): decoding infer requests, encoding responses and
// metadata. No Beast here, so the unit tests exercise it directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference.h"

namespace sy::serve {

/// Decodes a POST .../infer body. `jsonLength` is the
/// Inference-Header-Content-Length header (nullopt when absent: the whole body
/// is JSON); the binary tensors follow the JSON in input order.
std::optional<ServeError> decodeInferRequest(std::string_view body, std::optional<size_t> jsonLength,
                                             InferRequest& out);

/// An encoded response body; `jsonLength` is set when binary data follows the
/// JSON (send it as Inference-Header-Content-Length, content type
/// application/octet-stream).
struct EncodedBody {
  std::string body;
  std::optional<size_t> jsonLength;
};

/// Encodes a successful outcome: each output as JSON `data` or, when the
/// request asked for binary data for it, as `binary_data_size` plus raw bytes.
EncodedBody encodeInferResponse(const std::string& model, const std::string& version, const InferRequest& request,
                                const InferOutcome& outcome);

/// {"error": message}.
std::string errorJson(const std::string& message);

/// GET /v2/models/{name}: name, versions, platform, inputs, outputs (-1 for variable dims).
std::string modelMetadataJson(const ModelVersion& model, const std::vector<std::string>& versions);
/// GET /v2: name, version, extensions.
std::string serverMetadataJson();
/// POST /v2/repository/index.
std::string repositoryIndexJson(const std::vector<ModelIndexEntry>& index);

}  // namespace sy::serve
