// The transport-neutral half of `switchyard serve`: requests and their errors,
// one loaded model version with its scheduler (bounded queue, dynamic batcher,
// instances), and the model repository. The HTTP and gRPC front ends only
// decode a request into an InferRequest and encode an InferOutcome.
//
// Note [Scheduler ownership]. Worker threads never own the model they serve:
// a request's completion callback captures only what the transport needs to
// answer. Unloading takes the version out of the repository and calls stop(),
// which finishes what is queued and joins the workers, on the unloading
// thread; so no worker ever joins itself and no request is dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "switchyard/engine.h"
#include "switchyard/tensor.h"
#include "switchyard/type.h"

namespace sy::serve {

class Metrics;
struct ModelMetrics;

using Clock = std::chrono::steady_clock;

/// What went wrong with a request, as both transports report it.
enum class ErrorKind {
  BadRequest,   ///< HTTP 400, gRPC INVALID_ARGUMENT
  NotFound,     ///< HTTP 404, gRPC NOT_FOUND
  Unavailable,  ///< HTTP 503, gRPC UNAVAILABLE (queue full, model unloading, server draining)
  TooLarge,     ///< HTTP 413, gRPC RESOURCE_EXHAUSTED
  Internal,     ///< HTTP 500, gRPC INTERNAL
};

struct ServeError {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
};

int httpStatusOf(ErrorKind kind);
/// "bad_request", "not_found", ... (the `reason` label of the failure metric).
std::string_view errorKindName(ErrorKind kind);
/// Maps a Switchyard status (from a run) to a request error.
ServeError errorFromStatus(const Status& status);

/// KServe v2 datatype name of a Switchyard dtype: FP32, FP16, BF16, INT8, INT32, INT64, BOOL.
std::string_view datatypeName(DType dtype);
/// The dtype of a KServe v2 datatype name, or an error that says which ones are
/// accepted (UINT8, FP64, BYTES, ... have no Switchyard dtype).
std::optional<DType> parseDatatype(std::string_view name, std::string* error);

/// Builds a tensor from raw little-endian row-major bytes, checking the byte count.
/// `what` names the tensor in errors ("input 'x'").
std::optional<Tensor> tensorFromBytes(DType dtype, const Shape& shape, std::string_view bytes,
                                      const std::string& what, ServeError* error);

/// One decoded input tensor of a request.
struct NamedTensor {
  std::string name;
  Tensor tensor;
};

/// One output a caller asked for.
struct RequestedOutput {
  std::string name;
  bool binary = false;  ///< HTTP: answer in the binary-data extension
};

/// A decoded inference request (either transport).
struct InferRequest {
  std::string id;
  std::vector<NamedTensor> inputs;
  std::vector<RequestedOutput> outputs;  ///< empty: every output
  bool binaryOutputs = false;            ///< HTTP: default for outputs not listed (binary_data_output)
};

/// The answer to one request.
struct InferOutcome {
  std::optional<ServeError> error;
  std::vector<NamedTensor> outputs;  ///< the requested ones, in request order (every output when none listed)
  double queueSeconds = 0;
  double computeSeconds = 0;
};

using InferCallback = std::function<void(InferOutcome&&)>;

/// Dynamic batching settings of a model (config.yaml `dynamic_batching`).
struct DynamicBatchingConfig {
  bool enabled = false;
  int64_t maxQueueDelayUs = 100;  ///< how long the oldest request may wait for others
};

/// Per-model settings (config.yaml next to the versions).
struct ModelConfig {
  std::string devicePath;        ///< device config file ("" = the server's --config)
  std::string deviceInlineYaml;  ///< or an inline device config
  int64_t maxBatchSize = 0;      ///< 0: requests are not limited or batched along dim 0
  DynamicBatchingConfig dynamicBatching;
  int instanceCount = 0;         ///< concurrent runs of this model; 0 = number of CPU cores
  int64_t maxQueueSize = 64;     ///< waiting requests beyond this are refused (503 / UNAVAILABLE)
};

/// Reads DIR/<model>/config.yaml. Unknown keys and bad values are errors naming file:line:col.
Result<ModelConfig> loadModelConfig(const std::string& path);
Result<ModelConfig> parseModelConfig(std::string_view yamlText, const std::string& origin);

/// A tensor's name, dtype and shape as metadata gives them (-1 for a variable dim).
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  bool rankKnown = true;
};

/// One loaded, compiled model version with its scheduler. Thread-safe.
class ModelVersion {
 public:
  /// Starts the model's workers. `engine` is kept alive for as long as the model.
  ModelVersion(std::string name, std::string version, std::string platform, std::shared_ptr<const Engine> engine,
               std::shared_ptr<const Graph> graph, std::shared_ptr<const CompiledModel> compiled, ModelConfig config,
               ModelMetrics* metrics);

  /// Why requests of `graph` cannot be batched along dim 0 ("" when they can):
  /// every input needs the same symbolic first dim, and every output too where its type says.
  static std::string batchingObstacle(const Graph& graph);
  ~ModelVersion();
  ModelVersion(const ModelVersion&) = delete;
  ModelVersion& operator=(const ModelVersion&) = delete;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& platform() const { return platform_; }
  const ModelConfig& config() const { return config_; }
  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  bool batchable() const { return batchable_; }

  /// Checks `request` against the model (every input present once, dtype, rank,
  /// fixed dims, symbols bound consistently, batch limit, known outputs), then
  /// queues it. `done` is called exactly once, from a worker thread, unless an
  /// error is returned here (then it is never called).
  std::optional<ServeError> submit(InferRequest&& request, InferCallback done);

  /// Refuses new requests, runs what is queued, joins the workers. Idempotent.
  void stop();
  bool stopped() const { return stopping_.load(); }

  /// Requests waiting in the queue now.
  size_t queued() const;

 private:
  struct Pending {
    std::vector<Tensor> inputs;      // in graph input order
    std::vector<size_t> outputIdx;   // graph output index per requested output
    std::vector<std::string> outputNames;
    int64_t batch = 0;               // dim 0 of the inputs when batchable
    InferCallback done;
    Clock::time_point enqueued;
  };

  std::optional<ServeError> validate(const InferRequest& request, Pending& out) const;
  void workerLoop();
  /// Takes the next requests to run together (one, or a dynamic batch); empty when stopping with nothing queued.
  std::vector<Pending> takeWork(std::unique_lock<std::mutex>& lock);
  void runOne(Pending& p, Clock::time_point started);
  void runBatch(std::vector<Pending>& batch, Clock::time_point started);
  void finish(Pending& p, std::vector<Tensor>* outputs, std::optional<ServeError> error, Clock::time_point started,
              double computeSeconds);

  std::string name_, version_, platform_;
  std::shared_ptr<const Engine> engine_;
  std::shared_ptr<const Graph> graph_;
  std::shared_ptr<const CompiledModel> compiled_;
  ModelConfig config_;
  ModelMetrics* metrics_;
  std::vector<TensorInfo> inputs_, outputs_;
  bool batchable_ = false;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
  std::once_flag stopOnce_;
};

/// Concatenates tensors of equal dtype and trailing dims along dim 0.
Result<Tensor> concatBatch(const std::vector<const Tensor*>& parts);
/// Rows [begin, begin + count) of `whole` along dim 0, sharing its storage.
Result<Tensor> sliceBatch(const Tensor& whole, int64_t begin, int64_t count);

/// State of one model in the repository index.
struct ModelIndexEntry {
  std::string name;
  std::string version;
  std::string state;   ///< "READY" or "UNAVAILABLE"
  std::string reason;  ///< why it is unavailable
};

/// DIR/<model>/<version>/model.{onnx,sy}: loads, compiles and serves models.
class ModelRepository {
 public:
  /// `deviceConfigPath` is the server's --config ("" = defaults).
  ModelRepository(std::string root, std::string deviceConfigPath, Metrics* metrics);
  ~ModelRepository();

  /// Loads every model folder. Stops at the first model that fails, naming it.
  Status loadAll();
  /// Loads (or reloads) one model folder; on failure the old versions keep serving.
  Status load(const std::string& name);
  /// Unloads one model after its queued requests finish.
  Status unload(const std::string& name);
  /// Unloads every model (server shutdown).
  void unloadAll();

  /// The version to use: `version` if given, else the highest loaded one. Null
  /// with a NotFound error when there is none.
  std::shared_ptr<ModelVersion> find(const std::string& name, const std::string& version, ServeError* error) const;
  /// Every loaded version of `name`, ascending.
  std::vector<std::string> versions(const std::string& name) const;
  /// Folders found in the repository and what became of them.
  std::vector<ModelIndexEntry> index() const;
  const std::string& root() const { return root_; }

 private:
  Result<std::shared_ptr<const Engine>> engineFor(const ModelConfig& config, const std::string& modelDir);

  std::string root_;
  std::string deviceConfigPath_;
  Metrics* metrics_;
  mutable std::mutex mutex_;  // guards models_, failures_, defaultEngine_
  std::mutex loadMutex_;      // one load/unload at a time
  // name -> version string -> model; versions sort numerically through the key
  std::map<std::string, std::map<int64_t, std::shared_ptr<ModelVersion>>> models_;
  std::map<std::string, std::string> failures_;
  std::shared_ptr<const Engine> defaultEngine_;
};

}  // namespace sy::serve
