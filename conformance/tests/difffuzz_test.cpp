// Runs the built switchyard-difffuzz against the in-tree test plugins: the
// planted wrong `sub` of the `buggy` plugin must come out as a new `value`
// disagreement with a reproducer folder that --replay reproduces; a matching
// line of the known-open list must turn it into a known one (exit 0); the
// same --seed and --iterations must give the same findings; a plugin that
// crashes the fuzzer (buggy's `neg`) must leave its mutant in <out>/current;
// memdev, which runs the SDK's kernels, must agree with the reference.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct RunResult {
  int exitCode = -1;
  std::string output;
};

std::string plugin(const std::string& name) { return std::string(SY_TEST_PLUGIN_DIR) + "/libsy_plugin_" + name + ".so"; }

fs::path tempPath(const std::string& name) {
  return fs::temp_directory_path() / ("sy_difffuzz_test_" + std::to_string(::getpid()) + "_" + name);
}

RunResult run(const std::string& args) {
  RunResult r;
  const std::string cmd = std::string(SY_DIFFFUZZ_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The summary's signature lines ("NEW   buggy sub value finite  x12 ..."), without timings.
std::string signatureLines(const std::string& output) {
  std::istringstream in(output);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind("  NEW ", 0) == 0 || line.rfind("  known ", 0) == 0) out += line + "\n";
  return out;
}

class DiffFuzzTest : public ::testing::Test {
 protected:
  void SetUp() override { out_ = tempPath(::testing::UnitTest::GetInstance()->current_test_info()->name()); }
  void TearDown() override { fs::remove_all(out_); }
  fs::path out_;
};

TEST_F(DiffFuzzTest, FindsThePlantedWrongSubWithAReproducerThatReplays) {
  const std::string args = "--plugin " + plugin("buggy") + " --seeds 'ops.sub.*' --iterations 12 --seed 5 --known none --out " +
                           out_.string();
  RunResult r = run(args);
  EXPECT_EQ(r.exitCode, 1) << r.output;
  EXPECT_NE(r.output.find("NEW   buggy sub value"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("new disagreement signature(s)"), std::string::npos) << r.output;
  // The reproducer folder: the mutant, its inputs, and how to replay it.
  fs::path repro;
  for (const auto& e : fs::directory_iterator(out_))
    if (e.path().filename().string().rfind("buggy-sub-value-", 0) == 0) repro = e.path();
  ASSERT_FALSE(repro.empty()) << r.output;
  EXPECT_TRUE(fs::exists(repro / "program.sy"));
  EXPECT_TRUE(fs::exists(repro / "inputs.safetensors"));
  EXPECT_NE(readFile(repro / "program.sy").find("sub("), std::string::npos);
  EXPECT_NE(readFile(repro / "finding.txt").find("--replay"), std::string::npos);
  EXPECT_FALSE(fs::exists(out_ / "current")) << "a run that ends normally removes current/";

  RunResult again = run("--replay " + repro.string() + " --plugin " + plugin("buggy"));
  EXPECT_EQ(again.exitCode, 1) << again.output;
  EXPECT_NE(again.output.find("buggy: value:"), std::string::npos) << again.output;
  // memdev gets the same mutant right.
  RunResult memdev = run("--replay " + repro.string() + " --plugin " + plugin("memdev"));
  EXPECT_EQ(memdev.exitCode, 0) << memdev.output;
  EXPECT_NE(memdev.output.find("memdev: agrees with the reference"), std::string::npos) << memdev.output;
}

TEST_F(DiffFuzzTest, KnownOpenListTurnsTheFindingIntoAKnownOne) {
  fs::create_directories(out_);
  const fs::path known = out_ / "known.txt";
  std::ofstream(known) << "# test list\nbuggy sub value *   # planted bug 1 of the buggy plugin\n";
  RunResult r = run("--plugin " + plugin("buggy") + " --seeds 'ops.sub.*' --iterations 12 --seed 5 --known " +
                    known.string() + " --out " + (out_ / "out").string());
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("known buggy sub value"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("planted bug 1 of the buggy plugin"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("0 new disagreement signature(s)"), std::string::npos) << r.output;

  std::ofstream(known) << "buggy sub\n";
  RunResult bad = run("--plugin " + plugin("buggy") + " --iterations 1 --known " + known.string() + " --out " +
                      (out_ / "out").string());
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_NE(bad.output.find("known.txt:1:"), std::string::npos) << bad.output;
}

TEST_F(DiffFuzzTest, SameSeedSameFindings) {
  // f32 seeds only: the buggy plugin runs f32 only (seeds of other dtypes would dilute the findings).
  const std::string args = "--plugin " + plugin("buggy") + " --seeds 'ops.sub.f32.*' --seeds 'ops.add.f32.*' --iterations 16 --seed 11 --known none --out ";
  RunResult a = run(args + (out_ / "a").string());
  RunResult b = run(args + (out_ / "b").string());
  EXPECT_FALSE(signatureLines(a.output).empty()) << a.output;
  std::string la = signatureLines(a.output), lb = signatureLines(b.output);
  // The reproducer paths differ by the --out folder only.
  for (std::string* s : {&la, &lb})
    for (size_t at; (at = s->find(out_.string())) != std::string::npos;) s->erase(at, out_.string().size() + 2);
  EXPECT_EQ(la, lb);
}

TEST_F(DiffFuzzTest, APluginThatCrashesTheFuzzerLeavesItsMutantBehind) {
  // buggy's neg raises SIGSEGV in execute: the process dies, current/ stays.
  RunResult r = run("--plugin " + plugin("buggy") + " --seeds 'ops.neg.f32.basic' --iterations 3 --seed 1 --known none --out " +
                    out_.string());
  EXPECT_NE(r.exitCode, 0) << r.output;
  EXPECT_NE(readFile(out_ / "current" / "program.sy").find("neg("), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(out_ / "current" / "inputs.safetensors"));
  EXPECT_NE(readFile(out_ / "current" / "finding.txt").find("If the fuzzer died"), std::string::npos);
}

TEST_F(DiffFuzzTest, MemdevAgreesWithTheReferenceOnElementwiseOps) {
  RunResult r = run("--plugin " + plugin("memdev") + " --seeds 'ops.add.*' --seeds 'ops.mul.*' --seeds 'ops.relu.*' " +
                    "--iterations 30 --seed 2 --known none --out " + out_.string());
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("no disagreements"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("plugin memdev: 30 runs"), std::string::npos) << r.output;
}

TEST_F(DiffFuzzTest, UsageErrors) {
  EXPECT_EQ(run("--iterations 1").exitCode, 2);
  EXPECT_EQ(run("--plugin " + plugin("memdev") + " --out " + out_.string()).exitCode, 2);  // no bound
  EXPECT_EQ(run("--plugin /nonexistent/libsy_plugin_x.so --iterations 1 --out " + out_.string()).exitCode, 2);
}

}  // namespace
