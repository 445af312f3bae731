// fuse_fails: claims relu and add on f32 in query_support and compiles a
// region of one of them, but fails the compile of any region with more than
// one compute node ("fusing 2 nodes is not implemented"). Every one-op case
// of the conformance suite passes; only regions that the partitioner forms
// from neighbouring claimed nodes fail, as they do for a plugin that was only
// ever tested op by op. The conformance runner's test uses it to show that
// the engine scope catches this and the api, ops and models scopes do not.
#include <cstring>

#include "mini.h"

namespace {
sy_error* fuse_fails_compile(sy_backend* backend, const sy_graph_view* region, sy_compiled** out_compiled) {
  if (out_compiled) *out_compiled = nullptr;
  if (!region) return sytest::errorf(SY_ERROR_INVALID_ARGUMENT, "fuse_fails: region is NULL");
  size_t compute = 0;
  for (size_t i = 0; i < region->num_nodes; ++i) {
    const char* op = region->nodes[i].op ? region->nodes[i].op : "";
    if (std::strcmp(op, "constant") != 0 && std::strcmp(op, "weight") != 0) ++compute;
  }
  if (compute > 1)
    return sytest::errorf(SY_ERROR_UNIMPLEMENTED, "fuse_fails: fusing %zu nodes into one region is not implemented",
                          compute);
  return mini::compile(backend, region, out_compiled);
}
}  // namespace

SY_MINI_PLUGIN("fuse_fails", a.compile = fuse_fails_compile)
