// Components of the airssys world (wit/host.wit) as actors, beside core-ABI
// components: messages and requests both ways between the two kinds, key-value
// state in the real store, refusals on record, health in the status, a
// component that lies about its world refused at start, handlers preempted
// in fuel slices. Real components: the core-ABI `scripted` (tests/components)
// and the world's `probe` and `echo` (tests/components/world, made by jco).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "airssys/wasm/component/world.hpp"
#include "world_runtime.hpp"

namespace airssys::wasm::component {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::component;
using testing::Grants;
using WorldActorTest = testing::WorldRuntimeTest;
using testing::world_material;

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

// The C SDK serves a handler's arguments from a buffer of its own (16 KiB);
// a larger payload comes from malloc, and the buffer serves the next
// messages again: each arrives whole, on both tiers.
TEST_P(WorldActorTest, PayloadsLargerAndSmallerThanTheSdksArgumentBufferArriveWhole) {
  ASSERT_TRUE(start_world("echo", "echo", {.receive = {"host"}}).has_value());
  auto st = settle("echo");
  ASSERT_EQ(st.state, ComponentState::Ready) << (st.last_error ? st.last_error->to_string() : "");
  auto send = [&](size_t size) {
    std::vector<uint8_t> payload(size);
    unsigned long sum = 0;
    for (size_t i = 0; i < size; ++i) {
      payload[i] = static_cast<uint8_t>(i * 7 + size);
      sum += payload[i];
    }
    ASSERT_TRUE(system->send_from_host("echo", payload).has_value());
    ASSERT_TRUE(transcript.wait_line(
        "got " + std::to_string(size) + " bytes from host, sum " + std::to_string(sum)))
        << transcript.dump();
  };
  send(3);
  send(40000);
  send(16000);
  send(5);
  send(30000);
  send(1);
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

// A message's arguments are lowered through the receiver's own cabi_realloc
// inside the handler's call, before the handler runs. An allocator that
// traps ends that call with its trap; one that never returns runs out of the
// message's fuel. Either way the component fails on record, the host carries
// on, and a component whose allocator behaves gets its messages.
TEST_P(WorldActorTest, AnAllocatorThatTrapsOrNeverReturnsEndsTheDeliveryOnRecord) {
  auto start_alloc = [&](const std::string& name, const std::string& config) {
    auto bytes = engine::read_module_file(world_material("bad_alloc"));
    ASSERT_TRUE(bytes.has_value()) << bytes.error().to_string();
    auto decoded = cm::decode_component(*bytes, "bad_alloc", *world_engine);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    ComponentSpec s;
    s.name = name;
    s.world = *decoded;
    s.engine = world_engine;
    s.security = context(name, {});
    s.config_json = config;
    s.slice = 10'000;
    s.fuel_per_message = 2'000'000;
    s.restart = actor::RestartPolicy::Temporary;
    sinks(s);
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    auto st = settle(name);
    ASSERT_EQ(st.state, ComponentState::Ready)
        << (st.last_error ? st.last_error->to_string() : "");
  };
  const std::pair<std::string, ErrorCode> cases[] = {{"trap", ErrorCode::TrapUnreachable},
                                                     {"loop", ErrorCode::TrapOutOfFuel}};
  for (const auto& [mode, code] : cases) {
    SCOPED_TRACE(mode);
    const std::string name = "alloc-" + mode;
    start_alloc(name, mode);
    command(name, "hello");
    // The state changes before the failure's audit record is written: wait
    // for both.
    ASSERT_TRUE(harness->run_until(
        [&] {
          return system->status(name)->state == ComponentState::Failed &&
                 audited(name, "lifecycle.failed", security::AuditResult::Denied);
        },
        60s))
        << transcript.dump();
    auto st = system->status(name);
    ASSERT_TRUE(st->last_error.has_value());
    EXPECT_EQ(st->last_error->code, code) << st->last_error->to_string();
    EXPECT_EQ(st->messages_handled, 0u);
  }
  start_alloc("alloc-ok", "{}");
  command("alloc-ok", "hello");
  ASSERT_TRUE(transcript.wait_line("got 5 bytes from host")) << transcript.dump();
  EXPECT_EQ(system->status("alloc-ok")->state, ComponentState::Ready);
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
