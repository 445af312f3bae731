// The calibration cache: op classes, the file, and a scale factor changing
// what the cost policy decides (issue #13 item 8).
#include "switchyard/calibration.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "plan_checks.h"
#include "switchyard/text.h"

namespace sy {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/sy_calibration_XXXXXX";
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

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(Calibration, OpClasses) {
  EXPECT_EQ(costClassOf("gemm"), "matmul");
  EXPECT_EQ(costClassOf("conv"), "conv");
  EXPECT_EQ(costClassOf("conv_transpose"), "conv");
  EXPECT_EQ(costClassOf("global_avg_pool"), "pool");
  EXPECT_EQ(costClassOf("layer_norm"), "normalize");
  EXPECT_EQ(costClassOf("reduce_sum"), "reduce");
  EXPECT_EQ(costClassOf("transpose"), "data");
  EXPECT_EQ(costClassOf("relu"), "elementwise");
  EXPECT_EQ(costClassOf("no_such_op"), "elementwise");
  for (const char* op : {"gemm", "conv", "max_pool", "softmax", "argmax", "gather", "add"}) {
    const auto& classes = costClasses();
    EXPECT_NE(std::find(classes.begin(), classes.end(), costClassOf(op)), classes.end()) << op;
  }
}

TEST(Calibration, CacheRoundTripKeyedByPluginVersionAndDevice) {
  TempDir dir;
  const std::string path = dir.file("sub/folder/calibration.json");
  CalibrationCache empty;
  ASSERT_TRUE(empty.load(path).ok());  // no file yet: empty
  EXPECT_TRUE(empty.entries().empty());

  CalibrationCache cache;
  cache.put(CalibrationEntry{{"opencl", "0.4", "pthread-cpu"}, {{"conv", 0.3}, {"matmul", 1.5}}, "2026-12-07T05:00:00Z"});
  cache.put(CalibrationEntry{{"reference", "1.0", "host"}, {{"conv", 2.0}}, ""});
  cache.put(CalibrationEntry{{"opencl", "0.4", "pthread-cpu"}, {{"conv", 0.25}}, ""});  // replaces
  ASSERT_EQ(cache.entries().size(), 2u);
  ASSERT_TRUE(cache.save(path).ok());

  CalibrationCache loaded;
  Status s = loaded.load(path);
  ASSERT_TRUE(s.ok()) << s.toString();
  const CalibrationEntry* e = loaded.find({"opencl", "0.4", "pthread-cpu"});
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->scale, (std::map<std::string, double>{{"conv", 0.25}}));
  EXPECT_EQ(loaded.find({"opencl", "0.5", "pthread-cpu"}), nullptr);  // another version
  EXPECT_EQ(loaded.find({"opencl", "0.4", "NVIDIA H100"}), nullptr);  // another device
  ASSERT_NE(loaded.find({"reference", "1.0", "host"}), nullptr);
  EXPECT_DOUBLE_EQ(loaded.find({"reference", "1.0", "host"})->scale.at("conv"), 2.0);
}

TEST(Calibration, BadCacheFilesSayWhatAndWhere) {
  TempDir dir;
  const std::string path = dir.file("c.json");
  auto error = [&](const std::string& text) {
    write(path, text);
    CalibrationCache c;
    Status s = c.load(path);
    EXPECT_FALSE(s.ok()) << text;
    return s.message();
  };
  EXPECT_NE(error("{").find(path + ": not valid JSON"), std::string::npos);
  EXPECT_NE(error("{\"format\": 1}").find("\"entries\" list"), std::string::npos);
  EXPECT_NE(error("{\"format\": 9, \"entries\": []}").find("expected \"format\": 1"), std::string::npos);
  const std::string entry = R"({"format": 1, "entries": [{"plugin": "x", "version": "1", "device": "d", "scale": )";
  EXPECT_NE(error(entry + R"({"warp": 1}}]})").find("entry 0: unknown op class \"warp\""), std::string::npos);
  EXPECT_NE(error(entry + R"({"conv": -1}}]})").find("scale of \"conv\" must be > 0"), std::string::npos);
  EXPECT_NE(error(entry + R"({"conv": "fast"}}]})").find("is not a number"), std::string::npos);
  EXPECT_NE(error(R"({"format": 1, "entries": [{"plugin": "x", "scale": {}}]})").find("entry 0 has no \"version\""),
            std::string::npos);
  EXPECT_NE(error("{").find("run `switchyard calibrate` again"), std::string::npos);
}

TEST(Calibration, DefaultPathFollowsXdgCacheHome) {
  const char* oldXdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = oldXdg ? oldXdg : "";
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(defaultCalibrationPath(), "/tmp/xdg/switchyard/calibration.json");
  ::setenv("XDG_CACHE_HOME", "", 1);
  if (const char* home = std::getenv("HOME")) {
    EXPECT_EQ(defaultCalibrationPath(), std::string(home) + "/.cache/switchyard/calibration.json");
  }
  if (oldXdg)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    ::unsetenv("XDG_CACHE_HOME");
}

TEST(Calibration, ScaleFactorChangesTheCostPolicysDecision) {
  auto g = parseGraph(R"(
graph @c(%x: f32[1, 8, 16, 16], %w: f32[8, 8, 3, 3]) {
  %y = conv(%x, %w) {pads = [1, 1, 1, 1]} : f32[1, 8, 16, 16]
  %z = relu(%y) : f32[1, 8, 16, 16]
  return %z
}
)");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  // The device's estimate for conv is twice the reference's; it is right about relu.
  auto dev = testing::makeBackend(**g, "dev", true, [](const Node* n) {
    return NodeSupport{true, "", n->op() == "conv" ? 2e-3 : 1e-6};
  });
  auto reference = testing::referenceBackend(**g, 1e-3);
  PartitionOptions options;
  options.policy = PlacementPolicy::Cost;
  auto before = partition(**g, {dev, reference}, options);
  ASSERT_TRUE(before.ok()) << before.status().toString();
  EXPECT_EQ(before->placements[0].backend, "reference");  // conv
  EXPECT_EQ(before->regions.size(), 2u);

  // Calibration measured the device's conv at a quarter of its estimate.
  applyCalibration(dev, CalibrationEntry{{"dev", "1", "d0"}, {{"conv", 0.25}}, ""});
  EXPECT_DOUBLE_EQ(dev.nodes.at((*g)->findValue("y")->definingNode()).cost, 5e-4);
  EXPECT_DOUBLE_EQ(dev.nodes.at((*g)->findValue("z")->definingNode()).cost, 1e-6);  // elementwise: no factor
  auto after = partition(**g, {dev, reference}, options);
  ASSERT_TRUE(after.ok()) << after.status().toString();
  EXPECT_EQ(after->placements[0].backend, "dev");
  ASSERT_EQ(after->regions.size(), 1u);
  EXPECT_EQ(after->regions[0].backend, "dev");
}

}  // namespace
}  // namespace sy
