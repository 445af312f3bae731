// Prometheus metrics of `switchyard serve` (GET /metrics, text format 0.0.4).
//
// Per model and version: requests that succeeded and failed (by reason), and
// histograms of queue time, compute time, whole-request time and execution
// batch size. Entries live as long as the server (a model that is unloaded
// keeps its counters, as Prometheus expects of a counter).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sy::serve {

/// A cumulative histogram with fixed upper bounds (plus +Inf).
class Histogram {
 public:
  explicit Histogram(std::vector<double> upperBounds);
  void observe(double value);
  /// Appends `name_bucket{labels,le=...}`, `name_sum`, `name_count` lines.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::vector<uint64_t> counts_;  // one per bound, then +Inf (not cumulative)
  double sum_ = 0;
  uint64_t count_ = 0;
};

struct ModelMetrics {
  ModelMetrics();
  std::atomic<uint64_t> success{0};
  std::atomic<uint64_t> failure[5] = {};  ///< indexed by ErrorKind
  Histogram queueSeconds;
  Histogram computeSeconds;
  Histogram requestSeconds;
  Histogram batchSize;  ///< rows per execution (1 per request without dynamic batching)
  std::atomic<uint64_t> executions{0};
};

class Metrics {
 public:
  /// The entry for one model version; the pointer stays valid for the server's life.
  ModelMetrics* forModel(const std::string& name, const std::string& version);
  /// Counts a request refused before it reached a model (unknown model, malformed).
  void countRejected(int errorKind);
  /// The whole exposition, text format 0.0.4.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<ModelMetrics>> models_;
  std::atomic<uint64_t> rejected_[5] = {};
};

}  // namespace sy::serve
