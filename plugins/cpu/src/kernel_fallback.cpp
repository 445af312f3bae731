// A weak makeKernel (kernel.h) so the plugin links and runs while the
// generic kernels (kernels/*.cpp, registry.cpp) are absent or excluded from
// the build (-DSY_CPU_GENERIC_KERNELS=OFF): every op without a fast path is
// then declined with this reason. The real definition in kernels/registry.cpp
// is a strong symbol and replaces this one at link time.
#include "kernel.h"

namespace sy_cpu {

__attribute__((weak)) std::unique_ptr<Kernel> makeKernel(const sdk::NodeView& node, std::string& whyNot) {
  whyNot = sdk::format(node.op(), ": generic CPU kernels are not built into this plugin");
  return nullptr;
}

}  // namespace sy_cpu
