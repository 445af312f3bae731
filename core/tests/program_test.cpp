// Programs on disk: loading the examples, save/load round trips, weight errors
// that name the weight and the file, and zero-copy (memory-mapped) weights.
#include "switchyard/program.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "switchyard/interpreter.h"
#include "switchyard/safetensors.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"
#include "test_util.h"

#define EXPECT_HAS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "\"" << (text) << "\" lacks \"" << (part) << "\""

namespace sy {
namespace {

namespace fs = std::filesystem;
using ::sy::testing::F;

std::string example(const char* name) { return std::string(SY_SOURCE_DIR) + "/examples/" + name; }

std::string readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// A fresh temporary directory, removed at the end of the test.
class ProgramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "sy_program_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  std::string dir_;
};

Result<std::vector<Tensor>> runGraph(std::shared_ptr<const Graph> g, const std::vector<Tensor>& inputs) {
  SY_ASSIGN_OR_RETURN(auto in, Interpreter::create(std::move(g)));
  return in->run(inputs);
}

std::vector<Tensor> recurrentInputs() {
  return {F({2, 4}, {0.5, -1, 0.25, 2, -0.3, 0.1, 0.9, -2}), Tensor::scalarI64(3)};
}

// ---------------------------------------------------------------------------
// Loading

TEST_F(ProgramTest, LoadsTheExamples) {
  auto mlp = loadProgram(example("mlp.sy"));
  ASSERT_TRUE(mlp.ok()) << mlp.status().toString();
  EXPECT_EQ((*mlp)->name(), "mlp");
  EXPECT_EQ((*mlp)->weights().size(), 4u);
  EXPECT_EQ((*mlp)->weights().at("fc1.weight").shape(), Shape({8, 16}));
  EXPECT_EQ((*mlp)->weights().at("fc2.bias").dtype(), DType::F32);
  EXPECT_TRUE(verify(**mlp).ok());
  // The loaded program prints as the canonical form of the file (comments aside).
  auto reparsed = parseGraph(readText(example("mlp.sy")));
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(printGraph(**mlp), printGraph(**reparsed));

  auto rec = loadProgram(example("recurrent.sy"));
  ASSERT_TRUE(rec.ok()) << rec.status().toString();
  EXPECT_EQ((*rec)->name(), "recurrent");
  EXPECT_EQ((*rec)->inputs().size(), 2u);
  EXPECT_EQ((*rec)->outputs().size(), 2u);
  auto outs = runGraph(std::move(*rec), recurrentInputs());
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_EQ((*outs)[0].shape(), Shape({2, 4}));
  EXPECT_EQ((*outs)[1].shape(), Shape({3, 2, 4}));
}

TEST_F(ProgramTest, WeightsPathFor) {
  EXPECT_EQ(weightsPathFor("a/b/model.sy"), "a/b/model.safetensors");
  EXPECT_EQ(weightsPathFor("model.sy"), "model.safetensors");
  EXPECT_EQ(weightsPathFor("dir.v2/model"), "dir.v2/model.safetensors");
  EXPECT_EQ(weightsPathFor("a/model.v1.sy"), "a/model.v1.safetensors");
}

TEST_F(ProgramTest, MissingProgramFile) {
  auto g = loadProgram(path("nope.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), "nope.sy");
}

TEST_F(ProgramTest, ParseErrorNamesFileLineAndColumn) {
  writeText(path("bad.sy"), "graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2\n  return %y\n}\n");
  auto g = loadProgram(path("bad.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), path("bad.sy") + ":3:");
}

TEST_F(ProgramTest, ProgramWithoutWeightsNeedsNoWeightsFile) {
  writeText(path("plain.sy"), "graph @g(%x: f32[2]) {\n  %y = relu(%x) : f32[2]\n  return %y\n}\n");
  auto g = loadProgram(path("plain.sy"));
  ASSERT_TRUE(g.ok()) << g.status().toString();
  EXPECT_TRUE((*g)->weights().empty());
}

// ---------------------------------------------------------------------------
// Round trip

TEST_F(ProgramTest, SaveThenLoadRoundTripsTextAndWeights) {
  for (const char* name : {"mlp", "recurrent"}) {
    SCOPED_TRACE(name);
    auto original = loadProgram(example((std::string(name) + ".sy").c_str()));
    ASSERT_TRUE(original.ok()) << original.status().toString();
    const std::string out = path(std::string(name) + ".sy");
    Status st = saveProgram(**original, out);
    ASSERT_TRUE(st.ok()) << st.toString();
    EXPECT_TRUE(fs::exists(out));
    EXPECT_TRUE(fs::exists(path(std::string(name) + ".safetensors")));
    EXPECT_FALSE(fs::exists(out + ".tmp"));
    // The file holds the canonical text.
    EXPECT_EQ(readText(out), printGraph(**original));

    auto loaded = loadProgram(out);
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
    EXPECT_EQ(printGraph(**loaded), printGraph(**original));
    ASSERT_EQ((*loaded)->weights().size(), (*original)->weights().size());
    for (const auto& [wname, t] : (*original)->weights()) {
      auto it = (*loaded)->weights().find(wname);
      ASSERT_NE(it, (*loaded)->weights().end()) << wname;
      EXPECT_TRUE(it->second.bitwiseEqual(t)) << wname;
    }
    // And it computes the same.
    const std::vector<Tensor> inputs =
        std::string(name) == "mlp" ? std::vector<Tensor>{F({2, 8}, {1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8})}
                                   : recurrentInputs();
    auto a = runGraph(std::move(*original), inputs);
    auto b = runGraph(std::move(*loaded), inputs);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->size(), b->size());
    for (size_t i = 0; i < a->size(); ++i) EXPECT_TRUE((*a)[i].bitwiseEqual((*b)[i]));
  }
}

TEST_F(ProgramTest, SaveOverTheFilesItWasLoadedFrom) {
  // The weights of the loaded program borrow the mapped file; saving over it
  // (write to a temporary, then rename) must not disturb them.
  ASSERT_TRUE(saveProgram(**loadProgram(example("mlp.sy")), path("m.sy")).ok());
  auto g = loadProgram(path("m.sy"));
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const Tensor before = *(*g)->weights().at("fc1.weight").clone();
  Status st = saveProgram(**g, path("m.sy"));
  ASSERT_TRUE(st.ok()) << st.toString();
  EXPECT_TRUE((*g)->weights().at("fc1.weight").bitwiseEqual(before));
  auto again = loadProgram(path("m.sy"));
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_TRUE((*again)->weights().at("fc1.weight").bitwiseEqual(before));
}

TEST_F(ProgramTest, SaveBuiltGraphWithWeights) {
  // A graph from text with weights set in memory (owned, not mapped).
  auto g = parseGraph(R"(graph @small(%x: f32[2]) {
  %w = weight() {name = "scale"} : f32[2]
  %k = weight() {name = "ids"} : i64[3]
  %y = mul(%x, %w) : f32[2]
  return %y, %k
}
)");
  ASSERT_TRUE(g.ok());
  (*g)->setWeight("scale", F({2}, {2, -3}));
  (*g)->setWeight("ids", ::sy::testing::I({3}, {7, 8, 9}));
  ASSERT_TRUE(verify(**g).ok());
  ASSERT_TRUE(saveProgram(**g, path("small.sy")).ok());
  auto loaded = loadProgram(path("small.sy"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  EXPECT_EQ(printGraph(**loaded), printGraph(**g));
  auto outs = runGraph(std::move(*loaded), {F({2}, {1, 1})});
  ASSERT_TRUE(outs.ok()) << outs.status().toString();
  EXPECT_TENSOR((*outs)[0], DType::F32, Shape({2}), {2, -3});
  EXPECT_TENSOR((*outs)[1], DType::I64, Shape({3}), {7, 8, 9});
}

TEST_F(ProgramTest, SaveToUnwritablePlaceFails) {
  auto g = loadProgram(example("mlp.sy"));
  ASSERT_TRUE(g.ok());
  Status st = saveProgram(**g, path("no/such/dir/m.sy"));
  EXPECT_FALSE(st.ok());
}

// ---------------------------------------------------------------------------
// Weight errors

constexpr const char* kNeedsW = R"(graph @g(%x: f32[2, 3]) {
  %w = weight() {name = "layer.w"} : f32[3, 2]
  %y = matmul(%x, %w) : f32[2, 2]
  return %y
}
)";

TEST_F(ProgramTest, MissingWeightsFileNamesTheFile) {
  writeText(path("p.sy"), kNeedsW);
  auto g = loadProgram(path("p.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), path("p.safetensors"));
  EXPECT_HAS(g.status().message(), path("p.sy"));
}

TEST_F(ProgramTest, WeightAbsentFromFileNamesWeightAndFile) {
  writeText(path("p.sy"), kNeedsW);
  WeightSet ws;
  ws.tensors["other"] = F({3, 2}, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(saveSafetensors(path("p.safetensors"), ws).ok());
  auto g = loadProgram(path("p.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), "layer.w");
  EXPECT_HAS(g.status().message(), path("p.safetensors"));
}

TEST_F(ProgramTest, WeightWithWrongShapeNamesWeightAndFile) {
  writeText(path("p.sy"), kNeedsW);
  WeightSet ws;
  ws.tensors["layer.w"] = F({2, 3}, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(saveSafetensors(path("p.safetensors"), ws).ok());
  auto g = loadProgram(path("p.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), "layer.w");
  EXPECT_HAS(g.status().message(), path("p.safetensors"));
  EXPECT_HAS(g.status().message(), "f32[2, 3]");
  EXPECT_HAS(g.status().message(), "f32[3, 2]");
}

TEST_F(ProgramTest, WeightWithWrongDtypeNamesWeightAndFile) {
  writeText(path("p.sy"), kNeedsW);
  WeightSet ws;
  ws.tensors["layer.w"] = ::sy::testing::T(DType::F16, {3, 2}, {1, 2, 3, 4, 5, 6});
  ASSERT_TRUE(saveSafetensors(path("p.safetensors"), ws).ok());
  auto g = loadProgram(path("p.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), "layer.w");
  EXPECT_HAS(g.status().message(), path("p.safetensors"));
  EXPECT_HAS(g.status().message(), "f16");
}

TEST_F(ProgramTest, CorruptWeightsFileNamesTheFile) {
  writeText(path("p.sy"), kNeedsW);
  writeText(path("p.safetensors"), "this is not a safetensors file at all");
  auto g = loadProgram(path("p.sy"));
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), path("p.safetensors"));
}

TEST_F(ProgramTest, LoadFromTextWithoutWeightsPath) {
  auto g = loadProgramFromText(kNeedsW, "inline.sy");
  ASSERT_FALSE(g.ok());
  EXPECT_HAS(g.status().message(), "inline.sy");
  EXPECT_HAS(g.status().message(), "weights");

  WeightSet ws;
  ws.tensors["layer.w"] = F({3, 2}, {1, 0, 0, 1, 1, 1});
  ASSERT_TRUE(saveSafetensors(path("w.safetensors"), ws).ok());
  auto ok = loadProgramFromText(kNeedsW, "inline.sy", path("w.safetensors"));
  ASSERT_TRUE(ok.ok()) << ok.status().toString();
  auto outs = runGraph(std::move(*ok), {F({2, 3}, {1, 2, 3, 4, 5, 6})});
  ASSERT_TRUE(outs.ok());
  EXPECT_TENSOR((*outs)[0], DType::F32, Shape({2, 2}), {4, 5, 10, 11});
}

// ---------------------------------------------------------------------------
// Zero copy

/// True when [p, p + n) lies in a mapping of a file whose path ends with `suffix`.
bool inFileMapping(const void* p, size_t n, const std::string& suffix) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(maps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string file = line.substr(slash);
    if (file.size() >= suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        addr >= lo && addr + n <= hi)
      return true;
  }
  return false;
}

TEST_F(ProgramTest, WeightsAreMemoryMappedNotCopied) {
  auto g = loadProgram(example("mlp.sy"));
  ASSERT_TRUE(g.ok());
  for (const auto& [name, t] : (*g)->weights())
    EXPECT_TRUE(inFileMapping(t.data(), t.nbytes(), "/examples/mlp.safetensors")) << name;
}

TEST_F(ProgramTest, RunsShareTheWeightStorage) {
  // A program that returns a weight directly: every run hands out the mapped
  // weight itself, not a per-run copy.
  const std::string text = R"(graph @g(%x: f32[2, 3]) {
  %w = weight() {name = "layer.w"} : f32[3, 2]
  %y = matmul(%x, %w) : f32[2, 2]
  return %y, %w
}
)";
  WeightSet ws;
  ws.tensors["layer.w"] = F({3, 2}, {1, 0, 0, 1, 1, 1});
  ASSERT_TRUE(saveSafetensors(path("z.safetensors"), ws).ok());
  writeText(path("z.sy"), text);
  auto g = loadProgram(path("z.sy"));
  ASSERT_TRUE(g.ok()) << g.status().toString();
  const void* mapped = (*g)->weights().at("layer.w").data();
  EXPECT_TRUE(inFileMapping(mapped, 24, "/z.safetensors"));
  auto in = Interpreter::create(std::shared_ptr<const Graph>(std::move(*g)));
  ASSERT_TRUE(in.ok());
  auto r1 = (*in)->run({F({2, 3}, {1, 2, 3, 4, 5, 6})});
  auto r2 = (*in)->run({F({2, 3}, {0, 0, 0, 0, 0, 0})});
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ((*r1)[1].data(), mapped);
  EXPECT_EQ((*r2)[1].data(), mapped);
  EXPECT_TENSOR((*r1)[0], DType::F32, Shape({2, 2}), {4, 5, 10, 11});
  // The outputs keep the mapping alive after the interpreter and graph are gone.
  *in = nullptr;
  EXPECT_TENSOR((*r1)[1], DType::F32, Shape({3, 2}), {1, 0, 0, 1, 1, 1});
}

}  // namespace
}  // namespace sy
