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
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "switchyard/interpreter.h"
#include "switchyard/onnx_import.h"

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
    if (!(std::fabs(a - e) <= 1e-4 + 1e-3 * std::fabs(e))) {
      os << "output " << index << " element " << i << ": " << a << ", expected " << e;
      return os.str();
    }
  }
  return "";
}

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
  const fs::path data = dir / "test_data_set_0";
  std::vector<sy::Tensor> inputs, expected;
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
  if (inputs.size() != g->inputs().size())
    return "the test has " + std::to_string(inputs.size()) + " inputs, the graph " + std::to_string(g->inputs().size());
  auto outs = (*interp)->run(inputs);
  if (!outs.ok()) return "run: " + outs.status().message();
  if (outs->size() != expected.size())
    return "got " + std::to_string(outs->size()) + " outputs, expected " + std::to_string(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    std::string diff = compare((*outs)[i], expected[i], i);
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
