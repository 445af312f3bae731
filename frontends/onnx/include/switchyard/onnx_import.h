// The ONNX importer: reads an ONNX model (opsets 7 to 18 of the default
// domain; older ones are first upgraded to opset 7 by the ONNX library's
// version converter) into a verified Switchyard Graph.
//
// - Graph inputs are the ONNX graph inputs that are not initializers; outputs
//   are the graph outputs. Types come from the value_info (f32, f16, bf16, i8,
//   i32, i64, bool); dynamic dims become symbols (dim_param names, or
//   `<input>_d<i>` for unnamed ones).
// - Initializers become weights (`weight` nodes). External data is read from
//   files inside the model's folder only: absolute paths, `..` and symlinks
//   that leave the folder are rejected.
// - ONNX ops that are compositions of core ops are lowered (Softplus, Elu,
//   PRelu, variadic Sum/Max/Min/Mean, Softmax before opset 13, ...). ONNX
//   inputs that the core takes as attributes (reduce axes, squeeze axes, clip
//   bounds) must be constants or initializers.
// - An unsupported op is an error that names the node, op and opset and lists
//   every unsupported op of the model at once. Malformed files are errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/ir.h"
#include "switchyard/status.h"
#include "switchyard/tensor.h"

namespace sy {

struct OnnxImportOptions {
  /// Evaluate at import time every node whose inputs are all known (and the
  /// `Shape` of values with static shapes), so that shape computations fold away.
  bool foldConstants = true;
  /// Where the one-line note about an upgraded model (opset below 7, upgraded
  /// by the ONNX version converter) goes; null: printed on stderr.
  std::vector<std::string>* notes = nullptr;
};

/// Loads an .onnx file (and its external data, confined to the model's folder) into a verified Graph.
Result<std::unique_ptr<Graph>> importOnnxFile(const std::string& path, const OnnxImportOptions& = {});

/// From bytes in memory (origin names it in errors; baseDir for external data, "" = external data not allowed).
Result<std::unique_ptr<Graph>> importOnnxBytes(std::string_view bytes, const std::string& origin,
                                               const std::string& baseDir, const OnnxImportOptions& = {});

/// Reads an ONNX TensorProto file (.pb, as in the ONNX backend test data) into a Tensor.
Result<Tensor> readOnnxTensorFile(const std::string& path);

}  // namespace sy
