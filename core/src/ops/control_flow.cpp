// Ops the interpreter runs itself (control flow) or resolves from the graph
// (weights). Their type inference needs the node's blocks or the graph, so it
// lives in the verifier (inferNodeTypes), not in the schema.
#include "ops/op_util.h"

namespace sy {

void registerControlFlowOps(OpRegistry& r) {
  r.add(OpSchema{
      .name = "if",
      .category = "control",
      .doc = "Runs the `then` block when `cond` (a bool with one element) is true, else the `else` block; "
             "the outputs are the values the chosen block yields. Both blocks take no parameters and yield "
             "one value per output, of matching dtype and rank.",
      .inputNames = {"cond"},
      .minInputs = 1,
      .maxInputs = 1,
      .outputNames = {"outputs"},
      .minOutputs = 0,
      .maxOutputs = -1,
      .numBlocks = 2,
      .dtypes = {DType::Bool},
  });
  r.add(OpSchema{
      .name = "loop",
      .category = "control",
      .doc = "ONNX-style loop. Inputs: max trip count (i64 scalar; a negative count means no limit), initial "
             "condition (bool scalar), then K carried values. The body takes (iteration: i64, cond: bool, "
             "K carried) and yields (cond, K carried, S scan values). It runs while iteration < max trip count "
             "and cond is true. Outputs: the K final carried values, then the S scan values stacked along a new "
             "first axis.",
      .inputNames = {"max_trip_count", "cond", "carried"},
      .minInputs = 2,
      .maxInputs = -1,
      .outputNames = {"outputs"},
      .minOutputs = 0,
      .maxOutputs = -1,
      .numBlocks = 1,
      .dtypes = {DType::I64},
  });
  r.add(OpSchema{
      .name = "weight",
      .category = "data",
      .doc = "A named weight of the program, stored in its safetensors file and memory-mapped at load time.",
      .outputNames = {"value"},
      .minOutputs = 1,
      .maxOutputs = 1,
      .attrs = {AttrSpec{.name = "name", .kind = AttrKind::String, .required = true,
                         .doc = "the tensor's name in the weights file"}},
      .dtypes = {DType::F32, DType::F16, DType::BF16, DType::I8, DType::I32, DType::I64, DType::Bool},
  });
}

}  // namespace sy
