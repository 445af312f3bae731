// What the HTTP and gRPC front ends share: options, repository, metrics,
// readiness and the in-flight count that shutdown drains. Internal.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "inference.h"
#include "metrics.h"
#include "switchyard/server.h"

namespace sy::serve {

inline constexpr const char* kServerName = "switchyard";
inline constexpr const char* kServerVersion = "0.1.0";
/// Protocol extensions both transports announce in server metadata.
inline const std::vector<std::string> kExtensions = {"binary_tensor_data", "model_repository"};

struct ServerCore {
  ServerCore(ServerOptions o) : options(std::move(o)), repository(options.modelRepository, options.deviceConfigPath, &metrics) {}
  ServerOptions options;
  Metrics metrics;
  ModelRepository repository;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  std::atomic<int64_t> inflight{0};  ///< inference requests accepted and not yet answered
};

/// One transport. start() binds; stopAccepting() refuses new connections or
/// calls (in-flight ones go on); stop() ends everything. Both are idempotent.
class Frontend {
 public:
  virtual ~Frontend() = default;
  /// Binds host:port and starts serving; returns the bound port.
  virtual Result<int> start(const std::string& host, int port) = 0;
  virtual void stopAccepting() = 0;
  virtual void stop() = 0;
};

std::unique_ptr<Frontend> makeHttpFrontend(ServerCore& core);
std::unique_ptr<Frontend> makeGrpcFrontend(ServerCore& core);

}  // namespace sy::serve
