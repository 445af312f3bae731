// Reading and validating the YAML device configuration (docs/config.md).
//
// yaml-cpp reports problems by throwing; every call into it happens inside a
// try block in parseConfig, and nothing escapes this file as an exception.
#include "switchyard/config.h"
#include "switchyard/file_io.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <limits>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <unordered_map>
#include <sstream>

namespace sy {
namespace {

namespace fs = std::filesystem;

// The keys each mapping accepts, in the order the docs list them.
const std::vector<std::string> kTopKeys = {"backends",     "fallback", "retry_on_reference",   "partition", "pins",
                                           "plugin_paths", "strict",   "default_plugin_paths", "memory_budget"};
const std::vector<std::string> kBackendKeys = {"name", "device", "options", "isolation", "timeout_ms", "optional"};
const std::vector<std::string> kPartitionKeys = {"policy",        "min_region_nodes", "transfer_cost_per_byte",
                                                 "boundary_cost", "region_call_cost", "calibration"};
const std::vector<std::string> kPinKeys = {"op", "node", "backend"};

std::string joinList(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out;
}

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string typeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

class Parser {
 public:
  Parser(std::string origin, std::string baseDir) : origin_(std::move(origin)), baseDir_(std::move(baseDir)) {}

  SourceLocation where(const YAML::Mark& mark) const {
    SourceLocation loc;
    loc.file = origin_;
    if (mark.line >= 0) {
      loc.line = mark.line + 1;
      loc.column = mark.column + 1;
    }
    return loc;
  }
  // A null value ("key:" with nothing after it) is marked where the next token starts,
  // often the next line; point at its key instead.
  SourceLocation where(const YAML::Node& node) const {
    if (node.IsNull() && nullValueKeyMark_) return where(*nullValueKeyMark_);
    return where(node.Mark());
  }

  template <typename... Args>
  Status error(const YAML::Node& node, Args&&... args) const {
    return invalidArgument(where(node).toString(), ": ", std::forward<Args>(args)...);
  }

  Status parseDocument(const YAML::Node& root, Config& config) {
    if (root.IsNull()) return Status::OK();  // empty file or only comments: the defaults
    if (!root.IsMap())
      return error(root, "the top level must be a mapping of keys (", joinList(kTopKeys), "), got ", typeName(root));
    return forEachKey(root, kTopKeys, "at the top level", [&](const std::string& key, const YAML::Node& value) {
      if (key == "backends") return parseBackends(value, config);
      if (key == "fallback") {
        SY_ASSIGN_OR_RETURN(std::string v, enumValue(value, "fallback", {"reference", "error"}));
        config.fallback = v == "reference" ? FallbackPolicy::Reference : FallbackPolicy::Error;
        return Status::OK();
      }
      if (key == "retry_on_reference") return boolValue(value, key, config.retryOnReference);
      if (key == "partition") return parsePartition(value, config.partition);
      if (key == "pins") return parsePins(value, config);
      if (key == "plugin_paths") return parsePluginPaths(value, config);
      if (key == "strict") return boolValue(value, key, config.strict);
      if (key == "default_plugin_paths") return boolValue(value, key, config.defaultPluginPaths);
      if (key == "memory_budget") return byteSize(value, key, config.memoryBudget);
      return internalError("unhandled config key ", key);
    });
  }

 private:
  // Calls fn(key, value) for every entry of `map`, rejecting non-scalar, unknown and
  // repeated keys.
  template <typename Fn>
  Status forEachKey(const YAML::Node& map, const std::vector<std::string>& valid, std::string_view context, Fn&& fn) {
    std::map<std::string, SourceLocation> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      // Copies: the iterator's -> returns a temporary proxy.
      const YAML::Node keyNode = it->first;
      const YAML::Node valueNode = it->second;
      if (!keyNode.IsScalar()) return error(keyNode, "keys must be plain names, got ", typeName(keyNode), " ", context);
      const std::string key = keyNode.Scalar();
      if (std::find(valid.begin(), valid.end(), key) == valid.end()) {
        std::string hint;
        for (const std::string& v : valid)
          if (editDistance(key, v) <= 2) {
            hint = " (did you mean '" + v + "'?)";
            break;
          }
        return error(keyNode, "unknown key '", key, "' ", context, hint, "; valid keys: ", joinList(valid));
      }
      if (auto prev = seen.find(key); prev != seen.end())
        return error(keyNode, "duplicate key '", key, "' ", context, " (first given at ", prev->second.toString(), ")");
      seen.emplace(key, where(keyNode));
      if (valueNode.IsNull()) nullValueKeyMark_ = keyNode.Mark();
      Status status = fn(key, valueNode);
      nullValueKeyMark_.reset();
      SY_RETURN_IF_ERROR(status);
    }
    return Status::OK();
  }

  Result<std::string> scalar(const YAML::Node& node, std::string_view what) const {
    if (!node.IsScalar()) return error(node, what, " must be a single value, got ", typeName(node));
    return node.Scalar();
  }

  Result<std::string> name(const YAML::Node& node, std::string_view what) const {
    SY_ASSIGN_OR_RETURN(std::string v, scalar(node, what));
    if (v.empty()) return error(node, what, " must not be empty");
    if (!isValidConfigName(v))
      return error(node, what, " '", v, "' has characters other than letters, digits, '_', '.' and '-'");
    return v;
  }

  Result<std::string> enumValue(const YAML::Node& node, std::string_view what,
                                const std::vector<std::string>& valid) const {
    if (!node.IsScalar()) return error(node, what, " must be one of ", joinList(valid), ", got ", typeName(node));
    const std::string v = node.Scalar();
    if (std::find(valid.begin(), valid.end(), v) == valid.end())
      return error(node, what, " must be one of ", joinList(valid), ", got '", v, "'");
    return v;
  }

  /// A positive size in bytes: an integer, optionally followed by a unit
  /// (B, KiB, MiB, GiB, TiB, or the decimal kB, MB, GB, TB), e.g. "512MiB".
  Status byteSize(const YAML::Node& node, std::string_view what, uint64_t& out) const {
    static const std::vector<std::pair<std::string, uint64_t>> units = {
        {"", 1},         {"B", 1},          {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
        {"TiB", 1ull << 40}, {"kB", 1000}, {"KB", 1000},       {"MB", 1000000},     {"GB", 1000000000},
        {"TB", 1000000000000ull}};
    const std::string v = node.IsScalar() ? node.Scalar() : std::string();
    size_t digits = 0;
    while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
    size_t unitAt = digits;
    while (unitAt < v.size() && v[unitAt] == ' ') ++unitAt;
    const std::string unit = v.substr(unitAt);
    uint64_t number = 0;
    bool good = node.IsScalar() && digits > 0 && digits <= 15;
    if (good) number = std::stoull(v.substr(0, digits));
    auto u = std::find_if(units.begin(), units.end(), [&](const auto& e) { return e.first == unit; });
    good = good && u != units.end() && number > 0 && number <= std::numeric_limits<uint64_t>::max() / u->second;
    if (!good)
      return error(node, what, " must be a positive size in bytes, optionally with a unit (B, KiB, MiB, GiB, TiB, kB, "
                   "MB, GB, TB), e.g. 8GiB; got ", node.IsScalar() ? "'" + v + "'" : typeName(node));
    out = number * u->second;
    return Status::OK();
  }

  Status boolValue(const YAML::Node& node, std::string_view what, bool& out) const {
    if (node.IsScalar()) {
      std::string v = node.Scalar();
      std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
      if (v == "true" || v == "yes" || v == "on") {
        out = true;
        return Status::OK();
      }
      if (v == "false" || v == "no" || v == "off") {
        out = false;
        return Status::OK();
      }
    }
    return error(node, what, " must be true or false, got ", typeName(node));
  }

  Status parseBackends(const YAML::Node& node, Config& config) {
    config.backends.clear();
    if (node.IsNull()) return Status::OK();
    if (!node.IsSequence())
      return error(node, "backends must be a list (of names or of {name, device, options} mappings), got ",
                   typeName(node));
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node item = *it;
      BackendConfig backend;
      backend.where = where(item);
      if (item.IsScalar()) {
        SY_ASSIGN_OR_RETURN(backend.name, name(item, "backend name"));
      } else if (item.IsMap()) {
        bool hasName = false;
        SY_RETURN_IF_ERROR(forEachKey(item, kBackendKeys, "in a backend",
                                      [&](const std::string& key, const YAML::Node& value) -> Status {
                                        if (key == "name") {
                                          SY_ASSIGN_OR_RETURN(backend.name, name(value, "backend name"));
                                          hasName = true;
                                        } else if (key == "device") {
                                          SY_RETURN_IF_ERROR(parseDevice(value, backend.device));
                                        } else if (key == "isolation") {
                                          SY_ASSIGN_OR_RETURN(std::string v,
                                                              enumValue(value, "isolation", {"none", "process"}));
                                          backend.isolateProcess = v == "process";
                                        } else if (key == "timeout_ms") {
                                          SY_RETURN_IF_ERROR(parseTimeout(value, backend.timeoutMs));
                                        } else if (key == "optional") {
                                          SY_RETURN_IF_ERROR(boolValue(value, key, backend.optional));
                                        } else {
                                          SY_RETURN_IF_ERROR(
                                              parseOptions(value, backend.options, backend.optionWhere));
                                        }
                                        return Status::OK();
                                      }));
        if (!hasName) return error(item, "a backend needs a 'name'");
        if (backend.timeoutMs && !backend.isolateProcess)
          return error(item["timeout_ms"], "timeout_ms applies only to a backend with 'isolation: process'");
      } else {
        return error(item, "a backend must be a name or a mapping with 'name', 'device' and 'options', got ",
                     typeName(item));
      }
      for (const BackendConfig& other : config.backends)
        if (other.name == backend.name)
          return error(item, "duplicate backend '", backend.name, "' (first listed at ", other.where.toString(), ")");
      config.backends.push_back(std::move(backend));
    }
    return Status::OK();
  }

  /// A positive number of milliseconds, at most a day.
  Status parseTimeout(const YAML::Node& node, int64_t& out) const {
    const std::string v = node.IsScalar() ? node.Scalar() : std::string();
    int64_t n = -1;
    const char* begin = v.data() + (!v.empty() && v[0] == '+' ? 1 : 0);
    auto [p, ec] = std::from_chars(begin, v.data() + v.size(), n);
    if (!node.IsScalar() || v.empty() || ec != std::errc() || p != v.data() + v.size() || n <= 0 || n > 86400000)
      return error(node, "timeout_ms must be a positive number of milliseconds (at most 86400000), got ",
                   node.IsScalar() ? "'" + v + "'" : typeName(node));
    out = n;
    return Status::OK();
  }

  Status parseDevice(const YAML::Node& node, std::string& out) const {
    if (node.IsNull()) {
      out.clear();
      return Status::OK();
    }
    if (!node.IsScalar())
      return error(node, "device must be an index (0, 1, ...) or a name pattern (\"*pocl*\"), got ", typeName(node));
    const std::string v = node.Scalar();
    const size_t digitsFrom = !v.empty() && (v[0] == '-' || v[0] == '+') ? 1 : 0;
    const bool numeric = v.size() > digitsFrom &&
                         std::all_of(v.begin() + digitsFrom, v.end(), [](unsigned char c) { return std::isdigit(c); });
    if (numeric) {
      int64_t index = 0;
      auto [p, ec] = std::from_chars(v.data() + (v[0] == '+' ? 1 : 0), v.data() + v.size(), index);
      if (ec != std::errc() || p != v.data() + v.size() || index < 0)
        return error(node, "device index must be a non-negative integer, got '", v, "'");
      out = std::to_string(index);
      return Status::OK();
    }
    out = v;
    return Status::OK();
  }

  Status parseOptions(const YAML::Node& node, std::map<std::string, std::string>& out,
                      std::map<std::string, SourceLocation>& outWhere) {
    out.clear();
    outWhere.clear();
    if (node.IsNull()) return Status::OK();
    if (!node.IsMap()) return error(node, "options must be a mapping of names to values, got ", typeName(node));
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node keyNode = it->first;
      const YAML::Node value = it->second;
      SY_ASSIGN_OR_RETURN(std::string key, name(keyNode, "option name"));
      if (!value.IsScalar())
        return error(value.IsNull() ? keyNode : value, "option '", key,
                     "' must be a single value (string, number or boolean), got ", typeName(value));
      if (out.count(key)) return error(keyNode, "duplicate option '", key, "'");
      out.emplace(key, value.Scalar());
      outWhere.emplace(key, where(keyNode));
    }
    return Status::OK();
  }

  Status parsePartition(const YAML::Node& node, PartitionConfig& out) {
    if (node.IsNull()) return Status::OK();
    if (!node.IsMap())
      return error(node, "partition must be a mapping (", joinList(kPartitionKeys), "), got ", typeName(node));
    return forEachKey(node, kPartitionKeys, "in partition", [&](const std::string& key, const YAML::Node& value) {
      if (key == "policy") {
        SY_ASSIGN_OR_RETURN(std::string v, enumValue(value, "partition policy", {"priority", "cost"}));
        out.policy = v == "priority" ? PartitionPolicy::Priority : PartitionPolicy::Cost;
        return Status::OK();
      }
      if (key == "min_region_nodes") {
        const std::string v = value.IsScalar() ? value.Scalar() : std::string();
        int64_t n = -1;
        const char* begin = v.data() + (!v.empty() && v[0] == '+' ? 1 : 0);
        auto [p, ec] = std::from_chars(begin, v.data() + v.size(), n);
        if (!value.IsScalar() || v.empty() || ec != std::errc() || p != v.data() + v.size() || n < 0)
          return error(value, "min_region_nodes must be a non-negative integer, got ",
                       value.IsScalar() ? "'" + v + "'" : typeName(value));
        out.minRegionNodes = n;
        return Status::OK();
      }
      if (key == "boundary_cost") return boolValue(value, key, out.boundaryCost);
      if (key == "calibration") {
        if (!value.IsScalar() || value.Scalar().empty())
          return error(value, "calibration must be a cache file path or 'none', got ", typeName(value));
        out.calibration = value.Scalar();
        if (out.calibration != "none" && fs::path(out.calibration).is_relative())
          out.calibration = (fs::path(baseDir_) / out.calibration).lexically_normal().string();
        return Status::OK();
      }
      // transfer_cost_per_byte, region_call_cost: seconds
      const std::string v = value.IsScalar() ? value.Scalar() : std::string();
      double d = -1;
      bool good = value.IsScalar() && !v.empty() && !std::isspace(static_cast<unsigned char>(v[0]));
      if (good) {
        const char* begin = v.c_str();
        char* end = nullptr;
        errno = 0;
        d = std::strtod(begin, &end);
        const bool hexOrWord = v.find_first_of("xXiInN") != std::string::npos;  // 0x.., inf, nan
        good = end == begin + v.size() && errno == 0 && !hexOrWord && std::isfinite(d) && d >= 0;
      }
      if (!good)
        return error(value, key, " must be a non-negative number (seconds",
                     key == "region_call_cost" ? "" : " per byte", "), got ",
                     value.IsScalar() ? "'" + v + "'" : typeName(value));
      (key == "region_call_cost" ? out.regionCallCost : out.transferCostPerByte) = d;
      return Status::OK();
    });
  }

  Status parsePins(const YAML::Node& node, Config& config) {
    config.pins.clear();
    std::unordered_map<std::string, size_t> pinnedOps, pinnedNodes;  // name -> index in config.pins
    if (node.IsNull()) return Status::OK();
    if (!node.IsSequence())
      return error(node, "pins must be a list of {op or node, backend} mappings, got ", typeName(node));
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node item = *it;
      if (!item.IsMap())
        return error(item, "a pin must be a mapping {op: NAME, backend: NAME} or {node: NAME, backend: NAME}, got ",
                     typeName(item));
      PinConfig pin;
      pin.where = where(item);
      bool hasOp = false, hasNode = false, hasBackend = false;
      SY_RETURN_IF_ERROR(
          forEachKey(item, kPinKeys, "in a pin", [&](const std::string& key, const YAML::Node& value) -> Status {
            if (key == "op") {
              SY_ASSIGN_OR_RETURN(pin.op, name(value, "pinned op"));
              hasOp = true;
            } else if (key == "node") {
              SY_ASSIGN_OR_RETURN(pin.node, scalar(value, "pinned node"));
              if (pin.node.empty()) return error(value, "pinned node must not be empty");
              hasNode = true;
            } else {
              SY_ASSIGN_OR_RETURN(pin.backend, name(value, "pin backend"));
              hasBackend = true;
            }
            return Status::OK();
          }));
      if (hasOp && hasNode) return error(item, "a pin names either an 'op' or a 'node', not both");
      if (!hasOp && !hasNode) return error(item, "a pin needs an 'op' or a 'node'");
      if (!hasBackend) return error(item, "a pin needs a 'backend'");
      // Indexes by op and by node: a check against every earlier pin made
      // long pin lists quadratic.
      auto& index = hasOp ? pinnedOps : pinnedNodes;
      auto [at, fresh] = index.emplace(hasOp ? pin.op : pin.node, config.pins.size());
      if (!fresh)
        return error(item, hasOp ? "op '" : "node '", hasOp ? pin.op : pin.node, "' is already pinned at ",
                     config.pins[at->second].where.toString());
      config.pins.push_back(std::move(pin));
    }
    return Status::OK();
  }

  Status parsePluginPaths(const YAML::Node& node, Config& config) {
    config.pluginPaths.clear();
    if (node.IsNull()) return Status::OK();
    std::vector<YAML::Node> items;
    if (node.IsScalar()) {
      items.push_back(node);  // a single path
    } else if (node.IsSequence()) {
      for (auto it = node.begin(); it != node.end(); ++it) items.push_back(*it);
    } else {
      return error(node, "plugin_paths must be a list of folders, got ", typeName(node));
    }
    for (const YAML::Node& item : items) {
      SY_ASSIGN_OR_RETURN(std::string path, scalar(item, "a plugin path"));
      if (path.empty()) return error(item, "a plugin path must not be empty");
      fs::path p(path);
      if (p.is_relative()) p = fs::path(baseDir_) / p;
      std::string resolved = p.lexically_normal().string();
      if (resolved.size() > 1 && resolved.back() == '/') resolved.pop_back();
      if (resolved.empty()) resolved = ".";
      config.pluginPaths.push_back(std::move(resolved));
    }
    return Status::OK();
  }

  std::string origin_;
  std::string baseDir_;
  std::optional<YAML::Mark> nullValueKeyMark_;
};

}  // namespace

std::string_view fallbackPolicyName(FallbackPolicy policy) {
  return policy == FallbackPolicy::Reference ? "reference" : "error";
}

std::string_view partitionPolicyName(PartitionPolicy policy) {
  return policy == PartitionPolicy::Priority ? "priority" : "cost";
}

std::string SourceLocation::toString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

bool isValidConfigName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; });
}

Config defaultConfig() { return Config{}; }

namespace {

// Note [yaml-cpp's LoadAll loop]
// yaml-cpp 0.7 (Debian 12) loops forever, allocating all the while, when a
// document's root begins with a token its node parser does not consume: a
// ',' outside [ ] or { } (the text "," or "[a]\n,"). HandleNextDocument then
// reports an empty document at the same place on every call, and LoadAll
// never stops (jbeder/yaml-cpp#1040; fixed upstream by #1319, after 0.7).
// The fuzzer found it. So the event parser reads the documents first, and a
// document that starts where the previous one started is a parse error.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (seen_ && mark.pos == last_.pos)
      throw YAML::ParserException(mark, "unexpected ',' (a ',' separates items only inside [ ] or { })");
    seen_ = true;
    last_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  bool seen_ = false;
  YAML::Mark last_;
};

/// YAML::LoadAll without its endless loop (Note [yaml-cpp's LoadAll loop]).
std::vector<YAML::Node> loadAllDocuments(const std::string& text) {
  std::istringstream events(text);
  YAML::Parser parser(events);
  DocumentStarts starts;
  while (parser.HandleNextDocument(starts)) {
  }
  return YAML::LoadAll(text);
}

}  // namespace

Result<Config> parseConfig(std::string_view yamlText, const std::string& origin, const std::string& baseDir) {
  Config config = defaultConfig();
  config.sourcePath = origin;
  Parser parser(origin, baseDir);
  try {
    std::vector<YAML::Node> docs = loadAllDocuments(std::string(yamlText));
    if (docs.size() > 1) return parser.error(docs[1], "a config file holds one YAML document, found ", docs.size());
    if (docs.empty()) return config;  // empty text: the defaults
    SY_RETURN_IF_ERROR(parser.parseDocument(docs[0], config));
    return config;
  } catch (const YAML::Exception& e) {
    // ParserException and the rest carry a mark; msg is the bare reason.
    std::string loc = e.mark.is_null() ? origin : parser.where(e.mark).toString();
    return invalidArgument(loc, ": YAML syntax error: ", e.msg);
  } catch (const std::exception& e) {
    return invalidArgument(origin, ": cannot read the config: ", e.what());
  } catch (...) {
    return internalError(origin, ": unexpected error while reading the config");
  }
}

Result<Config> loadConfig(const std::string& path) {
  std::error_code ec;
  if (path.empty()) return invalidArgument("no config file given (empty path)");
  if (!fs::exists(path, ec)) return notFound("config file '", path, "' does not exist");
  if (fs::is_directory(path, ec)) return invalidArgument("config file '", path, "' is a folder, not a file");
  // A config is small: 16 MiB is far more than any real one.
  SY_ASSIGN_OR_RETURN(std::string text, readRegularFile(path, 16u << 20, "config file"));
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  fs::path absDir = fs::absolute(dir, ec);
  if (!ec) dir = absDir;
  return parseConfig(text, path, dir.lexically_normal().string());
}

Status overrideBackends(Config& config, std::string_view commaList, std::string_view source) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
  };
  if (trim(commaList).empty())
    return invalidArgument(source, ": the backend list is empty (expected names like \"vulkan,cpu\")");
  std::vector<BackendConfig> next;
  size_t start = 0;
  for (int index = 1;; ++index) {
    const size_t comma = commaList.find(',', start);
    const std::string_view raw =
        commaList.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    const std::string nm(trim(raw));
    if (nm.empty()) return invalidArgument(source, ": backend ", index, " in \"", commaList, "\" is empty");
    if (!isValidConfigName(nm))
      return invalidArgument(source, ": backend name '", nm,
                             "' has characters other than letters, digits, '_', '.' and '-'");
    for (const BackendConfig& b : next)
      if (b.name == nm) return invalidArgument(source, ": backend '", nm, "' is listed twice");
    auto existing = std::find_if(config.backends.begin(), config.backends.end(),
                                 [&](const BackendConfig& b) { return b.name == nm; });
    if (existing != config.backends.end()) {
      next.push_back(*existing);
    } else {
      BackendConfig b;
      b.name = nm;
      b.where.file = std::string(source);
      next.push_back(std::move(b));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  config.backends = std::move(next);
  return Status::OK();
}

Status applyEnvironment(Config& config) {
  const char* value = std::getenv("SWITCHYARD_BACKENDS");
  if (value == nullptr || *value == '\0') return Status::OK();
  return overrideBackends(config, value, "SWITCHYARD_BACKENDS");
}

}  // namespace sy
