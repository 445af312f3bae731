// Profiles (switchyard/profile.h): summing region and step events, and what
// the engine traces for regions whose plugin reports no steps. The cpu
// plugin's per-step timings are tested in plugins/cpu/tests.
#include <gtest/gtest.h>

#include "switchyard/engine.h"
#include "switchyard/profile.h"
#include "switchyard/text.h"
#include "test_util.h"

namespace sy {
namespace {

TraceEvent regionEvent(int id, const std::string& backend, double us) {
  TraceEvent e{"region " + std::to_string(id), backend, 0, us};
  e.region = id;
  return e;
}

TraceEvent stepEvent(int region, const std::string& backend, const std::string& ops, const std::string& shapes,
                     double us) {
  TraceEvent e{ops, backend + " steps", 0, us};
  e.region = region;
  e.step = true;
  e.detail = shapes;
  return e;
}

TEST(Profile, StepsOfTheSameKindAreSummedAndSharesAreOfRegionTime) {
  std::vector<TraceEvent> events;
  for (int run = 0; run < 2; ++run) {
    events.push_back(stepEvent(0, "cpu", "conv + relu", "f32[1,8,4,4]", 30));
    events.push_back(stepEvent(0, "cpu", "conv + relu", "f32[1,8,4,4]", 20));  // a second layer alike
    events.push_back(stepEvent(0, "cpu", "matmul", "f32[1,8]", 10));
    events.push_back(regionEvent(0, "cpu", 70));  // 10 outside the steps
    events.push_back(regionEvent(1, "reference", 30));
    events.push_back(TraceEvent{"upload %x to memdev", "transfer", 0, 500});  // not a region's time
  }
  const Profile p = summarizeProfile(events, 2);
  EXPECT_DOUBLE_EQ(p.regionUs, 200);
  EXPECT_DOUBLE_EQ(p.stepUs, 120);
  EXPECT_EQ(p.regionsWithSteps, 1);
  EXPECT_EQ(p.regionsWithoutSteps, 1);
  ASSERT_EQ(p.rows.size(), 4u);
  EXPECT_EQ(p.rows[0].what, "conv + relu");
  EXPECT_EQ(p.rows[0].backend, "cpu");
  EXPECT_EQ(p.rows[0].count, 4);
  EXPECT_DOUBLE_EQ(p.rows[0].sharePercent, 50);
  EXPECT_EQ(p.rows[1].kind, ProfileRow::Kind::Region);
  EXPECT_EQ(p.rows[1].backend, "reference");
  EXPECT_DOUBLE_EQ(p.rows[1].sharePercent, 30);
  double sum = 0;
  for (const ProfileRow& r : p.rows) sum += r.sharePercent;
  EXPECT_NEAR(sum, 100, 1e-9);
  const std::string text = formatProfile(p, 2);
  EXPECT_NE(text.find("conv + relu: f32[1,8,4,4]"), std::string::npos) << text;
  EXPECT_NE(text.find("2 more rows"), std::string::npos) << text;
}

TEST(Profile, RegionsWithoutStepTimingsShowTheirTotals) {
  // The reference interpreter reports no steps: profileSteps only adds region ids.
  auto g = parseGraph(R"(graph @g(%x: f32[4]) {
  %y = relu(%x) : f32[4]
  return %y
})");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  Config c = defaultConfig();
  c.defaultPluginPaths = false;
  c.backends = {};
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  std::vector<TraceEvent> events;
  RunOptions options;
  options.trace = &events;
  options.profileSteps = true;
  for (int i = 0; i < 3; ++i) {
    auto out = (*model)->run({testing::F({4}, {-1, 2, -3, 4})}, options);
    ASSERT_TRUE(out.ok()) << out.status().toString();
  }
  const Profile p = summarizeProfile(events, 3);
  EXPECT_EQ(p.regionsWithSteps, 0);
  EXPECT_EQ(p.regionsWithoutSteps, 1);
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0].backend, "reference");
  EXPECT_EQ(p.rows[0].count, 3);
  EXPECT_DOUBLE_EQ(p.rows[0].sharePercent, 100);
}

TEST(Profile, APluginWithoutStepTimingsShowsRegionTotals) {
  // memdev (a plugin written against the C ABI, no SDK helper) leaves
  // execute_profiled NULL: the engine calls execute and traces the region
  // as a whole.
  auto g = parseGraph(R"(graph @g(%x: f32[4]) {
  %y = relu(%x) : f32[4]
  %z = neg(%y) : f32[4]
  return %z
})");
  ASSERT_TRUE(g.ok()) << g.status().toString();
  Config c = defaultConfig();
  c.pluginPaths = {SY_TEST_PLUGIN_DIR};
  c.defaultPluginPaths = false;
  c.fallback = FallbackPolicy::Error;
  BackendConfig memdev;
  memdev.name = "memdev";
  c.backends = {memdev};
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  auto model = (*engine)->compile(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(model.ok()) << model.status().toString();
  std::vector<TraceEvent> events;
  RunOptions options;
  options.trace = &events;
  options.profileSteps = true;
  auto out = (*model)->run({testing::F({4}, {-1, 2, -3, 4})}, options);
  ASSERT_TRUE(out.ok()) << out.status().toString();
  const Profile p = summarizeProfile(events, 1);
  EXPECT_EQ(p.regionsWithSteps, 0);
  ASSERT_EQ(p.regionsWithoutSteps, 1);
  EXPECT_EQ(p.rows[0].backend, "memdev");
  EXPECT_DOUBLE_EQ(p.rows[0].sharePercent, 100);
}

}  // namespace
}  // namespace sy
