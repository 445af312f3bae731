// Memory plans: where each intermediate tensor of a region lives inside one
// arena, so that execute allocates one block (from the stream-ordered pool)
// instead of one per tensor, and tensors whose lifetimes do not overlap
// share bytes. Host code only (unit-tested without a GPU).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sy_cuda {

/// One tensor to place: its size and the steps that define and last read it
/// (inclusive; a region output read by the final copy-out has last = the
/// number of steps).
struct PlanValue {
  size_t bytes = 0;
  int first = 0;
  int last = 0;
};

struct MemoryPlan {
  std::vector<size_t> offsets;  ///< one per PlanValue, multiples of the alignment
  size_t total = 0;             ///< arena size
};

/// Greedy by size (the TensorFlow Lite arena planner's order): the largest
/// tensor first, each at the lowest aligned offset where it overlaps no
/// placed tensor that is alive at the same time. Deterministic; ties keep
/// the input order. Zero-byte tensors get offset 0 and take no space.
MemoryPlan planMemory(const std::vector<PlanValue>& values, size_t alignment = 256);

}  // namespace sy_cuda
