// The three printed forms of a PartitionPlan: a console table (with an
// optional per-node explanation), JSON, and Graphviz.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "switchyard/dtype.h"
#include "switchyard/partitioner.h"

namespace sy {

namespace {

std::string valueName(const Value* v) { return "%" + v->name(); }

/// "body" for the graph body, else e.g. "then of 'if' node %y".
std::string blockName(const Block* b) {
  if (!b) return "?";
  if (!b->owningNode()) return b->label();
  return b->label() + " of " + b->owningNode()->describe();
}

/// Up to `limit` value names, then "... (N more)".
std::string valueList(const std::vector<const Value*>& values, size_t limit = 8) {
  std::string s;
  for (size_t i = 0; i < values.size() && i < limit; ++i) s += (i ? ", " : "") + valueName(values[i]);
  if (values.size() > limit) s += ", ... (" + std::to_string(values.size() - limit) + " more)";
  return s.empty() ? "-" : s;
}

/// Total bytes of the constants a region uses; -1 when a shape is not static.
int64_t constantBytes(const Region& r) {
  int64_t total = 0;
  for (const Value* v : r.constants) {
    const Type& t = v->type();
    int64_t n = 1;
    if (!t.isScalar()) {
      if (!t.rankKnown()) return -1;
      for (const Dim& d : t.dims()) {
        if (!d.isStatic()) return -1;
        n *= d.value();
      }
    }
    total += n * static_cast<int64_t>(dtypeSize(t.dtype()));
  }
  return total;
}

/// "3 (1040 B)", or "-" for none.
std::string constantsCell(const Region& r) {
  if (r.constants.empty()) return "-";
  const int64_t bytes = constantBytes(r);
  return std::to_string(r.constants.size()) + " (" + (bytes >= 0 ? std::to_string(bytes) : "?") + " B)";
}

/// Rows of cells printed as left-aligned columns.
std::string columns(const std::vector<std::vector<std::string>>& rows, const std::string& indent = "  ") {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string transferTarget(const TransferStep& t) {
  if (t.toRegion >= 0) return "region " + std::to_string(t.toRegion);
  if (t.toNode) return "host " + t.toNode->describe();
  return "return of " + blockName(t.block);
}

void stepsText(const BlockPlan& plan, const std::vector<Region>& regions, int depth, std::string& out) {
  const std::string indent(static_cast<size_t>(2 * depth + 2), ' ');
  out += indent + blockName(plan.block) + ":\n";
  for (const Step& s : plan.steps) {
    if (s.kind == Step::Kind::Region) {
      const Region& r = regions[static_cast<size_t>(s.region)];
      out += indent + "  region " + std::to_string(r.id) + " on " + r.backend + " (" +
             std::to_string(r.nodes.size()) + " node" + (r.nodes.size() == 1 ? "" : "s") + ")\n";
    } else {
      out += indent + "  host runs " + s.node->describe() + "\n";
      for (const BlockPlan& b : s.blocks) stepsText(b, regions, depth + 2, out);
    }
  }
}

nlohmann::json stepsJson(const BlockPlan& plan) {
  nlohmann::json steps = nlohmann::json::array();
  for (const Step& s : plan.steps) {
    if (s.kind == Step::Kind::Region) {
      steps.push_back({{"kind", "region"}, {"region", s.region}});
    } else {
      nlohmann::json blocks = nlohmann::json::array();
      for (const BlockPlan& b : s.blocks) blocks.push_back(stepsJson(b));
      steps.push_back({{"kind", "control_flow"}, {"node", s.node->describe()}, {"op", s.node->op()}, {"blocks", blocks}});
    }
  }
  return {{"block", blockName(plan.block)}, {"steps", steps}};
}

nlohmann::json namesJson(const std::vector<const Value*>& values) {
  nlohmann::json a = nlohmann::json::array();
  for (const Value* v : values) a.push_back(v->name());
  return a;
}

std::string dotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

/// Builds the Graphviz text; node ids are assigned while walking the plan.
class DotWriter {
 public:
  explicit DotWriter(const PartitionPlan& plan) : plan_(plan) {
    static const char* kPalette[] = {"#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3",
                                     "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd"};
    for (const Region& r : plan.regions)
      if (!colors_.count(r.backend)) colors_[r.backend] = kPalette[colors_.size() % std::size(kPalette)];
    for (const TransferStep& t : plan.transfers) {
      if (t.toRegion >= 0) regionTransfers_[{t.value, t.toRegion}] = &t;
      if (t.toNode) nodeTransfers_[{t.value, t.toNode}] = &t;
      if (!t.toNode && t.toRegion < 0) returnTransfers_[{t.value, t.block}] = &t;
    }
  }

  std::string write() {
    out_ << "digraph partition {\n  rankdir=TB;\n  compound=true;\n"
         << "  node [shape=box, style=filled, fillcolor=white, fontname=\"Helvetica\"];\n"
         << "  edge [fontname=\"Helvetica\", fontsize=10];\n";
    if (plan_.top.block) {
      for (const Value* v : plan_.top.block->params())
        out_ << "  \"in:" << dotEscape(v->name()) << "\" [shape=ellipse, label=\"" << dotEscape(valueName(v))
             << "\"];\n";
    }
    blockBody(plan_.top, "  ");
    if (plan_.top.block && !plan_.top.block->returns().empty()) {
      out_ << "  \"return\" [shape=ellipse, label=\"return\"];\n";
      for (const Value* v : plan_.top.block->returns()) {
        auto it = returnTransfers_.find({v, plan_.top.block});
        edge(v, "\"return\"", it == returnTransfers_.end() ? nullptr : it->second);
      }
    }
    for (const std::string& e : edges_) out_ << e;
    out_ << "}\n";
    return out_.str();
  }

 private:
  std::string idOf(const Node* n) {
    auto [it, inserted] = ids_.emplace(n, "");
    if (inserted) it->second = "n" + std::to_string(ids_.size() - 1);
    return it->second;
  }

  void blockBody(const BlockPlan& plan, const std::string& indent) {
    for (const Step& s : plan.steps) {
      if (s.kind == Step::Kind::Region) {
        const Region& r = plan_.regions[static_cast<size_t>(s.region)];
        out_ << indent << "subgraph cluster_r" << r.id << " {\n"
             << indent << "  label=\"region " << r.id << ": " << dotEscape(r.backend) << "\";\n"
             << indent << "  style=filled; fillcolor=\"" << colors_[r.backend] << "\";\n";
        for (const Node* n : r.nodes) {
          std::string label = n->op();
          for (const Value* v : n->outputs()) label += "\\n" + dotEscape(valueName(v));
          if (n->numBlocks() > 0) label += "\\n(whole)";
          out_ << indent << "  " << idOf(n) << " [label=\"" << label << "\"];\n";
          consumerEdges(n, r.id);
        }
        out_ << indent << "}\n";
      } else {
        const std::string id = idOf(s.node);
        out_ << indent << "subgraph cluster_" << id << " {\n"
             << indent << "  label=\"host " << dotEscape(s.node->op()) << "\";\n"
             << indent << "  style=dashed;\n"
             << indent << "  " << id << " [shape=diamond, label=\"" << dotEscape(s.node->op());
        for (const Value* v : s.node->outputs()) out_ << "\\n" << dotEscape(valueName(v));
        out_ << "\"];\n";
        for (const Value* v : s.node->inputs()) {
          auto it = nodeTransfers_.find({v, s.node});
          edge(v, id, it == nodeTransfers_.end() ? nullptr : it->second);
        }
        for (size_t b = 0; b < s.blocks.size(); ++b) {
          out_ << indent << "  subgraph cluster_" << id << "_b" << b << " {\n"
               << indent << "    label=\"" << dotEscape(s.blocks[b].block->label()) << "\";\n"
               << indent << "    style=dotted;\n";
          blockBody(s.blocks[b], indent + "    ");
          out_ << indent << "  }\n";
        }
        out_ << indent << "}\n";
      }
    }
  }

  /// Edges into `n` (in region `region`) from the producers of its inputs.
  void consumerEdges(const Node* n, int region) {
    auto visit = [&](const Value* v) {
      const Node* def = v->definingNode();
      if (def && (def->op() == "constant" || def->op() == "weight")) return;  // data given at compile, no edge
      auto it = regionTransfers_.find({v, region});
      edge(v, idOf(n), it == regionTransfers_.end() ? nullptr : it->second);
    };
    for (const Value* v : n->inputs()) visit(v);
  }

  void edge(const Value* v, const std::string& to, const TransferStep* transfer) {
    std::string from;
    if (const Node* def = v->definingNode()) {
      // A value made inside an if/loop taken whole comes out of that node.
      const Node* drawn = def;
      while (drawn->owningBlock()->owningNode() && !isDrawn(drawn)) drawn = drawn->owningBlock()->owningNode();
      from = idOf(drawn);
    } else if (const Node* owner = v->definingBlock()->owningNode()) {
      from = idOf(owner);
    } else {
      from = "\"in:" + dotEscape(v->name()) + "\"";
    }
    std::string e = "  " + from + " -> " + to;
    if (transfer) {
      e += " [label=\"" + dotEscape(valueName(v)) + "\\n" + dotEscape(transfer->fromBackend) + " -> " +
           dotEscape(transfer->toBackend);
      if (transfer->bytes >= 0) e += "\\n" + std::to_string(transfer->bytes) + " B";
      e += "\", color=red, fontcolor=red]";
    }
    edges_.push_back(e + ";\n");
  }

  bool isDrawn(const Node* n) const {
    // Drawn nodes are the ones in a region's node list or host control flow;
    // nodes nested in a node taken whole are not.
    if (drawnCache_.empty()) {
      for (const Region& r : plan_.regions)
        for (const Node* m : r.nodes) drawnCache_.emplace(m, true);
      std::vector<const BlockPlan*> stack{&plan_.top};
      while (!stack.empty()) {
        const BlockPlan* p = stack.back();
        stack.pop_back();
        for (const Step& s : p->steps)
          if (s.kind == Step::Kind::ControlFlow) {
            drawnCache_.emplace(s.node, true);
            for (const BlockPlan& b : s.blocks) stack.push_back(&b);
          }
      }
    }
    return drawnCache_.count(n) > 0;
  }

  const PartitionPlan& plan_;
  std::ostringstream out_;
  std::vector<std::string> edges_;
  std::map<std::string, std::string> colors_;
  std::unordered_map<const Node*, std::string> ids_;
  mutable std::unordered_map<const Node*, bool> drawnCache_;
  std::map<std::pair<const Value*, int>, const TransferStep*> regionTransfers_;
  std::map<std::pair<const Value*, const Node*>, const TransferStep*> nodeTransfers_;
  std::map<std::pair<const Value*, const Block*>, const TransferStep*> returnTransfers_;
};

}  // namespace

std::string PartitionPlan::toTable(bool explain) const {
  std::string out = "regions (" + std::to_string(regions.size()) + ")\n";
  // Constants are no inputs: the region receives their data at compile.
  std::vector<std::vector<std::string>> rows{{"id", "backend", "block", "nodes", "inputs", "outputs", "constants"}};
  for (const Region& r : regions)
    rows.push_back({std::to_string(r.id), r.backend, blockName(r.block), std::to_string(r.nodes.size()),
                    valueList(r.inputs), valueList(r.outputs), constantsCell(r)});
  out += columns(rows);

  out += "transfers (" + std::to_string(transfers.size()) + ")\n";
  if (!transfers.empty()) {
    rows = {{"value", "bytes", "from", "to", "before"}};
    for (const TransferStep& t : transfers)
      rows.push_back({valueName(t.value), t.bytes >= 0 ? std::to_string(t.bytes) : "?", t.fromBackend, t.toBackend,
                      transferTarget(t)});
    out += columns(rows);
  }

  out += "steps\n";
  stepsText(top, regions, 0, out);

  if (explain) {
    out += "nodes (" + std::to_string(placements.size()) + ")\n";
    for (const NodePlacement& p : placements) {
      out += "  " + p.node->describe() + " -> " + p.backend;
      if (p.region >= 0) out += " (region " + std::to_string(p.region) + ")";
      out += ": " + p.reason + "\n";
      for (const auto& [backend, why] : p.declined) out += "      not " + backend + ": " + why + "\n";
    }
  }
  return out;
}

std::string PartitionPlan::toJson() const {
  nlohmann::json j;
  j["regions"] = nlohmann::json::array();
  for (const Region& r : regions) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const Node* n : r.nodes) nodes.push_back(n->describe());
    j["regions"].push_back({{"id", r.id},
                            {"backend", r.backend},
                            {"block", blockName(r.block)},
                            {"nodes", nodes},
                            {"inputs", namesJson(r.inputs)},
                            {"outputs", namesJson(r.outputs)},
                            {"constants", {{"count", r.constants.size()},
                                           {"bytes", constantBytes(r)},
                                           {"values", namesJson(r.constants)}}}});
  }
  j["transfers"] = nlohmann::json::array();
  for (const TransferStep& t : transfers) {
    nlohmann::json tj = {{"value", t.value->name()}, {"from", t.fromBackend},      {"to", t.toBackend},
                         {"to_region", t.toRegion},  {"bytes", t.bytes},           {"block", blockName(t.block)}};
    if (t.toNode) tj["to_node"] = t.toNode->describe();
    j["transfers"].push_back(std::move(tj));
  }
  j["steps"] = stepsJson(top);
  j["placements"] = nlohmann::json::array();
  for (const NodePlacement& p : placements) {
    nlohmann::json declined = nlohmann::json::array();
    for (const auto& [backend, why] : p.declined) declined.push_back({{"backend", backend}, {"reason", why}});
    nlohmann::json pj = {{"node", p.node->describe()}, {"op", p.node->op()},   {"backend", p.backend},
                         {"region", p.region},         {"reason", p.reason}, {"declined", declined}};
    if (!p.node->name().empty()) pj["name"] = p.node->name();
    j["placements"].push_back(std::move(pj));
  }
  return j.dump(2);
}

std::string PartitionPlan::toDot() const { return DotWriter(*this).write(); }

}  // namespace sy
