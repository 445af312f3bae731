// `switchyard serve`: the Open Inference Protocol (KServe v2) over HTTP/REST
// and gRPC, in front of compiled models from a model repository.
//
// This header is all the CLI and the tests see: no Beast, gRPC or JSON types
// leak out of the library (they live in the server's .cpp files). See
// docs/serving.md for the endpoints, the repository layout and config.yaml.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "switchyard/status.h"

namespace sy::serve {

struct ServerOptions {
  std::string modelRepository;     ///< DIR/<model>/<version>/model.onnx (or model.sy)
  std::string deviceConfigPath;    ///< device config for models without their own ("" = defaults)
  std::string host = "0.0.0.0";    ///< address both transports bind
  int httpPort = 8000;             ///< 0: the OS picks a free port; -1: no HTTP
  int grpcPort = 8001;             ///< 0: the OS picks a free port; -1: no gRPC
  size_t maxRequestBytes = size_t{64} << 20;  ///< larger bodies: HTTP 413, gRPC RESOURCE_EXHAUSTED
  int httpThreads = 0;             ///< I/O threads of the HTTP server; 0 = number of CPU cores
  int maxConnections = 1024;       ///< HTTP connections beyond this are answered 503 and closed
  int grpcMaxThreads = 64;         ///< gRPC handler threads at most
  double drainSeconds = 30;        ///< on shutdown, how long in-flight requests may take
};

/// A running server. Start it, read the ports, shut it down; thread-safe.
class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  ///< shuts down if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Loads every model in the repository, then binds and starts both
  /// transports. Errors name the model, file or port that failed.
  Status start();
  /// The bound ports (useful with port 0); -1 when that transport is off.
  int httpPort() const;
  int grpcPort() const;
  /// Stops accepting, lets in-flight requests finish (up to drainSeconds),
  /// then stops both transports and unloads the models. Idempotent.
  void shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// The `switchyard serve` command: starts a Server, prints one line per
/// transport with its address, waits for SIGTERM or SIGINT, drains and
/// returns 0 (1 when it could not start, with the reason on stderr).
int runServer(const ServerOptions& options);

}  // namespace sy::serve
