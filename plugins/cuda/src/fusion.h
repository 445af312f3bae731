// Fusion grouping and NVRTC code generation (host code only; unit-tested
// without a GPU).
//
// Note [Fusion groups]
// A region's top-level nodes are cut, in order, into groups, each of which
// becomes one step at execute:
//  - Elementwise chains: consecutive elementwise nodes (unary, binary,
//    comparison, logical, cast, where) where each next node reads the
//    chain's current result, that result has no other reader and is not a
//    region output, and the node's output has the chain's shape (its other
//    inputs may broadcast to it). One generated kernel computes the chain,
//    reading each distinct outside input once per element (at most
//    kMaxFusedInputs). The head node may broadcast its own inputs.
//  - GEMMs (matmul, gemm) that absorb a following bias `add` (a constant
//    f32 [N] / [1, N] operand) and then a `relu` or tanh-`gelu`: cuBLASLt's
//    BIAS / RELU_BIAS / GELU_BIAS epilogues.
//  - Convolutions that absorb a following batch_norm with constant
//    parameters (folded into the weights and bias at compile, as the CPU
//    plugin does) and then a `relu` (applied by the bias kernel).
//  - Every other node alone.
// An absorbed node must be the only reader of the value it takes, which must
// not be a region output; its other inputs are constants, so moving it up to
// its producer's place never reads a value too early.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops.h"

namespace sy_cuda {

enum class GroupKind { Elementwise, Gemm, Conv, Single };

/// One step of a region, as grouped (Note [Fusion groups]).
struct Group {
  GroupKind kind = GroupKind::Single;
  std::vector<size_t> nodes;  ///< positions in the region body, in order; nodes[0] is the main node
  int32_t output = -1;        ///< the value the group produces
  // Elementwise: the distinct outside inputs (value indices), in kernel argument order.
  std::vector<int32_t> inputs;
  // Gemm/Conv epilogue: positions of the absorbed nodes, -1 when none.
  int64_t biasAdd = -1;     ///< gemm: the `add` taken as the bias
  int64_t batchNorm = -1;   ///< conv: the folded batch_norm
  int64_t activation = -1;  ///< relu (gemm, conv) or gelu (gemm)
};

/// Cuts the region's top-level nodes into groups (Note [Fusion groups]).
/// Every node is in exactly one group, in an order that respects the data
/// flow. constant/weight nodes are single groups too.
std::vector<Group> groupRegion(const sdk::GraphView& region);

/// The CUDA C source of one elementwise group's kernels, self-contained (no
/// includes) for NVRTC. It defines two extern "C" kernels:
///   sy_fused_flat(in0.., out, n)          every input has the output's shape
///   sy_fused_strided(in0.., out, n, ix)   inputs broadcast (SyIndex strides)
/// Both take a grid-stride loop over the n output elements.
std::string elementwiseSource(const sdk::GraphView& region, const Group& group);

/// The CUDA C expression of one elementwise node over `args` (already in the
/// compute type of their dtype: float for f32/f16/bf16, long long for
/// integers, bool for bool), producing its output's compute type.
std::string elementwiseExpr(const sdk::NodeView& node, const std::vector<std::string>& args);

/// Kernel parameter block of sy_fused_strided (must match the generated
/// struct SyIndex byte for byte).
struct SyIndex {
  int32_t rank;
  int32_t pad;
  int64_t dims[kMaxRank];
  int64_t strides[kMaxFusedInputs][kMaxRank];
};

/// NVRTC's output for one source and target.
struct CompiledProgram {
  std::string image;   ///< cubin (sm_XY) or PTX (compute_XY), per `cubin`
  bool cubin = false;
  std::string log;     ///< the compile log (warnings)
};

/// Compiles `source` with NVRTC for `arch` ("sm_90" gives a cubin,
/// "compute_90" PTX). A compile error throws SY_ERROR_INTERNAL with the log
/// and the source's first lines; a missing NVRTC throws SY_ERROR_UNIMPLEMENTED.
CompiledProgram compileWithNvrtc(const std::string& source, const std::string& arch);

/// The newest target NVRTC can build for a device of compute capability
/// major.minor: "sm_<mm>" when NVRTC lists it, else PTX for the newest
/// architecture it knows that is not newer than the device.
std::string nvrtcTargetFor(int major, int minor);

}  // namespace sy_cuda
