// docs/ir.md embeds the op reference generated from the registry; this test
// keeps them in sync (regenerate with tools/gen_docs.sh).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "switchyard/op_registry.h"

TEST(Docs, OpReferenceInIrMdIsCurrent) {
  std::ifstream in(std::string(SY_SOURCE_DIR) + "/docs/ir.md");
  ASSERT_TRUE(in) << "docs/ir.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::string begin = "<!-- BEGIN GENERATED OP REFERENCE -->\n";
  const std::string end = "<!-- END GENERATED OP REFERENCE -->";
  const size_t b = doc.find(begin);
  const size_t e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  const std::string embedded = doc.substr(b + begin.size(), e - b - begin.size());
  EXPECT_EQ(embedded, sy::opReferenceMarkdown())
      << "docs/ir.md's op reference is out of date: run tools/gen_docs.sh";
}

TEST(Docs, EveryOpHasDocAndInference) {
  for (const sy::OpSchema* s : sy::OpRegistry::global().all()) {
    EXPECT_FALSE(s->doc.empty()) << s->name << " has no doc";
    const bool control = s->name == "if" || s->name == "loop" || s->name == "weight";
    if (!control) {
      EXPECT_TRUE(static_cast<bool>(s->infer)) << s->name << " has no shape inference";
      EXPECT_TRUE(sy::hasKernel(*s)) << s->name << " has no reference kernel";
    }
    for (const sy::AttrSpec& a : s->attrs) EXPECT_FALSE(a.doc.empty()) << s->name << "." << a.name << " has no doc";
  }
}

TEST(OpSet, HasEveryCoreOp) {
  // The op set the core promises (docs/ir.md); importers and backends rely on it.
  const char* required[] = {
      // unary
      "neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tanh", "sigmoid", "relu",
      "leaky_relu", "gelu", "erf", "silu", "clip", "floor", "ceil", "round", "sign", "logical_not",
      // binary and ternary
      "add", "sub", "mul", "div", "pow", "maximum", "minimum", "mod", "equal", "less", "less_equal", "greater",
      "greater_equal", "logical_and", "logical_or", "where",
      // reductions
      "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin", "softmax",
      "log_softmax",
      // linear algebra and NN
      "matmul", "gemm", "conv", "conv_transpose", "max_pool", "avg_pool", "global_avg_pool", "batch_norm",
      "layer_norm", "instance_norm",
      // shape and data movement
      "reshape", "transpose", "concat", "split", "slice", "gather", "squeeze", "unsqueeze", "expand", "flatten",
      "pad", "tile", "cast", "shape", "range", "constant", "identity", "resize",
      // control flow and weights
      "if", "loop", "weight"};
  for (const char* op : required) EXPECT_NE(sy::OpRegistry::global().find(op), nullptr) << "missing op " << op;
}
