// libFuzzer target: the `.sy` text parser, the verifier, and the printer.
//
// Contract checked: parseGraph never crashes on any bytes; a graph that
// parses prints, and its canonical text parses again to the same text (the
// fixpoint promised in text.h); verify() never crashes on a parsed graph.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.h"
#include "switchyard/text.h"
#include "switchyard/verifier.h"

SY_FUZZ_TARGET(fuzz_sy_parser) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto graph = sy::parseGraph(text, "fuzz.sy");
  if (!graph.ok()) {
    SY_FUZZ_CHECK(!graph.status().message().empty(), "parse error without a message");
    return 0;
  }
  (void)sy::verify(**graph);
  const std::string canonical = sy::printGraph(**graph);
  auto again = sy::parseGraph(canonical, "canonical.sy");
  SY_FUZZ_CHECK(again.ok(), "the printed text does not parse: %s\n--- printed:\n%s",
                again.status().toString().c_str(), canonical.c_str());
  const std::string twice = sy::printGraph(**again);
  SY_FUZZ_CHECK(twice == canonical, "print(parse(print(g))) != print(g)\n--- first:\n%s\n--- second:\n%s",
                canonical.c_str(), twice.c_str());
  return 0;
}
