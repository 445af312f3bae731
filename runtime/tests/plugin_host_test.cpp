// Loading plugins: every refusal path, with the message checked.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "switchyard/engine.h"
#include "switchyard/plugin_host.h"

namespace sy {
namespace {

std::string pluginPath(const std::string& name) { return std::string(SY_TEST_PLUGIN_DIR) + "/libsy_plugin_" + name + ".so"; }

std::string loadError(const std::string& name) {
  auto p = PluginHost::load(pluginPath(name));
  EXPECT_FALSE(p.ok()) << name << " loaded but should not";
  return p.ok() ? std::string() : p.status().message();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(PluginHost, LoadsMemdevWithDevices) {
  auto p = PluginHost::load(pluginPath("memdev"));
  ASSERT_TRUE(p.ok()) << p.status().toString();
  EXPECT_EQ((*p)->name(), "memdev");
  EXPECT_EQ((*p)->abiVersion(), std::to_string(SY_ABI_VERSION_MAJOR) + "." + std::to_string(SY_ABI_VERSION_MINOR));
  ASSERT_EQ((*p)->devices().size(), 2u);
  EXPECT_EQ((*p)->devices()[1].name, "memdev1");
  EXPECT_FALSE((*p)->devices()[0].hostVisibleMemory);
}

TEST(PluginHost, MissingFile) {
  const std::string msg = loadError("does_not_exist");
  EXPECT_TRUE(contains(msg, "libsy_plugin_does_not_exist.so")) << msg;
  EXPECT_TRUE(contains(msg, "no such file")) << msg;
}

TEST(PluginHost, NotASharedLibrary) {
  auto p = PluginHost::load(std::string(SY_SOURCE_DIR) + "/README.md");
  ASSERT_FALSE(p.ok());
  // Refused before dlopen by the ELF check (PluginHost::checkLibraryFile).
  EXPECT_TRUE(contains(p.status().message(), "not an ELF file")) << p.status().message();
}

TEST(PluginHost, MissingEntrySymbol) {
  const std::string msg = loadError("no_symbol");
  EXPECT_TRUE(contains(msg, "does not export 'sy_plugin_get_api'")) << msg;
}

TEST(PluginHost, WrongMajorNamesBothVersions) {
  const std::string msg = loadError("bad_major");
  EXPECT_TRUE(contains(msg, "plugin ABI " + std::to_string(SY_ABI_VERSION_MAJOR + 1) + ".")) << msg;
  EXPECT_TRUE(contains(msg, "Switchyard's ABI " + std::to_string(SY_ABI_VERSION_MAJOR) + ".")) << msg;
  EXPECT_TRUE(contains(msg, "libsy_plugin_bad_major.so")) << msg;
}

TEST(PluginHost, InitFailureCarriesThePluginsMessage) {
  const std::string msg = loadError("init_fails");
  EXPECT_TRUE(contains(msg, "libfakedevice.so.1")) << msg;
  EXPECT_TRUE(contains(msg, "init")) << msg;
}

TEST(PluginHost, TableMissingRequiredEntriesIsRefused) {
  const std::string msg = loadError("too_small_struct");
  EXPECT_TRUE(contains(msg, "function table")) << msg;
  EXPECT_TRUE(contains(msg, "required")) << msg;
}

TEST(PluginHost, OlderMinorWithoutOptionalEntriesWorks) {
  auto p = PluginHost::load(pluginPath("small_struct"));
  ASSERT_TRUE(p.ok()) << p.status().toString();
  EXPECT_EQ((*p)->api().buffer_host_pointer, nullptr);
  EXPECT_EQ((*p)->api().buffer_wrap_host, nullptr);
}

TEST(PluginHost, DiscoverCollectsFailuresAndGoesOn) {
  PluginHost host;
  host.discover({SY_TEST_PLUGIN_DIR});
  EXPECT_NE(host.find("memdev"), nullptr);
  EXPECT_NE(host.find("small_struct"), nullptr);
  std::vector<std::string> failed;
  for (const auto& f : host.failures()) failed.push_back(f.path);
  auto has = [&](const std::string& n) {
    for (const auto& f : failed)
      if (contains(f, "libsy_plugin_" + n + ".so")) return true;
    return false;
  };
  EXPECT_TRUE(has("bad_major"));
  EXPECT_TRUE(has("no_symbol"));
  EXPECT_TRUE(has("init_fails"));
  EXPECT_TRUE(has("too_small_struct"));
}

TEST(PluginHost, StrictEngineRefusesABrokenPlugin) {
  Config c = defaultConfig();
  c.pluginPaths = {SY_TEST_PLUGIN_DIR};
  BackendConfig b;
  b.name = "memdev";
  c.backends = {b};
  // Naming memdev opens only memdev's file: the broken plugins beside it are
  // never loaded, so nothing is reported about them.
  auto named = Engine::create(c);
  ASSERT_TRUE(named.ok()) << named.status().toString();
  EXPECT_TRUE((*named)->warnings().empty()) << (*named)->warnings()[0];
  // No backend list: every plugin is loaded, and the broken ones are reported.
  c.backends.clear();
  auto lenient = Engine::create(c);
  ASSERT_TRUE(lenient.ok()) << lenient.status().toString();
  EXPECT_FALSE((*lenient)->warnings().empty());
  c.strict = true;
  auto strict = Engine::create(c);
  ASSERT_FALSE(strict.ok());
  EXPECT_TRUE(contains(strict.status().message(), "plugin not loaded")) << strict.status().message();
}

/// A folder of plugin files that would crash or hang dlopen.
class HostilePluginFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sy_hostile_plugins_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ifstream in(pluginPath("memdev"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 8192u);
    write("truncated", bytes.substr(0, 4096));  // a complete header, segments cut off
    write("header_only", bytes.substr(0, 40));   // shorter than an ELF header
    write("text", "this is not a library\n");
    write("empty", "");
    ASSERT_EQ(::mkfifo((dir_ / "libsy_plugin_fifo.so").c_str(), 0600), 0);  // would block a plain open
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / ("libsy_plugin_" + name + ".so"), std::ios::binary) << bytes;
  }
  std::filesystem::path dir_;
};

TEST_F(HostilePluginFiles, AreRefusedBeforeDlopenWithAReason) {
  // Before, the truncated copy killed the process with SIGBUS inside dlopen.
  auto reason = [&](const std::string& name) {
    auto p = PluginHost::load((dir_ / ("libsy_plugin_" + name + ".so")).string());
    EXPECT_FALSE(p.ok()) << name;
    return p.ok() ? std::string() : p.status().message();
  };
  EXPECT_TRUE(contains(reason("truncated"), "truncated: its program headers' segments need")) << reason("truncated");
  EXPECT_TRUE(contains(reason("header_only"), "shorter than an ELF header")) << reason("header_only");
  EXPECT_TRUE(contains(reason("text"), "not an ELF file")) << reason("text");
  EXPECT_TRUE(contains(reason("empty"), "truncated")) << reason("empty");
  EXPECT_TRUE(contains(reason("fifo"), "not a regular file")) << reason("fifo");
  PluginHost host;
  host.discover({dir_.string()});
  EXPECT_TRUE(host.plugins().empty());
  EXPECT_EQ(host.failures().size(), 5u);
}

TEST_F(HostilePluginFiles, AReferenceOnlyConfigNeverOpensThem) {
  Config c = defaultConfig();
  c.pluginPaths = {dir_.string()};
  c.defaultPluginPaths = false;
  c.strict = true;
  BackendConfig ref;
  ref.name = "reference";
  c.backends = {ref};
  auto engine = Engine::create(c);
  ASSERT_TRUE(engine.ok()) << engine.status().toString();
  EXPECT_TRUE((*engine)->warnings().empty());
  // Without a backend list every file is tried: strict refuses, naming the file.
  c.backends.clear();
  auto all = Engine::create(c);
  ASSERT_FALSE(all.ok());
  EXPECT_TRUE(contains(all.status().message(), "libsy_plugin_")) << all.status().message();
}

}  // namespace
}  // namespace sy
