#include "metrics.h"

#include <cmath>
#include <cstdio>

#include "inference.h"

namespace sy::serve {
namespace {

constexpr ErrorKind kKinds[] = {ErrorKind::BadRequest, ErrorKind::NotFound, ErrorKind::Unavailable,
                                ErrorKind::TooLarge, ErrorKind::Internal};

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

/// Label values escape backslash, quote and newline.
std::string escapeLabel(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<double> latencyBounds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

Histogram::Histogram(std::vector<double> upperBounds)
    : bounds_(std::move(upperBounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[i];
  sum_ += value;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::vector<uint64_t> counts;
  double sum;
  uint64_t count;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    counts = counts_;
    sum = sum_;
    count = count_;
  }
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + ",le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_sum{" + labels + "} " + number(sum) + "\n";
  out += name + "_count{" + labels + "} " + std::to_string(count) + "\n";
}

ModelMetrics::ModelMetrics()
    : queueSeconds(latencyBounds()),
      computeSeconds(latencyBounds()),
      requestSeconds(latencyBounds()),
      batchSize({1, 2, 4, 8, 16, 32, 64, 128, 256}) {}

ModelMetrics* Metrics::forModel(const std::string& name, const std::string& version) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = models_[{name, version}];
  if (!slot) slot = std::make_unique<ModelMetrics>();
  return slot.get();
}

void Metrics::countRejected(int errorKind) {
  if (errorKind >= 0 && errorKind < 5) rejected_[errorKind].fetch_add(1, std::memory_order_relaxed);
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  auto labelsOf = [](const std::pair<std::string, std::string>& key) {
    return "model=\"" + escapeLabel(key.first) + "\",version=\"" + escapeLabel(key.second) + "\"";
  };
  out += "# HELP sy_inference_requests_success_total Inference requests that succeeded.\n";
  out += "# TYPE sy_inference_requests_success_total counter\n";
  for (const auto& [key, m] : models_)
    out += "sy_inference_requests_success_total{" + labelsOf(key) + "} " + std::to_string(m->success.load()) + "\n";
  out += "# HELP sy_inference_requests_failure_total Inference requests that failed, by reason.\n";
  out += "# TYPE sy_inference_requests_failure_total counter\n";
  for (const auto& [key, m] : models_) {
    for (ErrorKind k : kKinds) {
      out += "sy_inference_requests_failure_total{" + labelsOf(key) + ",reason=\"" + std::string(errorKindName(k)) +
             "\"} " + std::to_string(m->failure[static_cast<int>(k)].load()) + "\n";
    }
  }
  out += "# HELP sy_inference_executions_total Model executions (a dynamic batch counts once).\n";
  out += "# TYPE sy_inference_executions_total counter\n";
  for (const auto& [key, m] : models_)
    out += "sy_inference_executions_total{" + labelsOf(key) + "} " + std::to_string(m->executions.load()) + "\n";
  struct H {
    const char* name;
    const char* help;
    const Histogram ModelMetrics::*member;
  };
  const H hs[] = {
      {"sy_inference_queue_duration_seconds", "Time a request waited in its model's queue.", &ModelMetrics::queueSeconds},
      {"sy_inference_compute_duration_seconds", "Time of the model execution that served a request.",
       &ModelMetrics::computeSeconds},
      {"sy_inference_request_duration_seconds", "Time from queueing a request to its answer.",
       &ModelMetrics::requestSeconds},
      {"sy_inference_batch_size", "Rows (dim 0) per model execution.", &ModelMetrics::batchSize},
  };
  for (const H& h : hs) {
    out += std::string("# HELP ") + h.name + " " + h.help + "\n";
    out += std::string("# TYPE ") + h.name + " histogram\n";
    for (const auto& [key, m] : models_) ((*m).*(h.member)).render(out, h.name, labelsOf(key));
  }
  out += "# HELP sy_requests_rejected_total Requests refused before reaching a model (unknown model, malformed).\n";
  out += "# TYPE sy_requests_rejected_total counter\n";
  for (ErrorKind k : kKinds) {
    out += "sy_requests_rejected_total{reason=\"" + std::string(errorKindName(k)) + "\"} " +
           std::to_string(rejected_[static_cast<int>(k)].load()) + "\n";
  }
  return out;
}

}  // namespace sy::serve
