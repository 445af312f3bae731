// Runs the built switchyard-conformance binary the way a release engineer
// would, and reads its JSON report: the planted bugs of the `buggy` test
// plugin (a wrong sub, a crashing neg, a hanging exp) must come out as a
// failure with its worst element, `crashed` and `timed out`, with the run
// going on; declarations must turn failures into expected ones and flag an
// expected failure that passes; the reference and memdev must pass the api
// scope and have no op failures.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exitCode = -1;
  std::string output;
  nlohmann::json report;
};

std::string plugin(const std::string& name) { return std::string(SY_TEST_PLUGIN_DIR) + "/libsy_plugin_" + name + ".so"; }

fs::path tempPath(const std::string& name) {
  return fs::temp_directory_path() / ("sy_runner_test_" + std::to_string(::getpid()) + "_" + name);
}

RunResult runConformance(const std::string& args, const std::string& tag) {
  RunResult r;
  const fs::path json = tempPath(tag + ".json");
  const std::string cmd = std::string(SY_CONFORMANCE_BIN) + " " + args + " --json " + json.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(json);
  if (in) r.report = nlohmann::json::parse(in, nullptr, false);
  fs::remove(json);
  return r;
}

std::map<std::string, nlohmann::json> casesById(const nlohmann::json& report) {
  std::map<std::string, nlohmann::json> out;
  if (report.is_object() && report.contains("cases"))
    for (const auto& c : report["cases"]) out[c["id"].get<std::string>()] = c;
  return out;
}

std::string lastLine(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

TEST(ConformanceRunner, FindsThePlantedBugsAndGoesOn) {
  const RunResult r = runConformance(
      "--plugin " + plugin("buggy") +
          " --scope ops --timeout 2 --jobs 2"
          " --filter 'ops.sub.f32.basic,ops.sub.f32.broadcast,ops.neg.f32.basic,ops.neg.f32.odd,"
          "ops.exp.f32.basic,ops.exp.f32.odd,ops.add.f32.basic,ops.add.f32.broadcast,ops.relu.f32.basic'",
      "buggy");
  ASSERT_TRUE(r.report.is_object()) << r.output;
  EXPECT_EQ(r.exitCode, 1) << r.output;
  auto cases = casesById(r.report);
  ASSERT_EQ(cases.size(), 9u) << r.output;

  for (const char* id : {"ops.sub.f32.basic", "ops.sub.f32.broadcast"}) {
    const auto& sub = cases[id];
    EXPECT_EQ(sub["outcome"], "failed") << sub.dump();
    ASSERT_TRUE(sub.contains("worst")) << sub.dump();
    EXPECT_GT(sub["worst"]["abs_error"].get<double>(), sub["worst"]["tolerance"].get<double>());
    EXPECT_FALSE(sub["worst"]["index"].get<std::string>().empty());
    EXPECT_NE(sub["message"].get<std::string>().find("expected"), std::string::npos) << sub.dump();
  }
  // The crash and the hang are reported per case, and the group goes on after each.
  EXPECT_EQ(cases["ops.neg.f32.basic"]["outcome"], "crashed") << cases["ops.neg.f32.basic"].dump();
  EXPECT_EQ(cases["ops.neg.f32.odd"]["outcome"], "crashed");
#if !defined(__SANITIZE_ADDRESS__)
  // (Under ASan the sanitizer catches SIGSEGV itself and exits with an error code instead.)
  EXPECT_NE(cases["ops.neg.f32.basic"]["message"].get<std::string>().find("signal 11"), std::string::npos);
#endif
  EXPECT_EQ(cases["ops.exp.f32.basic"]["outcome"], "timed out") << cases["ops.exp.f32.basic"].dump();
  EXPECT_EQ(cases["ops.exp.f32.odd"]["outcome"], "timed out");
  // What buggy computes right still passes.
  EXPECT_EQ(cases["ops.add.f32.basic"]["outcome"], "passed") << cases["ops.add.f32.basic"].dump();
  EXPECT_EQ(cases["ops.add.f32.broadcast"]["outcome"], "passed");
  EXPECT_EQ(cases["ops.relu.f32.basic"]["outcome"], "passed");

  EXPECT_EQ(lastLine(r.output), "3 passed, 6 failed, 0 skipped") << r.output;
  EXPECT_EQ(r.report["summary"]["failed"], 6);
}

TEST(ConformanceRunner, DeclarationsMarkExpectedFailuresAndFlagUnexpectedPasses) {
  const fs::path decl = tempPath("buggy.txt");
  {
    std::ofstream out(decl);
    out << "# planted bugs of the buggy plugin\n"
           "xfail        ops.sub.f32.*     sub computes a + b (planted)\n"
           "xfail        ops.add.f32.basic add is not actually broken\n"
           "unsupported  ops.mul.*         not today\n";
  }
  const RunResult r = runConformance("--plugin " + plugin("buggy") + " --scope ops --declarations " + decl.string() +
                                         " --filter 'ops.sub.f32.basic,ops.add.f32.basic,ops.mul.f32.basic'",
                                     "decl");
  fs::remove(decl);
  ASSERT_TRUE(r.report.is_object()) << r.output;
  auto cases = casesById(r.report);
  EXPECT_EQ(cases["ops.sub.f32.basic"]["outcome"], "expected failure") << cases["ops.sub.f32.basic"].dump();
  EXPECT_EQ(cases["ops.add.f32.basic"]["outcome"], "unexpected pass") << cases["ops.add.f32.basic"].dump();
  EXPECT_EQ(cases["ops.mul.f32.basic"]["outcome"], "skipped");
  EXPECT_NE(cases["ops.mul.f32.basic"]["message"].get<std::string>().find("not today"), std::string::npos);
  EXPECT_EQ(r.exitCode, 1) << "an unexpected pass must fail the run\n" << r.output;
  EXPECT_EQ(lastLine(r.output), "0 passed, 1 failed, 2 skipped") << r.output;
}

void expectCleanRun(const RunResult& r) {
  ASSERT_TRUE(r.report.is_object()) << r.output;
  EXPECT_EQ(r.exitCode, 0) << r.output;
  int api = 0;
  for (const auto& c : r.report["cases"]) {
    const std::string id = c["id"], outcome = c["outcome"];
    if (c["scope"] == "api") {
      ++api;
      EXPECT_TRUE(outcome == "passed") << id << ": " << c.dump();
    }
    EXPECT_TRUE(outcome != "failed" && outcome != "crashed" && outcome != "timed out" && outcome != "unexpected pass")
        << id << ": " << c.dump();
  }
  EXPECT_GE(api, 8);
  EXPECT_EQ(r.report["summary"]["failed"], 0);
}

TEST(ConformanceRunner, ReferencePassesEverything) {
  const RunResult r = runConformance("--plugin reference --scope api,ops,models --jobs 2", "reference");
  expectCleanRun(r);
  auto cases = casesById(r.report);
  // The reference claims every op: nothing is unsupported.
  for (const auto& [id, c] : cases) EXPECT_NE(c["outcome"], "unsupported") << id << ": " << c.dump();
  EXPECT_GT(r.report["summary"]["passed"].get<int>(), 500);
}

TEST(ConformanceRunner, MemdevPassesTheApiScopeAndHasNoOpFailures) {
  const RunResult r = runConformance("--plugin " + plugin("memdev") + " --scope api,ops,models --jobs 2", "memdev");
  expectCleanRun(r);
  auto cases = casesById(r.report);
  EXPECT_EQ(cases["ops.matmul.f32.basic"]["outcome"], "passed");
  EXPECT_EQ(cases["ops.add.f16.basic"]["outcome"], "skipped");  // declared: memdev runs f32 only
  EXPECT_EQ(cases["ops.conv.f32.basic"]["outcome"], "unsupported");
  EXPECT_NE(cases["models.mlp"]["message"].get<std::string>().find("memdev took"), std::string::npos);
}

TEST(ConformanceRunner, ListsCasesAndRejectsAMissingPlugin) {
  const std::string cmd = std::string(SY_CONFORMANCE_BIN) + " --plugin reference --list --scope api 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 0);
  EXPECT_NE(out.find("api.buffers"), std::string::npos) << out;

  const RunResult missing = runConformance("--plugin no_such_plugin_anywhere", "missing");
  EXPECT_EQ(missing.exitCode, 2) << missing.output;
  EXPECT_NE(missing.output.find("no_such_plugin_anywhere"), std::string::npos) << missing.output;
}

}  // namespace
