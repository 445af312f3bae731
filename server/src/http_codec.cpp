#include "http_codec.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "server_core.h"

namespace sy::serve {

using Json = nlohmann::json;

namespace {

ServeError bad(std::string message) { return {ErrorKind::BadRequest, std::move(message)}; }

/// Appends the leaves of a (possibly nested) JSON array in row-major order.
std::optional<ServeError> flatten(const Json& node, std::vector<const Json*>& out, const std::string& what,
                                  int depth) {
  if (depth > 64) return bad(what + ": 'data' is nested too deeply");
  if (node.is_array()) {
    for (const Json& e : node) {
      if (auto err = flatten(e, out, what, depth + 1)) return err;
    }
    return std::nullopt;
  }
  out.push_back(&node);
  return std::nullopt;
}

std::optional<ServeError> tensorFromJson(const Json& data, DType dtype, const Shape& shape, const std::string& what,
                                         Tensor& out) {
  if (!data.is_array()) return bad(what + ": 'data' must be an array");
  std::vector<const Json*> leaves;
  if (auto err = flatten(data, leaves, what, 0)) return err;
  auto numel = checkedNumel(shape);
  if (!numel.ok()) return bad(what + ": bad shape: " + numel.status().message());
  if (static_cast<int64_t>(leaves.size()) != *numel)
    return bad(what + ": shape " + shapeToString(shape) + " needs " + std::to_string(*numel) + " values, 'data' has " +
               std::to_string(leaves.size()));
  auto t = Tensor::allocate(dtype, shape);
  if (!t.ok()) return errorFromStatus(t.status().withContext(what));
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Json& v = *leaves[i];
    const std::string at = what + ": data[" + std::to_string(i) + "]";
    const int64_t flat = static_cast<int64_t>(i);
    if (dtype == DType::Bool) {
      if (!v.is_boolean()) return bad(at + " must be true or false for BOOL, got " + v.dump());
      t->setInt(flat, v.get<bool>() ? 1 : 0);
    } else if (isFloat(dtype)) {
      if (!v.is_number()) return bad(at + " must be a number, got " + v.dump());
      t->setDouble(flat, v.get<double>());
    } else {
      if (!v.is_number_integer()) return bad(at + " must be an integer for " + std::string(datatypeName(dtype)) + ", got " + v.dump());
      if (dtype == DType::U64) {
        if (!v.is_number_unsigned()) return bad(at + " = " + v.dump() + " is out of range for UINT64");
        t->setInt(flat, static_cast<int64_t>(v.get<uint64_t>()));  // the bits of the u64
        continue;
      }
      int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
      if (dtype == DType::I8) lo = -128, hi = 127;
      if (dtype == DType::I16) lo = std::numeric_limits<int16_t>::min(), hi = std::numeric_limits<int16_t>::max();
      if (dtype == DType::I32) lo = std::numeric_limits<int32_t>::min(), hi = std::numeric_limits<int32_t>::max();
      if (dtype == DType::U8) lo = 0, hi = 255;
      if (dtype == DType::U16) lo = 0, hi = std::numeric_limits<uint16_t>::max();
      if (dtype == DType::U32) lo = 0, hi = std::numeric_limits<uint32_t>::max();
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        return bad(at + " = " + v.dump() + " is out of range for " + std::string(datatypeName(dtype)));
      const int64_t x = v.get<int64_t>();
      if (x < lo || x > hi) return bad(at + " = " + v.dump() + " is out of range for " + std::string(datatypeName(dtype)));
      t->setInt(flat, x);
    }
  }
  out = std::move(*t);
  return std::nullopt;
}

std::optional<bool> boolParameter(const Json& parameters, const char* key, const std::string& what,
                                  std::optional<ServeError>& error) {
  if (!parameters.is_object() || !parameters.contains(key)) return std::nullopt;
  const Json& v = parameters[key];
  if (!v.is_boolean()) {
    error = bad(what + ": parameter '" + key + "' must be true or false");
    return std::nullopt;
  }
  return v.get<bool>();
}

Json outputData(const Tensor& t) {
  Json data = Json::array();
  const int64_t n = t.numel();
  if (t.dtype() == DType::Bool) {
    for (int64_t i = 0; i < n; ++i) data.push_back(t.getInt(i) != 0);
  } else if (t.dtype() == DType::F32) {
    const float* p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) data.push_back(std::isfinite(p[i]) ? Json(p[i]) : Json(nullptr));
  } else if (isFloat(t.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      const double v = t.getDouble(i);
      data.push_back(std::isfinite(v) ? Json(v) : Json(nullptr));
    }
  } else if (t.dtype() == DType::U64) {
    for (int64_t i = 0; i < n; ++i) data.push_back(static_cast<uint64_t>(t.getInt(i)));
  } else {
    for (int64_t i = 0; i < n; ++i) data.push_back(t.getInt(i));
  }
  return data;
}

Json tensorInfoJson(const TensorInfo& info) {
  Json shape = Json::array();
  for (int64_t d : info.shape) shape.push_back(d);
  return Json{{"name", info.name}, {"datatype", std::string(datatypeName(info.dtype))}, {"shape", shape}};
}

}  // namespace

namespace {

std::optional<ServeError> decodeChecked(std::string_view body, std::optional<size_t> jsonLength, InferRequest& out) {
  if (jsonLength && *jsonLength > body.size())
    return bad("Inference-Header-Content-Length is " + std::to_string(*jsonLength) + " but the body has only " +
               std::to_string(body.size()) + " bytes");
  const std::string_view jsonText = jsonLength ? body.substr(0, *jsonLength) : body;
  std::string_view binary = jsonLength ? body.substr(*jsonLength) : std::string_view();
  Json j;
  try {
    j = Json::parse(jsonText.begin(), jsonText.end());
  } catch (const Json::exception& e) {
    return bad(std::string("malformed JSON in the request: ") + e.what());
  }
  if (!j.is_object()) return bad("the request must be a JSON object with 'inputs'");
  std::optional<ServeError> error;
  if (j.contains("id")) {
    if (!j["id"].is_string()) return bad("'id' must be a string");
    out.id = j["id"].get<std::string>();
  }
  if (j.contains("parameters")) {
    if (!j["parameters"].is_object()) return bad("'parameters' must be an object");
    if (auto b = boolParameter(j["parameters"], "binary_data_output", "request", error)) out.binaryOutputs = *b;
    if (error) return error;
  }
  if (!j.contains("inputs") || !j["inputs"].is_array()) return bad("the request needs an 'inputs' array");
  size_t index = 0;
  for (const Json& in : j["inputs"]) {
    const std::string at = "inputs[" + std::to_string(index++) + "]";
    if (!in.is_object()) return bad(at + " must be an object");
    if (!in.contains("name") || !in["name"].is_string()) return bad(at + " needs a string 'name'");
    const std::string name = in["name"].get<std::string>();
    const std::string what = "input '" + name + "'";
    if (!in.contains("datatype") || !in["datatype"].is_string()) return bad(what + " needs a string 'datatype'");
    std::string dtypeError;
    auto dtype = parseDatatype(in["datatype"].get<std::string>(), &dtypeError);
    if (!dtype) return bad(what + ": " + dtypeError);
    if (!in.contains("shape") || !in["shape"].is_array()) return bad(what + " needs a 'shape' array");
    Shape shape;
    for (const Json& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        return bad(what + ": 'shape' must hold non-negative integers, got " + in["shape"].dump());
      shape.push_back(d.get<int64_t>());
    }
    if (shape.size() > 32) return bad(what + ": rank " + std::to_string(shape.size()) + " is more than 32");
    Tensor tensor;
    const Json params = in.value("parameters", Json::object());
    if (params.is_object() && params.contains("binary_data_size")) {
      const Json& size = params["binary_data_size"];
      if (!size.is_number_integer() || size.get<int64_t>() < 0)
        return bad(what + ": 'binary_data_size' must be a non-negative integer");
      const uint64_t n = size.get<uint64_t>();
      if (!jsonLength) return bad(what + " has binary_data_size but the request has no Inference-Header-Content-Length header");
      if (n > binary.size())
        return bad(what + ": binary_data_size is " + std::to_string(n) + " but only " + std::to_string(binary.size()) +
                   " bytes of binary data are left");
      ServeError e;
      auto t = tensorFromBytes(*dtype, shape, binary.substr(0, n), what, &e);
      if (!t) return e;
      tensor = std::move(*t);
      binary.remove_prefix(n);
    } else {
      if (!in.contains("data")) return bad(what + " has neither 'data' nor a binary_data_size parameter");
      if (auto err = tensorFromJson(in["data"], *dtype, shape, what, tensor)) return err;
    }
    out.inputs.push_back({name, std::move(tensor)});
  }
  if (!binary.empty())
    return bad(std::to_string(binary.size()) + " bytes of binary data after the inputs' binary_data_size parts");
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) return bad("'outputs' must be an array");
    size_t oi = 0;
    for (const Json& o : j["outputs"]) {
      const std::string at = "outputs[" + std::to_string(oi++) + "]";
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) return bad(at + " needs a string 'name'");
      RequestedOutput r;
      r.name = o["name"].get<std::string>();
      r.binary = out.binaryOutputs;
      if (o.contains("parameters")) {
        if (auto b = boolParameter(o["parameters"], "binary_data", "output '" + r.name + "'", error)) r.binary = *b;
        if (error) return error;
      }
      out.outputs.push_back(std::move(r));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ServeError> decodeInferRequest(std::string_view body, std::optional<size_t> jsonLength,
                                             InferRequest& out) {
  // Every access above is checked first; this only keeps a JSON type error
  // that slipped through from becoming a crash.
  try {
    return decodeChecked(body, jsonLength, out);
  } catch (const Json::exception& e) {
    return bad(std::string("the request does not have the expected JSON structure: ") + e.what());
  }
}

EncodedBody encodeInferResponse(const std::string& model, const std::string& version, const InferRequest& request,
                                const InferOutcome& outcome) {
  Json j{{"model_name", model}, {"model_version", version}};
  if (!request.id.empty()) j["id"] = request.id;
  Json outputs = Json::array();
  std::vector<const Tensor*> binaries;
  for (size_t i = 0; i < outcome.outputs.size(); ++i) {
    const NamedTensor& o = outcome.outputs[i];
    bool binary = request.binaryOutputs;
    if (i < request.outputs.size()) binary = request.outputs[i].binary;
    Json shape = Json::array();
    for (int64_t d : o.tensor.shape()) shape.push_back(d);
    Json entry{{"name", o.name}, {"datatype", std::string(datatypeName(o.tensor.dtype()))}, {"shape", shape}};
    if (binary) {
      entry["parameters"] = Json{{"binary_data_size", o.tensor.nbytes()}};
      binaries.push_back(&o.tensor);
    } else {
      entry["data"] = outputData(o.tensor);
    }
    outputs.push_back(std::move(entry));
  }
  j["outputs"] = std::move(outputs);
  EncodedBody out;
  out.body = j.dump();
  if (!binaries.empty()) {
    out.jsonLength = out.body.size();
    for (const Tensor* t : binaries) out.body.append(static_cast<const char*>(t->data()), t->nbytes());
  }
  return out;
}

std::string errorJson(const std::string& message) {
  return Json{{"error", message}}.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string modelMetadataJson(const ModelVersion& model, const std::vector<std::string>& versions) {
  Json inputs = Json::array(), outputs = Json::array();
  for (const TensorInfo& i : model.inputs()) inputs.push_back(tensorInfoJson(i));
  for (const TensorInfo& o : model.outputs()) outputs.push_back(tensorInfoJson(o));
  return Json{{"name", model.name()}, {"versions", versions}, {"platform", model.platform()},
              {"inputs", inputs},     {"outputs", outputs}}
      .dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string serverMetadataJson() {
  return Json{{"name", kServerName}, {"version", kServerVersion}, {"extensions", kExtensions}}.dump();
}

std::string repositoryIndexJson(const std::vector<ModelIndexEntry>& index) {
  Json out = Json::array();
  for (const ModelIndexEntry& e : index) {
    Json entry{{"name", e.name}, {"state", e.state}};
    if (!e.version.empty()) entry["version"] = e.version;
    if (!e.reason.empty()) entry["reason"] = e.reason;
    out.push_back(std::move(entry));
  }
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace sy::serve
