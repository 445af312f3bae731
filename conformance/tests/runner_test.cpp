// Runs the built switchyard-conformance binary the way a release engineer
// would, and reads its JSON report: the planted bugs of the `buggy` test
// plugin (a wrong sub, a crashing neg, a hanging exp) must come out as a
// failure with its worst element, `crashed` and `timed out`, with the run
// going on; declarations must turn failures into expected ones and flag an
// expected failure that passes; the reference and memdev must pass the api
// scope and have no op failures; the engine scope must fail a plugin that
// claims nodes and then cannot compile or run the regions formed from them,
// which the op-by-op scopes let through; the onnx scope shows decline reasons.
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
  const RunResult r = runConformance("--plugin reference --scope api,ops,models,engine --jobs 2", "reference");
  expectCleanRun(r);
  auto cases = casesById(r.report);
  // The reference claims every op: nothing is unsupported.
  for (const auto& [id, c] : cases) EXPECT_NE(c["outcome"], "unsupported") << id << ": " << c.dump();
  EXPECT_GT(r.report["summary"]["passed"].get<int>(), 500);
}

TEST(ConformanceRunner, MemdevPassesTheApiScopeAndHasNoOpFailures) {
  const RunResult r =
      runConformance("--plugin " + plugin("memdev") + " --scope api,ops,models,engine --jobs 2", "memdev");
  expectCleanRun(r);
  auto cases = casesById(r.report);
  EXPECT_EQ(cases["ops.matmul.f32.basic"]["outcome"], "passed");
  EXPECT_EQ(cases["ops.add.f16.basic"]["outcome"], "skipped");  // declared: memdev runs f32 only
  EXPECT_EQ(cases["ops.conv.f32.basic"]["outcome"], "unsupported");
  EXPECT_NE(cases["models.mlp"]["message"].get<std::string>().find("memdev took"), std::string::npos);
  // The engine scope: memdev takes the elementwise model whole and mlp in part,
  // and says why not the rest (its own decline reasons).
  const auto& ew = cases["engine.elementwise"];
  EXPECT_EQ(ew["outcome"], "passed") << ew.dump();
  ASSERT_TRUE(ew.contains("details")) << ew.dump();
  EXPECT_EQ(ew["details"]["taken"], 6) << ew.dump();
  EXPECT_EQ(ew["details"]["compute_nodes"], 6) << ew.dump();
  EXPECT_EQ(ew["details"]["regions"], 1) << ew.dump();
  ASSERT_EQ(ew["details"]["regions_taken"].size(), 1u) << ew.dump();
  EXPECT_EQ(ew["details"]["regions_taken"][0]["nodes"], 6) << ew.dump();
  EXPECT_EQ(ew["details"]["regions_taken"][0]["ops"].size(), 6u) << ew.dump();
  EXPECT_TRUE(ew["details"]["compile_fallbacks"].empty()) << ew.dump();
  const auto& mlp = cases["engine.mlp"];
  EXPECT_EQ(mlp["outcome"], "passed") << mlp.dump();
  EXPECT_NE(mlp["message"].get<std::string>().find("declined: gelu: op 'gelu' is not in this memdev's op list"),
            std::string::npos)
      << mlp.dump();
}

/// A folder of models for --examples: add then relu, which a plugin claiming
/// both gets as one region of two nodes.
fs::path chainExamples() {
  const fs::path dir = tempPath("examples");
  fs::create_directories(dir);
  std::ofstream(dir / "chain.sy") << "graph @chain(%x: f32[N, 4], %y: f32[N, 4]) {\n"
                                     "  %s = add(%x, %y) : f32[N, 4]\n"
                                     "  %r = relu(%s) : f32[N, 4]\n"
                                     "  return %r\n"
                                     "}\n";
  return dir;
}

// fuse_fails claims add and relu and compiles each alone, but not the two as
// one region. The op-by-op scopes pass, and the models scope only sees a
// model it "took none of" (the engine quietly moved the region to the
// reference); the engine scope fails the model with the plugin's own error.
TEST(ConformanceRunner, EngineScopeFailsAClaimThatCannotCompile) {
  const fs::path examples = chainExamples();
  // The ops it claims (add, relu) pass one by one.
  const RunResult r = runConformance("--plugin " + plugin("fuse_fails") +
                                         " --scope api,ops,models,engine --jobs 2 --examples " + examples.string() +
                                         " --filter 'api.*,ops.add.*,ops.relu.*,models.*,engine.*'",
                                     "fuse_fails");
  fs::remove_all(examples);
  ASSERT_TRUE(r.report.is_object()) << r.output;
  EXPECT_EQ(r.exitCode, 1) << r.output;
  int failed = 0;
  for (const auto& c : r.report["cases"]) {
    const std::string outcome = c["outcome"];
    if (c["scope"] != "engine") {
      EXPECT_TRUE(outcome == "passed" || outcome == "unsupported" || outcome == "skipped") << c.dump();
    } else if (outcome == "failed") {
      ++failed;
    }
  }
  EXPECT_EQ(failed, 1) << r.output;
  auto cases = casesById(r.report);
  EXPECT_GE(r.report["summary"]["passed"].get<int>(), 20) << r.output;
  EXPECT_EQ(cases["api.lifecycle"]["outcome"], "passed") << cases["api.lifecycle"].dump();
  EXPECT_EQ(cases["ops.add.f32.basic"]["outcome"], "passed") << cases["ops.add.f32.basic"].dump();
  EXPECT_EQ(cases["models.chain"]["outcome"], "unsupported") << cases["models.chain"].dump();
  const auto& e = cases["engine.chain"];
  EXPECT_EQ(e["outcome"], "failed") << e.dump();
  const std::string msg = e["message"];
  EXPECT_NE(msg.find("fell back at compile"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fusing 2 nodes into one region is not implemented"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fuse_fails took 0 of 2 compute nodes"), std::string::npos) << msg;
  ASSERT_TRUE(e.contains("details")) << e.dump();
  ASSERT_EQ(e["details"]["compile_fallbacks"].size(), 1u) << e.dump();
  const auto& f = e["details"]["compile_fallbacks"][0];
  EXPECT_EQ(f["nodes"], 2) << f.dump();
  EXPECT_EQ(f["moved_to"], "reference") << f.dump();
  EXPECT_EQ(e["details"]["claimed_regions"], 1) << e.dump();
  EXPECT_EQ(e["details"]["taken"], 0) << e.dump();
}

// The same for every failure stage: a compile that always fails
// (compile_fails), an execute that fails (execute_fails: retry on the
// reference is off, so the run's error names the region), a wrong result and
// a crash (buggy: sub computes a + b, neg raises SIGSEGV in a forked child).
TEST(ConformanceRunner, EngineScopeReportsEachStage) {
  const RunResult cf = runConformance(
      "--plugin " + plugin("compile_fails") + " --scope models,engine --filter '*.elementwise'", "compile_fails");
  ASSERT_TRUE(cf.report.is_object()) << cf.output;
  EXPECT_EQ(cf.exitCode, 1) << cf.output;
  auto cases = casesById(cf.report);
  EXPECT_EQ(cases["models.elementwise"]["outcome"], "unsupported") << cases["models.elementwise"].dump();
  EXPECT_EQ(cases["engine.elementwise"]["outcome"], "failed") << cases["engine.elementwise"].dump();
  EXPECT_NE(cases["engine.elementwise"]["message"].get<std::string>().find("out of device registers"),
            std::string::npos)
      << cases["engine.elementwise"].dump();

  const RunResult ef =
      runConformance("--plugin " + plugin("execute_fails") + " --scope engine --filter engine.elementwise", "ef");
  ASSERT_TRUE(ef.report.is_object()) << ef.output;
  EXPECT_EQ(ef.exitCode, 1) << ef.output;
  const auto e = casesById(ef.report)["engine.elementwise"];
  EXPECT_EQ(e["outcome"], "failed") << e.dump();
  EXPECT_NE(e["message"].get<std::string>().find("execute failed"), std::string::npos) << e.dump();
  EXPECT_NE(e["message"].get<std::string>().find("device lost"), std::string::npos) << e.dump();
  EXPECT_NE(e["details"].value("execute_error", "").find("on backend 'execute_fails'"), std::string::npos) << e.dump();

  // buggy takes elementwise whole (add, sub, mul, relu, neg, exp): neg crashes.
  // The chain example (add, relu) it computes right; a sub-only model it gets wrong.
  const fs::path examples = chainExamples();
  std::ofstream(examples / "sub.sy") << "graph @sub(%x: f32[N, 4], %y: f32[N, 4]) {\n"
                                        "  %d = sub(%x, %y) : f32[N, 4]\n"
                                        "  return %d\n"
                                        "}\n";
  std::ofstream(examples / "neg.sy") << "graph @neg(%x: f32[N, 4]) {\n"
                                        "  %n = neg(%x) : f32[N, 4]\n"
                                        "  return %n\n"
                                        "}\n";
  const RunResult bg = runConformance(
      "--plugin " + plugin("buggy") + " --scope engine --timeout 5 --jobs 2 --examples " + examples.string(), "bg");
  fs::remove_all(examples);
  ASSERT_TRUE(bg.report.is_object()) << bg.output;
  EXPECT_EQ(bg.exitCode, 1) << bg.output;
  auto b = casesById(bg.report);
  EXPECT_EQ(b["engine.chain"]["outcome"], "passed") << b["engine.chain"].dump();
  EXPECT_EQ(b["engine.sub"]["outcome"], "failed") << b["engine.sub"].dump();
  EXPECT_TRUE(b["engine.sub"].contains("worst")) << b["engine.sub"].dump();
  EXPECT_EQ(b["engine.neg"]["outcome"], "crashed") << b["engine.neg"].dump();
  EXPECT_EQ(lastLine(bg.output), "1 passed, 2 failed, 0 skipped") << bg.output;
}

// As the ops scope does, the onnx scope gives the plugin's reason for a test
// it takes nothing of.
TEST(ConformanceRunner, OnnxScopeShowsDeclineReasons) {
  const RunResult r = runConformance("--plugin " + plugin("memdev") +
                                         " --scope onnx --filter 'onnx.test_conv_with_strides_padding,onnx.test_relu'",
                                     "onnx");
  ASSERT_TRUE(r.report.is_object()) << r.output;
  for (const auto& n : r.report["notes"])
    if (n.get<std::string>().rfind("onnx: skipped", 0) == 0) GTEST_SKIP() << n.get<std::string>();
  EXPECT_EQ(r.exitCode, 0) << r.output;
  auto cases = casesById(r.report);
  ASSERT_EQ(cases.size(), 2u) << r.output;
  const auto& conv = cases["onnx.test_conv_with_strides_padding"];
  EXPECT_EQ(conv["outcome"], "unsupported") << conv.dump();
  EXPECT_NE(conv["message"].get<std::string>().find("declined: conv: op 'conv' is not in this memdev's op list"),
            std::string::npos)
      << conv.dump();
  EXPECT_EQ(cases["onnx.test_relu"]["outcome"], "passed") << cases["onnx.test_relu"].dump();
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
