// libFuzzer target: the ONNX importer, from protobuf bytes to a verified Graph.
//
// Contract checked: importOnnxBytes never crashes on any bytes (protobuf
// parsing, then every importer check); external data is refused (no base
// folder), so the target never touches the file system. A graph it returns
// has passed the verifier; it must also print.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_common.h"
#include "switchyard/onnx_import.h"
#include "switchyard/text.h"

SY_FUZZ_TARGET(fuzz_onnx_import) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto graph = sy::importOnnxBytes(bytes, "fuzz.onnx", "");
  if (!graph.ok()) {
    SY_FUZZ_CHECK(!graph.status().message().empty(), "import error without a message");
    return 0;
  }
  (void)sy::printGraph(**graph);
  return 0;
}
