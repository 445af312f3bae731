// Loading plugins: every refusal path, with the message checked.
#include <gtest/gtest.h>

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
  EXPECT_TRUE(contains(p.status().message(), "cannot load")) << p.status().message();
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
  auto lenient = Engine::create(c);
  ASSERT_TRUE(lenient.ok()) << lenient.status().toString();
  EXPECT_FALSE((*lenient)->warnings().empty());
  c.strict = true;
  auto strict = Engine::create(c);
  ASSERT_FALSE(strict.ok());
  EXPECT_TRUE(contains(strict.status().message(), "plugin not loaded")) << strict.status().message();
}

}  // namespace
}  // namespace sy
