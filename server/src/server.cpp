#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>

#include "server_core.h"

namespace sy::serve {

struct Server::Impl {
  explicit Impl(ServerOptions o) : core(std::move(o)) {}
  ServerCore core;
  std::unique_ptr<Frontend> http, grpc;
  int httpPort = -1, grpcPort = -1;
  std::mutex mutex;
  bool started = false, stopped = false;
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Server::~Server() { shutdown(); }

int Server::httpPort() const { return impl_->httpPort; }
int Server::grpcPort() const { return impl_->grpcPort; }

Status Server::start() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->started) return makeError(StatusCode::kFailedPrecondition, "the server was already started");
  impl_->started = true;
  ServerCore& core = impl_->core;
  if (core.options.modelRepository.empty()) return invalidArgument("--model-repository is required");
  if (core.options.httpPort < 0 && core.options.grpcPort < 0) return invalidArgument("both HTTP and gRPC are off");
  SY_RETURN_IF_ERROR(core.repository.loadAll());
  if (core.options.httpPort >= 0) {
    impl_->http = makeHttpFrontend(core);
    auto port = impl_->http->start(core.options.host, core.options.httpPort);
    if (!port.ok()) return port.status().withContext("HTTP");
    impl_->httpPort = *port;
  }
  if (core.options.grpcPort >= 0) {
    impl_->grpc = makeGrpcFrontend(core);
    auto port = impl_->grpc->start(core.options.host, core.options.grpcPort);
    if (!port.ok()) return port.status().withContext("gRPC");
    impl_->grpcPort = *port;
  }
  core.ready = true;
  return Status::OK();
}

void Server::shutdown() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  ServerCore& core = impl_->core;
  core.ready = false;
  core.draining = true;
  // New connections and calls are refused from here; what is in flight goes on.
  if (impl_->http) impl_->http->stopAccepting();
  if (impl_->grpc) impl_->grpc->stopAccepting();  // waits for in-flight RPCs (up to drainSeconds)
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(core.options.drainSeconds));
  while (core.inflight.load() > 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Models first: their workers finish what is queued and post the answers to
  // the transports, which are still running; then the transports stop.
  core.repository.unloadAll();
  if (impl_->http) impl_->http->stop();
  if (impl_->grpc) impl_->grpc->stop();
}

int runServer(const ServerOptions& options) {
  // Every thread the server starts inherits this mask, so SIGTERM and SIGINT
  // reach only the sigwait below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Server server(options);
  Status st = server.start();
  if (!st.ok()) {
    std::fprintf(stderr, "switchyard serve: error: %s\n", st.message().c_str());
    server.shutdown();
    return 1;
  }
  const std::string host = options.host;
  if (server.httpPort() >= 0) std::printf("switchyard serve: HTTP listening on %s:%d\n", host.c_str(), server.httpPort());
  if (server.grpcPort() >= 0) std::printf("switchyard serve: gRPC listening on %s:%d\n", host.c_str(), server.grpcPort());
  std::printf("switchyard serve: ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("switchyard serve: %s received, draining in-flight requests\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  server.shutdown();
  std::printf("switchyard serve: stopped\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace sy::serve
