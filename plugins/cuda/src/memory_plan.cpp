#include "memory_plan.h"

#include <algorithm>
#include <numeric>

namespace sy_cuda {

MemoryPlan planMemory(const std::vector<PlanValue>& values, size_t alignment) {
  MemoryPlan plan;
  plan.offsets.assign(values.size(), 0);
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a].bytes > values[b].bytes; });
  auto rounded = [&](size_t bytes) { return (bytes + alignment - 1) / alignment * alignment; };

  std::vector<size_t> placed;  // indices already given an offset
  for (size_t v : order) {
    const PlanValue& pv = values[v];
    if (pv.bytes == 0) continue;
    // Blocks of live-overlapping tensors, by offset.
    std::vector<std::pair<size_t, size_t>> busy;
    for (size_t p : placed) {
      const PlanValue& q = values[p];
      if (q.first <= pv.last && pv.first <= q.last) busy.emplace_back(plan.offsets[p], plan.offsets[p] + rounded(q.bytes));
    }
    std::sort(busy.begin(), busy.end());
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + rounded(pv.bytes) <= begin) break;  // fits in the gap before this block
      offset = std::max(offset, end);
    }
    plan.offsets[v] = offset;
    plan.total = std::max(plan.total, offset + rounded(pv.bytes));
    placed.push_back(v);
  }
  return plan;
}

}  // namespace sy_cuda
