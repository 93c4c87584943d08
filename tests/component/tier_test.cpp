// Engine tiers in the component layer, end to end with real components: a
// component on the native tier, and tier-up (TierChoice::Auto): a component
// that starts on the interpreter and moves to native code while numbered
// messages keep arriving, with every message handled once and in order, its
// state in memory carried over, and the move on record. A module whose state
// cannot move stays on the interpreter, on record, and keeps working.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "../support/hostile_modules.hpp"
#include "../support/component_runtime.hpp"
#include "../support/temp_dir.hpp"
#include "component_test_support.hpp"

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;
using security::AuditResult;
using testing::Transcript;

std::vector<uint8_t> read_bytes(const std::filesystem::path& path) {
  return engine::read_module_file(path).value();
}

std::vector<uint8_t> text(const std::string& s) { return {s.begin(), s.end()}; }

class TierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache = tmp.path();
    interp = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    engine::NativeOptions native_options;
    native_options.cache_dir = cache / "native";
    auto n = engine::Engine::native(native_options);
    ASSERT_TRUE(n.has_value()) << n.error().to_string();
    native = std::shared_ptr<engine::Engine>(std::move(*n));

    audit = transcript.audit_log();
    ComponentRuntimeOptions options;
    options.engine = interp;
    options.audit = audit.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    // Tier-up compiles beside running components: real threads.
    system = &harness.start_system(options);
  }

  void TearDown() override { harness.stop(); }

  ComponentSpec spec(const std::string& name, std::shared_ptr<const engine::Module> module) {
    ComponentSpec s;
    s.name = name;
    s.module = std::move(module);
    security::PatternLists lists;
    lists[static_cast<size_t>(security::Permission::MsgReceive)] = {"host"};  // its messages
    s.security = security::WasmSecurityContext::create(
                     name, security::CapabilitySet::build(lists).value(),
                     security::TrustLevel::Trusted)
                     .value();
    s.slice = 10'000;
    s.stdout_sink = [this, name](std::span<const uint8_t> b) { transcript.add(name, b); };
    s.stderr_sink = s.stdout_sink;
    return s;
  }

  std::vector<security::AuditRecord> tier_records(const std::string& component) {
    audit->flush();
    std::vector<security::AuditRecord> out;
    for (const auto& r : transcript.records()) {
      if (r.component == component && r.permission == "lifecycle.tier") out.push_back(r);
    }
    return out;
  }

  void expect_stays(const std::string& name, const std::string& file,
                    std::vector<uint8_t> build_bytes, const std::string& why);

  // A host message, retried while the mailbox pushes back (E_FULL).
  void send(const std::string& name, const std::string& payload) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      auto sent = system->send_from_host(name, text(payload));
      if (sent) return;
      ASSERT_EQ(sent.error().code, ErrorCode::MailboxFull) << sent.error().to_string();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the mailbox stayed full";
      std::this_thread::sleep_for(1ms);
    }
  }

  engine::Tier tier_of(const std::string& name) {
    auto status = system->status(name);
    return status ? status->tier : engine::Tier::Interp;
  }

  airssys::wasm::test::TempDir tmp{"tier"};
  std::filesystem::path cache;
  std::shared_ptr<engine::Engine> interp;
  std::shared_ptr<engine::Engine> native;
  Transcript transcript;
  std::unique_ptr<security::AuditLog> audit;
  test::ComponentRuntimeHarness harness{test::Scheduling::ThreadPool};
  ComponentRuntime* system = nullptr;
};

TEST_F(TierTest, AComponentRunsOnTheNativeTier) {
  auto module = native->load_file(testing::component("sequence.wasm"));
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  auto s = spec("seq", *module);
  s.engine = native;
  ASSERT_TRUE(system->start(std::move(s)).has_value());
  ASSERT_TRUE(transcript.wait_line("seq ready")) << transcript.dump();
  EXPECT_EQ(tier_of("seq"), engine::Tier::Native);
  for (int i = 0; i < 100; ++i) send("seq", std::to_string(i));
  send("seq", "report");
  ASSERT_TRUE(transcript.wait_prefix("seq report received=100 gaps=0 sum=4950 last=99,98,97"))
      << transcript.dump();
}

TEST_F(TierTest, ComponentsOfOneModuleShareOneBuild) {
  const auto bytes = read_bytes(testing::component("sequence.wasm"));
  auto a = NativeBuild::start(native, bytes, "a.wasm");
  auto b = NativeBuild::start(native, bytes, "b.wasm");
  EXPECT_EQ(a, b);
  auto other = NativeBuild::start(native, read_bytes(testing::component("table_grower.wasm")),
                                  "c.wasm");
  EXPECT_NE(a, other);
  a->wait();
  other->wait();
  ASSERT_TRUE(a->result().has_value()) << a->result().error().to_string();
  EXPECT_EQ(native->stats().native_compiles + native->stats().cache_hits, 2u);
}

TEST_F(TierTest, TierUpMovesARunningComponentWithoutLosingOrReorderingAMessage) {
  const auto path = testing::component("sequence.wasm");
  auto module = interp->load_file(path);
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  auto s = spec("seq", *module);
  s.tier_up = NativeBuild::start(native, read_bytes(path), "sequence.wasm");
  auto build = s.tier_up;
  ASSERT_TRUE(system->start(std::move(s)).has_value());
  ASSERT_TRUE(transcript.wait_line("seq ready")) << transcript.dump();

  // A steady stream while the compiler runs; the switch happens somewhere in it.
  int sent = 0;
  int sent_before_native = -1;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 20; ++i) {
      auto delivered = system->send_from_host("seq", text(std::to_string(sent)));
      if (!delivered && delivered.error().code == ErrorCode::MailboxFull) break;  // push-back
      ASSERT_TRUE(delivered.has_value()) << delivered.error().to_string();
      ++sent;
    }
    if (tier_of("seq") == engine::Tier::Native) {
      if (sent_before_native < 0) sent_before_native = sent;
      if (sent >= sent_before_native + 200) break;
    }
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_TRUE(build->finished());
  ASSERT_TRUE(build->result().has_value()) << build->result().error().to_string();
  ASSERT_EQ(tier_of("seq"), engine::Tier::Native) << "no tier-up within two minutes";
  EXPECT_GT(sent_before_native, 0);

  send("seq", "report");
  const long long sum = static_cast<long long>(sent) * (sent - 1) / 2;
  const std::string expected = "seq report received=" + std::to_string(sent) +
                               " gaps=0 sum=" + std::to_string(sum) + " last=" +
                               std::to_string(sent - 1) + ",";
  ASSERT_TRUE(transcript.wait_prefix(expected, 30s)) << expected << "\n" << transcript.dump();

  auto records = tier_records("seq");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].result, AuditResult::Granted);
  EXPECT_EQ(records[0].resource, "native");
  // The report is printed inside its handler; the count follows the handler.
  const auto counted_by = std::chrono::steady_clock::now() + 10s;
  while (system->status("seq")->messages_handled < static_cast<uint64_t>(sent) + 1 &&
         std::chrono::steady_clock::now() < counted_by) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(system->status("seq")->messages_handled, static_cast<uint64_t>(sent) + 1);

  // A restart after the move starts on native code at once (with fresh state,
  // as any restart).
  send("seq", "trap");
  ASSERT_TRUE(transcript.wait_count("seq ready", 2, 30s)) << transcript.dump();
  EXPECT_EQ(tier_of("seq"), engine::Tier::Native);
  send("seq", "0");
  send("seq", "report");
  ASSERT_TRUE(transcript.wait_prefix("seq report received=1 gaps=0 sum=0 last=0,"))
      << transcript.dump();
}

// Starts `file` on the interpreter with a tier-up build of `build_bytes`,
// sends it messages, and returns the tier-up's audit record.
void TierTest::expect_stays(const std::string& name, const std::string& file,
                            std::vector<uint8_t> build_bytes, const std::string& why) {
  auto module = interp->load_file(testing::component(file.c_str()));
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  auto s = spec(name, *module);
  s.tier_up = NativeBuild::start(native, std::move(build_bytes), file);
  ASSERT_TRUE(system->start(std::move(s)).has_value());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(system->send_from_host(name, text("x")));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (tier_records(name).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  auto records = tier_records(name);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].result, AuditResult::Denied);
  EXPECT_NE(records[0].reason.find("stays on the interp tier"), std::string::npos)
      << records[0].reason;
  EXPECT_NE(records[0].reason.find(why), std::string::npos) << records[0].reason;
  EXPECT_EQ(tier_of(name), engine::Tier::Interp);
  // It keeps working where it is.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(system->send_from_host(name, text("x")));
  const auto handled_by = std::chrono::steady_clock::now() + 10s;
  while (system->status(name)->messages_handled < 10 &&
         std::chrono::steady_clock::now() < handled_by) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(system->status(name)->messages_handled, 10u);
  EXPECT_EQ(system->status(name)->state, ComponentState::Ready);
}

TEST_F(TierTest, AModuleWhoseStateCannotMoveStaysOnTheInterpreterOnRecord) {
  const auto path = testing::component("table_grower.wasm");
  expect_stays("grower", "table_grower.wasm", read_bytes(path), "changes its tables");
}

TEST_F(TierTest, AFailedNativeBuildLeavesTheComponentOnTheInterpreterOnRecord) {
  // Bytes that are no module: the build fails, the running component does not.
  expect_stays("grower", "table_grower.wasm", text("not a module"), "bad magic");
}

// --- Compile bounds and killed compiles, beside a bystander ----------------

namespace hostile = airssys::wasm::testing;

TEST_F(TierTest, ANativeComponentPastACompileBoundRunsOnTheInterpreterWithTheReason) {
  const auto bytes = read_bytes(testing::component("sequence.wasm"));
  engine::NativeOptions bounded;
  bounded.cache_dir = cache / "bounded";
  bounded.max_module_bytes = bytes.size() - 1;
  auto small = engine::Engine::native(bounded);
  ASSERT_TRUE(small.has_value()) << small.error().to_string();
  std::shared_ptr<engine::Engine> tight(std::move(*small));

  auto bystander = native->load_file(testing::component("sequence.wasm"));
  ASSERT_TRUE(bystander.has_value()) << bystander.error().to_string();
  auto b = spec("bystander", *bystander);
  b.engine = native;
  ASSERT_TRUE(system->start(std::move(b)).has_value());

  for (auto tier : {TierChoice::Native, TierChoice::Auto}) {
    const std::string name = tier == TierChoice::Native ? "big" : "bigauto";
    auto loaded = load_tiered(tier, bytes, name + ".wasm", interp, tight);
    ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
    EXPECT_EQ(loaded->engine, interp);
    if (tier == TierChoice::Native) {
      ASSERT_TRUE(loaded->native_refused.has_value());
      EXPECT_EQ(loaded->native_refused->code, ErrorCode::CompileLimit);
      EXPECT_NE(loaded->native_refused->message.find("max_module_size"), std::string::npos)
          << loaded->native_refused->message;
    } else {
      ASSERT_TRUE(loaded->tier_up);  // fails on the bound; the component stays, on record
    }
    auto s = spec(name, loaded->module);
    s.engine = loaded->engine;
    s.tier_up = loaded->tier_up;
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    ASSERT_TRUE(transcript.wait_line(name + " ready")) << transcript.dump();
    for (int i = 0; i < 10; ++i) send(name, std::to_string(i));
    send(name, "report");
    ASSERT_TRUE(transcript.wait_prefix(name + " report received=10 gaps=0"))
        << transcript.dump();
    EXPECT_EQ(tier_of(name), engine::Tier::Interp);
  }
  // The Auto build failed on the bound: on record, and the component stayed.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (tier_records("bigauto").empty() && std::chrono::steady_clock::now() < deadline) {
    send("bigauto", "report");
    std::this_thread::sleep_for(20ms);
  }
  auto records = tier_records("bigauto");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back().result, AuditResult::Denied);
  EXPECT_NE(records.back().reason.find("CompileLimit"), std::string::npos)
      << records.back().reason;
  EXPECT_EQ(tier_of("bigauto"), engine::Tier::Interp);
  EXPECT_EQ(tight->stats().native_compiles, 0u);
  ASSERT_TRUE(transcript.wait_line("bystander ready")) << transcript.dump();
  for (int i = 0; i < 10; ++i) send("bystander", std::to_string(i));
  send("bystander", "report");
  ASSERT_TRUE(transcript.wait_prefix("bystander report received=10 gaps=0"))
      << transcript.dump();
  EXPECT_EQ(tier_of("bystander"), engine::Tier::Native);
}

engine::NativeOptions slow_options(const std::filesystem::path& dir) {
  engine::NativeOptions options;
  options.cache_dir = dir;
  options.max_function_bytes = 1 << 20;  // lets a slow compile through
  return options;
}

TEST_F(TierTest, ABuildNothingWaitsForAnyMoreKillsItsCompile) {
  auto slow = engine::Engine::native(slow_options(cache / "slow"));
  ASSERT_TRUE(slow.has_value()) << slow.error().to_string();
  std::shared_ptr<engine::Engine> engine(std::move(*slow));
  auto build = NativeBuild::start(engine, hostile::straight_line_stores(20000), "slow.wasm");
  auto groups = hostile::wait_compiling(::getpid());
  ASSERT_FALSE(groups.empty()) << "no compiler started";
  const auto began = std::chrono::steady_clock::now();
  build.reset();  // the last reference
  EXPECT_LT(std::chrono::steady_clock::now() - began, 10s);
  EXPECT_TRUE(hostile::groups_gone(groups)) << "a compiler outlived its build";
}

TEST_F(TierTest, StoppingAComponentKillsTheCompileOfItsTierUp) {
  auto slow = engine::Engine::native(slow_options(cache / "slow"));
  ASSERT_TRUE(slow.has_value()) << slow.error().to_string();
  std::shared_ptr<engine::Engine> engine(std::move(*slow));
  auto bystander = interp->load_file(testing::component("sequence.wasm"));
  ASSERT_TRUE(bystander.has_value());
  ASSERT_TRUE(system->start(spec("bystander", *bystander)).has_value());

  const auto bytes = hostile::straight_line_stores(20001);
  auto loaded = load_tiered(TierChoice::Auto, bytes, "slow.wasm", interp, engine);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().to_string();
  auto s = spec("slow", loaded->module);
  s.engine = loaded->engine;
  s.tier_up = std::move(loaded->tier_up);
  loaded->module.reset();
  ASSERT_TRUE(system->start(std::move(s)).has_value());
  auto groups = hostile::wait_compiling(::getpid());
  ASSERT_FALSE(groups.empty()) << "no compiler started";
  ASSERT_TRUE(system->stop_component("slow", 10s).has_value());
  EXPECT_TRUE(hostile::groups_gone(groups)) << "a compiler outlived its component";
  ASSERT_TRUE(transcript.wait_line("bystander ready")) << transcript.dump();
  for (int i = 0; i < 10; ++i) send("bystander", std::to_string(i));
  send("bystander", "report");
  ASSERT_TRUE(transcript.wait_prefix("bystander report received=10 gaps=0"))
      << transcript.dump();
}

}  // namespace
}  // namespace airssys::wasm::component
