// Regression tests for config inputs found by fuzz/fuzz_config (docs/fuzzing.md):
// malformed YAML must give an error with a location, promptly.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <string>

#include "switchyard/config.h"

namespace {

/// Parses on another thread so that a regression (an endless loop) fails the
/// test after a few seconds instead of hanging ctest.
sy::Result<sy::Config> parseWithDeadline(const std::string& text) {
  auto job = std::async(std::launch::async, [text] { return sy::parseConfig(text, "fuzz.yaml"); });
  if (job.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "parseConfig did not return within 10 s on:\n" << text;
    std::_Exit(1);  // the parsing thread cannot be stopped
  }
  return job.get();
}

// yaml-cpp 0.7's LoadAll looped forever (allocating) on a document whose root
// starts with a ',' (Note [yaml-cpp's LoadAll loop] in config.cpp).
TEST(ConfigMalformedYaml, StrayCommaIsAnErrorNotAnEndlessLoop) {
  for (const std::string text : {",", " ,", ",\n", "# comment\n,", "---\n,", "&a ,", "!!str ,", "[a]\n,", ",backends: []"}) {
    auto r = parseWithDeadline(text);
    ASSERT_FALSE(r.ok()) << "accepted: " << text;
    EXPECT_NE(r.status().message().find("fuzz.yaml:"), std::string::npos) << r.status().message();
  }
}

TEST(ConfigMalformedYaml, WellFormedConfigsStillParse) {
  auto one = parseWithDeadline("backends: [cpu]\nfallback: reference\n");
  ASSERT_TRUE(one.ok()) << one.status().toString();
  ASSERT_EQ(one->backends.size(), 1u);
  EXPECT_EQ(one->backends[0].name, "cpu");
  EXPECT_TRUE(parseWithDeadline("").ok());
  EXPECT_TRUE(parseWithDeadline("# only a comment\n").ok());
  // Two documents are still refused by the config reader, not by the guard.
  auto two = parseWithDeadline("backends: [cpu]\n---\nstrict: true\n");
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.status().message().find("one YAML document"), std::string::npos) << two.status().message();
}

}  // namespace
