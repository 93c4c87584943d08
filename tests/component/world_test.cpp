// Components of the airssys world (wit/host.wit) as actors, beside core-ABI
// components: messages and requests both ways between the two kinds, key-value
// state in the real store, refusals on record, health in the status, a
// component that lies about its world refused at start, handlers preempted
// in fuel slices. Real components: the core-ABI `scripted` (tests/components)
// and the world's `probe` and `echo` (tests/components/world, made by jco).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "../engine/tiers.hpp"
#include "../support/component_runtime.hpp"
#include "../support/temp_dir.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/component/world.hpp"
#include "airssys/wasm/storage/kv.hpp"
#include "component_test_support.hpp"

namespace airssys::wasm::component {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using security::Permission;
using testing::component;
using testing::Transcript;

fs::path world_material(const std::string& name) {
  return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "world" / (name + ".wasm");
}

struct Grants {
  std::vector<std::string> send = {};
  std::vector<std::string> receive = {};
  std::vector<std::string> read = {};
  std::vector<std::string> write = {};
};

class WorldActorTest : public ::testing::TestWithParam<engine::Tier> {
 protected:
  void SetUp() override {
    if (!fs::exists(world_material("probe"))) {
      GTEST_SKIP() << "jco is not installed: the world's components were not made";
    }
    interp = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    world_engine = GetParam() == engine::Tier::Interp
                       ? interp
                       : std::shared_ptr<engine::Engine>(engine::testing::make_engine(GetParam()));
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

  std::shared_ptr<const security::WasmSecurityContext> context(const std::string& name,
                                                               const Grants& g) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::MsgSend)] = g.send;
    lists[static_cast<size_t>(Permission::MsgReceive)] = g.receive;
    lists[static_cast<size_t>(Permission::MsgReceive)].push_back("host");
    lists[static_cast<size_t>(Permission::StorageRead)] = g.read;
    lists[static_cast<size_t>(Permission::StorageWrite)] = g.write;
    return security::WasmSecurityContext::create(name, security::CapabilitySet::build(lists).value(),
                                                 security::TrustLevel::Trusted, {})
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
                           std::string config = "{}") {
    auto bytes = engine::read_module_file(world_material(material));
    if (!bytes) return std::unexpected(bytes.error());
    AIRSSYS_TRY_ASSIGN(auto decoded, cm::decode_component(*bytes, material, *world_engine));
    ComponentSpec s;
    s.name = name;
    s.world = decoded;
    s.engine = world_engine;
    s.security = context(name, g);
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
    audit->flush();
    for (const auto& r : transcript.records()) {
      if (r.component == component && r.permission == permission && r.result == result)
        return true;
    }
    return false;
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

// A core-ABI component asks a world component, which answers through the
// world's functions: key-value state in the store, its own name, refusals.
TEST_P(WorldActorTest, ACoreComponentAndAWorldComponentTalkWithoutKnowingEachOthersKind) {
  start_scripted("alpha", {.send = {"probe"}, .receive = {"probe"}});
  ASSERT_TRUE(start_world("probe", "probe", {.send = {"alpha"}, .receive = {"alpha"},
                                             .read = {"orders:*"}, .write = {"orders:*"}})
                  .has_value());
  auto st = settle("probe");
  ASSERT_EQ(st.state, ComponentState::Ready) << (st.last_error ? st.last_error->to_string() : "");
  EXPECT_EQ(st.tier, GetParam());
  EXPECT_EQ(st.health, "healthy");

  command("alpha", "request probe 20000 self");
  ASSERT_TRUE(transcript.wait_line("alpha reply status=0: ok probe")) << transcript.dump();
  command("alpha", "request probe 20000 set orders:1 three");
  ASSERT_TRUE(transcript.wait_line("alpha reply status=0: ok ")) << transcript.dump();
  command("alpha", "request probe 20000 get orders:1");
  ASSERT_TRUE(transcript.wait_line("alpha reply status=0: ok three")) << transcript.dump();
  auto stored = store->get("probe", "orders:1");
  ASSERT_TRUE(stored.has_value());
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ(std::string((*stored)->begin(), (*stored)->end()), "three");

  // Outside its grant: refused with `denied`, on record; nothing written.
  command("alpha", "request probe 20000 set secrets:1 x");
  ASSERT_TRUE(transcript.wait_line("alpha reply status=0: error denied")) << transcript.dump();
  EXPECT_TRUE(audited("probe", "storage.write", security::AuditResult::Denied));

  // The world component asks the core one; the reply comes back to its
  // handle-reply, which logs it.
  command("alpha", "request probe 20000 request alpha hi 20000");
  ASSERT_TRUE(transcript.wait_line("alpha got request from probe: hi")) << transcript.dump();
  const std::string logged = transcript.wait("reply ");
  EXPECT_TRUE(logged.ends_with(" ok echo:hi")) << logged << "\n" << transcript.dump();
}

TEST_P(WorldActorTest, ASenderTheWorldComponentDoesNotAdmitIsRefusedOnRecord) {
  start_scripted("alpha", {.send = {"probe"}});
  ASSERT_TRUE(start_world("probe", "probe", {}).has_value());
  ASSERT_EQ(settle("probe").state, ComponentState::Ready);
  command("alpha", "send probe self");
  ASSERT_TRUE(transcript.wait_line("alpha send probe = -1")) << transcript.dump();
  // On record as the sender's refused send, as between two core-ABI components.
  EXPECT_TRUE(audited("alpha", "messaging.send", security::AuditResult::Denied));
  EXPECT_EQ(system->status("probe")->messages_handled, 0u);
}

INSTANTIATE_TEST_SUITE_P(Tiers, WorldActorTest,
                         ::testing::Values(engine::Tier::Interp, engine::Tier::Native),
                         engine::testing::tier_test_name);

// On the interpreter only: what does not depend on the tier.
class WorldActorOnInterp : public WorldActorTest {};

TEST_P(WorldActorOnInterp, AComponentThatLiesAboutItsWorldDoesNotStart) {
  ASSERT_TRUE(start_world("liar", "liar", {}).has_value());
  auto st = settle("liar");
  EXPECT_EQ(st.state, ComponentState::Failed);
  ASSERT_TRUE(st.last_error.has_value());
  EXPECT_NE(st.last_error->message.find("liar"), std::string::npos) << st.last_error->to_string();
  EXPECT_TRUE(audited("liar", "lifecycle.failed", security::AuditResult::Denied));
}

TEST_P(WorldActorOnInterp, InitFailsTheStartWithTheComponentsOwnReason) {
  ASSERT_TRUE(start_world("probe", "probe", {}, "{\"fail\":true}").has_value());
  auto st = settle("probe");
  EXPECT_EQ(st.state, ComponentState::Failed);
  ASSERT_TRUE(st.last_error.has_value());
  EXPECT_NE(st.last_error->message.find("init failed"), std::string::npos)
      << st.last_error->to_string();
}

TEST_P(WorldActorOnInterp, HealthIsAskedAgainAfterMessagesAndShownInTheStatus) {
  start_scripted("alpha", {.send = {"probe"}});
  ASSERT_TRUE(start_world("probe", "probe", {.receive = {"alpha"}}).has_value());
  ASSERT_EQ(settle("probe").state, ComponentState::Ready);
  EXPECT_EQ(system->status("probe")->health, "healthy");
  command("alpha", "request probe 20000 self");
  ASSERT_TRUE(transcript.wait_line("alpha reply status=0: ok probe")) << transcript.dump();
  EXPECT_EQ(system->status("probe")->messages_handled, 1u);
}

TEST(ComponentWorld, TheWorldOfAComponentIsReadFromItsExports) {
  auto core = engine::Engine::interpreter();
  auto path = world_material("probe");
  if (!fs::exists(path)) GTEST_SKIP() << "jco is not installed";
  auto bytes = engine::read_module_file(path).value();
  auto decoded = cm::decode_component(bytes, "probe", *core);
  ASSERT_TRUE(decoded.has_value());
  auto world = component_world(**decoded);
  ASSERT_TRUE(world.has_value());
  EXPECT_EQ(world->kind, WorldKind::Airssys);
  EXPECT_EQ(world->name, "airssys:host/component@0.3.0");

  auto hello = std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / "hello.component.wasm";
  auto command_bytes = engine::read_module_file(hello).value();
  auto command = cm::decode_component(command_bytes, "hello", *core);
  ASSERT_TRUE(command.has_value());
  auto command_world = component_world(**command);
  ASSERT_TRUE(command_world.has_value());
  EXPECT_EQ(command_world->kind, WorldKind::Command);
}

// The versions served: 0.3.x (semver-compatible with 0.3.0); any other
// version of the handler interface is refused, naming what is served.
TEST(ComponentWorld, AHandlerInterfaceOfAVersionTheHostDoesNotServeIsRefused) {
  auto with_export = [](std::string name) {
    cm::Component c;
    c.name = "future.wasm";
    cm::Export e;
    e.name = std::move(name);
    e.desc.sort = cm::Sort::Instance;
    c.exports.push_back(e);
    return c;
  };
  auto patch = component_world(with_export("airssys:host/handler@0.3.7"));
  ASSERT_TRUE(patch.has_value()) << patch.error().to_string();
  EXPECT_EQ(patch->kind, WorldKind::Airssys);
  EXPECT_EQ(patch->name, "airssys:host/component@0.3.7");
  for (const char* version : {"0.4.0", "1.0.0", "0.2.9"}) {
    auto r = component_world(with_export(std::string("airssys:host/handler@") + version));
    ASSERT_FALSE(r.has_value()) << version;
    EXPECT_EQ(r.error().code, ErrorCode::IncompatibleImport);
    EXPECT_NE(r.error().message.find("airssys:host@0.3.0"), std::string::npos)
        << r.error().to_string();
  }
  auto other = component_world(with_export("example:app/api@1.0.0"));
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->kind, WorldKind::Other);
}

INSTANTIATE_TEST_SUITE_P(Interp, WorldActorOnInterp, ::testing::Values(engine::Tier::Interp),
                         engine::testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::component
