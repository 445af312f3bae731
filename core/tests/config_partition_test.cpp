// The partition keys of issue #13 item 8: boundary_cost, region_call_cost,
// calibration (docs/config.md, docs/partitioner.md).
#include <gtest/gtest.h>

#include "switchyard/config.h"

namespace {

sy::Config parseOk(const std::string& text) {
  auto r = sy::parseConfig(text, "t.yaml", "/base");
  EXPECT_TRUE(r.ok()) << r.status().toString() << "\nfor:\n" << text;
  return r.ok() ? r.value() : sy::Config{};
}

std::string parseError(const std::string& text) {
  auto r = sy::parseConfig(text, "t.yaml", "/base");
  EXPECT_FALSE(r.ok()) << "parsed:\n" << text;
  return r.ok() ? "" : r.status().message();
}

TEST(ConfigPartition, Defaults) {
  const sy::Config c = parseOk("");
  EXPECT_TRUE(c.partition.boundaryCost);
  EXPECT_DOUBLE_EQ(c.partition.regionCallCost, 2.5e-6);
  EXPECT_EQ(c.partition.calibration, "");
}

TEST(ConfigPartition, Keys) {
  const sy::Config c = parseOk(
      "partition:\n  boundary_cost: false\n  region_call_cost: 1e-5\n  calibration: cache/cal.json\n");
  EXPECT_FALSE(c.partition.boundaryCost);
  EXPECT_DOUBLE_EQ(c.partition.regionCallCost, 1e-5);
  EXPECT_EQ(c.partition.calibration, "/base/cache/cal.json");  // relative to the config's folder
  EXPECT_EQ(parseOk("partition: {calibration: none}\n").partition.calibration, "none");
  EXPECT_EQ(parseOk("partition: {calibration: /tmp/c.json}\n").partition.calibration, "/tmp/c.json");
  EXPECT_DOUBLE_EQ(parseOk("partition: {region_call_cost: 0}\n").partition.regionCallCost, 0.0);
}

TEST(ConfigPartition, BadValues) {
  std::string m = parseError("partition:\n  region_call_cost: -1\n");
  EXPECT_NE(m.find("t.yaml:2:21: region_call_cost must be a non-negative number (seconds), got '-1'"),
            std::string::npos)
      << m;
  m = parseError("partition:\n  boundary_cost: maybe\n");
  EXPECT_NE(m.find("t.yaml:2:18"), std::string::npos) << m;
  EXPECT_NE(m.find("boundary_cost"), std::string::npos) << m;
  m = parseError("partition:\n  calibration: [a, b]\n");
  EXPECT_NE(m.find("calibration must be a cache file path or 'none', got a list"), std::string::npos) << m;
  m = parseError("partition:\n  region_call_cots: 1e-6\n");
  EXPECT_NE(m.find("did you mean 'region_call_cost'"), std::string::npos) << m;
  // The old key's message is unchanged.
  m = parseError("partition: {transfer_cost_per_byte: x}\n");
  EXPECT_NE(m.find("transfer_cost_per_byte must be a non-negative number (seconds per byte), got 'x'"),
            std::string::npos)
      << m;
}

}  // namespace
