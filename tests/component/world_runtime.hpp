#pragma once
// A ComponentRuntime with a real store and audit log on which the tests start
// core-ABI components (`scripted`) and components of the airssys world
// (tests/components/world, made by jco) side by side, on the tier of the
// test's parameter for the world components.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "../engine/tiers.hpp"
#include "../support/component_runtime.hpp"
#include "../support/temp_dir.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/storage/kv.hpp"
#include "component_test_support.hpp"

namespace airssys::wasm::component::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using security::Permission;

fs::path world_material(const std::string& name) {
  return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "world" / (name + ".wasm");
}

struct Grants {
  std::vector<std::string> send = {};
  std::vector<std::string> receive = {};
  std::vector<std::string> read = {};
  std::vector<std::string> write = {};
  std::vector<std::string> connect = {};
};

class WorldRuntimeTest : public ::testing::TestWithParam<engine::Tier> {
 protected:
  void SetUp() override {
    if (!fs::exists(world_material("probe"))) {
      GTEST_SKIP() << "jco is not installed: the world's components were not made";
    }
    interp = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    world_engine = GetParam() == engine::Tier::Interp ? interp : native_engine();
    ASSERT_TRUE(world_engine);
    scripted = interp->load_file(component("scripted.wasm")).value();
    audit = transcript.audit_log();
    auto s = storage::KeyValueStore::open({.data_dir = dir.path() / "data"});
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    store = std::move(*s);
    harness = std::make_unique<test::ComponentRuntimeHarness>(test::Scheduling::ThreadPool);
    ComponentRuntimeOptions options;
    options.engine = interp;
    options.audit = audit.get();
    options.kv = store.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    system = &harness->start_system(options);
  }

  void TearDown() override {
    if (harness) harness->stop();
    if (audit) audit->flush();
  }

  // The native tier with its cache in the build tree, shared by every test
  // process: each test runs in a process of its own, and a component is
  // compiled once, not once per test.
  static std::shared_ptr<engine::Engine> native_engine() {
    engine::NativeOptions options;
    options.cache_dir = AIRSSYS_WORLD_NATIVE_CACHE;
    auto made = engine::Engine::native(options);
    EXPECT_TRUE(made.has_value()) << (made ? "" : made.error().to_string());
    return made ? std::shared_ptr<engine::Engine>(std::move(*made)) : nullptr;
  }

  std::shared_ptr<const security::WasmSecurityContext> context(const std::string& name,
                                                               const Grants& g,
                                                               security::QuotaLimits quotas = {}) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::MsgSend)] = g.send;
    lists[static_cast<size_t>(Permission::MsgReceive)] = g.receive;
    lists[static_cast<size_t>(Permission::MsgReceive)].push_back("host");
    lists[static_cast<size_t>(Permission::StorageRead)] = g.read;
    lists[static_cast<size_t>(Permission::StorageWrite)] = g.write;
    lists[static_cast<size_t>(Permission::NetConnect)] = g.connect;
    return security::WasmSecurityContext::create(name, security::CapabilitySet::build(lists).value(),
                                                 security::TrustLevel::Trusted, quotas)
        .value();
  }

  void sinks(ComponentSpec& s) {
    const std::string name = s.name;
    s.stdout_sink = [this, name](std::span<const uint8_t> b) { transcript.add(name, b); };
    s.stderr_sink = s.stdout_sink;
    s.log_sink = [this](const host::LogLine& line) {
      std::string text = std::string(line.text) + "\n";
      transcript.add(std::string(line.component),
                     std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    };
  }

  // The core-ABI component `scripted`, named `name`: it takes its commands
  // from the host and prints what it gets.
  void start_scripted(const std::string& name, const Grants& g) {
    ComponentSpec s;
    s.name = name;
    s.module = scripted;
    s.security = context(name, g);
    s.config_json = "{\"role\":\"" + name + "\"}";
    s.slice = 10'000;
    sinks(s);
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    ASSERT_TRUE(transcript.wait_count(name + " init ", 1)) << transcript.dump();
  }

  Result<void> start_world(const std::string& name, const std::string& material, const Grants& g,
                           std::string config = "{}", security::QuotaLimits quotas = {}) {
    auto bytes = engine::read_module_file(world_material(material));
    if (!bytes) return std::unexpected(bytes.error());
    AIRSSYS_TRY_ASSIGN(auto decoded, cm::decode_component(*bytes, material, *world_engine));
    ComponentSpec s;
    s.name = name;
    s.world = decoded;
    s.engine = world_engine;
    s.security = context(name, g, quotas);
    s.config_json = std::move(config);
    s.slice = 10'000;
    sinks(s);
    return system->start(std::move(s));
  }

  ComponentStatus settle(const std::string& name) {
    auto st = system->await_settled(name, std::chrono::steady_clock::now() + 60s);
    EXPECT_TRUE(st.has_value());
    return st.value_or(ComponentStatus{});
  }

  void command(const std::string& target, const std::string& text) {
    ASSERT_TRUE(system->send_from_host(target, std::vector<uint8_t>(text.begin(), text.end()))
                    .has_value());
  }

  bool audited(const std::string& component, const std::string& permission,
               security::AuditResult result) {
    return audit_record(component, permission, result).has_value();
  }
  std::optional<security::AuditRecord> audit_record(const std::string& component,
                                                    const std::string& permission,
                                                    security::AuditResult result) {
    audit->flush();
    for (const auto& r : transcript.records()) {
      if (r.component == component && r.permission == permission && r.result == result) return r;
    }
    return std::nullopt;
  }

  test::TempDir dir{"world-actor"};
  std::shared_ptr<engine::Engine> interp;
  std::shared_ptr<engine::Engine> world_engine;
  std::shared_ptr<const engine::Module> scripted;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<storage::KeyValueStore> store;
  Transcript transcript;
  std::unique_ptr<test::ComponentRuntimeHarness> harness;
  ComponentRuntime* system = nullptr;
};

}  // namespace airssys::wasm::component::testing
