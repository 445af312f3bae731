#include "ops/op_util.h"
namespace sy {
void registerReductionOps(OpRegistry&) {}
}  // namespace sy
