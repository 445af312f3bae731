// The differential fuzzer (diff_fuzz.h; docs/fuzzing.md is the guide).
//
// Note [Why mutate text]
// Seeds are mutated as canonical `.sy` text and re-read with the parser and
// the verifier, rather than by editing the IR in place: the printer gives one
// form for the op cases and the example programs alike, a mutant is exactly
// what its reproducer file holds, and a mutation that breaks typing (a dim
// remap that no longer matches a `reshape` constant, an attribute out of its
// range) is simply refused by the verifier and counted as rejected.
//
// Note [Why the reference runs in a child]
// Known open bugs make the reference interpreter hang or abort on some
// mutants (a negative Loop trip count, unbounded scan outputs). The reference
// therefore runs each mutant in a forked child that sends its outputs back
// as a safetensors image over a pipe; a child that overruns the case timeout
// is killed and a child that dies is reported, and the fuzzer goes on. The
// plugins run in this process (their driver threads do not survive a fork);
// before they run, the mutant is written to <out>/current/, so that a plugin
// that crashes the process leaves its reproducer behind.
#include "switchyard/diff_fuzz.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "internal.h"
#include "switchyard/config.h"
#include "switchyard/engine.h"
#include "switchyard/interpreter.h"
#include "switchyard/op_registry.h"
#include "switchyard/program.h"
#include "switchyard/safetensors.h"
#include "switchyard/text.h"

#ifndef SY_CONFORMANCE_DECLARATIONS_DIR
#define SY_CONFORMANCE_DECLARATIONS_DIR "conformance/declarations"
#endif
#ifndef SY_CONFORMANCE_EXAMPLES_DIR
#define SY_CONFORMANCE_EXAMPLES_DIR "examples"
#endif

namespace sy::difffuzz {
namespace fs = std::filesystem;
using conformance::globMatch;

int64_t Summary::newFindings() const {
  int64_t n = 0;
  for (const Finding& f : findings) n += f.known ? 0 : 1;
  return n;
}

namespace {

using Rng = std::mt19937_64;

size_t pick(Rng& rng, size_t n) { return static_cast<size_t>(rng() % n); }
bool chance(Rng& rng, double p) { return static_cast<double>(rng() >> 11) * 0x1.0p-53 < p; }
double unit(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// ---------------------------------------------------------------------------
// Seeds

struct Seed {
  std::string id;           ///< "ops.add.f32.broadcast" or "examples/mlp.sy"
  std::string op;           ///< the op of an op case; "" for a program
  std::string text;         ///< canonical text
  std::string weightsPath;  ///< "" when the program has no weights
};

Result<std::vector<Seed>> collectSeeds(const Options& o, std::ostream& log) {
  std::vector<Seed> seeds;
  // Op cases with weights (the `weight` op's own cases) keep them in memory;
  // their mutants re-read them from a file, like the programs.
  const fs::path weightsDir = fs::path(o.outDir) / "seed-weights";
  for (const conformance::OpCaseGraph& c : conformance::opCaseGraphs()) {
    Seed seed{c.id, c.op, printGraph(*c.graph), ""};
    if (!c.graph->weights().empty()) {
      std::error_code ec;
      fs::create_directories(weightsDir, ec);
      WeightSet ws;
      ws.tensors = c.graph->weights();
      seed.weightsPath = (weightsDir / (c.id + ".safetensors")).string();
      if (!saveSafetensors(seed.weightsPath, ws).ok()) continue;
    }
    seeds.push_back(std::move(seed));
  }
  const std::string dir = o.examplesDir.empty() ? conformance::suiteDataDir(SY_CONFORMANCE_EXAMPLES_DIR, "examples")
                                                : o.examplesDir;
  std::vector<fs::path> programs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".sy") programs.push_back(entry.path());
  if (ec) return invalidArgument("examples folder '", dir, "': ", ec.message());
  std::sort(programs.begin(), programs.end());
  for (const fs::path& p : programs) {
    auto g = loadProgram(p.string());
    if (!g.ok()) return g.status().withContext("differential fuzzer seed");
    const std::string w = weightsPathFor(p.string());
    seeds.push_back(Seed{"examples/" + p.filename().string(), "", printGraph(**g), fs::exists(w) ? w : ""});
  }
  std::vector<Seed> kept;
  for (Seed& s : seeds) {
    bool wanted = o.seedFilters.empty();
    for (const std::string& f : o.seedFilters) wanted = wanted || globMatch(f, s.id);
    // A seed must survive its own round trip through text (the fuzzer's
    // mutants are text); the few that do not are left out, with a note.
    if (wanted && loadProgramFromText(s.text, s.id, s.weightsPath).ok()) kept.push_back(std::move(s));
    else if (wanted) log << "difffuzz: seed " << s.id << " does not load from its own text; left out\n";
  }
  if (kept.empty()) return invalidArgument("no seed matches the filters");
  return kept;
}

// ---------------------------------------------------------------------------
// Structural mutations of the text (Note [Why mutate text])

bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '%'; }

/// Calls `fn(begin, end)` for every `[...]` dim list of a type in `text`
/// (`f32[N, 4]`), skipping tensor attribute literals (`tensor<f32[2]>`).
template <typename Fn>
void forEachDimList(const std::string& text, Fn fn) {
  static const char* kDTypes[] = {"bf16[", "f32[", "f16[", "i8[", "i32[", "i64[", "bool["};
  size_t i = 0;
  while (i < text.size()) {
    size_t matched = 0;
    if (i == 0 || (!isNameChar(text[i - 1]) && text[i - 1] != '<'))
      for (const char* d : kDTypes) {
        const size_t n = std::strlen(d);
        if (text.compare(i, n, d) == 0) {
          matched = n;
          break;
        }
      }
    if (!matched) {
      ++i;
      continue;
    }
    const size_t begin = i + matched;
    const size_t end = text.find(']', begin);
    if (end == std::string::npos) return;
    fn(begin, end);
    i = end + 1;
  }
}

/// Remaps static dims consistently: every occurrence of a size becomes the same new size.
bool mutateShapes(std::string& text, Rng& rng, std::string& note) {
  std::set<int64_t> sizes;
  forEachDimList(text, [&](size_t b, size_t e) {
    std::istringstream ls(text.substr(b, e - b));
    std::string tok;
    while (std::getline(ls, tok, ',')) {
      tok.erase(0, tok.find_first_not_of(' '));
      if (!tok.empty() && std::isdigit(static_cast<unsigned char>(tok[0]))) sizes.insert(std::stoll(tok));
    }
  });
  if (sizes.empty()) return false;
  static const int64_t kChoices[] = {0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 16};
  std::map<int64_t, int64_t> remap;
  for (int64_t s : sizes)
    if (chance(rng, 0.6)) remap[s] = kChoices[pick(rng, std::size(kChoices))];
  if (remap.empty()) remap[*std::next(sizes.begin(), pick(rng, sizes.size()))] = kChoices[pick(rng, std::size(kChoices))];
  std::string out;
  size_t last = 0;
  forEachDimList(text, [&](size_t b, size_t e) {
    out += text.substr(last, b - last);
    std::istringstream ls(text.substr(b, e - b));
    std::string tok, list;
    while (std::getline(ls, tok, ',')) {
      tok.erase(0, tok.find_first_not_of(' '));
      if (!list.empty()) list += ", ";
      if (!tok.empty() && std::isdigit(static_cast<unsigned char>(tok[0]))) {
        auto it = remap.find(std::stoll(tok));
        list += it == remap.end() ? tok : std::to_string(it->second);
      } else {
        list += tok;
      }
    }
    out += list;
    last = e;
  });
  out += text.substr(last);
  text = std::move(out);
  note = "dims";
  for (const auto& [from, to] : remap) note += " " + std::to_string(from) + "->" + std::to_string(to);
  return true;
}

std::string mutateScalar(const std::string& v, Rng& rng) {
  const bool isFloatText = v.find_first_of(".eEn") != std::string::npos || v == "inf" || v == "-inf";
  if (isFloatText) {
    static const char* kFloats[] = {"0.0", "1.0", "-1.0", "0.5", "-0.5", "1e-06", "100.0", "nan", "inf", "-inf", "1e+30", "3.0"};
    return kFloats[pick(rng, std::size(kFloats))];
  }
  int64_t x = 0;
  try {
    x = std::stoll(v);
  } catch (...) {
  }
  const int64_t choices[] = {0, 1, -1, 2, -2, 3, x + 1, x - 1, -x, 2 * x, 7};
  return std::to_string(choices[pick(rng, std::size(choices))]);
}

bool isIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// The numeric `name = value` items of an attribute list (`axis = -1`,
/// `pads = [0, 1]`, `alpha = nan`): (offset of the value, its length, name).
std::vector<std::tuple<size_t, size_t, std::string>> numericAttributes(const std::string& attrs) {
  std::vector<std::tuple<size_t, size_t, std::string>> out;
  for (size_t eq = attrs.find(" = "); eq != std::string::npos; eq = attrs.find(" = ", eq + 3)) {
    size_t nameStart = eq;
    while (nameStart > 0 && isIdentChar(attrs[nameStart - 1])) --nameStart;
    if (nameStart == eq || std::isdigit(static_cast<unsigned char>(attrs[nameStart]))) continue;
    const size_t v = eq + 3;
    size_t end = v;
    if (attrs.compare(v, 1, "[") == 0) {
      end = attrs.find_first_of("[]<", v + 1);
      if (end == std::string::npos || attrs[end] != ']') continue;  // nested or a tensor literal
      ++end;
    } else if (attrs.compare(v, 4, "-inf") == 0) {
      end = v + 4;
    } else if (attrs.compare(v, 3, "inf") == 0 || attrs.compare(v, 3, "nan") == 0) {
      end = v + 3;
    } else {
      const size_t digit = attrs.compare(v, 1, "-") == 0 ? v + 1 : v;
      if (digit >= attrs.size() || !std::isdigit(static_cast<unsigned char>(attrs[digit]))) continue;
      end = digit;
      while (end < attrs.size() && (std::isdigit(static_cast<unsigned char>(attrs[end])) ||
                                    std::strchr(".eE+-", attrs[end]) != nullptr))
        ++end;
    }
    out.emplace_back(v, end - v, attrs.substr(nameStart, eq - nameStart));
  }
  return out;
}

/// Changes one numeric attribute value (or one element of an int/float list).
bool mutateAttribute(std::string& text, Rng& rng, std::string& note) {
  struct Site {
    size_t pos, len;
    std::string name, value;
  };
  std::vector<Site> sites;
  size_t lineStart = 0;
  while (lineStart < text.size()) {
    size_t lineEnd = text.find('\n', lineStart);
    if (lineEnd == std::string::npos) lineEnd = text.size();
    const std::string line = text.substr(lineStart, lineEnd - lineStart);
    const size_t open = line.find(") {");
    const size_t close = line.rfind("} :");
    if (open != std::string::npos && close != std::string::npos && close > open) {
      const size_t b = open + 3;
      const std::string attrs = line.substr(b, close - b);
      for (const auto& [pos, len, name] : numericAttributes(attrs))
        sites.push_back(Site{lineStart + b + pos, len, name, attrs.substr(pos, len)});
    }
    lineStart = lineEnd + 1;
  }
  if (sites.empty()) return false;
  const Site& s = sites[pick(rng, sites.size())];
  std::string replacement;
  if (s.value.front() == '[') {
    std::vector<std::string> elems;
    std::istringstream ls(s.value.substr(1, s.value.size() - 2));
    std::string tok;
    while (std::getline(ls, tok, ',')) {
      tok.erase(0, tok.find_first_not_of(' '));
      if (!tok.empty()) elems.push_back(tok);
    }
    if (elems.empty()) return false;
    if (chance(rng, 0.2) && elems.size() > 1) {
      elems.pop_back();
    } else {
      std::string& e = elems[pick(rng, elems.size())];
      e = mutateScalar(e, rng);
    }
    replacement = "[";
    for (size_t k = 0; k < elems.size(); ++k) replacement += (k ? ", " : "") + elems[k];
    replacement += "]";
  } else {
    replacement = mutateScalar(s.value, rng);
  }
  text.replace(s.pos, s.len, replacement);
  note = "attr " + s.name + " " + s.value + "->" + replacement;
  return true;
}

/// Swaps one unary (binary) op for another unary (binary) op.
bool swapOp(std::string& text, Rng& rng, std::string& note) {
  std::map<std::string, std::vector<std::string>> byCategory;
  // Not swapped in: sin, cos and tan, whose accuracy on GPUs (GLSL, OpenCL
  // native math) is defined only near [-pi, pi]; swapped in after a `mul` of
  // large values, they would report imprecision, not wrong semantics. Their
  // own op cases still run.
  static const std::set<std::string> kNotSwappedIn = {"sin", "cos", "tan"};
  for (const OpSchema* s : OpRegistry::global().all())
    if ((s->category == "unary" || s->category == "binary") && !kNotSwappedIn.count(s->name))
      byCategory[s->category].push_back(s->name);
  struct Site {
    size_t pos, len;
    std::string op, category;
  };
  std::vector<Site> sites;
  // Statements read `%out = op(...)`: an identifier after "= " and before "(".
  for (size_t eq = text.find("= "); eq != std::string::npos; eq = text.find("= ", eq + 2)) {
    const size_t b = eq + 2;
    size_t e = b;
    while (e < text.size() && isIdentChar(text[e])) ++e;
    if (e == b || e >= text.size() || text[e] != '(') continue;
    const std::string op = text.substr(b, e - b);
    const OpSchema* s = OpRegistry::global().find(op);
    if (s && byCategory.count(s->category)) sites.push_back(Site{b, e - b, op, s->category});
  }
  if (sites.empty()) return false;
  const Site& s = sites[pick(rng, sites.size())];
  const auto& pool = byCategory[s.category];
  const std::string& to = pool[pick(rng, pool.size())];
  if (to == s.op) return false;
  text.replace(s.pos, s.len, to);
  note = "swap " + s.op + "->" + to;
  return true;
}

// ---------------------------------------------------------------------------
// Inputs

/// Draws one input.
Result<Tensor> drawInput(const Type& type, std::map<std::string, int64_t>& symbols, Rng& rng) {
  if (!type.rankKnown()) return invalidArgument("an input of unknown rank");
  static const int64_t kSizes[] = {0, 1, 1, 2, 2, 3, 3, 4, 5, 8};
  Shape shape;
  for (const Dim& d : type.dims()) {
    if (d.isStatic()) {
      shape.push_back(d.value());
    } else if (d.isSymbol()) {
      auto it = symbols.find(d.symbolName());
      if (it == symbols.end()) it = symbols.emplace(d.symbolName(), kSizes[pick(rng, std::size(kSizes))]).first;
      shape.push_back(it->second);
    } else {
      shape.push_back(kSizes[1 + pick(rng, std::size(kSizes) - 1)]);
    }
  }
  const DType dt = type.dtype();
  SY_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dt, shape));
  if (isBool(dt)) {
    for (int64_t k = 0; k < t.numel(); ++k) t.setInt(k, static_cast<int64_t>(rng() & 1));
    return t;
  }
  if (isInteger(dt)) {
    const int64_t lo = dt == DType::I8 ? -128 : dt == DType::I32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
    const int64_t hi = dt == DType::I8 ? 127 : dt == DType::I32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
    // A rank-0 integer is usually a count (a loop's trip count, an axis):
    // small values, and a negative one now and then, keep the mutant cheap.
    if (t.rank() == 0) {
      t.setInt(0, static_cast<int64_t>(pick(rng, 11)) - 2);
      return t;
    }
    const int profile = static_cast<int>(pick(rng, 10));  // 0-6 small, 7-8 wider, 9 extremes mixed in
    for (int64_t k = 0; k < t.numel(); ++k) {
      int64_t v = static_cast<int64_t>(pick(rng, 9)) - 4;
      if (profile >= 7) v = static_cast<int64_t>(pick(rng, 201)) - 100;
      if (profile == 9 && chance(rng, 0.2)) {
        const int64_t ex[] = {lo, hi, 0, -1, 1};
        v = ex[pick(rng, std::size(ex))];
      }
      t.setInt(k, v);
    }
    return t;
  }
  // Note [No values near the f32 limit]: the reference computes in double and
  // rounds once, so a plugin's f32 sum or variance of values near 3e38
  // overflows where the reference does not; such a disagreement is no bug,
  // so the largest magnitudes drawn are f16's limit and just past it.
  static const double kSpecials[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, 1e-40, -1e-40, 1e-310,
                                     65504.0, -65504.0, 70000.0, 1.0, -1.0};
  const int profile = static_cast<int>(pick(rng, 10));  // 0-4 plain, 5-7 specials mixed in, 8 large, 9 tiny
  for (int64_t k = 0; k < t.numel(); ++k) {
    double v = unit(rng) * 4 - 2;
    if (profile >= 5 && profile <= 7 && chance(rng, 0.15)) v = kSpecials[pick(rng, std::size(kSpecials))];
    if (profile == 8) v = (chance(rng, 0.5) ? -1 : 1) * std::pow(10.0, 3 + 3 * unit(rng));
    if (profile == 9) v = (chance(rng, 0.5) ? -1 : 1) * std::pow(10.0, -45 + 40 * unit(rng));
    t.setDouble(k, v);
  }
  return t;
}

/// What the inputs hold, for the signature and the tolerance.
struct InputProfile {
  bool nonfinite = false;  ///< a NaN or an infinity in a float input
  bool subnormal = false;  ///< a subnormal (denormal) value of its dtype in a float input
  double maxAbs = 0;       ///< largest finite magnitude of the float inputs
  /// "nonfinite", else "subnormal", else "finite".
  std::string inputClass() const { return nonfinite ? "nonfinite" : subnormal ? "subnormal" : "finite"; }
};

InputProfile profileInputs(const std::vector<Tensor>& inputs) {
  InputProfile p;
  for (const Tensor& t : inputs) {
    if (!isFloat(t.dtype())) continue;
    const double smallestNormal = t.dtype() == DType::F16 ? 6.103515625e-05 : 1.1754943508222875e-38;
    for (int64_t k = 0; k < t.numel(); ++k) {
      const double v = t.getDouble(k);
      if (!std::isfinite(v)) {
        p.nonfinite = true;
        continue;
      }
      if (v != 0 && std::fabs(v) < smallestNormal) p.subnormal = true;
      p.maxAbs = std::max(p.maxAbs, std::fabs(v));
    }
  }
  return p;
}

// ---------------------------------------------------------------------------
// The reference, in a child process (Note [Why the reference runs in a child])

struct ReferenceRun {
  enum class Kind { Ok, Error, Crash, Timeout } kind = Kind::Ok;
  std::string message;
  std::vector<Tensor> outputs;
};

std::string outputKey(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "o%06zu", i);
  return buf;
}

void writeAll(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

ReferenceRun runReferenceInProcess(const std::shared_ptr<const Graph>& graph, const std::vector<Tensor>& inputs) {
  ReferenceRun r;
  auto interp = Interpreter::create(graph);
  if (!interp.ok()) {
    r.kind = ReferenceRun::Kind::Error;
    r.message = interp.status().message();
    return r;
  }
  auto out = (*interp)->run(inputs);
  if (!out.ok()) {
    r.kind = ReferenceRun::Kind::Error;
    r.message = out.status().message();
    return r;
  }
  r.outputs = std::move(*out);
  return r;
}

ReferenceRun runReference(const std::shared_ptr<const Graph>& graph, const std::vector<Tensor>& inputs,
                          double timeoutSeconds) {
  ReferenceRun r;
  int fds[2];
  if (::pipe(fds) != 0) return runReferenceInProcess(graph, inputs);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return runReferenceInProcess(graph, inputs);
  }
  if (pid == 0) {
    ::close(fds[0]);
    ReferenceRun child = runReferenceInProcess(graph, inputs);
    std::string msg;
    if (child.kind == ReferenceRun::Kind::Ok) {
      WeightSet ws;
      for (size_t i = 0; i < child.outputs.size(); ++i) ws.tensors[outputKey(i)] = child.outputs[i];
      auto bytes = serializeSafetensors(ws);
      msg = bytes.ok() ? "O" + *bytes : "Ecannot send the reference outputs: " + bytes.status().message();
    } else {
      msg = "E" + child.message;
    }
    writeAll(fds[1], msg);
    ::close(fds[1]);
    ::_exit(0);  // no atexit handlers, no leak check of the copied heap
  }
  ::close(fds[1]);
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
  bool timedOut = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timedOut = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int pr = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  if (timedOut) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timedOut) {
    r.kind = ReferenceRun::Kind::Timeout;
    std::ostringstream os;
    os << "the reference ran longer than " << timeoutSeconds << " s (--case-timeout)";
    r.message = os.str();
    return r;
  }
  if (got.empty() || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    r.kind = ReferenceRun::Kind::Crash;
    r.message = WIFSIGNALED(status) ? "the reference died of signal " + std::to_string(WTERMSIG(status))
                                    : "the reference exited with status " + std::to_string(WEXITSTATUS(status));
    return r;
  }
  if (got[0] == 'E') {
    r.kind = ReferenceRun::Kind::Error;
    r.message = got.substr(1);
    return r;
  }
  auto holder = std::make_shared<std::string>(got.substr(1));
  auto ws = parseSafetensors(holder->data(), holder->size(), holder, "reference outputs");
  if (!ws.ok()) {
    r.kind = ReferenceRun::Kind::Crash;
    r.message = "garbled reference outputs: " + ws.status().message();
    return r;
  }
  for (auto& [name, t] : ws->tensors) r.outputs.push_back(t);
  return r;
}

// ---------------------------------------------------------------------------
// Plugins, through the engine (the plugin first, the reference for the rest)

struct PluginUnderTest {
  std::string path, name;
  std::unique_ptr<Engine> engine;
};

Result<PluginUnderTest> openPlugin(const std::string& path) {
  SY_ASSIGN_OR_RETURN(std::shared_ptr<LoadedPlugin> loaded, PluginHost::load(path));
  PluginUnderTest p;
  p.path = path;
  p.name = loaded->name();
  Config cfg = defaultConfig();
  cfg.fallback = FallbackPolicy::Reference;
  cfg.pluginPaths = {fs::absolute(path).parent_path().string()};
  cfg.defaultPluginPaths = false;
  BackendConfig bc;
  bc.name = p.name;
  cfg.backends = {bc};
  SY_ASSIGN_OR_RETURN(p.engine, Engine::create(cfg));
  bool found = false;
  for (const EngineBackend& b : p.engine->backends()) found = found || b.name == p.name;
  if (!found) {
    std::string why = "the engine did not take backend '" + p.name + "' from " + path;
    for (const std::string& w : p.engine->warnings()) why += "; " + w;
    return invalidArgument(why);
  }
  return p;
}

struct PluginResult {
  Status status;
  std::vector<Tensor> outputs;
  bool took = false;
};

PluginResult runPlugin(const PluginUnderTest& p, const std::shared_ptr<const Graph>& graph,
                       const std::vector<Tensor>& inputs) {
  PluginResult r;
  auto model = p.engine->compile(graph);
  if (!model.ok()) {
    r.status = model.status().withContext("engine compile");
    return r;
  }
  for (const NodePlacement& pl : (*model)->plan().placements) r.took = r.took || pl.backend == p.name;
  auto out = (*model)->run(inputs);
  if (!out.ok()) {
    r.status = out.status().withContext("engine run");
    return r;
  }
  r.outputs = std::move(*out);
  return r;
}

/// Compares one plugin's run with the reference: "" when they agree, else the
/// kind, with `message` saying what differs.
std::string compareRuns(const ReferenceRun& ref, const PluginResult& got, const Graph& graph, double inputScale,
                        std::string& message) {
  using K = ReferenceRun::Kind;
  if (ref.kind == K::Timeout || ref.kind == K::Crash) return "";  // reported once, not per plugin
  if (ref.kind == K::Error && got.status.ok()) {
    message = "the plugin ran it, the reference refused: " + ref.message;
    return "reference-error";
  }
  if (ref.kind == K::Error) return "";  // both refused
  if (!got.status.ok()) {
    message = "the reference ran it, the plugin failed: " + got.status.message();
    return "plugin-error";
  }
  if (got.outputs.size() != ref.outputs.size()) {
    message = "the plugin gave " + std::to_string(got.outputs.size()) + " outputs, the reference " +
              std::to_string(ref.outputs.size());
    return "shape";
  }
  std::vector<std::string> names;
  for (const Value* v : graph.outputs()) names.push_back("%" + v->name());
  for (size_t i = 0; i < ref.outputs.size(); ++i)
    if (got.outputs[i].dtype() != ref.outputs[i].dtype() || got.outputs[i].shape() != ref.outputs[i].shape()) {
      message = (i < names.size() ? names[i] : "output " + std::to_string(i)) + " is " + got.outputs[i].typeString() +
                ", the reference gives " + ref.outputs[i].typeString();
      return "shape";
    }
  // Note [Fuzzer tolerance]: the conformance tolerance of each dtype, per
  // element, with NaN meeting NaN and an infinity the same infinity; but the
  // absolute part scales with the largest input magnitude as well as the
  // largest output, since f32 arithmetic on inputs of 1e6 (x - max(x) in a
  // softmax) loses absolute precision that the reference, computing in
  // double, keeps. The nmse test of the op cases is left out for the same
  // reason (an all-zero expected output makes any rounding error infinite).
  for (size_t i = 0; i < ref.outputs.size(); ++i) {
    const Tensor& g = got.outputs[i];
    const Tensor& x = ref.outputs[i];
    const conformance::Tolerance tol = conformance::toleranceFor(x.dtype());
    const bool exact = !isFloat(x.dtype());
    double maxRef = 0;
    for (int64_t k = 0; !exact && k < x.numel(); ++k)
      if (std::isfinite(x.getDouble(k))) maxRef = std::max(maxRef, std::fabs(x.getDouble(k)));
    const double atol = tol.atol * std::max({1.0, maxRef, inputScale});
    for (int64_t k = 0; k < x.numel(); ++k) {
      bool same;
      double a, b;
      if (exact) {
        a = static_cast<double>(g.getInt(k));
        b = static_cast<double>(x.getInt(k));
        same = g.getInt(k) == x.getInt(k);
      } else {
        a = g.getDouble(k);
        b = x.getDouble(k);
        if (std::isnan(a) || std::isnan(b)) same = std::isnan(a) && std::isnan(b);
        else if (std::isinf(a) || std::isinf(b)) same = a == b;
        else same = std::fabs(a - b) <= atol + tol.rtol * std::fabs(b);
      }
      if (!same) {
        std::ostringstream os;
        os.precision(9);
        Shape idx(x.shape().size());
        for (size_t d = idx.size(), flat = static_cast<size_t>(k); d-- > 0;)
          if (x.shape()[d] > 0) {
            idx[d] = static_cast<int64_t>(flat % static_cast<size_t>(x.shape()[d]));
            flat /= static_cast<size_t>(x.shape()[d]);
          }
        os << (i < names.size() ? names[i] : "output " + std::to_string(i)) << shapeToString(idx) << ": got " << a << ", the reference gives " << b;
        if (!exact) os << " (allowed |error| " << atol + tol.rtol * (std::isfinite(b) ? std::fabs(b) : 0) << ")";
        message = os.str();
        return "value";
      }
    }
  }
  return "";
}

// ---------------------------------------------------------------------------
// Known-open disagreements

struct KnownEntry {
  std::string plugin, op, kind, inputClass, reason;
};

Result<std::vector<KnownEntry>> loadKnown(const std::string& path) {
  std::vector<KnownEntry> out;
  std::ifstream in(path);
  if (!in) return notFound("cannot open the known-disagreements file '", path, "'");
  std::string line;
  int lineNo = 0;
  while (std::getline(in, line)) {
    ++lineNo;
    const size_t hash = line.find('#');
    std::string reason = hash == std::string::npos ? "" : line.substr(hash + 1);
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream ls(line);
    KnownEntry e;
    if (!(ls >> e.plugin)) continue;
    if (!(ls >> e.op >> e.kind >> e.inputClass))
      return invalidArgument(path, ":", lineNo, ": expected '<plugin> <op> <kind> <input-class>  # reason'");
    std::string rest;
    std::getline(ls, rest);
    reason.erase(0, reason.find_first_not_of(' '));
    e.reason = reason.empty() ? "known open" : reason;
    out.push_back(e);
  }
  return out;
}

const KnownEntry* findKnown(const std::vector<KnownEntry>& known, const Finding& f) {
  for (const KnownEntry& e : known)
    if (globMatch(e.plugin, f.plugin) && globMatch(e.op, f.op) && globMatch(e.kind, f.kind) &&
        globMatch(e.inputClass, f.inputClass))
      return &e;
  return nullptr;
}

// ---------------------------------------------------------------------------
// Reproducers

std::string sanitizeForPath(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out;
}

Status writeReproducer(const std::string& dir, const std::string& text, const std::string& weightsPath,
                       const Graph& graph, const std::vector<Tensor>& inputs, const std::string& description) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return invalidArgument(dir, ": cannot create: ", ec.message());
  {
    std::ofstream out(dir + "/program.sy", std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return invalidArgument(dir, "/program.sy: cannot write");
  }
  const std::string weightsCopy = dir + "/program.safetensors";
  fs::remove(weightsCopy, ec);
  if (!weightsPath.empty()) {
    fs::copy_file(weightsPath, weightsCopy, fs::copy_options::overwrite_existing, ec);
    if (ec) return invalidArgument(weightsCopy, ": cannot copy the weights: ", ec.message());
  }
  WeightSet ws;
  for (size_t i = 0; i < inputs.size() && i < graph.inputs().size(); ++i) ws.tensors[graph.inputs()[i]->name()] = inputs[i];
  SY_RETURN_IF_ERROR(saveSafetensors(dir + "/inputs.safetensors", ws));
  std::ofstream out(dir + "/finding.txt", std::ios::binary | std::ios::trunc);
  out << description;
  return out ? Status::OK() : invalidArgument(dir, "/finding.txt: cannot write");
}


}  // namespace

// ---------------------------------------------------------------------------

Result<Summary> run(const Options& o, std::ostream& log) {
  if (o.iterations <= 0 && o.seconds <= 0) return invalidArgument("give --iterations or --time (or both)");
  Summary sum;
  sum.seed = o.seed;
  std::vector<KnownEntry> known;
  if (o.knownPath != "none") {
    const std::string path =
        o.knownPath.empty()
            ? conformance::suiteDataDir(SY_CONFORMANCE_DECLARATIONS_DIR, "conformance/declarations") +
                  "/difffuzz-known.txt"
            : o.knownPath;
    SY_ASSIGN_OR_RETURN(known, loadKnown(path));
  }
  std::vector<PluginUnderTest> plugins;
  for (const std::string& path : o.plugins) {
    auto p = openPlugin(path);
    if (!p.ok()) return p.status().withContext("plugin " + path);
    sum.plugins[p->name];
    plugins.push_back(std::move(*p));
  }
  std::error_code ec;
  fs::create_directories(o.outDir, ec);
  if (ec) return invalidArgument(o.outDir, ": cannot create: ", ec.message());
  SY_ASSIGN_OR_RETURN(std::vector<Seed> seeds, collectSeeds(o, log));
  sum.seeds = static_cast<int64_t>(seeds.size());
  std::vector<size_t> programSeeds, opSeeds;
  for (size_t i = 0; i < seeds.size(); ++i) (seeds[i].op.empty() ? programSeeds : opSeeds).push_back(i);

  Rng rng(o.seed);
  std::map<std::string, size_t> bySignature;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  double nextProgress = 10;
  log << "difffuzz: seed " << o.seed << ", " << seeds.size() << " seeds (" << opSeeds.size() << " op cases, "
      << programSeeds.size() << " programs), plugins:";
  for (const PluginUnderTest& p : plugins) log << " " << p.name;
  log << "\n";

  for (int64_t iter = 0; (o.iterations <= 0 || iter < o.iterations) && (o.seconds <= 0 || elapsed() < o.seconds); ++iter) {
    ++sum.iterations;
    // Every draw below comes from `rng` in a fixed order, so --seed and
    // --iterations give the same mutants on every run.
    const bool program = !programSeeds.empty() && (opSeeds.empty() || chance(rng, 0.25));
    const Seed& seed = seeds[program ? programSeeds[pick(rng, programSeeds.size())] : opSeeds[pick(rng, opSeeds.size())]];
    std::string text = seed.text;
    std::vector<std::string> notes;
    std::unique_ptr<Graph> parsed;
    const int structural = static_cast<int>(pick(rng, 4));  // 0..3 mutations
    for (int attempt = 0; structural > 0 && attempt < 6 && !parsed; ++attempt) {
      std::string candidate = seed.text;
      std::vector<std::string> candNotes;
      for (int m = 0; m < structural; ++m) {
        std::string note;
        const size_t which = pick(rng, 3);
        const bool did = which == 0   ? mutateShapes(candidate, rng, note)
                         : which == 1 ? mutateAttribute(candidate, rng, note)
                                      : swapOp(candidate, rng, note);
        if (did) candNotes.push_back(note);
      }
      if (candNotes.empty()) break;
      auto g = loadProgramFromText(candidate, seed.id, seed.weightsPath);
      if (g.ok()) {
        parsed = std::move(*g);
        text = std::move(candidate);
        notes = std::move(candNotes);
      } else {
        ++sum.rejected;
      }
    }
    if (!parsed) {
      auto g = loadProgramFromText(seed.text, seed.id, seed.weightsPath);
      if (!g.ok()) return g.status().withContext("differential fuzzer: a seed no longer loads");
      parsed = std::move(*g);
      text = seed.text;
    }
    std::shared_ptr<const Graph> graph(std::move(parsed));
    // The op of a one-op case after any swap: the last non-constant node.
    std::string op = seed.id;
    if (!seed.op.empty()) {
      op = seed.op;
      for (const Node* n : graph->body()->nodes())
        if (n->op() != "constant" && n->op() != "weight") op = n->op();
    }
    const bool attrNonfinite = std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
      return n.rfind("attr ", 0) == 0 && (n.find("nan") != std::string::npos || n.find("inf") != std::string::npos);
    });
    std::map<std::string, int64_t> symbols;
    std::vector<Tensor> inputs;
    bool inputsOk = true;
    for (const Value* v : graph->inputs()) {
      auto t = drawInput(v->type(), symbols, rng);
      if (!t.ok()) {
        inputsOk = false;
        break;
      }
      inputs.push_back(std::move(*t));
    }
    if (!inputsOk) continue;
    InputProfile profile = profileInputs(inputs);
    profile.nonfinite = profile.nonfinite || attrNonfinite;
    std::string mutation = notes.empty() ? "values only" : "";
    for (const std::string& n : notes) mutation += (mutation.empty() ? "" : "; ") + n;
    for (const auto& [name, size] : symbols) mutation += "; " + name + "=" + std::to_string(size);

    const std::string currentDir = o.outDir + "/current";
    const std::string describeCurrent = "The mutant being run (iteration " + std::to_string(iter) + ", seed " +
                                        std::to_string(o.seed) + ", from " + seed.id + ": " + mutation +
                                        ").\nIf the fuzzer died, this is what killed it.\n";
    if (!plugins.empty())
      (void)writeReproducer(currentDir, text, seed.weightsPath, *graph, inputs, describeCurrent);

    const ReferenceRun ref = runReference(graph, inputs, o.caseTimeout);
    if (ref.kind == ReferenceRun::Kind::Error) ++sum.referenceErrors;

    std::vector<std::pair<std::string, std::string>> disagreements;  // (plugin or "reference", kind), message
    std::vector<std::string> messages;
    if (ref.kind == ReferenceRun::Kind::Timeout || ref.kind == ReferenceRun::Kind::Crash) {
      disagreements.emplace_back("reference",
                                 ref.kind == ReferenceRun::Kind::Timeout ? "reference-timeout" : "reference-crash");
      messages.push_back(ref.message);
    } else {
      for (const PluginUnderTest& p : plugins) {
        PluginResult got = runPlugin(p, graph, inputs);
        PluginStats& st = sum.plugins[p.name];
        ++st.runs;
        st.took += got.took ? 1 : 0;
        std::string message;
        const std::string kind = compareRuns(ref, got, *graph, profile.maxAbs, message);
        if (!kind.empty()) {
          disagreements.emplace_back(p.name, kind);
          messages.push_back(message);
        }
      }
    }
    if (o.verbose)
      log << "  #" << iter << " " << seed.id << " [" << mutation << "] " << op << " "
          << (disagreements.empty() ? "agree" : std::to_string(disagreements.size()) + " disagreement(s)") << "\n";

    for (size_t d = 0; d < disagreements.size(); ++d) {
      Finding f;
      f.plugin = disagreements[d].first;
      f.op = op;
      f.kind = disagreements[d].second;
      f.inputClass = profile.inputClass();
      auto [it, fresh] = bySignature.emplace(f.signature(), sum.findings.size());
      if (fresh) {
        f.message = messages[d];
        f.seedId = seed.id;
        if (const KnownEntry* k = findKnown(known, f)) {
          f.known = true;
          f.knownReason = k->reason;
        }
        sum.findings.push_back(f);
      }
      Finding& F = sum.findings[it->second];
      ++F.count;
      if (static_cast<int>(F.reproducers.size()) < o.reproducersPerSignature) {
        const std::string dir = o.outDir + "/" + sanitizeForPath(F.plugin + "-" + F.op + "-" + F.kind + "-" + F.inputClass) +
                                "-" + std::to_string(F.reproducers.size() + 1);
        std::ostringstream desc;
        desc << "signature: " << F.signature() << (F.known ? "  (known open: " + F.knownReason + ")" : "") << "\n"
             << "details: " << messages[d] << "\n"
             << "seed program: " << seed.id << "\nmutation: " << mutation << "\n"
             << "fuzzer run: --seed " << o.seed << ", iteration " << iter << "\n"
             << "replay: switchyard-difffuzz --replay " << dir;
        for (const PluginUnderTest& p : plugins)
          if (p.name == F.plugin) desc << " --plugin " << p.path;
        desc << "\n";
        Status w = writeReproducer(dir, text, seed.weightsPath, *graph, inputs, desc.str());
        if (w.ok()) F.reproducers.push_back(dir);
        else log << "difffuzz: cannot write a reproducer: " << w.message() << "\n";
      }
      if (fresh)
        log << "difffuzz: " << (F.known ? "known" : "NEW") << " disagreement " << F.signature() << ": " << F.message
            << (F.reproducers.empty() ? "" : " (reproducer " + F.reproducers.front() + ")") << "\n";
    }
    if (elapsed() >= nextProgress) {
      log << "difffuzz: " << static_cast<int>(elapsed()) << " s, " << sum.iterations << " mutants, "
          << sum.findings.size() << " signature(s)\n";
      while (nextProgress <= elapsed()) nextProgress += 10;
    }
  }
  fs::remove_all(o.outDir + "/current", ec);
  fs::remove_all(o.outDir + "/seed-weights", ec);
  sum.seconds = elapsed();
  return sum;
}

std::string formatSummary(const Summary& s) {
  std::ostringstream os;
  os << "difffuzz summary: seed " << s.seed << ", " << s.iterations << " mutants in " << static_cast<int>(s.seconds)
     << " s from " << s.seeds << " seeds; " << s.rejected << " structural mutations refused by the verifier; "
     << s.referenceErrors << " mutants refused by the reference at run time\n";
  for (const auto& [name, st] : s.plugins)
    os << "  plugin " << name << ": " << st.runs << " runs, " << st.took << " with nodes on the plugin\n";
  if (s.findings.empty()) os << "  no disagreements\n";
  for (const Finding& f : s.findings) {
    os << "  " << (f.known ? "known " : "NEW   ") << f.signature() << "  x" << f.count;
    if (!f.reproducers.empty()) os << "  " << f.reproducers.front();
    os << "\n      " << f.message.substr(0, 300) << "\n";
    if (f.known) os << "      known open: " << f.knownReason << "\n";
  }
  os << s.newFindings() << " new disagreement signature(s), "
     << static_cast<int64_t>(s.findings.size()) - s.newFindings() << " known\n";
  return os.str();
}

Result<int> replay(const std::string& dir, const std::vector<std::string>& pluginPaths, std::ostream& log,
                   double caseTimeout) {
  SY_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, loadProgram(dir + "/program.sy"));
  std::shared_ptr<const Graph> graph(std::move(g));
  SY_ASSIGN_OR_RETURN(WeightSet ws, loadSafetensors(dir + "/inputs.safetensors"));
  std::vector<Tensor> inputs;
  for (const Value* v : graph->inputs()) {
    auto it = ws.tensors.find(v->name());
    if (it == ws.tensors.end()) return invalidArgument(dir, "/inputs.safetensors: no tensor for input %", v->name());
    inputs.push_back(it->second);
  }
  const ReferenceRun ref = runReference(graph, inputs, caseTimeout);
  log << "reference: "
      << (ref.kind == ReferenceRun::Kind::Ok ? "ran" : ref.kind == ReferenceRun::Kind::Error ? "refused: " + ref.message : ref.message)
      << "\n";
  int disagreements = 0;
  if (ref.kind == ReferenceRun::Kind::Timeout || ref.kind == ReferenceRun::Kind::Crash) ++disagreements;
  for (const std::string& path : pluginPaths) {
    SY_ASSIGN_OR_RETURN(PluginUnderTest p, openPlugin(path));
    PluginResult got = runPlugin(p, graph, inputs);
    std::string message;
    const std::string kind = compareRuns(ref, got, *graph, profileInputs(inputs).maxAbs, message);
    if (kind.empty()) {
      log << p.name << ": agrees with the reference" << (got.took ? "" : " (it took no node)") << "\n";
    } else {
      ++disagreements;
      log << p.name << ": " << kind << ": " << message << "\n";
    }
  }
  return disagreements;
}

}  // namespace sy::difffuzz
