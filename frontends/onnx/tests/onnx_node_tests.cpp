// Runs the ONNX backend node tests (libonnx-testdata), and the package's
// pytorch-converted and pytorch-operator suites, through the importer and
// the reference interpreter, and compares with the expected outputs.
//
// frontends/onnx/tests/node_expected_failures.txt lists the tests known to
// fail, one per line: `test_name  # reason`. A reason starting with "skip:"
// means the test is not run at all (e.g. huge tensors). The test fails when a
// test outside the list fails, and when a listed test now passes (so that the
// list shrinks as the importer grows). pytorch_converted_expected_failures.txt
// and pytorch_operator_expected_failures.txt do the same for the other suites.
//
// Environment: SY_ONNX_NODE_FILTER=substring runs only matching tests;
// SY_ONNX_NODE_WRITE=path writes every failure with its reason (to refresh the list).
//
// OnnxNodeTests.Cpu runs every node test the reference passes (those not in
// node_expected_failures.txt) through sy::Engine with the cpu plugin first and
// the reference as fallback, and checks the outputs with the same tolerance. A
// test is "run by cpu" when its outputs match and the plan placed every node on
// cpu. It prints the counts (fallen-back tests with the ops that fell back,
// mismatches by name) and fails on a mismatch not listed in
// node_cpu_expected_failures.txt, on a listed one that now matches, and when
// fewer than 95% of the reference's passes run fully on cpu.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "switchyard/interpreter.h"
#include "switchyard/onnx_import.h"
#ifdef SY_NODE_TESTS_CPU
#include "switchyard/engine.h"
#endif

namespace fs = std::filesystem;

namespace {

struct Expectation {
  std::string reason;
  bool skip = false;
};

std::map<std::string, Expectation> readExpectations(const std::string& path) {
  std::map<std::string, Expectation> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    const auto hash = line.find('#');
    std::string name = line.substr(first, hash == std::string::npos ? std::string::npos : hash - first);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    std::string reason = hash == std::string::npos ? "" : line.substr(hash + 1);
    const auto r0 = reason.find_first_not_of(' ');
    reason = r0 == std::string::npos ? "" : reason.substr(r0);
    out[name] = Expectation{reason, reason.rfind("skip:", 0) == 0};
  }
  return out;
}

std::string compare(const sy::Tensor& got, const sy::Tensor& want, size_t index) {
  std::ostringstream os;
  if (got.dtype() != want.dtype()) {
    os << "output " << index << ": dtype " << sy::dtypeName(got.dtype()) << ", expected " << sy::dtypeName(want.dtype());
    return os.str();
  }
  if (got.shape() != want.shape()) {
    os << "output " << index << ": shape " << sy::shapeToString(got.shape()) << ", expected "
       << sy::shapeToString(want.shape());
    return os.str();
  }
  const bool exact = !sy::isFloat(want.dtype());
  for (int64_t i = 0; i < want.numel(); ++i) {
    if (exact) {
      if (got.getInt(i) != want.getInt(i)) {
        os << "output " << index << " element " << i << ": " << got.getInt(i) << ", expected " << want.getInt(i);
        return os.str();
      }
      continue;
    }
    const double a = got.getDouble(i), e = want.getDouble(i);
    if (std::isnan(e) && std::isnan(a)) continue;
    if (std::isinf(e) && a == e) continue;
    // bf16 keeps 8 significant bits: one unit in the last place apart is equal
    // (the generator truncated where Cast now rounds to nearest even; ONNX's own
    // runner compares the stored bits with rtol 1e-3, which admits that too).
    const double rtol = want.dtype() == sy::DType::BF16 ? 1.0 / 128 : 1e-3;
    if (!(std::fabs(a - e) <= 1e-4 + rtol * std::fabs(e))) {
      os << "output " << index << " element " << i << ": " << a << ", expected " << e;
      return os.str();
    }
  }
  return "";
}

std::string readTestData(const fs::path& dir, const sy::Graph& g, std::vector<sy::Tensor>& inputs,
                         std::vector<sy::Tensor>& expected);
std::string compareAll(const std::vector<sy::Tensor>& outs, const std::vector<sy::Tensor>& expected);

/// Runs one node test; "" on success, else the reason.
/// `upgraded` counts the models the importer upgraded from an old opset (their notes are kept off stderr).
std::string runOne(const fs::path& dir, int& upgraded) {
  std::vector<std::string> notes;
  sy::OnnxImportOptions options;
  options.notes = &notes;
  auto graph = sy::importOnnxFile((dir / "model.onnx").string(), options);
  if (!notes.empty()) ++upgraded;
  if (!graph.ok()) return "import: " + graph.status().message();
  std::shared_ptr<const sy::Graph> g(std::move(*graph));
  auto interp = sy::Interpreter::create(g);
  if (!interp.ok()) return "interpreter: " + interp.status().message();
  std::vector<sy::Tensor> inputs, expected;
  std::string err = readTestData(dir, *g, inputs, expected);
  if (!err.empty()) return err;
  auto outs = (*interp)->run(inputs);
  if (!outs.ok()) return "run: " + outs.status().message();
  return compareAll(*outs, expected);
}

/// Reads test_data_set_0's inputs and expected outputs; "" on success, else the reason.
std::string readTestData(const fs::path& dir, const sy::Graph& g, std::vector<sy::Tensor>& inputs,
                         std::vector<sy::Tensor>& expected) {
  const fs::path data = dir / "test_data_set_0";
  for (size_t i = 0;; ++i) {
    fs::path p = data / ("input_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    auto t = sy::readOnnxTensorFile(p.string());
    if (!t.ok()) return "input: " + t.status().message();
    inputs.push_back(*t);
  }
  for (size_t i = 0;; ++i) {
    fs::path p = data / ("output_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    auto t = sy::readOnnxTensorFile(p.string());
    if (!t.ok()) return "expected output: " + t.status().message();
    expected.push_back(*t);
  }
  if (inputs.size() != g.inputs().size())
    return "the test has " + std::to_string(inputs.size()) + " inputs, the graph " + std::to_string(g.inputs().size());
  // The ONNX test generator writes bfloat16 tensors as UINT16 holding the bits
  // (numpy has no bfloat16; onnx/backend/test/case/node/cast.py): where the
  // graph's value is bf16, those bits are the bf16 values.
  auto asBf16 = [](std::vector<sy::Tensor>& ts, const std::vector<sy::Value*>& values) {
    for (size_t i = 0; i < ts.size() && i < values.size(); ++i) {
      if (ts[i].dtype() != sy::DType::U16 || values[i]->type().dtype() != sy::DType::BF16) continue;
      auto keep = std::make_shared<sy::Tensor>(ts[i]);
      ts[i] = sy::Tensor::borrow(sy::DType::BF16, keep->shape(), keep->data(), keep);
    }
  };
  asBf16(inputs, g.inputs());
  asBf16(expected, g.outputs());
  return "";
}

/// Compares every output; "" when all match, else the first difference.
std::string compareAll(const std::vector<sy::Tensor>& outs, const std::vector<sy::Tensor>& expected) {
  if (outs.size() != expected.size())
    return "got " + std::to_string(outs.size()) + " outputs, expected " + std::to_string(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    std::string diff = compare(outs[i], expected[i], i);
    if (!diff.empty()) return diff;
  }
  return "";
}

std::string oneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '#') c = ' ';
  if (s.size() > 600) s = s.substr(0, 600) + "...";
  return s;
}

/// Runs every test folder of `root` (model.onnx + test_data_set_0) against the
/// expectations in `listFile` (in SY_ONNX_TEST_DIR); `suite` names it in the summary.
void runSuite(const fs::path& root, const std::string& listFile, const std::string& suite) {
  const auto expectations = readExpectations(std::string(SY_ONNX_TEST_DIR) + "/" + listFile);
  const char* filter = std::getenv("SY_ONNX_NODE_FILTER");
  const char* writePath = std::getenv("SY_ONNX_NODE_WRITE");
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());

  int passed = 0, failedExpected = 0, skipped = 0, total = 0, upgraded = 0;
  std::vector<std::string> unexpected, nowPassing;
  std::ofstream out;
  if (writePath) out.open(writePath);
  for (const auto& dir : dirs) {
    const std::string name = dir.filename().string();
    if (filter && name.find(filter) == std::string::npos) continue;
    ++total;
    auto it = expectations.find(name);
    if (it != expectations.end() && it->second.skip) {
      ++skipped;
      if (out) out << name << "  # " << it->second.reason << "\n";
      continue;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const std::string err = runOne(dir, upgraded);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (secs > 2.0) std::cout << "slow: " << name << " took " << secs << " s\n";
    if (err.empty()) {
      ++passed;
      if (it != expectations.end()) nowPassing.push_back(name);
      continue;
    }
    if (out) out << name << "  # " << (it != expectations.end() ? it->second.reason : oneLine(err)) << "\n";
    if (it != expectations.end()) {
      ++failedExpected;
      if (filter) std::cout << name << ": " << err << "\n";
    } else {
      unexpected.push_back(name + ": " + err);
    }
  }
  std::cout << suite << ": " << passed << " passed, " << failedExpected << " failed (expected), " << skipped
            << " skipped of " << total << " (" << upgraded << " upgraded from an opset below 7)\n";
  for (const auto& u : unexpected) ADD_FAILURE() << "unexpected failure: " << u;
  for (const auto& p : nowPassing) ADD_FAILURE() << p << " now passes: remove it from " << listFile;
}

void checkExpectations(const fs::path& root, const std::string& listFile) {
  for (const auto& [name, e] : readExpectations(std::string(SY_ONNX_TEST_DIR) + "/" + listFile)) {
    EXPECT_TRUE(fs::is_directory(root / name)) << name << " is listed but is not a test";
    EXPECT_FALSE(e.reason.empty()) << name << " is listed without a reason";
  }
}

#ifdef SY_NODE_TESTS_CPU
/// One node test through the engine with cpu first: "" when the outputs match
/// (then `fellBack` holds the ops of the nodes the plan gave to the reference,
/// one entry per op), else the reason.
std::string runOnCpu(const sy::Engine& engine, const fs::path& dir, std::set<std::string>& fellBack) {
  std::vector<std::string> notes;  // opset upgrades: RunAll counts them
  sy::OnnxImportOptions options;
  options.notes = &notes;
  auto graph = sy::importOnnxFile((dir / "model.onnx").string(), options);
  if (!graph.ok()) return "import: " + graph.status().message();
  std::shared_ptr<const sy::Graph> g(std::move(*graph));
  std::vector<sy::Tensor> inputs, expected;
  std::string err = readTestData(dir, *g, inputs, expected);
  if (!err.empty()) return err;
  auto model = engine.compile(g);
  if (!model.ok()) return "compile: " + model.status().message();
  for (const auto& p : (*model)->plan().placements)
    if (p.backend != "cpu" && p.backend != "host") fellBack.insert(p.node->op());
  auto outs = (*model)->run(inputs);
  if (!outs.ok()) return "run: " + outs.status().message();
  return compareAll(*outs, expected);
}
#endif

// The ONNX package's older suites (converted from PyTorch's own tests; opset 6
// to 9 models, upgraded on import) share the runner, each with its own list.
const fs::path kPytorchConverted = fs::path(SY_ONNX_NODE_DATA).parent_path() / "pytorch-converted";
const fs::path kPytorchOperator = fs::path(SY_ONNX_NODE_DATA).parent_path() / "pytorch-operator";

}  // namespace

TEST(OnnxNodeTests, RunAll) {
  const fs::path root = SY_ONNX_NODE_DATA;
  if (!fs::is_directory(root)) GTEST_SKIP() << "no ONNX test data at " << root << " (install libonnx-testdata)";
  runSuite(root, "node_expected_failures.txt", "ONNX node tests");
}

TEST(OnnxNodeTests, ExpectationsNameRealTests) {
  const fs::path root = SY_ONNX_NODE_DATA;
  if (!fs::is_directory(root)) GTEST_SKIP() << "no ONNX test data";
  checkExpectations(root, "node_expected_failures.txt");
}

TEST(OnnxNodeTests, Cpu) {
#ifndef SY_NODE_TESTS_CPU
  GTEST_SKIP() << "built without the runtime or the cpu plugin";
#else
  const fs::path root = SY_ONNX_NODE_DATA;
  if (!fs::is_directory(root)) GTEST_SKIP() << "no ONNX test data at " << root << " (install libonnx-testdata)";
  const fs::path plugin = fs::path(SY_CPU_PLUGIN_DIR) / "libsy_plugin_cpu.so";
  if (!fs::exists(plugin)) GTEST_SKIP() << "the cpu plugin is not built (" << plugin << ")";
  sy::Config config = sy::defaultConfig();
  config.pluginPaths = {SY_CPU_PLUGIN_DIR};
  config.defaultPluginPaths = false;
  config.strict = true;
  sy::BackendConfig cpu;
  cpu.name = "cpu";
  cpu.options = {{"threads", "2"}};
  config.backends = {cpu};
  // Placement by support only: a one-node test graph would otherwise be given
  // back to the reference for its region call costing more than it saves.
  config.partition.boundaryCost = false;
  config.partition.minRegionNodes = 1;
  auto engine = sy::Engine::create(config);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();

  const auto reference = readExpectations(std::string(SY_ONNX_TEST_DIR) + "/node_expected_failures.txt");
  const std::string cpuList = "node_cpu_expected_failures.txt";
  const auto expectations = readExpectations(std::string(SY_ONNX_TEST_DIR) + "/" + cpuList);
  for (const auto& [name, e] : expectations) {
    EXPECT_TRUE(fs::is_directory(root / name)) << name << " is listed in " << cpuList << " but is not a test";
    EXPECT_FALSE(e.reason.empty()) << name << " is listed in " << cpuList << " without a reason";
    EXPECT_FALSE(reference.count(name)) << name << " is listed in " << cpuList << " but fails on the reference";
  }
  const char* filter = std::getenv("SY_ONNX_NODE_FILTER");
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());

  int referencePasses = 0, matched = 0, onCpu = 0;
  std::map<std::string, int> fallbackOps;  // op -> tests in which it fell back
  std::vector<std::string> fallenBack, mismatched, expectedMismatch, nowMatching;
  for (const auto& dir : dirs) {
    const std::string name = dir.filename().string();
    if (filter && name.find(filter) == std::string::npos) continue;
    if (reference.count(name)) continue;  // not a reference pass
    ++referencePasses;
    std::set<std::string> fellBack;
    const std::string err = runOnCpu(**engine, dir, fellBack);
    const bool listed = expectations.count(name) != 0;
    if (!err.empty()) {
      (listed ? expectedMismatch : mismatched).push_back(name + ": " + err);
      continue;
    }
    if (listed) nowMatching.push_back(name);
    ++matched;
    if (fellBack.empty()) {
      ++onCpu;
      continue;
    }
    std::string ops;
    for (const auto& op : fellBack) {
      ops += (ops.empty() ? "" : ",") + op;
      ++fallbackOps[op];
    }
    fallenBack.push_back(name + " (" + ops + ")");
  }
  const double share = referencePasses ? 100.0 * onCpu / referencePasses : 100.0;
  std::cout << "ONNX node tests on cpu: of " << referencePasses << " reference passes, " << matched << " match, "
            << onCpu << " run fully on cpu (" << std::fixed << std::setprecision(1) << share << "%), "
            << fallenBack.size() << " match with nodes fallen back to the reference, " << mismatched.size()
            << " mismatch, " << expectedMismatch.size() << " mismatch (expected)\n";
  if (!fallbackOps.empty()) {
    std::cout << "ops fallen back (tests):";
    for (const auto& [op, n] : fallbackOps) std::cout << " " << op << "(" << n << ")";
    std::cout << "\n";
  }
  for (const auto& f : fallenBack) std::cout << "  fallen back: " << f << "\n";
  for (const auto& m : expectedMismatch) std::cout << "  mismatch (expected): " << m << "\n";
  for (const auto& m : mismatched) ADD_FAILURE() << "mismatch on cpu: " << m;
  for (const auto& n : nowMatching) ADD_FAILURE() << n << " now matches on cpu: remove it from " << cpuList;
  if (!filter) {
    EXPECT_GE(share, 95.0) << "fewer than 95% of the reference's passes run fully on cpu";
  }
#endif
}

TEST(OnnxPytorchConvertedTests, RunAll) {
  if (!fs::is_directory(kPytorchConverted))
    GTEST_SKIP() << "no ONNX test data at " << kPytorchConverted << " (install libonnx-testdata)";
  runSuite(kPytorchConverted, "pytorch_converted_expected_failures.txt", "ONNX pytorch-converted tests");
}

TEST(OnnxPytorchConvertedTests, ExpectationsNameRealTests) {
  if (!fs::is_directory(kPytorchConverted)) GTEST_SKIP() << "no ONNX test data";
  checkExpectations(kPytorchConverted, "pytorch_converted_expected_failures.txt");
}

TEST(OnnxPytorchOperatorTests, RunAll) {
  if (!fs::is_directory(kPytorchOperator))
    GTEST_SKIP() << "no ONNX test data at " << kPytorchOperator << " (install libonnx-testdata)";
  runSuite(kPytorchOperator, "pytorch_operator_expected_failures.txt", "ONNX pytorch-operator tests");
}

TEST(OnnxPytorchOperatorTests, ExpectationsNameRealTests) {
  if (!fs::is_directory(kPytorchOperator)) GTEST_SKIP() << "no ONNX test data";
  checkExpectations(kPytorchOperator, "pytorch_operator_expected_failures.txt");
}
