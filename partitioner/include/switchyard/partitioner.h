// The partitioner: cuts a graph into regions, one backend each, that can run
// in sequence without a cycle between them, and says why every node went where
// it went.
//
//   std::vector<BackendCapability> backends = ...;  // priority order, fallback last
//   auto plan = partition(graph, backends, PartitionOptions{});
//   if (!plan.ok()) return plan.status();
//   std::cout << plan->toTable(/*explain=*/true);
//
// Inputs are the backends' answers to the capability query (collected by the
// caller, one answer per node, nested nodes included). The algorithm:
//   1. pins, then placement per node: `Priority` (first backend that supports
//      it) or `Cost` (node cost plus the cost of moving its inputs), greedy in
//      program order;
//   2. an `if`/`loop` goes whole to a backend that supports it and everything
//      nested in it; otherwise the host runs it and its blocks are partitioned
//      on their own (regions never span blocks);
//   3. regions are formed per block from ready queues (TFLite/NNAPI style), so
//      the region graph is acyclic by construction;
//   4. regions too small, or (on a device that is not host visible, when costs
//      are reported) whose transfers cost more than they gain over the
//      fallback, are given back to it; a region whose boundary (a region call
//      plus the bytes moved) costs more than it saves over an adjacent
//      region's backend joins that region (`boundaryCost`); regions are
//      formed again after each change (to a fixpoint);
//   5. every crossing between memories that are not both host memory is an
//      explicit TransferStep.
// See Note [Partitioner] in partitioner.cpp for the details and the choices.
//
// The plan holds pointers into the graph: it is valid while the graph lives and
// is not changed. partition() does not change the graph and may run on several
// threads at once (for different or the same graph).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "switchyard/ir.h"
#include "switchyard/status.h"

namespace sy {

/// One backend's answer for one node.
struct NodeSupport {
  /// True when the backend can run the node.
  bool supported = false;
  /// Why not (when unsupported), or any note the backend wants shown.
  std::string reason;
  /// Estimated run time in seconds; used by the `Cost` policy and the give-back rule.
  double cost = 0;
};

/// What one backend said about every node of a graph.
struct BackendCapability {
  /// Backend name as the plan shows it: "cpu", "opencl", "reference", ...
  std::string name;
  /// Its buffers are host memory: moving a tensor to or from the host is free.
  bool hostVisible = false;
  /// One answer per node, nested nodes included. A node missing here counts as
  /// not supported, with the reason "not asked".
  std::unordered_map<const Node*, NodeSupport> nodes;
};

/// How nodes are placed before regions are formed. (`sy::PartitionPolicy` in
/// switchyard/config.h is the config's spelling of the same choice.)
enum class PlacementPolicy {
  Priority,  ///< the first backend, in the given order, that supports the node
  Cost,      ///< the backend with the lowest node cost plus input transfer cost
};

/// Forces nodes onto a backend. Exactly one of `op` and `node` is set.
struct PinRule {
  /// Op kind: the rule applies to every node of this op (nested ones too).
  std::string op;
  /// Node name (Node::name()): the rule applies to the node of that name.
  std::string node;
  /// The backend the nodes must run on; it must support them.
  std::string backend;
};

/// Knobs of partition().
struct PartitionOptions {
  /// How nodes are placed.
  PlacementPolicy policy = PlacementPolicy::Priority;
  /// A region with fewer compute nodes than this (constant and weight nodes
  /// nested in control flow do not count) is given back to the fallback.
  int64_t minRegionNodes = 1;
  /// Seconds to move one byte between a device that is not host visible and the host.
  double transferCostPerByte = 1e-9;
  /// Boundary cost (Note [Boundary cost] in partitioner.cpp), in both policies:
  /// a region whose nodes an adjacent region's backend also supports joins
  /// that region when the boundary (one region call, plus the bytes moved)
  /// costs more than running the region on its own backend saves.
  bool boundaryCost = true;
  /// Seconds one region call costs on top of its nodes (dispatch, the plugin
  /// call, the bookkeeping of its inputs and outputs). The default, 2.5 us, is
  /// what bench/runtime_bench measured per region of a 64-region chain on the
  /// development machine (BM_ChainAlternatingMemdev minus BM_ChainReferenceOnly,
  /// per region, wall-clock median; docs/benchmarks.md).
  double regionCallCost = 2.5e-6;
  /// Pins, applied before placement. A node pin beats an op pin; among pins of
  /// one kind the first that matches wins.
  std::vector<PinRule> pins;
  /// Name of the fallback backend (an entry of the backends list). "" means no
  /// fallback: then a node that no backend supports is an error, and nothing is
  /// given back.
  std::string fallback = "reference";
};

/// A piece of one block run by one backend as a unit.
struct Region {
  /// Index in PartitionPlan::regions.
  int id = -1;
  /// The backend that runs it.
  std::string backend;
  /// The block its nodes belong to (regions never span blocks).
  const Block* block = nullptr;
  /// Its nodes, in execution order (a topological order). Nodes of this block
  /// only: an `if`/`loop` taken whole appears once and brings its blocks along.
  std::vector<const Node*> nodes;
  /// Values used inside (nested uses included) and defined outside, in order of
  /// first use; constants excepted (see `constants`).
  std::vector<const Value*> inputs;
  /// Values defined inside and used outside it, or returned by its block.
  std::vector<const Value*> outputs;
  /// Outputs of the `constant`/`weight` nodes it uses, nested uses included.
  /// Constants are not placed in regions (no region has a constant node of its
  /// block among `nodes`, and a constant is never an input, output or
  /// transfer): the runtime gives their data to the region at compile.
  std::vector<const Value*> constants;
};

/// A copy of one value between memories, before the consumer runs.
struct TransferStep {
  /// The value moved.
  const Value* value = nullptr;
  /// Backend that produced it; "host" for graph inputs, block parameters, values
  /// defined outside the block and outputs of host-run control flow.
  std::string fromBackend;
  /// Backend that consumes it; "host" when the host consumes it (see toNode).
  std::string toBackend;
  /// The first region of `toBackend` in this block that needs it (later regions
  /// of the same backend in the block reuse the copy); -1 when the host consumes it.
  int toRegion = -1;
  /// Size in bytes; -1 when the shape is not static.
  int64_t bytes = -1;
  /// When toRegion is -1: the host-run `if`/`loop` that consumes the value, or
  /// nullptr when the value is returned by `block` (a graph output or a yield).
  const Node* toNode = nullptr;
  /// The block in whose plan the copy happens.
  const Block* block = nullptr;
};

struct BlockPlan;

/// One step of a block's plan.
struct Step {
  /// What the step runs.
  enum class Kind {
    Region,       ///< a region (see `region`)
    ControlFlow,  ///< an `if`/`loop` no backend takes whole; the host runs it (see `node`)
  };
  /// What the step runs.
  Kind kind = Kind::Region;
  /// Kind::Region: index in PartitionPlan::regions.
  int region = -1;
  /// Kind::ControlFlow: the `if`/`loop` node.
  const Node* node = nullptr;
  /// Kind::ControlFlow: the plans of the node's blocks, in block order.
  std::vector<BlockPlan> blocks;
};

/// How one block runs: its steps in execution order.
struct BlockPlan {
  /// The block.
  const Block* block = nullptr;
  /// Steps in execution order; every value a step uses comes from an earlier
  /// step or from outside the block.
  std::vector<Step> steps;
};

/// Where one node runs and why.
struct NodePlacement {
  /// The node.
  const Node* node = nullptr;
  /// The backend that runs it; "host" for an `if`/`loop` the host runs and for
  /// a `constant`/`weight` node (not placed: the host keeps its data).
  std::string backend;
  /// The region it belongs to (nested nodes of an `if`/`loop` taken whole share
  /// its region); -1 for a host-run `if`/`loop`.
  int region = -1;
  /// Why here, e.g. "first backend in priority order that supports it",
  /// "pinned by op 'conv'", "lowest estimated cost (...)", "region 3 of 1 compute
  /// node is below min_region_nodes 2: given back to reference".
  std::string reason;
  /// Every other backend and why not: its own reason when it declined the node,
  /// or e.g. "supported, but ranked lower".
  std::vector<std::pair<std::string, std::string>> declined;
};

/// The result of partition().
struct PartitionPlan {
  /// The plan of the graph body.
  BlockPlan top;
  /// Every region of every block; id == index. Regions of a block are numbered
  /// in execution order; a host `if`/`loop`'s inner regions follow its step.
  std::vector<Region> regions;
  /// Every copy between memories, in execution order within each block (a
  /// block's copies come before those of the blocks nested in it).
  std::vector<TransferStep> transfers;
  /// One per node, in graph pre-order (forEachNode order).
  std::vector<NodePlacement> placements;

  /// A console table: regions (id, backend, block, node count, inputs, outputs)
  /// and transfers; with `explain`, every node, its backend, why, and why not
  /// elsewhere.
  std::string toTable(bool explain = false) const;
  /// The whole plan as JSON: regions, transfers, steps and placements.
  std::string toJson() const;
  /// A Graphviz picture: one cluster per region colored by backend, host
  /// control flow as clusters around its blocks, edges labelled with transfers.
  std::string toDot() const;
};

/// Partitions `graph` over `backends`, given in priority order (the fallback,
/// usually "reference", host visible and supporting every node, is an ordinary
/// entry, normally the last). Fails on a bad pin (no such backend, a backend
/// that does not support the pinned node, a node name that matches nothing),
/// on a fallback missing from `backends`, and when some node has no backend;
/// that error lists every such node with each backend's reason.
Result<PartitionPlan> partition(const Graph& graph, const std::vector<BackendCapability>& backends,
                                const PartitionOptions& options);

}  // namespace sy
