// Replays every fuzz target's regression inputs (fuzz/regressions/<target>/,
// inputs that once crashed or hung a parser) and its seeds (the examples and
// configs) through the same target code the fuzzers run, in the ordinary
// build, so that `./run.sh test` (and its ASan/UBSan run) keeps fixed
// findings fixed without clang or libFuzzer. A target's own checks abort on a
// broken contract; a hang runs into the ctest timeout.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_common.h"

SY_FUZZ_TARGET(fuzz_sy_parser);
SY_FUZZ_TARGET(fuzz_npy);
SY_FUZZ_TARGET(fuzz_safetensors);
SY_FUZZ_TARGET(fuzz_config);
#ifdef SY_FUZZ_HAVE_ONNX
SY_FUZZ_TARGET(fuzz_onnx_import);
#endif

namespace {
namespace fs = std::filesystem;

using Entry = int (*)(const uint8_t*, size_t);

/// Files under `dir` (relative to the source tree) whose names end with one
/// of `suffixes` ("" = every file), sorted; recursive when asked.
std::vector<fs::path> filesIn(const std::string& dir, const std::vector<std::string>& suffixes, bool recursive = false) {
  std::vector<fs::path> out;
  const fs::path root = fs::path(SY_SOURCE_DIR) / dir;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  auto take = [&](const fs::directory_entry& e) {
    if (!e.is_regular_file()) return;
    const std::string name = e.path().filename().string();
    for (const std::string& s : suffixes)
      if (s.empty() || (name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0)) {
        out.push_back(e.path());
        return;
      }
  };
  if (recursive)
    for (const auto& e : fs::recursive_directory_iterator(root, ec)) take(e);
  else
    for (const auto& e : fs::directory_iterator(root, ec)) take(e);
  std::sort(out.begin(), out.end());
  return out;
}

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs every file through `entry`; returns how many ran.
size_t replay(Entry entry, const std::vector<fs::path>& files) {
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    const std::string bytes = readAll(f);
    entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  return files.size();
}

std::vector<fs::path> concat(std::vector<fs::path> a, const std::vector<fs::path>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(FuzzRegression, SyParser) {
  auto files = concat(filesIn("examples", {".sy"}), filesIn("fuzz/regressions/fuzz_sy_parser", {""}));
  EXPECT_GE(replay(fuzz_sy_parser_entry, files), 1u);
}

TEST(FuzzRegression, Npy) {
  auto files = concat(filesIn("examples/models", {".npy"}, true), filesIn("fuzz/regressions/fuzz_npy", {""}));
  EXPECT_GE(replay(fuzz_npy_entry, files), 1u);
}

TEST(FuzzRegression, Safetensors) {
  auto files = concat(filesIn("examples", {".safetensors"}), filesIn("fuzz/regressions/fuzz_safetensors", {""}));
  EXPECT_GE(replay(fuzz_safetensors_entry, files), 1u);
}

TEST(FuzzRegression, Config) {
  auto files = concat(filesIn("configs", {".yaml"}), filesIn("fuzz/regressions/fuzz_config", {""}));
  EXPECT_GE(replay(fuzz_config_entry, files), 1u);
}

TEST(FuzzRegression, OnnxImport) {
#ifdef SY_FUZZ_HAVE_ONNX
  auto files = concat(filesIn("examples/models", {".onnx"}, true), filesIn("fuzz/regressions/fuzz_onnx_import", {""}));
  EXPECT_GE(replay(fuzz_onnx_import_entry, files), 1u);
#else
  GTEST_SKIP() << "the ONNX importer is not built (needs libonnx-dev)";
#endif
}

}  // namespace
