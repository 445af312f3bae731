#include "inference.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "metrics.h"
#include "switchyard/config.h"
#include "switchyard/program.h"
#if SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

namespace fs = std::filesystem;

namespace sy::serve {

// ---------------------------------------------------------------------------
// Errors and datatypes
// ---------------------------------------------------------------------------

int httpStatusOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadRequest: return 400;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::Unavailable: return 503;
    case ErrorKind::TooLarge: return 413;
    case ErrorKind::Internal: return 500;
  }
  return 500;
}

std::string_view errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadRequest: return "bad_request";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::TooLarge: return "too_large";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

ServeError errorFromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kUnimplemented:
    case StatusCode::kFailedPrecondition:
      return {ErrorKind::BadRequest, status.message()};
    case StatusCode::kNotFound: return {ErrorKind::NotFound, status.message()};
    case StatusCode::kResourceExhausted: return {ErrorKind::TooLarge, status.message()};
    default: return {ErrorKind::Internal, status.message()};
  }
}

std::string_view datatypeName(DType dtype) {
  switch (dtype) {
    case DType::F32: return "FP32";
    case DType::F16: return "FP16";
    case DType::BF16: return "BF16";
    case DType::I8: return "INT8";
    case DType::I32: return "INT32";
    case DType::I64: return "INT64";
    case DType::Bool: return "BOOL";
    case DType::U8: return "UINT8";
    case DType::I16: return "INT16";
    case DType::U16: return "UINT16";
    case DType::U32: return "UINT32";
    case DType::U64: return "UINT64";
    case DType::F64: return "FP64";
  }
  return "FP32";
}

std::optional<DType> parseDatatype(std::string_view name, std::string* error) {
  for (DType d : kAllDTypes) {
    if (datatypeName(d) == name) return d;
  }
  if (error) {
    *error = "datatype '" + std::string(name) +
             "' is not supported (Switchyard accepts FP32, FP64, FP16, BF16, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64, BOOL)";
  }
  return std::nullopt;
}

namespace {

std::string shapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string infoText(const TensorInfo& info) {
  return std::string(datatypeName(info.dtype)) + " " + (info.rankKnown ? shapeText(info.shape) : "[*]");
}

TensorInfo infoOf(const Value& v) {
  TensorInfo info;
  info.name = v.name();
  info.dtype = v.type().dtype();
  info.rankKnown = v.type().rankKnown();
  if (info.rankKnown && v.type().isTensor()) {
    for (const Dim& d : v.type().dims()) info.shape.push_back(d.isStatic() ? d.value() : -1);
  }
  return info;
}

}  // namespace

std::optional<Tensor> tensorFromBytes(DType dtype, const Shape& shape, std::string_view bytes,
                                      const std::string& what, ServeError* error) {
  auto numel = checkedNumel(shape);
  if (!numel.ok()) {
    *error = {ErrorKind::BadRequest, what + ": bad shape " + shapeText(shape) + ": " + numel.status().message()};
    return std::nullopt;
  }
  const uint64_t expected = static_cast<uint64_t>(*numel) * dtypeSize(dtype);
  if (*numel > 0 && expected / static_cast<uint64_t>(*numel) != dtypeSize(dtype)) {
    *error = {ErrorKind::BadRequest, what + ": shape " + shapeText(shape) + " is too large"};
    return std::nullopt;
  }
  if (bytes.size() != expected) {
    *error = {ErrorKind::BadRequest, what + ": " + std::string(datatypeName(dtype)) + " " + shapeText(shape) +
                                         " needs " + std::to_string(expected) + " bytes, got " +
                                         std::to_string(bytes.size())};
    return std::nullopt;
  }
  auto t = Tensor::allocate(dtype, shape);
  if (!t.ok()) {
    *error = errorFromStatus(t.status().withContext(what));
    return std::nullopt;
  }
  if (expected > 0) std::memcpy(t->mutableData(), bytes.data(), expected);
  if (dtype == DType::Bool) {
    // Only 0 and 1 are valid bool bytes; anything else is read as true.
    auto* p = t->mutableData<uint8_t>();
    for (int64_t i = 0; i < *numel; ++i) p[i] = p[i] != 0;
  }
  return std::move(*t);
}

// ---------------------------------------------------------------------------
// config.yaml
// ---------------------------------------------------------------------------

namespace {

std::string where(const std::string& origin, const YAML::Mark& mark) {
  if (mark.line < 0) return origin;
  return origin + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

Result<int64_t> readInt(const YAML::Node& node, const std::string& key, const std::string& origin, int64_t min,
                        int64_t max) {
  int64_t v = 0;
  try {
    v = node.as<int64_t>();
  } catch (const YAML::Exception&) {
    return invalidArgument(where(origin, node.Mark()), ": '", key, "' must be an integer");
  }
  if (v < min || v > max)
    return invalidArgument(where(origin, node.Mark()), ": '", key, "' must be between ", min, " and ", max, ", got ", v);
  return v;
}

}  // namespace

Result<ModelConfig> parseModelConfig(std::string_view yamlText, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yamlText));
  } catch (const YAML::ParserException& e) {
    return invalidArgument(where(origin, e.mark), ": ", e.msg);
  }
  ModelConfig config;
  if (root.IsNull()) return config;
  if (!root.IsMap()) return invalidArgument(where(origin, root.Mark()), ": expected a mapping of model settings");
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node value = it->second;  // a copy: `*it` is a temporary
    if (key == "device") {
      if (value.IsScalar()) {
        config.devicePath = value.Scalar();
      } else if (value.IsMap()) {
        YAML::Emitter out;
        out << value;
        config.deviceInlineYaml = out.c_str();
      } else {
        return invalidArgument(where(origin, value.Mark()),
                               ": 'device' must be a device config file name or an inline device config mapping");
      }
    } else if (key == "max_batch_size") {
      SY_ASSIGN_OR_RETURN(config.maxBatchSize, readInt(value, key, origin, 0, 1 << 20));
    } else if (key == "instance_count") {
      SY_ASSIGN_OR_RETURN(int64_t n, readInt(value, key, origin, 1, 256));
      config.instanceCount = static_cast<int>(n);
    } else if (key == "max_queue_size") {
      SY_ASSIGN_OR_RETURN(config.maxQueueSize, readInt(value, key, origin, 1, 1 << 20));
    } else if (key == "dynamic_batching") {
      if (!value.IsMap() && !value.IsNull())
        return invalidArgument(where(origin, value.Mark()), ": 'dynamic_batching' must be a mapping");
      config.dynamicBatching.enabled = true;
      if (value.IsMap()) {
        for (auto jt = value.begin(); jt != value.end(); ++jt) {
          const std::string sub = jt->first.Scalar();
          if (sub == "enabled") {
            try {
              config.dynamicBatching.enabled = jt->second.as<bool>();
            } catch (const YAML::Exception&) {
              return invalidArgument(where(origin, jt->second.Mark()), ": 'enabled' must be true or false");
            }
          } else if (sub == "max_queue_delay_us") {
            SY_ASSIGN_OR_RETURN(config.dynamicBatching.maxQueueDelayUs,
                                readInt(jt->second, sub, origin, 0, 10'000'000));
          } else {
            return invalidArgument(where(origin, jt->first.Mark()), ": unknown key 'dynamic_batching.", sub,
                                   "' (known: enabled, max_queue_delay_us)");
          }
        }
      }
    } else {
      return invalidArgument(where(origin, it->first.Mark()), ": unknown key '", key,
                             "' (known: device, max_batch_size, dynamic_batching, instance_count, max_queue_size)");
    }
  }
  if (config.dynamicBatching.enabled && config.maxBatchSize == 0)
    return invalidArgument(origin, ": dynamic_batching needs max_batch_size > 0 (the most rows one run may take)");
  return config;
}

Result<ModelConfig> loadModelConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound("cannot open ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parseModelConfig(ss.str(), path);
}

// ---------------------------------------------------------------------------
// Batching helpers
// ---------------------------------------------------------------------------

Result<Tensor> concatBatch(const std::vector<const Tensor*>& parts) {
  if (parts.empty()) return invalidArgument("concatBatch: nothing to concatenate");
  const Tensor& first = *parts[0];
  if (first.rank() < 1) return invalidArgument("concatBatch: rank-0 tensors have no batch dim");
  Shape shape = first.shape();
  int64_t rows = 0;
  for (const Tensor* t : parts) {
    if (t->dtype() != first.dtype() || t->rank() != first.rank() ||
        !std::equal(t->shape().begin() + 1, t->shape().end(), first.shape().begin() + 1))
      return invalidArgument("concatBatch: ", t->typeString(), " does not match ", first.typeString());
    rows += t->dim(0);
  }
  shape[0] = rows;
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::allocate(first.dtype(), shape));
  auto* dst = static_cast<char*>(out.mutableData());
  for (const Tensor* t : parts) {
    if (t->nbytes() > 0) std::memcpy(dst, t->data(), t->nbytes());
    dst += t->nbytes();
  }
  return out;
}

Result<Tensor> sliceBatch(const Tensor& whole, int64_t begin, int64_t count) {
  if (whole.rank() < 1 || begin < 0 || count < 0 || begin + count > whole.dim(0))
    return invalidArgument("sliceBatch: rows [", begin, ", ", begin + count, ") outside ", whole.typeString());
  Shape shape = whole.shape();
  shape[0] = count;
  const size_t rowBytes = whole.dim(0) > 0 ? whole.nbytes() / static_cast<size_t>(whole.dim(0)) : 0;
  auto keep = std::make_shared<const Tensor>(whole);
  const char* base = static_cast<const char*>(whole.data());
  return Tensor::borrow(whole.dtype(), shape, base ? base + rowBytes * static_cast<size_t>(begin) : nullptr,
                        std::shared_ptr<const void>(keep));
}

// ---------------------------------------------------------------------------
// ModelVersion
// ---------------------------------------------------------------------------

std::string ModelVersion::batchingObstacle(const Graph& graph) {
  std::string symbol;
  if (graph.inputs().empty()) return "the model has no inputs";
  for (const Value* v : graph.inputs()) {
    const Type& t = v->type();
    if (!t.isTensor() || !t.rankKnown() || t.rank() < 1 || !t.dim(0).isSymbol())
      return "input '" + v->name() + "' is " + t.toString() + ": its first dim is not symbolic";
    if (symbol.empty()) symbol = t.dim(0).symbolName();
    if (t.dim(0).symbolName() != symbol)
      return "inputs disagree on the batch dim ('" + symbol + "' and '" + t.dim(0).symbolName() + "')";
  }
  for (const Value* v : graph.outputs()) {
    const Type& t = v->type();
    if (!t.rankKnown() || (t.rank() >= 1 && t.dim(0).isUnknown())) continue;  // checked at run time
    if (t.rank() < 1 || !t.dim(0).isSymbol() || t.dim(0).symbolName() != symbol)
      return "output '" + v->name() + "' is " + t.toString() + ": its first dim is not the batch dim '" + symbol + "'";
  }
  return "";
}

ModelVersion::ModelVersion(std::string name, std::string version, std::string platform,
                           std::shared_ptr<const Engine> engine, std::shared_ptr<const Graph> graph,
                           std::shared_ptr<const CompiledModel> compiled, ModelConfig config, ModelMetrics* metrics)
    : name_(std::move(name)),
      version_(std::move(version)),
      platform_(std::move(platform)),
      engine_(std::move(engine)),
      graph_(std::move(graph)),
      compiled_(std::move(compiled)),
      config_(std::move(config)),
      metrics_(metrics) {
  for (const Value* v : graph_->inputs()) inputs_.push_back(infoOf(*v));
  for (const Value* v : graph_->outputs()) outputs_.push_back(infoOf(*v));
  batchable_ = batchingObstacle(*graph_).empty();
  int instances = config_.instanceCount;
  if (instances <= 0) instances = std::max(1u, std::thread::hardware_concurrency());
  for (int i = 0; i < instances; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ModelVersion::~ModelVersion() { stop(); }

void ModelVersion::stop() {
  std::call_once(stopOnce_, [this] {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
  });
}

size_t ModelVersion::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

std::optional<ServeError> ModelVersion::validate(const InferRequest& request, Pending& out) const {
  const std::string model = "model '" + name_ + "'";
  auto bad = [](std::string m) { return ServeError{ErrorKind::BadRequest, std::move(m)}; };
  out.inputs.assign(inputs_.size(), Tensor());
  std::map<std::string, std::pair<int64_t, std::string>> symbols;  // symbol -> (value, bound by input)
  for (const NamedTensor& in : request.inputs) {
    auto it = std::find_if(inputs_.begin(), inputs_.end(), [&](const TensorInfo& i) { return i.name == in.name; });
    if (it == inputs_.end()) {
      std::string names;
      for (const TensorInfo& i : inputs_) names += (names.empty() ? "" : ", ") + i.name;
      return bad("unknown input '" + in.name + "': " + model + " has inputs " + names);
    }
    const size_t idx = static_cast<size_t>(it - inputs_.begin());
    if (out.inputs[idx].valid()) return bad("input '" + in.name + "' is given more than once");
    const Tensor& t = in.tensor;
    const std::string expected = "expected " + infoText(*it);
    if (t.dtype() != it->dtype)
      return bad("input '" + in.name + "': " + expected + ", got datatype " + std::string(datatypeName(t.dtype())));
    if (it->rankKnown) {
      bool ok = static_cast<size_t>(t.rank()) == it->shape.size();
      for (size_t d = 0; ok && d < it->shape.size(); ++d)
        ok = it->shape[d] < 0 || it->shape[d] == t.shape()[d];
      if (!ok) return bad("input '" + in.name + "': " + expected + ", got shape " + shapeText(t.shape()));
      const Type& type = graph_->inputs()[idx]->type();
      for (size_t d = 0; type.isTensor() && d < it->shape.size(); ++d) {
        if (!type.dims()[d].isSymbol()) continue;
        const std::string& sym = type.dims()[d].symbolName();
        auto [pos, inserted] = symbols.emplace(sym, std::make_pair(t.shape()[d], in.name));
        if (!inserted && pos->second.first != t.shape()[d])
          return bad("input '" + in.name + "': dim " + std::to_string(d) + " ('" + sym + "') is " +
                     std::to_string(t.shape()[d]) + ", but input '" + pos->second.second + "' has " + sym + " = " +
                     std::to_string(pos->second.first));
      }
    }
    out.inputs[idx] = t;
  }
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (!out.inputs[i].valid())
      return bad("missing input '" + inputs_[i].name + "' (" + infoText(inputs_[i]) + ") of " + model);
  }
  out.batch = batchable_ ? out.inputs[0].dim(0) : 1;
  if (batchable_ && config_.maxBatchSize > 0 && out.batch > config_.maxBatchSize)
    return bad("input '" + inputs_[0].name + "': batch size " + std::to_string(out.batch) + " exceeds the " + model +
               "'s max_batch_size " + std::to_string(config_.maxBatchSize));
  if (request.outputs.empty()) {
    for (size_t o = 0; o < outputs_.size(); ++o) {
      out.outputIdx.push_back(o);
      out.outputNames.push_back(outputs_[o].name);
    }
  } else {
    for (const RequestedOutput& r : request.outputs) {
      auto it = std::find_if(outputs_.begin(), outputs_.end(), [&](const TensorInfo& i) { return i.name == r.name; });
      if (it == outputs_.end()) {
        std::string names;
        for (const TensorInfo& i : outputs_) names += (names.empty() ? "" : ", ") + i.name;
        return bad("unknown output '" + r.name + "': " + model + " has outputs " + names);
      }
      out.outputIdx.push_back(static_cast<size_t>(it - outputs_.begin()));
      out.outputNames.push_back(r.name);
    }
  }
  return std::nullopt;
}

std::optional<ServeError> ModelVersion::submit(InferRequest&& request, InferCallback done) {
  Pending p;
  if (auto err = validate(request, p)) {
    metrics_->failure[static_cast<int>(err->kind)].fetch_add(1);
    return err;
  }
  p.done = std::move(done);
  p.enqueued = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::optional<ServeError> refused;
    if (stopping_) {
      refused = ServeError{ErrorKind::Unavailable, "model '" + name_ + "' is being unloaded"};
    } else if (static_cast<int64_t>(queue_.size()) >= config_.maxQueueSize) {
      refused = ServeError{ErrorKind::Unavailable, "model '" + name_ + "' has " + std::to_string(queue_.size()) +
                                                       " requests waiting (max_queue_size); retry later"};
    }
    if (refused) {
      metrics_->failure[static_cast<int>(refused->kind)].fetch_add(1);
      return refused;
    }
    queue_.push_back(std::move(p));
  }
  if (config_.dynamicBatching.enabled && batchable_) wake_.notify_all();
  else wake_.notify_one();
  return std::nullopt;
}

std::vector<ModelVersion::Pending> ModelVersion::takeWork(std::unique_lock<std::mutex>& lock) {
  const bool batching = config_.dynamicBatching.enabled && batchable_;
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return {};
      wake_.wait(lock);
      continue;
    }
    std::vector<Pending> work;
    if (!batching) {
      work.push_back(std::move(queue_.front()));
      queue_.pop_front();
      return work;
    }
    // Gather requests whose inputs match the oldest one's in everything but dim 0.
    const Pending& head = queue_.front();
    std::vector<size_t> picks;
    int64_t rows = 0;
    for (size_t i = 0; i < queue_.size(); ++i) {
      const Pending& p = queue_[i];
      bool compatible = rows + p.batch <= config_.maxBatchSize || picks.empty();
      for (size_t k = 0; compatible && k < p.inputs.size(); ++k) {
        const Shape& a = p.inputs[k].shape();
        const Shape& b = head.inputs[k].shape();
        compatible = a.size() == b.size() && std::equal(a.begin() + 1, a.end(), b.begin() + 1);
      }
      if (!compatible) continue;
      picks.push_back(i);
      rows += p.batch;
      if (rows >= config_.maxBatchSize) break;
    }
    const auto deadline = head.enqueued + std::chrono::microseconds(config_.dynamicBatching.maxQueueDelayUs);
    if (rows < config_.maxBatchSize && !stopping_ && Clock::now() < deadline) {
      wake_.wait_until(lock, deadline);
      continue;
    }
    for (size_t i : picks) work.push_back(std::move(queue_[i]));
    for (auto it = picks.rbegin(); it != picks.rend(); ++it) queue_.erase(queue_.begin() + static_cast<long>(*it));
    return work;
  }
}

void ModelVersion::workerLoop() {
  while (true) {
    std::vector<Pending> work;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work = takeWork(lock);
    }
    if (work.empty()) return;
    const auto started = Clock::now();
    if (work.size() == 1) runOne(work[0], started);
    else runBatch(work, started);
  }
}

void ModelVersion::finish(Pending& p, std::vector<Tensor>* outputs, std::optional<ServeError> error,
                          Clock::time_point started, double computeSeconds) {
  InferOutcome outcome;
  outcome.queueSeconds = std::chrono::duration<double>(started - p.enqueued).count();
  outcome.computeSeconds = computeSeconds;
  if (!error && outputs) {
    for (size_t i = 0; i < p.outputIdx.size(); ++i) {
      if (p.outputIdx[i] >= outputs->size()) {
        error = ServeError{ErrorKind::Internal, "the model returned fewer outputs than it declares"};
        break;
      }
      outcome.outputs.push_back({p.outputNames[i], (*outputs)[p.outputIdx[i]]});
    }
  }
  if (error) {
    outcome.outputs.clear();
    outcome.error = std::move(error);
    metrics_->failure[static_cast<int>(outcome.error->kind)].fetch_add(1);
  } else {
    metrics_->success.fetch_add(1);
  }
  metrics_->queueSeconds.observe(outcome.queueSeconds);
  metrics_->computeSeconds.observe(computeSeconds);
  metrics_->requestSeconds.observe(std::chrono::duration<double>(Clock::now() - p.enqueued).count());
  InferCallback done = std::move(p.done);
  try {
    done(std::move(outcome));
  } catch (...) {
    // A transport's callback must not take a worker down with it.
  }
}

void ModelVersion::runOne(Pending& p, Clock::time_point started) {
  const auto t0 = Clock::now();
  auto result = compiled_->run(p.inputs);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  metrics_->executions.fetch_add(1);
  metrics_->batchSize.observe(static_cast<double>(p.batch));
  if (!result.ok()) {
    finish(p, nullptr, errorFromStatus(result.status().withContext("model '" + name_ + "'")), started, seconds);
    return;
  }
  finish(p, &result.value(), std::nullopt, started, seconds);
}

void ModelVersion::runBatch(std::vector<Pending>& batch, Clock::time_point started) {
  auto runEachAlone = [&] {
    for (Pending& p : batch) runOne(p, started);
  };
  std::vector<Tensor> inputs;
  int64_t rows = 0;
  for (const Pending& p : batch) rows += p.batch;
  for (size_t k = 0; k < inputs_.size(); ++k) {
    std::vector<const Tensor*> parts;
    for (const Pending& p : batch) parts.push_back(&p.inputs[k]);
    auto joined = concatBatch(parts);
    if (!joined.ok()) return runEachAlone();
    inputs.push_back(std::move(*joined));
  }
  const auto t0 = Clock::now();
  auto result = compiled_->run(inputs);
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  // A failed batch is run again request by request, so that one bad request
  // fails alone; the same when an output is not batched along dim 0.
  if (!result.ok()) return runEachAlone();
  for (const Tensor& out : *result) {
    if (out.rank() < 1 || out.dim(0) != rows) return runEachAlone();
  }
  metrics_->executions.fetch_add(1);
  metrics_->batchSize.observe(static_cast<double>(rows));
  int64_t begin = 0;
  for (Pending& p : batch) {
    std::vector<Tensor> mine;
    std::optional<ServeError> error;
    for (const Tensor& out : *result) {
      auto part = sliceBatch(out, begin, p.batch);
      if (!part.ok()) {
        error = errorFromStatus(part.status());
        break;
      }
      mine.push_back(std::move(*part));
    }
    begin += p.batch;
    finish(p, error ? nullptr : &mine, std::move(error), started, seconds);
  }
}

// ---------------------------------------------------------------------------
// ModelRepository
// ---------------------------------------------------------------------------

namespace {

bool isValidModelName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 200) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

bool isVersionName(const std::string& name) {
  return !name.empty() && name.size() <= 18 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<std::shared_ptr<const Graph>> loadGraph(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0) {
#if SY_HAVE_ONNX
    SY_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, importOnnxFile(path));
    return std::shared_ptr<const Graph>(std::move(g));
#else
    return unimplemented("cannot read ", path, ": this switchyard was built without the ONNX importer");
#endif
  }
  SY_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, loadProgram(path));
  return std::shared_ptr<const Graph>(std::move(g));
}

}  // namespace

ModelRepository::ModelRepository(std::string root, std::string deviceConfigPath, Metrics* metrics)
    : root_(std::move(root)), deviceConfigPath_(std::move(deviceConfigPath)), metrics_(metrics) {}

ModelRepository::~ModelRepository() { unloadAll(); }

Result<std::shared_ptr<const Engine>> ModelRepository::engineFor(const ModelConfig& config,
                                                                  const std::string& modelDir) {
  auto create = [](Config c) -> Result<std::shared_ptr<const Engine>> {
    SY_RETURN_IF_ERROR(applyEnvironment(c));
    SY_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::create(c));
    for (const std::string& w : engine->warnings()) std::fprintf(stderr, "switchyard serve: warning: %s\n", w.c_str());
    return std::shared_ptr<const Engine>(std::move(engine));
  };
  if (!config.deviceInlineYaml.empty()) {
    SY_ASSIGN_OR_RETURN(Config c, parseConfig(config.deviceInlineYaml, modelDir + "/config.yaml (device)", modelDir));
    return create(std::move(c));
  }
  if (!config.devicePath.empty()) {
    fs::path p(config.devicePath);
    if (p.is_relative()) p = fs::path(modelDir) / p;
    SY_ASSIGN_OR_RETURN(Config c, loadConfig(p.string()));
    return create(std::move(c));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (defaultEngine_) return defaultEngine_;
  }
  Config c = defaultConfig();
  if (!deviceConfigPath_.empty()) {
    SY_ASSIGN_OR_RETURN(c, loadConfig(deviceConfigPath_));
  }
  SY_ASSIGN_OR_RETURN(std::shared_ptr<const Engine> engine, create(std::move(c)));
  std::lock_guard<std::mutex> lock(mutex_);
  if (!defaultEngine_) defaultEngine_ = engine;
  return defaultEngine_;
}

Status ModelRepository::loadAll() {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return notFound("model repository ", root_, " is not a directory");
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (entry.is_directory(ec)) names.push_back(entry.path().filename().string());
  }
  if (ec) return invalidArgument("cannot list ", root_, ": ", ec.message());
  std::sort(names.begin(), names.end());
  if (names.empty()) return notFound("model repository ", root_, " has no model folders (expected <model>/<version>/model.onnx)");
  for (const std::string& name : names) {
    SY_RETURN_IF_ERROR(load(name));
  }
  return Status::OK();
}

Status ModelRepository::load(const std::string& name) {
  if (!isValidModelName(name))
    return invalidArgument("'", name, "' is not a valid model name (letters, digits, '_', '-', '.')");
  std::lock_guard<std::mutex> loadLock(loadMutex_);
  const std::string dir = (fs::path(root_) / name).string();
  auto fail = [&](const Status& st) {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_[name] = st.message();
    return st;
  };
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return notFound("model '", name, "' is not in the repository (no folder ", dir, ")");
  ModelConfig config;
  const std::string configPath = (fs::path(dir) / "config.yaml").string();
  if (fs::exists(configPath, ec)) {
    auto c = loadModelConfig(configPath);
    if (!c.ok()) return fail(c.status().withContext("model '" + name + "'"));
    config = std::move(*c);
  }
  std::vector<std::pair<int64_t, std::string>> versionFiles;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string v = entry.path().filename().string();
    if (!entry.is_directory(ec) || !isVersionName(v)) continue;
    for (const char* file : {"model.onnx", "model.sy"}) {
      const fs::path p = entry.path() / file;
      if (fs::exists(p, ec)) {
        versionFiles.emplace_back(std::stoll(v), p.string());
        break;
      }
    }
  }
  if (versionFiles.empty())
    return fail(notFound("model '", name, "': no version folders with a model (expected ", dir,
                         "/<version>/model.onnx or model.sy)"));
  std::sort(versionFiles.begin(), versionFiles.end());
  auto engine = engineFor(config, dir);
  if (!engine.ok()) return fail(engine.status().withContext("model '" + name + "'"));

  std::map<int64_t, std::shared_ptr<ModelVersion>> loaded;
  for (const auto& [version, file] : versionFiles) {
    auto graph = loadGraph(file);
    if (!graph.ok()) return fail(graph.status().withContext("model '" + name + "'"));
    if (config.dynamicBatching.enabled) {
      const std::string why = ModelVersion::batchingObstacle(**graph);
      if (!why.empty())
        return fail(invalidArgument("model '", name, "': dynamic_batching needs a batch dim: ", why));
    }
    auto compiled = (*engine)->compile(*graph);
    if (!compiled.ok()) return fail(compiled.status().withContext("model '" + name + "' (" + file + ")"));
    const std::string platform = file.size() >= 5 && file.compare(file.size() - 5, 5, ".onnx") == 0
                                     ? "switchyard_onnx"
                                     : "switchyard_sy";
    const std::string v = std::to_string(version);
    loaded[version] = std::make_shared<ModelVersion>(name, v, platform, *engine, *graph, *compiled, config,
                                                     metrics_->forModel(name, v));
  }
  std::map<int64_t, std::shared_ptr<ModelVersion>> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = models_.find(name);
    if (it != models_.end()) old = std::move(it->second);
    models_[name] = std::move(loaded);
    failures_.erase(name);
  }
  for (auto& [v, m] : old) m->stop();
  return Status::OK();
}

Status ModelRepository::unload(const std::string& name) {
  std::lock_guard<std::mutex> loadLock(loadMutex_);
  std::map<int64_t, std::shared_ptr<ModelVersion>> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = models_.find(name);
    if (it == models_.end()) return notFound("model '", name, "' is not loaded");
    old = std::move(it->second);
    models_.erase(it);
  }
  for (auto& [v, m] : old) m->stop();
  return Status::OK();
}

void ModelRepository::unloadAll() {
  std::lock_guard<std::mutex> loadLock(loadMutex_);
  std::map<std::string, std::map<int64_t, std::shared_ptr<ModelVersion>>> old;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    old.swap(models_);
  }
  for (auto& [name, versions] : old) {
    for (auto& [v, m] : versions) m->stop();
  }
}

std::shared_ptr<ModelVersion> ModelRepository::find(const std::string& name, const std::string& version,
                                                    ServeError* error) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = models_.find(name);
  if (it == models_.end() || it->second.empty()) {
    auto f = failures_.find(name);
    *error = {ErrorKind::NotFound, f != failures_.end() ? "model '" + name + "' is not loaded: " + f->second
                                                        : "unknown model '" + name + "'"};
    return nullptr;
  }
  if (version.empty()) return it->second.rbegin()->second;
  if (isVersionName(version)) {
    auto vt = it->second.find(std::stoll(version));
    if (vt != it->second.end()) return vt->second;
  }
  std::string have;
  for (const auto& [v, m] : it->second) have += (have.empty() ? "" : ", ") + std::to_string(v);
  *error = {ErrorKind::NotFound, "model '" + name + "' has no version '" + version + "' (loaded: " + have + ")"};
  return nullptr;
}

std::vector<std::string> ModelRepository::versions(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  auto it = models_.find(name);
  if (it != models_.end()) {
    for (const auto& [v, m] : it->second) out.push_back(std::to_string(v));
  }
  return out;
}

std::vector<ModelIndexEntry> ModelRepository::index() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (entry.is_directory(ec)) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ModelIndexEntry> out;
  for (const std::string& n : names) {
    auto it = models_.find(n);
    if (it != models_.end()) {
      for (const auto& [v, m] : it->second) out.push_back({n, std::to_string(v), "READY", ""});
      continue;
    }
    auto f = failures_.find(n);
    out.push_back({n, "", "UNAVAILABLE", f != failures_.end() ? f->second : "unloaded"});
  }
  return out;
}

}  // namespace sy::serve
