// The YAML device configuration: every key, the defaults, the overrides, and the
// error messages (each with its file:line:col).
#include "switchyard/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace {

using sy::Config;
using sy::FallbackPolicy;
using sy::PartitionPolicy;
using sy::StatusCode;

// Parses `text` as "t.yaml" and expects an InvalidArgument error whose message
// holds every one of `parts`.
void expectError(const std::string& text, std::initializer_list<std::string> parts) {
  auto r = sy::parseConfig(text, "t.yaml", "/base");
  ASSERT_FALSE(r.ok()) << "parsed without error:\n" << text;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().toString();
  for (const std::string& p : parts)
    EXPECT_NE(r.status().message().find(p), std::string::npos)
        << "message lacks \"" << p << "\":\n  " << r.status().message() << "\nfor:\n"
        << text;
}

Config parseOk(const std::string& text, const std::string& baseDir = "/base") {
  auto r = sy::parseConfig(text, "t.yaml", baseDir);
  EXPECT_TRUE(r.ok()) << r.status().toString() << "\nfor:\n" << text;
  return r.ok() ? r.value() : Config{};
}

class TempDir {
 public:
  TempDir() {
    path_ =
        fs::temp_directory_path() / ("sy_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const fs::path p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(Config, Defaults) {
  const Config c = sy::defaultConfig();
  EXPECT_TRUE(c.backends.empty());
  EXPECT_EQ(c.fallback, FallbackPolicy::Reference);
  EXPECT_FALSE(c.retryOnReference);
  EXPECT_EQ(c.partition.policy, PartitionPolicy::Priority);
  EXPECT_EQ(c.partition.minRegionNodes, 1);
  EXPECT_DOUBLE_EQ(c.partition.transferCostPerByte, 1e-9);
  EXPECT_TRUE(c.pins.empty());
  EXPECT_TRUE(c.pluginPaths.empty());
  EXPECT_FALSE(c.strict);
  EXPECT_EQ(c.sourcePath, "");
}

TEST(Config, EmptyTextGivesDefaults) {
  for (const char* text : {"", "\n\n", "# only a comment\n", "---\n", "~\n"}) {
    const Config c = parseOk(text);
    EXPECT_TRUE(c.backends.empty()) << text;
    EXPECT_EQ(c.fallback, FallbackPolicy::Reference);
    EXPECT_EQ(c.partition.minRegionNodes, 1);
    EXPECT_EQ(c.sourcePath, "t.yaml");
  }
}

TEST(Config, EveryKeyParsed) {
  const Config c = parseOk(R"(backends:
  - name: opencl
    device: "*pocl*"
    options: {work_group_size: 64, fast_math: true, label: "a b"}
  - cpu
  - name: vulkan
    device: 1
fallback: error
retry_on_reference: true
partition:
  policy: cost
  min_region_nodes: 3
  transfer_cost_per_byte: 2.5e-10
pins:
  - {op: conv, backend: cpu}
  - {node: "layer1/relu", backend: reference}
plugin_paths: [../build/plugins, /opt/sy/plugins]
strict: true
)");
  ASSERT_EQ(c.backends.size(), 3u);
  EXPECT_EQ(c.backends[0].name, "opencl");
  EXPECT_EQ(c.backends[0].device, "*pocl*");
  EXPECT_EQ(c.backends[0].options.size(), 3u);
  EXPECT_EQ(c.backends[0].options.at("work_group_size"), "64");
  EXPECT_EQ(c.backends[0].options.at("fast_math"), "true");
  EXPECT_EQ(c.backends[0].options.at("label"), "a b");
  EXPECT_EQ(c.backends[0].where.toString(), "t.yaml:2:5");
  EXPECT_EQ(c.backends[1].name, "cpu");
  EXPECT_EQ(c.backends[1].device, "");
  EXPECT_TRUE(c.backends[1].options.empty());
  EXPECT_EQ(c.backends[1].where.toString(), "t.yaml:5:5");
  EXPECT_EQ(c.backends[2].name, "vulkan");
  EXPECT_EQ(c.backends[2].device, "1");
  EXPECT_EQ(c.fallback, FallbackPolicy::Error);
  EXPECT_TRUE(c.retryOnReference);
  EXPECT_EQ(c.partition.policy, PartitionPolicy::Cost);
  EXPECT_EQ(c.partition.minRegionNodes, 3);
  EXPECT_DOUBLE_EQ(c.partition.transferCostPerByte, 2.5e-10);
  ASSERT_EQ(c.pins.size(), 2u);
  EXPECT_EQ(c.pins[0].op, "conv");
  EXPECT_EQ(c.pins[0].node, "");
  EXPECT_EQ(c.pins[0].backend, "cpu");
  EXPECT_EQ(c.pins[0].where.toString(), "t.yaml:15:5");
  EXPECT_EQ(c.pins[1].op, "");
  EXPECT_EQ(c.pins[1].node, "layer1/relu");
  EXPECT_EQ(c.pins[1].backend, "reference");
  ASSERT_EQ(c.pluginPaths.size(), 2u);
  EXPECT_EQ(c.pluginPaths[0], "/build/plugins");
  EXPECT_EQ(c.pluginPaths[1], "/opt/sy/plugins");
  EXPECT_TRUE(c.strict);
  EXPECT_EQ(c.sourcePath, "t.yaml");
}

TEST(Config, ShorthandBackendItems) {
  const Config c = parseOk("backends: [vulkan, cpu, reference]\n");
  ASSERT_EQ(c.backends.size(), 3u);
  EXPECT_EQ(c.backends[0].name, "vulkan");
  EXPECT_EQ(c.backends[1].name, "cpu");
  EXPECT_EQ(c.backends[2].name, "reference");
  for (const auto& b : c.backends) {
    EXPECT_EQ(b.device, "");
    EXPECT_TRUE(b.options.empty());
  }
  const Config mixed = parseOk("backends:\n  - cpu\n  - {name: opencl, device: 0}\n");
  ASSERT_EQ(mixed.backends.size(), 2u);
  EXPECT_EQ(mixed.backends[1].device, "0");
}

TEST(Config, EmptyValuesMeanDefaults) {
  const Config c = parseOk("backends:\npins:\nplugin_paths:\npartition:\n");
  EXPECT_TRUE(c.backends.empty());
  EXPECT_TRUE(c.pins.empty());
  EXPECT_TRUE(c.pluginPaths.empty());
  EXPECT_EQ(c.partition.minRegionNodes, 1);
  const Config d = parseOk("backends: []\npins: []\nplugin_paths: []\n");
  EXPECT_TRUE(d.backends.empty());
}

TEST(Config, BooleansAndNumbers) {
  EXPECT_TRUE(parseOk("strict: yes\n").strict);
  EXPECT_TRUE(parseOk("strict: True\n").strict);
  EXPECT_FALSE(parseOk("strict: off\n").strict);
  EXPECT_EQ(parseOk("partition: {min_region_nodes: 0}\n").partition.minRegionNodes, 0);
  EXPECT_DOUBLE_EQ(parseOk("partition: {transfer_cost_per_byte: 0}\n").partition.transferCostPerByte, 0.0);
  EXPECT_DOUBLE_EQ(parseOk("partition: {transfer_cost_per_byte: 1e-9}\n").partition.transferCostPerByte, 1e-9);
  EXPECT_EQ(parseOk("backends: [{name: cpu, device: \"+2\"}]\n").backends[0].device, "2");
}

TEST(Config, RelativePluginPathsResolvedAgainstBaseDir) {
  const Config c = parseOk("plugin_paths: [plugins, ./a/../b/, ../up, /abs/dir]\n", "/etc/sy");
  ASSERT_EQ(c.pluginPaths.size(), 4u);
  EXPECT_EQ(c.pluginPaths[0], "/etc/sy/plugins");
  EXPECT_EQ(c.pluginPaths[1], "/etc/sy/b");
  EXPECT_EQ(c.pluginPaths[2], "/etc/up");
  EXPECT_EQ(c.pluginPaths[3], "/abs/dir");
  // A single string is a one-element list.
  const Config one = parseOk("plugin_paths: lib\n", "/x");
  ASSERT_EQ(one.pluginPaths.size(), 1u);
  EXPECT_EQ(one.pluginPaths[0], "/x/lib");
}

TEST(Config, LoadConfigResolvesAgainstTheFilesFolder) {
  TempDir dir;
  const std::string path = dir.write("sub/device.yaml", "backends: [cpu]\nplugin_paths: [../plugins, here]\n");
  auto r = sy::loadConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_EQ(r->sourcePath, path);
  ASSERT_EQ(r->pluginPaths.size(), 2u);
  EXPECT_EQ(r->pluginPaths[0], (dir.path() / "plugins").lexically_normal().string());
  EXPECT_EQ(r->pluginPaths[1], (dir.path() / "sub" / "here").lexically_normal().string());
  EXPECT_TRUE(fs::path(r->pluginPaths[0]).is_absolute());
  EXPECT_EQ(r->backends[0].where.toString(), path + ":1:12");
}

TEST(Config, LoadConfigEmptyFileIsDefaults) {
  TempDir dir;
  const std::string path = dir.write("empty.yaml", "");
  auto r = sy::loadConfig(path);
  ASSERT_TRUE(r.ok()) << r.status().toString();
  EXPECT_TRUE(r->backends.empty());
  EXPECT_EQ(r->fallback, FallbackPolicy::Reference);
  EXPECT_EQ(r->sourcePath, path);
}

TEST(Config, LoadConfigErrorsNameTheFile) {
  TempDir dir;
  const std::string path = dir.write("bad.yaml", "# comment\n\nfallback: sometimes\n");
  auto r = sy::loadConfig(path);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find(path + ":3:11"), std::string::npos) << r.status().message();
}

TEST(Config, MissingFile) {
  auto r = sy::loadConfig("/nonexistent/dir/switchyard.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/switchyard.yaml"), std::string::npos);
  EXPECT_NE(r.status().message().find("does not exist"), std::string::npos);
}

TEST(Config, FolderInsteadOfFile) {
  TempDir dir;
  auto r = sy::loadConfig(dir.path().string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is a folder"), std::string::npos) << r.status().message();
  EXPECT_FALSE(sy::loadConfig("").ok());
}

TEST(ConfigErrors, UnknownTopLevelKey) {
  expectError("backends: [cpu]\nfallbak: reference\n",
              {"t.yaml:2:1", "unknown key 'fallbak'", "did you mean 'fallback'",
               "valid keys: backends, fallback, retry_on_reference, partition, pins, plugin_paths, strict, default_plugin_paths, "
               "memory_budget"});
}

TEST(ConfigErrors, UnknownNestedKeys) {
  expectError("backends:\n  - name: cpu\n    devce: 0\n",
              {"t.yaml:3:5", "unknown key 'devce'", "valid keys: name, device, options"});
  expectError(
      "partition:\n  policy: cost\n  min_nodes: 2\n",
      {"t.yaml:3:3", "unknown key 'min_nodes'", "valid keys: policy, min_region_nodes, transfer_cost_per_byte"});
  expectError("pins:\n  - {op: conv, backend: cpu, device: 1}\n",
              {"t.yaml:2:30", "unknown key 'device'", "valid keys: op, node, backend"});
}

TEST(ConfigErrors, DuplicateKey) {
  expectError("strict: true\nstrict: false\n", {"t.yaml:2:1", "duplicate key 'strict'", "t.yaml:1:1"});
}

TEST(ConfigErrors, WrongTypes) {
  expectError("partition:\n  policy: cost\n  min_region_nodes: abc\n",
              {"t.yaml:3:21", "min_region_nodes must be a non-negative integer, got 'abc'"});
  expectError("partition: {min_region_nodes: -2}\n", {"t.yaml:1:31", "non-negative integer, got '-2'"});
  expectError("partition: {min_region_nodes: 1.5}\n", {"non-negative integer, got '1.5'"});
  expectError("partition: {min_region_nodes: [1]}\n", {"non-negative integer, got a list"});
  expectError("partition: {transfer_cost_per_byte: fast}\n",
              {"t.yaml:1:37", "transfer_cost_per_byte must be a non-negative number", "got 'fast'"});
  expectError("partition: {transfer_cost_per_byte: -1e-9}\n", {"non-negative number"});
  expectError("partition: {transfer_cost_per_byte: .inf}\n", {"non-negative number"});
  expectError("partition: 3\n", {"t.yaml:1:12", "partition must be a mapping"});
  expectError("strict: maybe\n", {"t.yaml:1:9", "strict must be true or false, got 'maybe'"});
  expectError("retry_on_reference: [true]\n", {"t.yaml:1:21", "retry_on_reference must be true or false"});
  expectError("backends:\n  - name: opencl\n    device: -1\n",
              {"t.yaml:3:13", "device index must be a non-negative integer, got '-1'"});
  expectError("backends:\n  - name: opencl\n    device: [0]\n", {"t.yaml:3:13", "device must be an index"});
  expectError("plugin_paths: {a: b}\n", {"t.yaml:1:15", "plugin_paths must be a list"});
  expectError("plugin_paths: [\"\"]\n", {"t.yaml:1:16", "must not be empty"});
  expectError("strict:\n", {"t.yaml:1:1", "strict must be true or false, got nothing"});
  expectError("plugin_paths: [[a]]\n", {"t.yaml:1:16", "a plugin path must be a single value"});
}

TEST(ConfigErrors, BadEnumValues) {
  expectError("fallback: maybe\n", {"t.yaml:1:11", "fallback must be one of reference, error, got 'maybe'"});
  expectError("partition:\n  policy: fastest\n",
              {"t.yaml:2:11", "partition policy must be one of priority, cost, got 'fastest'"});
  expectError("fallback:\n", {"t.yaml:1:1", "fallback must be one of reference, error"});
}

TEST(ConfigErrors, TopLevelNotAMapping) {
  expectError("- cpu\n- opencl\n", {"t.yaml:1:1", "top level must be a mapping", "got a list"});
  expectError("just text\n", {"t.yaml:1:1", "top level must be a mapping"});
}

TEST(ConfigErrors, BackendsNotAList) {
  expectError("backends: cpu\n", {"t.yaml:1:11", "backends must be a list", "got 'cpu'"});
  expectError("backends: {name: cpu}\n", {"t.yaml:1:11", "backends must be a list", "got a mapping"});
}

TEST(ConfigErrors, BadBackendItems) {
  expectError("backends:\n  - [cpu]\n", {"t.yaml:2:5", "a backend must be a name or a mapping"});
  expectError("backends:\n  - device: 0\n", {"t.yaml:2:5", "a backend needs a 'name'"});
  expectError("backends:\n  - \"open cl\"\n", {"t.yaml:2:5", "backend name 'open cl' has characters other than"});
  expectError("backends:\n  - name: cpu/x\n", {"t.yaml:2:11", "backend name 'cpu/x'"});
  expectError("backends: [\"\"]\n", {"t.yaml:1:12", "backend name must not be empty"});
}

TEST(ConfigErrors, DuplicateBackend) {
  expectError("backends:\n  - cpu\n  - name: cpu\n    device: 1\n",
              {"t.yaml:3:5", "duplicate backend 'cpu'", "first listed at t.yaml:2:5"});
}

TEST(ConfigErrors, OptionsMustBeScalars) {
  expectError("backends:\n  - name: cpu\n    options:\n      threads: [1, 2]\n",
              {"t.yaml:4:16", "option 'threads' must be a single value", "got a list"});
  expectError("backends:\n  - name: cpu\n    options:\n      nested: {a: 1}\n",
              {"t.yaml:4:15", "option 'nested'", "got a mapping"});
  expectError("backends:\n  - name: cpu\n    options: [threads]\n", {"t.yaml:3:14", "options must be a mapping"});
  expectError("backends:\n  - name: cpu\n    options:\n      threads:\n",
              {"t.yaml:4:7", "option 'threads'", "got nothing"});
}

TEST(ConfigErrors, Pins) {
  expectError("pins:\n  - {op: conv, node: a, backend: cpu}\n", {"t.yaml:2:5", "either an 'op' or a 'node', not both"});
  expectError("pins:\n  - {backend: cpu}\n", {"t.yaml:2:5", "a pin needs an 'op' or a 'node'"});
  expectError("pins:\n  - {op: relu, backend: cpu}\n  - op: conv\n", {"t.yaml:3:5", "a pin needs a 'backend'"});
  expectError("pins: {op: conv}\n", {"t.yaml:1:7", "pins must be a list"});
  expectError("pins:\n  - conv\n", {"t.yaml:2:5", "a pin must be a mapping"});
  expectError("pins:\n  - {op: \"con v\", backend: cpu}\n", {"t.yaml:2:10", "pinned op 'con v'"});
  expectError("pins:\n  - {op: conv, backend: \"c p u\"}\n", {"pin backend 'c p u'"});
  expectError("pins:\n  - {op: conv, backend: cpu}\n  - {op: conv, backend: opencl}\n",
              {"t.yaml:3:5", "op 'conv' is already pinned at t.yaml:2:5"});
}

TEST(ConfigErrors, YamlSyntax) {
  expectError("backends: [cpu\nfallback: reference\n", {"t.yaml:", "YAML syntax error"});
  expectError("backends:\n  - cpu\n - opencl\n", {"t.yaml:3:", "YAML syntax error"});
  expectError("a: b: c\n", {"t.yaml:1:", "YAML syntax error"});
  expectError("backends: *undefined\n", {"t.yaml:1:", "YAML syntax error"});
}

TEST(ConfigErrors, MultipleDocuments) {
  expectError("strict: true\n---\nstrict: false\n", {"t.yaml:3:1", "one YAML document"});
}

TEST(ConfigErrors, NothingEscapes) {
  // Odd inputs must give a Status, never an exception or a crash.
  for (const char* text : {"{", "[", "\t\tbackends: [cpu]", "backends: !!binary xyz", "? [a]\n: b\n", "&a [*a]",
                           "\xff\xfe\x00", "%YAML 9.9\n---\n", "backends: [{name: {a: b}}]"}) {
    auto r = sy::parseConfig(text, "t.yaml");
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("t.yaml"), std::string::npos) << r.status().message();
    }
  }
}

TEST(Config, SourceLocationToString) {
  EXPECT_EQ((sy::SourceLocation{"a.yaml", 3, 5}).toString(), "a.yaml:3:5");
  EXPECT_EQ((sy::SourceLocation{"--backends", 0, 0}).toString(), "--backends");
}

TEST(Config, PolicyNames) {
  EXPECT_EQ(sy::fallbackPolicyName(FallbackPolicy::Reference), "reference");
  EXPECT_EQ(sy::fallbackPolicyName(FallbackPolicy::Error), "error");
  EXPECT_EQ(sy::partitionPolicyName(PartitionPolicy::Priority), "priority");
  EXPECT_EQ(sy::partitionPolicyName(PartitionPolicy::Cost), "cost");
  EXPECT_TRUE(sy::isValidConfigName("open_cl-2.x"));
  EXPECT_FALSE(sy::isValidConfigName(""));
  EXPECT_FALSE(sy::isValidConfigName("a b"));
  EXPECT_FALSE(sy::isValidConfigName("a,b"));
}

TEST(Config, EveryShippedConfigParses) {
  const fs::path dir = fs::path(SY_SOURCE_DIR) / "configs";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml" && entry.path().extension() != ".yml") continue;
    names.insert(entry.path().filename().string());
    auto r = sy::loadConfig(entry.path().string());
    EXPECT_TRUE(r.ok()) << r.status().toString();
  }
  for (const char* expected : {"default.yaml", "reference-only.yaml", "cpu-first.yaml", "gpu-with-pins.yaml"})
    EXPECT_TRUE(names.count(expected)) << "configs/" << expected << " is missing";
}

TEST(Config, ShippedConfigsSayWhatTheyClaim) {
  const fs::path dir = fs::path(SY_SOURCE_DIR) / "configs";
  auto def = sy::loadConfig((dir / "default.yaml").string());
  ASSERT_TRUE(def.ok()) << def.status().toString();
  EXPECT_TRUE(def->backends.empty());
  EXPECT_EQ(def->fallback, FallbackPolicy::Reference);

  auto ref = sy::loadConfig((dir / "reference-only.yaml").string());
  ASSERT_TRUE(ref.ok()) << ref.status().toString();
  ASSERT_EQ(ref->backends.size(), 1u);
  EXPECT_EQ(ref->backends[0].name, "reference");

  auto cpu = sy::loadConfig((dir / "cpu-first.yaml").string());
  ASSERT_TRUE(cpu.ok()) << cpu.status().toString();
  ASSERT_FALSE(cpu->backends.empty());
  EXPECT_EQ(cpu->backends[0].name, "cpu");

  auto gpu = sy::loadConfig((dir / "gpu-with-pins.yaml").string());
  ASSERT_TRUE(gpu.ok()) << gpu.status().toString();
  ASSERT_GE(gpu->backends.size(), 3u);
  EXPECT_TRUE(gpu->backends[0].name == "opencl" || gpu->backends[0].name == "vulkan");
  EXPECT_EQ(gpu->backends.back().name, "cpu");
  EXPECT_FALSE(gpu->pins.empty());
  // plugin_paths: [../build/plugins] resolves to <repo>/build/plugins.
  ASSERT_EQ(gpu->pluginPaths.size(), 1u);
  EXPECT_EQ(fs::path(gpu->pluginPaths[0]),
            fs::absolute(fs::path(SY_SOURCE_DIR) / "build" / "plugins").lexically_normal());
}

TEST(Overrides, ReplacesTheListKeepingOptions) {
  Config c = parseOk("backends:\n  - name: cpu\n    options: {threads: 2}\n  - {name: opencl, device: 1}\n");
  ASSERT_TRUE(sy::overrideBackends(c, "vulkan, cpu", "--backends").ok());
  ASSERT_EQ(c.backends.size(), 2u);
  EXPECT_EQ(c.backends[0].name, "vulkan");
  EXPECT_TRUE(c.backends[0].options.empty());
  EXPECT_EQ(c.backends[0].where.toString(), "--backends");
  EXPECT_EQ(c.backends[1].name, "cpu");
  EXPECT_EQ(c.backends[1].options.at("threads"), "2");
  EXPECT_EQ(c.backends[1].where.toString(), "t.yaml:2:5");

  Config d = sy::defaultConfig();
  ASSERT_TRUE(sy::overrideBackends(d, "reference", "--backends").ok());
  ASSERT_EQ(d.backends.size(), 1u);
  EXPECT_EQ(d.backends[0].name, "reference");
}

TEST(Overrides, Errors) {
  Config c = parseOk("backends: [cpu]\n");
  auto check = [&](std::string_view list, std::initializer_list<std::string> parts) {
    const sy::Status s = sy::overrideBackends(c, list, "--backends");
    ASSERT_FALSE(s.ok()) << list;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    for (const std::string& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << s.message();
    // A failed override leaves the config as it was.
    ASSERT_EQ(c.backends.size(), 1u);
    EXPECT_EQ(c.backends[0].name, "cpu");
  };
  check("vulkan,,cpu", {"--backends", "backend 2", "is empty"});
  check("vulkan,", {"--backends", "is empty"});
  check("", {"--backends", "list is empty"});
  check("  ", {"--backends", "list is empty"});
  check("cpu,vulkan,cpu", {"--backends", "'cpu' is listed twice"});
  check("vulkan;cpu", {"--backends", "'vulkan;cpu'", "characters"});
  check("open cl", {"'open cl'"});
}

TEST(Overrides, Environment) {
  Config c = parseOk("backends:\n  - name: cpu\n    options: {threads: 4}\n");
  ::unsetenv("SWITCHYARD_BACKENDS");
  ASSERT_TRUE(sy::applyEnvironment(c).ok());
  ASSERT_EQ(c.backends.size(), 1u);

  ::setenv("SWITCHYARD_BACKENDS", "", 1);  // set but empty: ignored
  ASSERT_TRUE(sy::applyEnvironment(c).ok());
  ASSERT_EQ(c.backends.size(), 1u);

  ::setenv("SWITCHYARD_BACKENDS", "opencl,cpu", 1);
  ASSERT_TRUE(sy::applyEnvironment(c).ok());
  ASSERT_EQ(c.backends.size(), 2u);
  EXPECT_EQ(c.backends[0].name, "opencl");
  EXPECT_EQ(c.backends[0].where.toString(), "SWITCHYARD_BACKENDS");
  EXPECT_EQ(c.backends[1].options.at("threads"), "4");

  ::setenv("SWITCHYARD_BACKENDS", "opencl,,cpu", 1);
  const sy::Status s = sy::applyEnvironment(c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SWITCHYARD_BACKENDS"), std::string::npos) << s.message();
  ::unsetenv("SWITCHYARD_BACKENDS");
}

}  // namespace

namespace {

TEST(Config, EveryYamlExampleInTheDocsParses) {
  std::ifstream in(std::string(SY_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in) << "docs/config.md is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  int blocks = 0;
  for (size_t at = doc.find("```yaml\n"); at != std::string::npos; at = doc.find("```yaml\n", at)) {
    at += 8;
    const size_t end = doc.find("```", at);
    ASSERT_NE(end, std::string::npos);
    const std::string text = doc.substr(at, end - at);
    auto r = sy::parseConfig(text, "docs/config.md example " + std::to_string(++blocks), "/base");
    EXPECT_TRUE(r.ok()) << r.status().toString() << "\n" << text;
    at = end + 3;
  }
  EXPECT_GE(blocks, 7);
}

}  // namespace

TEST(Config, DefaultPluginPathsCanBeTurnedOff) {
  auto on = sy::parseConfig("plugin_paths: [/opt/p]\n", "t.yaml", "/");
  ASSERT_TRUE(on.ok()) << on.status().toString();
  EXPECT_TRUE(on->defaultPluginPaths);
  auto off = sy::parseConfig("plugin_paths: [/opt/p]\ndefault_plugin_paths: false\n", "t.yaml", "/");
  ASSERT_TRUE(off.ok()) << off.status().toString();
  EXPECT_FALSE(off->defaultPluginPaths);
  auto bad = sy::parseConfig("default_plugin_paths: sometimes\n", "t.yaml", "/");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("t.yaml:1:23"), std::string::npos) << bad.status().message();
}

TEST(Config, MemoryBudget) {
  auto def = sy::parseConfig("strict: false\n", "t.yaml", "/");
  ASSERT_TRUE(def.ok()) << def.status().toString();
  EXPECT_EQ(def->memoryBudget, 0u);  // = defaultMemoryBudget()
  const std::pair<const char*, uint64_t> good[] = {
      {"1024", 1024}, {"512MiB", 512ull << 20}, {"8 GiB", 8ull << 30}, {"2GB", 2000000000ull}, {"\"64 kB\"", 64000}};
  for (const auto& [text, bytes] : good) {
    auto c = sy::parseConfig(std::string("memory_budget: ") + text + "\n", "t.yaml", "/");
    ASSERT_TRUE(c.ok()) << text << ": " << c.status().toString();
    EXPECT_EQ(c->memoryBudget, bytes) << text;
  }
  for (const char* text : {"0", "-1", "1.5GiB", "8 gigs", "[1]", "99999999999999999999", "20000000TiB"}) {
    auto c = sy::parseConfig(std::string("memory_budget: ") + text + "\n", "t.yaml", "/");
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_NE(c.status().message().find("t.yaml:1:16: memory_budget must be a positive size"), std::string::npos)
        << c.status().message();
  }
}

TEST(Config, DeviceAndFifoAreRefusedBeforeReading) {
  auto zero = sy::loadConfig("/dev/zero");  // used to read until memory ran out
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("config file /dev/zero: is a character device"), std::string::npos)
      << zero.status().message();
  TempDir dir;
  const std::string fifo = (dir.path() / "c.yaml").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto pipe = sy::loadConfig(fifo);  // used to block forever
  ASSERT_FALSE(pipe.ok());
  EXPECT_NE(pipe.status().message().find("is a FIFO"), std::string::npos) << pipe.status().message();
}
