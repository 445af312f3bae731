// Tests of the `switchyard` command line: they run the built binary and check
// exit codes (docs/cli.md: 0 ok, 1 model/run error or mismatch, 2 usage),
// what it prints, and the files it writes. With the ONNX importer, every
// example model in examples/models must import, run on the reference
// interpreter and match the outputs PyTorch computed.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "switchyard/interpreter.h"
#include "switchyard/npy.h"
#if SY_HAVE_ONNX
#include "switchyard/onnx_import.h"
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const std::string kSource = SY_SOURCE_DIR;
// Everything on the reference interpreter, so the results do not depend on the plugins built here.
// (Not configs/reference-only.yaml: with `fallback: error` the engine refuses a list of only
// `reference`; see the report to the lead.)
const std::string kRefConfig = [] {
  // One per process: ctest runs the tests of this file in parallel processes.
  const std::string p = (fs::path(::testing::TempDir()) / ("sy_cli_reference_" + std::to_string(getpid()) + ".yaml")).string();
  std::ofstream(p) << "backends: [reference]\nfallback: reference\nplugin_paths: []\n";
  return p;
}();
const std::string kMlp = kSource + "/examples/mlp.sy";
const std::string kModels = kSource + "/examples/models";

struct Outcome {
  int code = -1;
  std::string out, err;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / (std::string("sy_cli_") + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    unsetenv("SWITCHYARD_BACKENDS");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  /// Runs `switchyard ARGS` (a shell fragment), capturing stdout and stderr.
  Outcome sy(const std::string& args) {
    const std::string out = (dir_ / "stdout.txt").string(), err = (dir_ / "stderr.txt").string();
    const std::string cmd = std::string("'") + SY_CLI_BINARY + "' " + args + " >'" + out + "' 2>'" + err + "' </dev/null";
    const int raw = std::system(cmd.c_str());
    Outcome o;
    o.code = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    o.out = readFile(out);
    o.err = readFile(err);
    return o;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

#define EXPECT_EXIT_CODE(o, c) EXPECT_EQ((o).code, (c)) << "stdout:\n" << (o).out << "\nstderr:\n" << (o).err

sy::Tensor f32(sy::Shape shape, double start = 0.1) {
  sy::Tensor t = sy::Tensor::allocate(sy::DType::F32, shape).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.setDouble(i, start + 0.01 * static_cast<double>(i));
  return t;
}

// --------------------------------------------------------------------- run

TEST_F(Cli, RunSyProgramAsRunShDoes) {
  Outcome o = sy("run " + kMlp + " --config " + kSource + "/configs/default.yaml --dim N=2");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("input  %x = f32[2, 8]"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("(random)"), std::string::npos);
  EXPECT_NE(o.out.find("output %p = f32[2, 4]"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("min "), std::string::npos) << o.out;
}

TEST_F(Cli, RunWritesOutputsAndChecksThem) {
  Outcome o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=3 --output-dir " + path("out"));
  EXPECT_EXIT_CODE(o, 0);
  auto p = sy::readNpyFile(path("out/p.npy"));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->shape(), (sy::Shape{3, 4}));

  // Same seed, same inputs: the outputs match.
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=3 --expect p=" + path("out/p.npy"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("matches"), std::string::npos) << o.out;
  // The only output may be named implicitly.
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=3 --expect " + path("out/p.npy"));
  EXPECT_EXIT_CODE(o, 0);

  // Another seed: a mismatch, exit 1.
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=3 --seed 7 --expect p=" + path("out/p.npy"));
  EXPECT_EXIT_CODE(o, 1);
}

TEST_F(Cli, ExpectMismatchPrintsTheWorstElement) {
  Outcome o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --output-dir " + path("out"));
  ASSERT_EQ(o.code, 0) << o.err;
  sy::Tensor p = sy::readNpyFile(path("out/p.npy")).value();
  sy::Tensor bad = p.clone().value();
  bad.setDouble(1 * 4 + 2, p.getDouble(1 * 4 + 2) + 0.5);  // element [1, 2] is far off
  bad.setDouble(0, p.getDouble(0) + 1e-3);                 // element [0, 0] a little
  ASSERT_TRUE(sy::writeNpyFile(bad, path("bad.npy")).ok());
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --expect p=" + path("bad.npy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("2 of 8 elements differ"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("worst at [1, 2]"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("expected"), std::string::npos) << o.err;
  EXPECT_NE(o.out.find("MISMATCH"), std::string::npos) << o.out;

  // Loose enough tolerances accept it.
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --expect p=" + path("bad.npy") + " --atol 0.6");
  EXPECT_EXIT_CODE(o, 0);

  // A shape mismatch is a mismatch too.
  ASSERT_TRUE(sy::writeNpyFile(f32({4, 2}), path("shape.npy")).ok());
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --expect p=" + path("shape.npy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("shape"), std::string::npos) << o.err;
}

TEST_F(Cli, InputsFromFiles) {
  ASSERT_TRUE(sy::writeNpyFile(f32({5, 8}), path("x.npy")).ok());
  Outcome o = sy("run " + kMlp + " --config " + kRefConfig + " --input x=" + path("x.npy") + " -o " + path("out"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("(from " + path("x.npy") + ")"), std::string::npos) << o.out;
  EXPECT_EQ(sy::readNpyFile(path("out/p.npy")).value().shape(), (sy::Shape{5, 4}));
  // `%x=` and a bare file for the only input work too.
  EXPECT_EQ(sy("run " + kMlp + " --config " + kRefConfig + " --input %x=" + path("x.npy")).code, 0);
  EXPECT_EQ(sy("run " + kMlp + " --config " + kRefConfig + " -i " + path("x.npy")).code, 0);

  // Wrong dtype or shape: exit 1 with what was expected.
  sy::Tensor ints = sy::Tensor::allocate(sy::DType::I32, {5, 8}).value();
  ASSERT_TRUE(sy::writeNpyFile(ints, path("xi.npy")).ok());
  o = sy("run " + kMlp + " --config " + kRefConfig + " --input x=" + path("xi.npy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("declared f32[N, 8]"), std::string::npos) << o.err;
  ASSERT_TRUE(sy::writeNpyFile(f32({5, 7}), path("x7.npy")).ok());
  o = sy("run " + kMlp + " --config " + kRefConfig + " --input x=" + path("x7.npy"));
  EXPECT_EXIT_CODE(o, 1);

  // A malformed .npy: exit 1 naming the file.
  std::ofstream(path("broken.npy")) << "\x93NUMPY\x01";
  o = sy("run " + kMlp + " --config " + kRefConfig + " --input x=" + path("broken.npy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("broken.npy"), std::string::npos) << o.err;
  o = sy("run " + kMlp + " --config " + kRefConfig + " --input x=" + path("missing.npy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("missing.npy"), std::string::npos) << o.err;
}

TEST_F(Cli, UsageErrorsExitWith2) {
  EXPECT_EXIT_CODE(sy(""), 2);
  EXPECT_EXIT_CODE(sy("frobnicate"), 2);
  EXPECT_EXIT_CODE(sy("run"), 2);
  EXPECT_EXIT_CODE(sy("run " + kMlp + " --no-such-flag"), 2);
  EXPECT_EXIT_CODE(sy("run " + kMlp + " --dim N"), 2);
  EXPECT_EXIT_CODE(sy("run " + kMlp + " --dim N=two"), 2);
  Outcome o = sy("run " + kMlp + " --input nosuch=" + path("x.npy"));
  EXPECT_EXIT_CODE(o, 2);
  EXPECT_NE(o.err.find("no input 'nosuch'"), std::string::npos) << o.err;
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --expect nosuch=" + path("x.npy"));
  EXPECT_EXIT_CODE(o, 2);
  EXPECT_EXIT_CODE(sy("plan " + kMlp + " --format yaml"), 2);
  EXPECT_EXIT_CODE(sy("bench " + kMlp + " --iterations 0"), 2);
  EXPECT_EXIT_CODE(sy("bench " + kMlp + " --iterations 3 --time 1"), 2);
  EXPECT_EXIT_CODE(sy("bench " + kMlp + " --threads 0"), 2);
  EXPECT_EXIT_CODE(sy("convert " + kMlp), 2);
  EXPECT_EXIT_CODE(sy("convert " + kMlp + " -o " + path("x.txt")), 2);
}

TEST_F(Cli, ModelErrorsExitWith1) {
  Outcome o = sy("run " + path("nope.sy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("nope.sy"), std::string::npos);
  std::ofstream(path("bad.sy")) << "graph @g(%x: f32[2]) {\n  %y = nosuchop(%x) : f32[2]\n  return %y\n}\n";
  o = sy("run " + path("bad.sy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("bad.sy"), std::string::npos) << o.err;
  EXPECT_EXIT_CODE(sy("plan " + path("bad.sy")), 1);
  EXPECT_EXIT_CODE(sy("run " + kMlp + " --config " + path("missing.yaml")), 1);
}

TEST_F(Cli, HelpHasAnExampleForEverySubcommand) {
  for (const char* cmd : {"run", "bench", "plan", "convert", "devices", "check", "optimize", "ops"}) {
    Outcome o = sy(std::string(cmd) + " --help");
    EXPECT_EXIT_CODE(o, 0);
    EXPECT_NE(o.out.find("Example"), std::string::npos) << cmd << ":\n" << o.out;
  }
  Outcome o = sy("--help");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("Exit codes"), std::string::npos) << o.out;
}

// --------------------------------------------------------------------- trace

void checkTrace(const std::string& file, size_t minRuns) {
  json j = json::parse(readFile(file));  // throws (and fails the test) on bad JSON
  ASSERT_TRUE(j.contains("traceEvents"));
  ASSERT_TRUE(j["traceEvents"].is_array());
  size_t complete = 0, runs = 0, names = 0;
  for (const json& e : j["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph"));
    EXPECT_EQ(e["pid"], 1);
    if (e["ph"] == "X") {
      ++complete;
      EXPECT_TRUE(e["ts"].is_number());
      EXPECT_TRUE(e["dur"].is_number());
      EXPECT_GE(e["dur"].get<double>(), 0.0);
      EXPECT_TRUE(e["tid"].is_number_integer());
      if (e["cat"] == "run") ++runs;
    } else if (e["ph"] == "M" && e["name"] == "thread_name") {
      ++names;
      EXPECT_TRUE(e["args"]["name"].is_string());
    }
  }
  EXPECT_EQ(runs, minRuns);
  EXPECT_GT(complete, runs) << "a region event per run at least";
  EXPECT_GE(names, 2u) << "the run lane and a backend lane";
}

TEST_F(Cli, RunTraceIsChromeJson) {
  Outcome o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --trace " + path("t.json"));
  EXPECT_EXIT_CODE(o, 0);
  checkTrace(path("t.json"), 1);
}

TEST_F(Cli, TwoBackendsPlanRunAndTrace) {
  const std::string plugin = std::string(SY_TEST_PLUGIN_DIR) + "/libsy_plugin_memdev.so";
  if (!fs::exists(plugin)) GTEST_SKIP() << "the memdev test plugin is not built";
  // memdev takes matmul and add; gelu and softmax stay on the reference interpreter.
  const std::string config = path("memdev.yaml");
  std::ofstream(config) << "backends:\n  - name: memdev\n    options: {ops: \"matmul,add\"}\nfallback: reference\n"
                        << "plugin_paths: [" << SY_TEST_PLUGIN_DIR << "]\n";  // (with faulty plugins beside it: not strict)
  Outcome o = sy("plan " + kMlp + " --config " + config);
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("memdev"), std::string::npos) << o.out;
  ASSERT_EQ(sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 -o " + path("ref")).code, 0);
  o = sy("run " + kMlp + " --config " + config + " --dim N=2 --expect p=" + path("ref/p.npy") + " --trace " +
         path("t.json"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("4 regions (memdev: 2, reference: 2)"), std::string::npos) << o.out;
  checkTrace(path("t.json"), 1);
  json j = json::parse(readFile(path("t.json")));
  std::set<std::string> lanes;
  for (const json& e : j["traceEvents"])
    if (e["name"] == "thread_name") lanes.insert(e["args"]["name"].get<std::string>());
  EXPECT_EQ(lanes, (std::set<std::string>{"run", "memdev", "reference", "transfer"}));
  o = sy("bench " + kMlp + " --config " + config + " --dim N=2 --iterations 5 --threads 2 --json");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_EQ(json::parse(o.out)["regions"]["memdev"], 2);
}

// --------------------------------------------------------------------- bench

TEST_F(Cli, BenchJson) {
  Outcome o = sy("bench " + kMlp + " --config " + kRefConfig + " --dim N=4 --warmup 1 --iterations 3 --json");
  EXPECT_EXIT_CODE(o, 0);
  json j = json::parse(o.out);
  EXPECT_EQ(j["latency_ms"]["runs"], 3);
  for (const char* k : {"min", "median", "p90", "p99", "max", "mean"}) {
    EXPECT_GT(j["latency_ms"][k].get<double>(), 0.0) << k;
  }
  EXPECT_LE(j["latency_ms"]["min"].get<double>(), j["latency_ms"]["median"].get<double>());
  EXPECT_LE(j["latency_ms"]["median"].get<double>(), j["latency_ms"]["p99"].get<double>());
  EXPECT_EQ(j["throughput"]["runs"], 3);
  EXPECT_GT(j["throughput"]["runs_per_second"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_bytes"].get<int64_t>(), 1 << 20);
  EXPECT_EQ(j["backends"], json::array({"reference"}));
  EXPECT_TRUE(o.err.empty()) << "no progress indicator when stderr is not a terminal: " << o.err;
}

// --------------------------------------------------------------- issue #12

TEST_F(Cli, OutputDirNamesAreCollisionFree) {
  // a/b, a_b, "a b", a:b and .. all became a_b.npy / output.npy before: the
  // last write won. Each name now has a file of its own.
  std::ofstream(path("names.sy")) << R"(graph @g(%x: f32[2]) {
  %"a/b" = neg(%x) : f32[2]
  %a_b = relu(%x) : f32[2]
  %"a b" = abs(%x) : f32[2]
  %"a:b" = exp(%x) : f32[2]
  %".." = sigmoid(%x) : f32[2]
  return %"a/b", %a_b, %"a b", %"a:b", %"..", %a_b
}
)";
  Outcome o = sy("run " + path("names.sy") + " --config " + kRefConfig + " --output-dir " + path("out"));
  EXPECT_EXIT_CODE(o, 0);
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(path("out"))) files.insert(e.path().filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"a%2Fb.npy", "a_b.npy", "a%20b.npy", "a%3Ab.npy", "%2E..npy"}));
  // Each file holds its own output: a/b = -x, a_b = relu(x).
  const sy::Tensor neg = sy::readNpyFile(path("out/a%2Fb.npy")).value();
  const sy::Tensor relu = sy::readNpyFile(path("out/a_b.npy")).value();
  EXPECT_LE(neg.getDouble(0) * relu.getDouble(0), 0.0);
  EXPECT_NE(o.out.find("written to " + path("out/a%3Ab.npy")), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("returned again: already written to a_b.npy"), std::string::npos) << o.out;
}

TEST_F(Cli, NonRegularInputFilesAreRefusedAtOnce) {
  // /dev/zero was read until memory ran out; a folder given as .npy was
  // "truncated (0 bytes)"; a FIFO blocked forever.
  Outcome o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --input x=/dev/zero");
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("/dev/zero: is a character device"), std::string::npos) << o.err;
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --input x=" + dir_.string());
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("is a directory, not a regular file"), std::string::npos) << o.err;
  ASSERT_EQ(::mkfifo(path("pipe.npy").c_str(), 0600), 0);
  o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --expect p=" + path("pipe.npy"));
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("is a FIFO"), std::string::npos) << o.err;
  o = sy("run " + kMlp + " --config /dev/zero");
  EXPECT_NE(o.code, 0);
  EXPECT_NE(o.err.find("is a character device"), std::string::npos) << o.err;
  o = sy("run /dev/zero --config " + kRefConfig);
  EXPECT_NE(o.code, 0);
  EXPECT_EQ(o.err.find("Segmentation"), std::string::npos) << o.err;
}

TEST_F(Cli, NonFiniteOrNegativeNumbersAreUsageErrors) {
  for (const char* bad : {"--rtol nan", "--rtol -1", "--atol inf", "--atol -0.5", "--rtol 1x"}) {
    Outcome o = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 " + bad);
    EXPECT_EXIT_CODE(o, 2) << bad;
    EXPECT_TRUE(o.err.find("must be a finite number") != std::string::npos ||
                o.err.find("not a number") != std::string::npos)
        << bad << ": " << o.err;
  }
  for (const char* bad : {"--time nan", "--time 0", "--time -1", "--time inf"}) {
    Outcome o = sy("bench " + kMlp + " --config " + kRefConfig + " --dim N=2 " + bad);
    EXPECT_EXIT_CODE(o, 2) << bad;  // `--time nan` silently ran 100 iterations
  }
  Outcome ok = sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 --rtol 0 --atol 1e-3");
  EXPECT_EXIT_CODE(ok, 0);
}

TEST_F(Cli, BenchMemoryDoesNotGrowWithTime) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "resident memory is not comparable under a sanitizer (freed memory sits in quarantine)";
#endif
  // Every latency sample was kept (and copied to sort): memory grew with --time.
  // Samples now go to a fixed-size histogram; min/max/mean stay exact.
  auto peak = [&](const char* seconds) {
    Outcome o = sy("bench " + kMlp + " --config " + kRefConfig + " --dim N=1 --warmup 0 --time " + seconds + " --json");
    EXPECT_EXIT_CODE(o, 0);
    json j = json::parse(o.out);
    const auto& l = j["latency_ms"];
    EXPECT_LE(l["min"].get<double>(), l["median"].get<double>());
    EXPECT_LE(l["median"].get<double>(), l["p99"].get<double>());
    EXPECT_LE(l["p99"].get<double>(), l["max"].get<double>());
    return std::make_pair(j["peak_rss_bytes"].get<int64_t>(), j["latency_ms"]["runs"].get<int64_t>());
  };
  const auto [shortRss, shortRuns] = peak("0.3");
  const auto [longRss, longRuns] = peak("3");
  EXPECT_GT(longRuns, 5 * shortRuns);
  // A sample is 8 bytes (16 with the sorted copy): a million runs would add ~16 MB.
  EXPECT_LT(longRss - shortRss, 4 << 20) << shortRuns << " runs: " << shortRss << " bytes; " << longRuns
                                         << " runs: " << longRss << " bytes";
}

TEST_F(Cli, BenchThreadsTimeAndTrace) {
  Outcome o = sy("bench " + kMlp + " --config " + kRefConfig + " --dim N=2 --warmup 0 --iterations 20 --threads 4 "
                 "--json --trace " + path("b.json"));
  EXPECT_EXIT_CODE(o, 0);
  json j = json::parse(o.out);
  EXPECT_EQ(j["throughput"]["threads"], 4);
  EXPECT_EQ(j["throughput"]["runs"], 20);
  checkTrace(path("b.json"), 20);

  o = sy("bench " + kMlp + " --config " + kRefConfig + " --dim N=2 --warmup 0 --time 0.2");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("latency:"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("median"), std::string::npos);
  EXPECT_NE(o.out.find("runs/s"), std::string::npos);
  EXPECT_NE(o.out.find("peak RSS"), std::string::npos);
}

// --------------------------------------------------------------------- plan, devices, check, convert, ops

TEST_F(Cli, PlanFormats) {
  Outcome o = sy("plan " + kMlp + " --config " + kRefConfig + " --explain");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("reference"), std::string::npos) << o.out;
  o = sy("plan " + kMlp + " --config " + kRefConfig + " --format json");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_TRUE(json::accept(o.out)) << o.out;
  o = sy("plan " + kMlp + " --config " + kRefConfig + " --format dot");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("digraph"), std::string::npos) << o.out;
}

TEST_F(Cli, Devices) {
  Outcome o = sy("devices");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("Backends in priority order"), std::string::npos) << o.out;
  o = sy("devices --json --config " + kRefConfig);
  EXPECT_EXIT_CODE(o, 0);
  json j = json::parse(o.out);
  EXPECT_TRUE(j["plugins"].is_array());
  EXPECT_EQ(j["backends"], json::array({"reference"}));
}

// Issue #13 item 5: a listed backend that cannot be loaded used to be a warning, and the run exited 0.
TEST_F(Cli, ListedBackendThatCannotLoadIsAnErrorUnlessOptional) {
  const std::string plugins = SY_TEST_PLUGIN_DIR;
  if (!fs::exists(plugins + "/libsy_plugin_memdev.so")) GTEST_SKIP() << "the memdev test plugin is not built";
  Outcome o = sy("plan " + kMlp + " --backends ghost");
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("--backends: backend 'ghost' cannot be used: no plugin file libsy_plugin_ghost.so in "),
            std::string::npos)
      << o.err;
  // A typo in plugin_paths: the backend's line, and the folder that was searched.
  const std::string typo = path("typo.yaml");
  std::ofstream(typo) << "backends:\n  - memdev\nplugin_paths: [" << plugins << "-typo]\ndefault_plugin_paths: false\n";
  o = sy("plan " + kMlp + " --config " + typo);
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find(typo + ":2:5: backend 'memdev' cannot be used: no plugin file libsy_plugin_memdev.so in " +
                       plugins + "-typo"),
            std::string::npos)
      << o.err;
  // A plugin of another ABI major, listed: the error gives the plugin's reason.
  const std::string badMajor = path("bad_major.yaml");
  std::ofstream(badMajor) << "backends: [bad_major]\nplugin_paths: [" << plugins << "]\n";
  o = sy("plan " + kMlp + " --config " + badMajor);
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("backend 'bad_major' cannot be used: " + plugins + "/libsy_plugin_bad_major.so: plugin ABI"),
            std::string::npos)
      << o.err;
  // optional: true: a warning with the same reason, exit 0, the other backends used.
  const std::string optional = path("optional.yaml");
  std::ofstream(optional) << "backends:\n  - {name: ghost, optional: true}\n  - memdev\nplugin_paths: [" << plugins
                          << "]\n";
  o = sy("plan " + kMlp + " --config " + optional);
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.err.find("warning: " + optional + ":2:5: backend 'ghost' cannot be used: no plugin file"),
            std::string::npos)
      << o.err;
  EXPECT_NE(o.out.find("memdev"), std::string::npos) << o.out;
  // devices only reports.
  o = sy("devices --backends ghost");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.err.find("backend 'ghost' cannot be used"), std::string::npos) << o.err;
}

// Issue #13 item 7: the error pointed at the backend's line and had no suggestion.
TEST_F(Cli, UnknownPluginOptionPointsAtItsLineWithASuggestion) {
  const std::string cpu = fs::path(SY_CLI_BINARY).parent_path().parent_path() / "plugins" / "libsy_plugin_cpu.so";
  if (!fs::exists(cpu)) GTEST_SKIP() << "the cpu plugin is not built (" << cpu << ")";
  const std::string config = path("typo.yaml");
  std::ofstream(config) << "backends:\n  - name: cpu\n    options:\n      thread: 2\nplugin_paths: ["
                        << fs::path(cpu).parent_path().string() << "]\ndefault_plugin_paths: false\n";
  Outcome o = sy("plan " + kMlp + " --config " + config);
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find(config + ":4:7: backend 'cpu': "), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("unknown option 'thread' for backend 'cpu' (did you mean 'threads'?); known options: "),
            std::string::npos)
      << o.err;
}

TEST_F(Cli, PluginFileNamedUnlikeItsTableWarns) {
  const std::string memdev = std::string(SY_TEST_PLUGIN_DIR) + "/libsy_plugin_memdev.so";
  if (!fs::exists(memdev)) GTEST_SKIP() << "the memdev test plugin is not built";
  fs::create_directories(path("plugins"));
  fs::copy_file(memdev, path("plugins/libsy_plugin_accel.so"));
  const std::string config = path("renamed.yaml");
  std::ofstream(config) << "plugin_paths: [" << path("plugins") << "]\ndefault_plugin_paths: false\n";
  Outcome o = sy("devices --config " + config);
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.err.find("warning: " + path("plugins/libsy_plugin_accel.so") +
                       ": loaded as plugin 'memdev' (the name in its function table), not 'accel'"),
            std::string::npos)
      << o.err;
}

TEST_F(Cli, CheckOptimizeOps) {
  Outcome o = sy("check " + kMlp);
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("graph @mlp"), std::string::npos) << o.out;
  o = sy("optimize " + kMlp + " -o " + path("opt.sy"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_TRUE(fs::exists(path("opt.sy")));
  EXPECT_EXIT_CODE(sy("check " + path("opt.sy")), 0);
  o = sy("ops");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_NE(o.out.find("matmul"), std::string::npos);
}

TEST_F(Cli, ConvertSyProgram) {
  Outcome o = sy("convert " + kMlp + " -o " + path("copy.sy"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_TRUE(fs::exists(path("copy.sy")));
  EXPECT_TRUE(fs::exists(path("copy.safetensors")));
  // The copy computes the same thing.
  ASSERT_EQ(sy("run " + kMlp + " --config " + kRefConfig + " --dim N=2 -o " + path("a")).code, 0);
  o = sy("run " + path("copy.sy") + " --config " + kRefConfig + " --dim N=2 --expect p=" + path("a/p.npy"));
  EXPECT_EXIT_CODE(o, 0);
}

// --------------------------------------------------------------------- ONNX

std::vector<fs::path> exampleModels() {
  std::vector<fs::path> dirs;
  if (!fs::exists(kModels)) return dirs;
  for (const auto& e : fs::directory_iterator(kModels)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

/// `--input NAME=FILE ... --expect NAME=FILE ...` for every input_*/output_* file of an example.
std::string ioArgs(const fs::path& dir) {
  std::vector<std::string> args;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (e.path().extension() != ".npy") continue;
    const std::string stem = e.path().stem().string();
    if (stem.rfind("input_", 0) == 0) args.push_back(" --input " + stem.substr(6) + "=" + e.path().string());
    if (stem.rfind("output_", 0) == 0) args.push_back(" --expect " + stem.substr(7) + "=" + e.path().string());
  }
  std::sort(args.begin(), args.end());
  std::string s;
  for (const auto& a : args) s += a;
  return s;
}

TEST(ExampleModels, ArePresent) {
  const auto dirs = exampleModels();
  EXPECT_GE(dirs.size(), 4u) << "run examples/make_models.py";
  uintmax_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(kModels)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  EXPECT_LT(total, 5u << 20) << "examples/models should stay small";
}

#if SY_HAVE_ONNX

TEST(ExampleModels, MatchPyTorchOnTheReferenceInterpreter) {
  for (const fs::path& dir : exampleModels()) {
    SCOPED_TRACE(dir.string());
    auto g = sy::importOnnxFile((dir / "model.onnx").string());
    ASSERT_TRUE(g.ok()) << g.status().message();
    std::shared_ptr<const sy::Graph> graph = std::move(*g);
    auto interp = sy::Interpreter::create(graph);
    ASSERT_TRUE(interp.ok()) << interp.status().message();
    std::vector<sy::Tensor> inputs;
    for (const sy::Value* v : graph->inputs()) {
      auto t = sy::readNpyFile((dir / ("input_" + v->name() + ".npy")).string());
      ASSERT_TRUE(t.ok()) << t.status().message();
      inputs.push_back(*t);
    }
    auto outs = (*interp)->run(inputs);
    ASSERT_TRUE(outs.ok()) << outs.status().message();
    ASSERT_EQ(outs->size(), graph->outputs().size());
    for (size_t i = 0; i < outs->size(); ++i) {
      const std::string name = graph->outputs()[i]->name();
      auto want = sy::readNpyFile((dir / ("output_" + name + ".npy")).string());
      ASSERT_TRUE(want.ok()) << want.status().message();
      const sy::Tensor& got = (*outs)[i];
      ASSERT_EQ(got.shape(), want->shape()) << name;
      int64_t bad = 0;
      for (int64_t k = 0; k < got.numel(); ++k) {
        const double a = got.getDouble(k), e = want->getDouble(k);
        if (!(std::fabs(a - e) <= 1e-5 + 1e-4 * std::fabs(e))) {
          if (bad++ < 5) ADD_FAILURE() << name << "[" << k << "]: got " << a << ", PyTorch " << e;
        }
      }
      EXPECT_EQ(bad, 0) << name << ": " << bad << " of " << got.numel() << " elements differ";
    }
  }
}

TEST_F(Cli, RunEveryExampleModelWithExpect) {
  for (const fs::path& dir : exampleModels()) {
    Outcome o = sy("run " + (dir / "model.onnx").string() + " --config " + kRefConfig + ioArgs(dir));
    EXPECT_EXIT_CODE(o, 0) << dir;
    EXPECT_NE(o.out.find("matches"), std::string::npos) << o.out;
  }
}

TEST_F(Cli, OnnxNeedsInputsOrRandomInputs) {
  const std::string mlp = kModels + "/mlp/model.onnx";
  Outcome o = sy("run " + mlp + " --config " + kRefConfig);
  EXPECT_EXIT_CODE(o, 2);
  EXPECT_NE(o.err.find("--random-inputs"), std::string::npos) << o.err;
  o = sy("run " + mlp + " --config " + kRefConfig + " --random-inputs --dim batch=3 -o " + path("out"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_EQ(sy::readNpyFile(path("out/y.npy")).value().shape(), (sy::Shape{3, 10}));
  o = sy("plan " + mlp + " --config " + kRefConfig);
  EXPECT_EXIT_CODE(o, 0);
  o = sy("bench " + kModels + "/cnn/model.onnx --config " + kRefConfig + " --warmup 1 --iterations 3 --json");
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_EQ(json::parse(o.out)["latency_ms"]["runs"], 3);
}

TEST_F(Cli, ConvertOnnxToSy) {
  const fs::path cnn = kModels + "/cnn";
  Outcome o = sy("convert " + (cnn / "model.onnx").string() + " -o " + path("cnn.sy"));
  EXPECT_EXIT_CODE(o, 0);
  EXPECT_TRUE(fs::exists(path("cnn.sy")));
  EXPECT_TRUE(fs::exists(path("cnn.safetensors")));
  o = sy("run " + path("cnn.sy") + " --config " + kRefConfig + ioArgs(cnn));
  EXPECT_EXIT_CODE(o, 0);
}

#else

TEST_F(Cli, OnnxWithoutTheImporterIsAClearError) {
  Outcome o = sy("run " + kModels + "/mlp/model.onnx --random-inputs");
  EXPECT_EXIT_CODE(o, 1);
  EXPECT_NE(o.err.find("without the ONNX importer"), std::string::npos) << o.err;
}

#endif

}  // namespace
