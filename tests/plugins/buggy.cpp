// buggy: a plugin with planted bugs, for the conformance runner's own test
// (conformance/tests/runner_test.cpp). Everything works as in `mini` (one CPU
// device, host-visible memory, f32 only) over memdev's op set, except:
//   sub   computes a + b             (a wrong result: the suite must report a failure with the worst element)
//   neg   raises SIGSEGV in execute  (a crash: the suite must report `crashed` and go on)
//   exp   sleeps forever in execute  (a hang: the suite must report `timed out` and go on)
// Never load it outside that test.
#include <signal.h>
#include <unistd.h>

#include "mini.h"

namespace {

const std::set<std::string>& buggy_ops() {
  static const std::set<std::string> ops = sytest::split_list((std::string(sytest::kAllOps) + ",constant,weight").c_str());
  return ops;
}

sy_error* buggy_query_support(sy_backend* backend, const sy_graph_view* graph, sy_node_support* out_support,
                              size_t num_nodes) {
  if (!backend) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "buggy: backend is NULL");
  if (sy_error* e = sytest::validate_view(graph, "buggy")) return e;
  if (num_nodes != graph->num_nodes || (num_nodes && !out_support))
    return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "buggy: query_support needs %zu answers", graph->num_nodes);
  for (size_t i = 0; i < num_nodes; ++i) {
    const std::string why = sytest::check_node(graph, graph->nodes[i], buggy_ops(), "buggy");
    out_support[i].supported = why.empty() ? 1 : 0;
    out_support[i].cost = why.empty() ? 1e-9 : 0.0;
    sytest::set_reason(&out_support[i], why);
  }
  return nullptr;
}

sy_error* buggy_compile(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled) {
  if (!out_compiled) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "buggy: out_compiled is NULL");
  *out_compiled = nullptr;
  if (!backend) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "buggy: backend is NULL");
  auto c = std::make_unique<sy_compiled>();
  c->backend = backend;
  sy_compiled* raw = c.get();
  sy_error* e = c->plan.build(
      region, [&](const sy_node_view& n) { return sytest::check_node(region, n, buggy_ops(), "buggy"); },
      [&](int32_t, const sy_value_info& v, sytest::ConstRef* ref) -> sy_error* {
        std::unique_ptr<float[]> copy(new (std::nothrow) float[v.constant_bytes / sizeof(float) + 1]);
        if (!copy) return sytest::errorf(SY_ERROR_OUT_OF_MEMORY, "buggy: out of memory for a constant");
        std::memcpy(copy.get(), v.constant_data, v.constant_bytes);
        ref->data = copy.get();
        raw->constants.push_back(std::move(copy));
        return nullptr;
      },
      "buggy");
  if (e) return e;
  // Planted bug 1: sub runs as add.
  for (sytest::Step& s : c->plan.steps)
    if (s.op == sytest::Op::Sub) s.op = sytest::Op::Add;
  *out_compiled = c.release();
  return nullptr;
}

sy_error* buggy_execute(sy_compiled* c, const sy_tensor* inputs, size_t num_inputs, sy_tensor* outputs,
                        size_t num_outputs) {
  if (c) {
    for (const sytest::Step& s : c->plan.steps) {
      if (s.op == sytest::Op::Neg) raise(SIGSEGV);  // planted bug 2: a crash
      if (s.op == sytest::Op::Exp)                  // planted bug 3: a hang
        for (;;) sleep(1);
    }
  }
  return mini::execute(c, inputs, num_inputs, outputs, num_outputs);
}

}  // namespace

SY_MINI_PLUGIN("buggy", {
  a.query_support = buggy_query_support;
  a.compile = buggy_compile;
  a.execute = buggy_execute;
})
