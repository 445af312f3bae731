// switchyard calibrate through the engine (issue #13 item 8): factors keyed by
// plugin, version and device; the cost policy reading the cache; and an
// r3d-18-shaped 3-D CNN that calibration moves to the faster of opencl and
// the reference interpreter (skips without an OpenCL device).
#include "switchyard/calibrate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "switchyard/plugin_host.h"
#include "switchyard/text.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sy_calibrate_XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::shared_ptr<const Graph> parse(const std::string& text) {
  auto g = parseGraph(text);
  EXPECT_TRUE(g.ok()) << g.status().toString();
  return g.ok() ? std::shared_ptr<const Graph>(std::move(*g)) : nullptr;
}

Config memdevConfig(PartitionPolicy policy, const std::string& calibration) {
  Config c = defaultConfig();
  c.pluginPaths = {SY_TEST_PLUGIN_DIR};
  c.defaultPluginPaths = false;
  BackendConfig m;
  m.name = "memdev";
  c.backends = {m};
  c.partition.policy = policy;
  c.partition.calibration = calibration;
  return c;
}

TEST(Calibrate, TimesEachBackendAndKeysByPluginVersionAndDevice) {
  auto engine = Engine::create(memdevConfig(PartitionPolicy::Cost, "none"));
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  CalibrateOptions options;
  options.secondsPerCase = 0.02;
  options.classes = {"elementwise", "conv"};
  auto report = calibrate(**engine, options);
  ASSERT_TRUE(report.ok()) << report.status().toString();
  ASSERT_EQ(report->entries.size(), 2u);  // memdev, reference
  const CalibrationEntry& memdev = report->entries[0];
  EXPECT_EQ(memdev.key.plugin, "memdev");
  EXPECT_EQ(memdev.key.device, "memdev0");
  EXPECT_FALSE(memdev.key.version.empty());
  ASSERT_TRUE(memdev.scale.count("elementwise"));
  EXPECT_GT(memdev.scale.at("elementwise"), 0);
  EXPECT_FALSE(memdev.scale.count("conv"));  // memdev has no conv kernel: no factor
  bool declinedConv = false;
  for (const CalibrationSample& s : report->samples)
    declinedConv |= s.backend == "memdev" && s.opClass == "conv" && s.note.find("declined") == 0;
  EXPECT_TRUE(declinedConv);
  const CalibrationEntry& reference = report->entries[1];
  EXPECT_EQ(reference.key.plugin, "reference");
  EXPECT_EQ(reference.key.device, "host");
  EXPECT_GT(reference.scale.at("conv"), 0);
  EXPECT_GT(reference.scale.at("elementwise"), 0);

  EXPECT_FALSE(calibrate(**engine, CalibrateOptions{0.01, 1, {"nosuch"}, {}}).ok());
  EXPECT_FALSE(calibrate(**engine, CalibrateOptions{0.01, 1, {}, {"warp"}}).ok());
}

TEST(Calibrate, TheCostPolicyReadsTheCache) {
  auto g = parse(R"(
graph @g(%x: f32[64, 64]) {
  %a = relu(%x) : f32[64, 64]
  %b = tanh(%a) : f32[64, 64]
  return %b
}
)");
  ASSERT_NE(g, nullptr);
  TempDir dir;
  const std::string path = dir.file("calibration.json");
  auto before = Engine::create(memdevConfig(PartitionPolicy::Cost, path));  // no file yet
  ASSERT_TRUE(before.ok()) << before.status().toString();
  auto plan = (*before)->compile(g);
  ASSERT_TRUE(plan.ok()) << plan.status().toString();
  EXPECT_EQ((*plan)->plan().regions.at(0).backend, "memdev");

  // memdev measured 10000x slower than it guesses on elementwise ops.
  CalibrationCache cache;
  cache.put(CalibrationEntry{calibrationKeyOf((*before)->backends()[0]), {{"elementwise", 1e4}}, ""});
  ASSERT_TRUE(cache.save(path).ok());
  plan = (*before)->compile(g);
  ASSERT_TRUE(plan.ok()) << plan.status().toString();
  ASSERT_EQ((*plan)->plan().regions.size(), 1u);
  EXPECT_EQ((*plan)->plan().regions[0].backend, "reference");

  // Another device (or plugin version) of the same plugin: not this entry.
  CalibrationCache other;
  CalibrationKey key = calibrationKeyOf((*before)->backends()[0]);
  key.device = "memdev1";
  other.put(CalibrationEntry{key, {{"elementwise", 1e4}}, ""});
  ASSERT_TRUE(other.save(path).ok());
  plan = (*before)->compile(g);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)->plan().regions.at(0).backend, "memdev");

  // The priority policy does not read it; a broken cache is an error under cost.
  ASSERT_TRUE(cache.save(path).ok());
  auto priority = Engine::create(memdevConfig(PartitionPolicy::Priority, path));
  ASSERT_TRUE(priority.ok());
  plan = (*priority)->compile(g);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)->plan().regions.at(0).backend, "memdev");
  { std::ofstream(path) << "{oops"; }
  plan = (*before)->compile(g);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("calibration cache " + path + ": not valid JSON"), std::string::npos)
      << plan.status().message();
}

// An r3d-18-shaped 3-D CNN, small: a stem conv, two residual basic blocks
// (the second one downsampling), global pooling and a classifier.
const char* kR3d = R"(
graph @r3d(%x: f32[1, 3, 8, 32, 32], %w0: f32[16, 3, 3, 7, 7], %w1: f32[16, 16, 3, 3, 3], %w2: f32[16, 16, 3, 3, 3],
           %w3: f32[32, 16, 3, 3, 3], %w4: f32[32, 32, 3, 3, 3], %wd: f32[32, 16, 1, 1, 1], %fc: f32[32, 10]) {
  %c0 = conv(%x, %w0) {pads = [1, 3, 3, 1, 3, 3], strides = [1, 2, 2]} : f32[1, 16, 8, 16, 16]
  %r0 = relu(%c0) : f32[1, 16, 8, 16, 16]
  %c1 = conv(%r0, %w1) {pads = [1, 1, 1, 1, 1, 1]} : f32[1, 16, 8, 16, 16]
  %r1 = relu(%c1) : f32[1, 16, 8, 16, 16]
  %c2 = conv(%r1, %w2) {pads = [1, 1, 1, 1, 1, 1]} : f32[1, 16, 8, 16, 16]
  %s1 = add(%c2, %r0) : f32[1, 16, 8, 16, 16]
  %r2 = relu(%s1) : f32[1, 16, 8, 16, 16]
  %c3 = conv(%r2, %w3) {pads = [1, 1, 1, 1, 1, 1], strides = [2, 2, 2]} : f32[1, 32, 4, 8, 8]
  %r3 = relu(%c3) : f32[1, 32, 4, 8, 8]
  %c4 = conv(%r3, %w4) {pads = [1, 1, 1, 1, 1, 1]} : f32[1, 32, 4, 8, 8]
  %d = conv(%r2, %wd) {strides = [2, 2, 2]} : f32[1, 32, 4, 8, 8]
  %s2 = add(%c4, %d) : f32[1, 32, 4, 8, 8]
  %r4 = relu(%s2) : f32[1, 32, 4, 8, 8]
  %p = global_avg_pool(%r4) : f32[1, 32, 1, 1, 1]
  %f = flatten(%p) : f32[1, 32]
  %y = matmul(%f, %fc) : f32[1, 10]
  return %y
}
)";

std::string openclSkipReason() {
  const std::string file = std::string(SY_PLUGIN_DIR) + "/libsy_plugin_opencl.so";
  if (!fs::exists(file)) return "the opencl plugin is not built (" + file + ")";
  auto plugin = PluginHost::load(file);
  if (!plugin.ok()) return "the opencl plugin did not load: " + plugin.status().message();
  if ((*plugin)->devices().empty()) return "no OpenCL device on this machine: " + (*plugin)->noDeviceReason();
  return "";
}

Config openclConfig(PartitionPolicy policy, const std::string& calibration) {
  Config c = defaultConfig();
  c.pluginPaths = {SY_PLUGIN_DIR};
  c.defaultPluginPaths = false;
  BackendConfig b;
  b.name = "opencl";
  c.backends = {b};
  c.partition.policy = policy;
  c.partition.calibration = calibration;
  return c;
}

int convsOn(const PartitionPlan& plan, const std::string& backend) {
  int n = 0;
  for (const NodePlacement& p : plan.placements) n += p.node->op() == "conv" && p.backend == backend;
  return n;
}

/// Median seconds of `runs` runs of `model`.
double medianRun(const CompiledModel& model, const std::vector<Tensor>& inputs, int runs) {
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto out = model.run(inputs);
    EXPECT_TRUE(out.ok()) << out.status().toString();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

TEST(Calibrate, R3dMovesToTheFasterBackend) {
  const std::string skip = openclSkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // Instrumentation slows the host-side kernels and the plugin's host code by
  // different factors than PoCL's compiled kernels, so which backend is faster
  // under a sanitizer says nothing about the release build this test is about.
  GTEST_SKIP() << "timing-based placement check: not meaningful in a sanitizer build (runs in the release build)";
#endif
  auto g = parse(kR3d);
  ASSERT_NE(g, nullptr);
  std::vector<Tensor> inputs;
  for (const Value* in : g->inputs()) {
    Shape shape;
    for (const Dim& d : in->type().dims()) shape.push_back(d.value());
    auto t = Tensor::allocate(DType::F32, shape);
    ASSERT_TRUE(t.ok());
    float* p = t->mutableData<float>();
    for (int64_t i = 0; i < t->numel(); ++i) p[i] = static_cast<float>((i * 7919) % 101 - 50) / 500.0f;
    inputs.push_back(std::move(*t));
  }

  // Uncalibrated: where the plugins' guesses put it.
  auto guessed = Engine::create(openclConfig(PartitionPolicy::Cost, "none"));
  ASSERT_TRUE(guessed.ok()) << guessed.status().toString();
  auto before = (*guessed)->compile(g);
  ASSERT_TRUE(before.ok()) << before.status().toString();
  const int convs = convsOn((*before)->plan(), "opencl") + convsOn((*before)->plan(), "reference");
  ASSERT_EQ(convs, 6);

  // What is really faster here: the whole model on opencl, or on the reference.
  auto pinned = Engine::create(openclConfig(PartitionPolicy::Priority, "none"));
  ASSERT_TRUE(pinned.ok());
  auto onOpencl = (*pinned)->compile(g);
  ASSERT_TRUE(onOpencl.ok()) << onOpencl.status().toString();
  ASSERT_EQ(convsOn((*onOpencl)->plan(), "opencl"), 6) << (*onOpencl)->plan().toTable(true);
  Config refOnly = openclConfig(PartitionPolicy::Priority, "none");
  refOnly.backends[0].name = "reference";
  auto reference = Engine::create(refOnly);
  ASSERT_TRUE(reference.ok()) << reference.status().toString();
  auto onReference = (*reference)->compile(g);
  ASSERT_TRUE(onReference.ok());
  medianRun(**onOpencl, inputs, 1);  // warm-up
  const double tOpencl = medianRun(**onOpencl, inputs, 5);
  const double tReference = medianRun(**onReference, inputs, 5);

  // Calibrate into a cache, then compile again with it.
  TempDir dir;
  const std::string path = dir.file("calibration.json");
  CalibrateOptions options;
  options.secondsPerCase = 0.2;
  auto report = calibrate(**guessed, options);
  ASSERT_TRUE(report.ok()) << report.status().toString();
  CalibrationCache cache;
  for (const CalibrationEntry& e : report->entries) cache.put(e);
  ASSERT_TRUE(cache.save(path).ok());
  auto calibrated = Engine::create(openclConfig(PartitionPolicy::Cost, path));
  ASSERT_TRUE(calibrated.ok());
  auto after = (*calibrated)->compile(g);
  ASSERT_TRUE(after.ok()) << after.status().toString();

  std::ostringstream why;
  why << "opencl " << tOpencl * 1e3 << " ms, reference " << tReference * 1e3 << " ms per run; convs on opencl: "
      << convsOn((*before)->plan(), "opencl") << " before calibration, " << convsOn((*after)->plan(), "opencl")
      << " after; factors:";
  for (const CalibrationEntry& e : report->entries)
    for (const auto& [cls, f] : e.scale) why << " " << e.key.plugin << "/" << cls << "=" << f;
  std::cout << why.str() << "\n";
  // A clear winner (1.5x) must get the convs; closer than that, timing noise
  // on a shared machine could flip either measurement. One conv of the six may
  // stay behind: a per-class scale factor corrects a plugin's estimates as a
  // whole, not how they vary with shape (the 1x1 stride-2 downsample conv is
  // the one seen to differ).
  if (tOpencl * 1.5 < tReference) {
    EXPECT_GE(convsOn((*after)->plan(), "opencl"), 5) << why.str() << "\n" << (*after)->plan().toTable(true);
  } else if (tReference * 1.5 < tOpencl) {
    EXPECT_GE(convsOn((*after)->plan(), "reference"), 5) << why.str() << "\n" << (*after)->plan().toTable(true);
  } else {
    std::cout << "no clear winner here: the placement is not checked\n";
  }
}

}  // namespace
}  // namespace sy
