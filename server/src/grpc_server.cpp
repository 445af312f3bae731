// The gRPC transport: inference.GRPCInferenceService (server/proto/grpc_predict_v2.proto)
// on gRPC C++'s synchronous server.
//
// The synchronous API is enough here: a handler thread waits for its model's
// worker, and gRPC bounds those threads (grpcMaxThreads, past which gRPC
// itself answers RESOURCE_EXHAUSTED). Oversized messages are refused by gRPC
// before they are parsed (SetMaxReceiveMessageSize); protobuf that does not
// parse is refused by gRPC as well (INTERNAL, "failed to deserialize").
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>

#include <future>

#include "grpc_predict_v2.grpc.pb.h"
#include "server_core.h"

namespace sy::serve {
namespace {

grpc::StatusCode grpcCodeOf(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::BadRequest: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorKind::NotFound: return grpc::StatusCode::NOT_FOUND;
    case ErrorKind::Unavailable: return grpc::StatusCode::UNAVAILABLE;
    case ErrorKind::TooLarge: return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case ErrorKind::Internal: return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

grpc::Status toGrpc(const ServeError& e) { return grpc::Status(grpcCodeOf(e.kind), e.message); }

void fillTensorMetadata(const TensorInfo& info, inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(info.name);
  out->set_datatype(std::string(datatypeName(info.dtype)));
  for (int64_t d : info.shape) out->add_shape(d);
}

/// Copies typed `contents` of an input into a tensor; FP16 and BF16 have no
/// typed field and must come as raw_input_contents.
std::optional<ServeError> tensorFromContents(const inference::InferTensorContents& c, DType dtype, const Shape& shape,
                                             const std::string& what, Tensor& out) {
  auto numel = checkedNumel(shape);
  if (!numel.ok()) return ServeError{ErrorKind::BadRequest, what + ": bad shape: " + numel.status().message()};
  int64_t given = 0;
  const char* field = "";
  switch (dtype) {
    case DType::F32: given = c.fp32_contents_size(), field = "fp32_contents"; break;
    case DType::I8:
    case DType::I32: given = c.int_contents_size(), field = "int_contents"; break;
    case DType::I64: given = c.int64_contents_size(), field = "int64_contents"; break;
    case DType::Bool: given = c.bool_contents_size(), field = "bool_contents"; break;
    case DType::I16: given = c.int_contents_size(), field = "int_contents"; break;
    case DType::U8:
    case DType::U16:
    case DType::U32: given = c.uint_contents_size(), field = "uint_contents"; break;
    case DType::U64: given = c.uint64_contents_size(), field = "uint64_contents"; break;
    case DType::F64: given = c.fp64_contents_size(), field = "fp64_contents"; break;
    case DType::F16:
    case DType::BF16:
      return ServeError{ErrorKind::BadRequest, what + ": " + std::string(datatypeName(dtype)) +
                                                   " data must be sent in raw_input_contents"};
  }
  if (given != *numel)
    return ServeError{ErrorKind::BadRequest, what + ": shape " + shapeToString(shape) + " needs " +
                                                 std::to_string(*numel) + " values, contents." + field + " has " +
                                                 std::to_string(given)};
  auto t = Tensor::allocate(dtype, shape);
  if (!t.ok()) return errorFromStatus(t.status().withContext(what));
  for (int64_t i = 0; i < *numel; ++i) {
    switch (dtype) {
      case DType::F32: t->mutableData<float>()[i] = c.fp32_contents(static_cast<int>(i)); break;
      case DType::I8: {
        const int32_t v = c.int_contents(static_cast<int>(i));
        if (v < -128 || v > 127)
          return ServeError{ErrorKind::BadRequest,
                            what + ": int_contents[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range for INT8"};
        t->mutableData<int8_t>()[i] = static_cast<int8_t>(v);
        break;
      }
      case DType::I16: {
        const int32_t v = c.int_contents(static_cast<int>(i));
        if (v < -32768 || v > 32767)
          return ServeError{ErrorKind::BadRequest,
                            what + ": int_contents[" + std::to_string(i) + "] = " + std::to_string(v) + " is out of range for INT16"};
        t->mutableData<int16_t>()[i] = static_cast<int16_t>(v);
        break;
      }
      case DType::U8:
      case DType::U16: {
        const uint32_t v = c.uint_contents(static_cast<int>(i));
        const uint32_t hi = dtype == DType::U8 ? 255u : 65535u;
        if (v > hi)
          return ServeError{ErrorKind::BadRequest, what + ": uint_contents[" + std::to_string(i) + "] = " +
                                                       std::to_string(v) + " is out of range for " +
                                                       std::string(datatypeName(dtype))};
        if (dtype == DType::U8) t->mutableData<uint8_t>()[i] = static_cast<uint8_t>(v);
        else t->mutableData<uint16_t>()[i] = static_cast<uint16_t>(v);
        break;
      }
      case DType::U32: t->mutableData<uint32_t>()[i] = c.uint_contents(static_cast<int>(i)); break;
      case DType::U64: t->mutableData<uint64_t>()[i] = c.uint64_contents(static_cast<int>(i)); break;
      case DType::F64: t->mutableData<double>()[i] = c.fp64_contents(static_cast<int>(i)); break;
      case DType::I32: t->mutableData<int32_t>()[i] = c.int_contents(static_cast<int>(i)); break;
      case DType::I64: t->mutableData<int64_t>()[i] = c.int64_contents(static_cast<int>(i)); break;
      case DType::Bool: t->mutableData<uint8_t>()[i] = c.bool_contents(static_cast<int>(i)) ? 1 : 0; break;
      default: break;
    }
  }
  out = std::move(*t);
  return std::nullopt;
}

std::optional<ServeError> decode(const inference::ModelInferRequest& req, InferRequest& out) {
  const int raw = req.raw_input_contents_size();
  if (raw > 0 && raw != req.inputs_size())
    return ServeError{ErrorKind::BadRequest, "raw_input_contents has " + std::to_string(raw) +
                                                 " entries but the request has " + std::to_string(req.inputs_size()) +
                                                 " inputs (one entry per input, in order)"};
  out.id = req.id();
  for (int i = 0; i < req.inputs_size(); ++i) {
    const auto& in = req.inputs(i);
    const std::string what = "input '" + in.name() + "'";
    if (in.name().empty()) return ServeError{ErrorKind::BadRequest, "inputs[" + std::to_string(i) + "] has no name"};
    std::string dtypeError;
    auto dtype = parseDatatype(in.datatype(), &dtypeError);
    if (!dtype) return ServeError{ErrorKind::BadRequest, what + ": " + dtypeError};
    Shape shape;
    for (int64_t d : in.shape()) {
      if (d < 0) return ServeError{ErrorKind::BadRequest, what + ": shape dims must be non-negative"};
      shape.push_back(d);
    }
    if (shape.size() > 32) return ServeError{ErrorKind::BadRequest, what + ": rank is more than 32"};
    Tensor tensor;
    if (raw > 0) {
      ServeError e;
      auto t = tensorFromBytes(*dtype, shape, req.raw_input_contents(i), what, &e);
      if (!t) return e;
      tensor = std::move(*t);
    } else if (auto e = tensorFromContents(in.contents(), *dtype, shape, what, tensor)) {
      return e;
    }
    out.inputs.push_back({in.name(), std::move(tensor)});
  }
  for (const auto& o : req.outputs()) out.outputs.push_back({o.name(), true});
  return std::nullopt;
}

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  explicit InferenceService(ServerCore& core) : core_(core) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* res) override {
    res->set_live(true);
    return grpc::Status::OK;
  }

  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* res) override {
    res->set_ready(core_.ready.load());
    return grpc::Status::OK;
  }

  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* req,
                          inference::ModelReadyResponse* res) override {
    ServeError err;
    auto m = core_.repository.find(req->name(), req->version(), &err);
    res->set_ready(m && !m->stopped());
    return grpc::Status::OK;
  }

  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* res) override {
    res->set_name(kServerName);
    res->set_version(kServerVersion);
    for (const std::string& e : kExtensions) res->add_extensions(e);
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* req,
                             inference::ModelMetadataResponse* res) override {
    ServeError err;
    auto m = core_.repository.find(req->name(), req->version(), &err);
    if (!m) return toGrpc(err);
    res->set_name(m->name());
    for (const std::string& v : core_.repository.versions(m->name())) res->add_versions(v);
    res->set_platform(m->platform());
    for (const TensorInfo& i : m->inputs()) fillTensorMetadata(i, res->add_inputs());
    for (const TensorInfo& o : m->outputs()) fillTensorMetadata(o, res->add_outputs());
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* req,
                          inference::ModelInferResponse* res) override {
    if (core_.draining.load()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is shutting down");
    ServeError err;
    auto m = core_.repository.find(req->model_name(), req->model_version(), &err);
    if (!m) {
      core_.metrics.countRejected(static_cast<int>(err.kind));
      return toGrpc(err);
    }
    InferRequest request;
    if (auto e = decode(*req, request)) {
      core_.metrics.countRejected(static_cast<int>(e->kind));
      return toGrpc(*e);
    }
    core_.inflight.fetch_add(1);
    struct Inflight {
      ServerCore& core;
      ~Inflight() { core.inflight.fetch_sub(1); }
    } inflight{core_};
    std::promise<InferOutcome> promise;
    auto future = promise.get_future();
    if (auto e = m->submit(std::move(request),
                           [&promise](InferOutcome&& outcome) { promise.set_value(std::move(outcome)); }))
      return toGrpc(*e);
    InferOutcome outcome = future.get();
    if (outcome.error) return toGrpc(*outcome.error);
    res->set_model_name(m->name());
    res->set_model_version(m->version());
    res->set_id(req->id());
    for (const NamedTensor& o : outcome.outputs) {
      auto* out = res->add_outputs();
      out->set_name(o.name);
      out->set_datatype(std::string(datatypeName(o.tensor.dtype())));
      for (int64_t d : o.tensor.shape()) out->add_shape(d);
      res->add_raw_output_contents(static_cast<const char*>(o.tensor.data()), o.tensor.nbytes());
    }
    return grpc::Status::OK;
  }

 private:
  ServerCore& core_;
};

class GrpcFrontendImpl : public Frontend {
 public:
  explicit GrpcFrontendImpl(ServerCore& core) : core_(core), service_(core) {}
  ~GrpcFrontendImpl() override { stop(); }

  Result<int> start(const std::string& host, int port) override {
    grpc::ServerBuilder builder;
    int bound = 0;
    const std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                                std::to_string(port);
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &bound);
    const size_t limit = core_.options.maxRequestBytes;
    builder.SetMaxReceiveMessageSize(limit > static_cast<size_t>(INT32_MAX) ? INT32_MAX : static_cast<int>(limit));
    builder.SetMaxSendMessageSize(-1);
    grpc::ResourceQuota quota("switchyard-serve");
    quota.SetMaxThreads(std::max(4, core_.options.grpcMaxThreads));
    builder.SetResourceQuota(quota);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_ || bound == 0) return invalidArgument("cannot listen on ", address);
    return bound;
  }

  void stopAccepting() override {
    if (!server_ || shutDown_.exchange(true)) return;
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(
                              std::chrono::duration<double>(core_.options.drainSeconds));
    server_->Shutdown(deadline);
  }

  void stop() override {
    stopAccepting();
    if (server_) server_->Wait();
    server_.reset();
  }

 private:
  ServerCore& core_;
  InferenceService service_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> shutDown_{false};
};

}  // namespace

std::unique_ptr<Frontend> makeGrpcFrontend(ServerCore& core) { return std::make_unique<GrpcFrontendImpl>(core); }

}  // namespace sy::serve
