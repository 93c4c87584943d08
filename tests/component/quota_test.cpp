// The five quotas end to end: real components (tests/components/scripted.c
// and counter.c) exhaust each one on the thread-pool scheduler. Each case
// checks what the guest sees, what the audit log records, what the status
// reports, and that a crash does not reset a quota.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <thread>

#include "../storage/storage_test_support.hpp"
#include "../support/component_runtime.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/storage/kv.hpp"
#include "component_test_support.hpp"

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;
using security::AuditResult;
using security::DecisionLayer;
using security::Permission;
using security::QuotaKind;
using testing::component;
using testing::Transcript;

class QuotaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    scripted = engine->load_file(component("scripted.wasm")).value();
    counter = engine->load_file(component("counter.wasm")).value();
    audit = transcript.audit_log();
    store = storage::KeyValueStore::open({.data_dir = dir.path() / "data"}).value();
    start_system(2);
  }

  void TearDown() override {
    harness->stop();
    audit->flush();
  }

  // The quotas are measured in real CPU time, on real threads: the thread
  // pool, with `workers` workers.
  void start_system(size_t workers) {
    if (harness) harness->stop();
    harness = std::make_unique<test::ComponentRuntimeHarness>(test::Scheduling::ThreadPool, workers);
    ComponentRuntimeOptions options;
    options.engine = engine;
    options.audit = audit.get();
    options.kv = store.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    options.supervisor.intensity.max_restarts = 100;
    system = &harness->start_system(options);
  }

  ComponentSpec spec(const std::string& name, std::shared_ptr<const engine::Module> module,
                     security::ResourceQuota quotas,
                     std::vector<std::pair<Permission, std::string>> grants = {}) {
    security::PatternLists lists;
    for (auto& [permission, pattern] : grants) {
      lists[static_cast<size_t>(permission)].push_back(pattern);
    }
    lists[static_cast<size_t>(Permission::MsgReceive)].push_back("host");  // its commands
    ComponentSpec s;
    s.name = name;
    s.module = std::move(module);
    s.security = security::WasmSecurityContext::create(
                     name, security::CapabilitySet::build(lists).value(),
                     security::TrustLevel::Trusted, quotas)
                     .value();
    s.slice = 10'000;
    s.stdout_sink = [this, name](std::span<const uint8_t> b) { transcript.add(name, b); };
    s.stderr_sink = s.stdout_sink;
    return s;
  }

  void start(ComponentSpec s) {
    std::string name = s.name;
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    ASSERT_TRUE(transcript.wait_prefix(name + " init")) << transcript.dump();
  }

  void command(const std::string& target, const std::string& text) {
    ASSERT_TRUE(system->send_from_host(target, std::vector<uint8_t>(text.begin(), text.end())));
  }

  std::vector<security::AuditRecord> records(const std::string& component,
                                             const std::string& permission) {
    audit->flush();
    std::vector<security::AuditRecord> out;
    for (const auto& r : transcript.records()) {
      if (r.component == component && r.permission == permission) out.push_back(r);
    }
    return out;
  }

  security::QuotaUsage usage(const std::string& name, QuotaKind kind) {
    return system->status(name)->quotas[static_cast<size_t>(kind)];
  }

  // Runs the components on a scheduler with a single worker: whatever the
  // neighbour does while the hog spins, it does because the hog gave the
  // worker up, however slow the machine is.
  void use_one_worker() { start_system(1); }

  // Starts `hog` and a neighbour on one worker, sets the hog spinning, and
  // checks that the neighbour answers `probes` messages meanwhile, and that
  // the hog is throttled. Returns the time from the start of the spin to the
  // last answer.
  std::chrono::steady_clock::duration run_hog(ComponentSpec hog, int probes) {
    use_one_worker();
    start(std::move(hog));
    start(spec("neighbour", scripted, {}));
    const auto begin = std::chrono::steady_clock::now();
    command("hog", "spin");
    EXPECT_TRUE(transcript.wait_line("hog spinning", 60s)) << transcript.dump();
    for (int i = 0; i < probes; ++i) {
      command("neighbour", "whoami");
      EXPECT_TRUE(transcript.wait_count("neighbour whoami neighbour small=-8",
                                        static_cast<size_t>(i + 1), 60s))
          << transcript.dump();
    }
    // Throttled means it used up its share of a window: enough CPU time was
    // charged, however little the loaded machine gave it.
    EXPECT_TRUE(wait_until([&] { return system->status("hog")->throttled > 0; }));
    return std::chrono::steady_clock::now() - begin;
  }

  static bool wait_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }

  // The CPU time of this whole process (every thread), in microseconds.
  static int64_t process_cpu_us() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
  }

  // Sets `hog` (quota: 50 ms of CPU per second) spinning and measures the
  // CPU time the whole process really used over 3 s while it spins: the hog
  // is the only busy thing in it. Within the quota: at most 50 ms for each
  // quota window the span touched, plus 50 ms for the scheduler, the audit
  // writer and the last step of each window. A loaded machine can only give
  // the hog less.
  void expect_real_cpu_within_quota(ComponentSpec hog) {
    start(std::move(hog));
    command("hog", "spin");
    ASSERT_TRUE(transcript.wait_line("hog spinning", 60s)) << transcript.dump();
    const int64_t window_before = security::quota_clock_now() / 1'000'000'000;
    const int64_t cpu_before = process_cpu_us();
    const uint64_t charged_before = system->status("hog")->cpu_time_us;
    std::this_thread::sleep_for(3s);  // the span measured, not a wait for an event
    const int64_t cpu_used = process_cpu_us() - cpu_before;
    const uint64_t charged = system->status("hog")->cpu_time_us - charged_before;
    const int64_t windows = security::quota_clock_now() / 1'000'000'000 - window_before + 1;
    EXPECT_LE(cpu_used, windows * 50'000 + 50'000)
        << "process CPU " << cpu_used << " us over " << windows << " quota windows; charged "
        << charged << " us";
    EXPECT_LE(charged, static_cast<uint64_t>(windows) * 52'000);
    EXPECT_NE(system->status("hog")->state, ComponentState::Failed);
  }

  // Waits until the current 1-second quota window has at least 600 ms left,
  // so a short sequence of steps happens inside one window.
  static void align_to_window() {
    while (security::quota_clock_now() % 1'000'000'000 > 300'000'000) {
      std::this_thread::sleep_for(5ms);
    }
  }

  storage::test::TempDir dir;
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> scripted;
  std::shared_ptr<const engine::Module> counter;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<storage::KeyValueStore> store;
  Transcript transcript;
  std::unique_ptr<test::ComponentRuntimeHarness> harness;
  ComponentRuntime* system = nullptr;
};

TEST_F(QuotaTest, MemoryGrowthPastTheQuotaFailsAtTheGuestAndIsAudited) {
  security::ResourceQuota quotas;
  quotas.memory_bytes = 4 * MiB;
  start(spec("hog", scripted, quotas));
  command("hog", "grow 64");
  ASSERT_TRUE(transcript.wait_prefix("hog grow ")) << transcript.dump();
  // malloc returned NULL once memory.grow said -1: the component carries on.
  long kib = 0;
  int refused = 0;
  unsigned long pages = 0;
  ASSERT_EQ(std::sscanf(transcript.find_prefix("hog grow ")->c_str(),
                        "hog grow kib=%ld refused=%d pages=%lu", &kib, &refused, &pages),
            3);
  EXPECT_EQ(refused, 1) << *transcript.find_prefix("hog grow ");
  EXPECT_GT(kib, 2048);
  EXPECT_LE(pages * 64 * KiB, 4 * MiB);
  command("hog", "whoami");
  EXPECT_TRUE(transcript.wait_prefix("hog whoami hog")) << transcript.dump();

  auto denied = records("hog", "memory.grow");
  ASSERT_FALSE(denied.empty());
  EXPECT_EQ(denied[0].result, AuditResult::Denied);
  EXPECT_EQ(denied[0].layer, DecisionLayer::Quota);
  EXPECT_NE(denied[0].reason.find("memory quota exceeded"), std::string::npos) << denied[0].reason;
  EXPECT_NE(denied[0].reason.find("limit 4194304"), std::string::npos) << denied[0].reason;

  auto memory = usage("hog", QuotaKind::Memory);
  EXPECT_EQ(memory.used, pages * 64 * KiB);
  EXPECT_EQ(memory.limit, 4 * MiB);
  EXPECT_EQ(memory.level, security::QuotaLevel::Critical);
  // Each crossing once: warning, then critical.
  auto crossings = records("hog", "quota.memory");
  ASSERT_EQ(crossings.size(), 2u);
  EXPECT_EQ(crossings[0].resource, "warning");
  EXPECT_EQ(crossings[1].resource, "critical");
  EXPECT_EQ(system->status("hog")->restarts, 0u);
}

TEST_F(QuotaTest, AMessageFloodIsRefusedWithTheNumbers) {
  security::ResourceQuota quotas;
  quotas.messages_per_second = 20;
  start(spec("flooder", scripted, quotas, {{Permission::MsgSend, "sink"}}));
  start(spec("sink", scripted, {}, {{Permission::MsgReceive, "flooder"}}));
  align_to_window();
  command("flooder", "flood sink 50");
  ASSERT_TRUE(transcript.wait_prefix("flooder flood ")) << transcript.dump();
  EXPECT_EQ(*transcript.find_prefix("flooder flood "),
            "flooder flood ok=20 quota=30 full=0 other=0");
  auto refused = records("flooder", "messaging.send");
  size_t denied = 0;
  for (const auto& r : refused) {
    if (r.result != AuditResult::Denied) continue;
    ++denied;
    EXPECT_EQ(r.layer, DecisionLayer::Quota);
    EXPECT_EQ(r.reason, "message_rate quota exceeded: 20 messages/s used, 1 requested, limit 20");
  }
  EXPECT_EQ(denied, 30u);
  EXPECT_EQ(records("flooder", "quota.message_rate").size(), 2u);  // warning, critical
}

TEST_F(QuotaTest, AStorageFloodIsRefusedBeforeAnyWriteAndDeletesReleaseBytes) {
  security::ResourceQuota quotas;
  quotas.storage_bytes = 2000;
  start(spec("filler", counter, quotas,
             {{Permission::StorageWrite, "*"}, {Permission::StorageDelete, "*"},
              {Permission::StorageRead, "*"}}));
  command("filler", "flood f 100 90");
  ASSERT_TRUE(transcript.wait_prefix("filler flood ")) << transcript.dump();
  int ok = 0, quota = 0, other = 0;
  long long used = 0;
  ASSERT_EQ(std::sscanf(transcript.find_prefix("filler flood ")->c_str(),
                        "filler flood ok=%d quota=%d other=%d usage=%lld", &ok, &quota, &other,
                        &used),
            4);
  EXPECT_EQ(other, 0);
  EXPECT_GT(quota, 0);
  EXPECT_LE(used, 2000);
  EXPECT_EQ(static_cast<uint64_t>(used), store->usage("filler").value());
  EXPECT_EQ(usage("filler", QuotaKind::Storage).used, static_cast<uint64_t>(used));
  auto writes = records("filler", "storage.write");
  auto first_denied = std::find_if(writes.begin(), writes.end(),
                                   [](const auto& r) { return r.result == AuditResult::Denied; });
  ASSERT_NE(first_denied, writes.end());
  EXPECT_EQ(first_denied->layer, DecisionLayer::Quota);
  EXPECT_NE(first_denied->reason.find("storage quota exceeded"), std::string::npos)
      << first_denied->reason;
  EXPECT_NE(first_denied->reason.find("limit 2000"), std::string::npos) << first_denied->reason;
  EXPECT_EQ(records("filler", "quota.storage").size(), 2u);

  command("filler", "del f:0");
  ASSERT_TRUE(transcript.wait_line("filler del f:0 = 1")) << transcript.dump();
  EXPECT_EQ(usage("filler", QuotaKind::Storage).used, store->usage("filler").value());
  EXPECT_LT(usage("filler", QuotaKind::Storage).used, static_cast<uint64_t>(used));
}

// A component over its CPU time is held back until the next window, not
// stopped: its neighbour stays responsive and its own work still completes.
TEST_F(QuotaTest, ACpuHogIsThrottledToItsShareWhileANeighbourStaysResponsive) {
  security::ResourceQuota hog_quotas;
  // Small enough that even a thread a loaded machine starves uses it up.
  hog_quotas.cpu_ms_per_second = 5;
  const auto elapsed = run_hog(spec("hog", scripted, hog_quotas), 10);
  auto status = system->status("hog");
  ASSERT_TRUE(status);
  EXPECT_GT(status->throttled, 0u);
  EXPECT_EQ(status->restarts, 0u);
  EXPECT_NE(status->state, ComponentState::Failed);
  // Its share and no more: at most 5 ms per started second, plus a step or
  // two of overshoot per window, plus its start.
  const auto windows =
      std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() + 2;
  EXPECT_LE(status->cpu_time_us, static_cast<uint64_t>(windows) * 7'000 + 20'000)
      << "cpu_time_us=" << status->cpu_time_us << " over " << windows << " windows";
  EXPECT_GE(status->cpu_time_us, 5'000u);
  auto throttles = records("hog", "cpu.time");
  ASSERT_FALSE(throttles.empty());
  EXPECT_EQ(throttles[0].result, AuditResult::Denied);
  EXPECT_EQ(throttles[0].layer, DecisionLayer::Quota);
  EXPECT_NE(throttles[0].reason.find("limit 5000 us"), std::string::npos) << throttles[0].reason;
  // Throttling is audited at most once per window.
  EXPECT_LE(throttles.size(), static_cast<size_t>(windows));
  EXPECT_TRUE(records("neighbour", "cpu.time").empty());
}

// The same on the native tier: the hog is held to its share there too.
TEST_F(QuotaTest, ANativeCpuHogIsThrottledToItsShareToo) {
  engine::NativeOptions native_options;
  native_options.cache_dir = dir.path() / "native";
  auto native = std::shared_ptr<engine::Engine>(engine::Engine::native(native_options).value());
  security::ResourceQuota hog_quotas;
  hog_quotas.cpu_ms_per_second = 5;
  auto s = spec("hog", native->load_file(component("scripted.wasm")).value(), hog_quotas);
  s.engine = native;
  const auto elapsed = run_hog(std::move(s), 6);
  ASSERT_EQ(system->status("hog")->tier, engine::Tier::Native);
  auto status = system->status("hog");
  ASSERT_TRUE(status);
  EXPECT_GT(status->throttled, 0u);
  EXPECT_NE(status->state, ComponentState::Failed);
  const auto windows =
      std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() + 2;
  EXPECT_LE(status->cpu_time_us, static_cast<uint64_t>(windows) * 7'000 + 20'000)
      << "cpu_time_us=" << status->cpu_time_us << " over " << windows << " windows";
  EXPECT_GE(status->cpu_time_us, 5'000u);
}

// The CPU-time quota charges the CPU time the component's steps really took
// (the worker thread's CPU clock), not fuel converted at a calibration that
// guest code need not match: a spinning hog holds the whole process to its
// quota in real CPU time, on each tier.
TEST_F(QuotaTest, ACpuHogStaysWithinItsQuotaInRealCpuTime) {
  security::ResourceQuota hog_quotas;
  hog_quotas.cpu_ms_per_second = 50;
  expect_real_cpu_within_quota(spec("hog", scripted, hog_quotas));
}

TEST_F(QuotaTest, ANativeCpuHogStaysWithinItsQuotaInRealCpuTime) {
  engine::NativeOptions native_options;
  native_options.cache_dir = dir.path() / "native";
  auto native = std::shared_ptr<engine::Engine>(engine::Engine::native(native_options).value());
  security::ResourceQuota hog_quotas;
  hog_quotas.cpu_ms_per_second = 50;
  auto s = spec("hog", native->load_file(component("scripted.wasm")).value(), hog_quotas);
  s.engine = native;
  expect_real_cpu_within_quota(std::move(s));
  EXPECT_EQ(system->status("hog")->tier, engine::Tier::Native);
}

TEST_F(QuotaTest, AThrottledComponentStillFinishesItsWorkAndHandlesItsMessagesInOrder) {
  security::ResourceQuota quotas;
  // 5 ms per second, and work for some 30 ms: throttled in some window
  // unless the machine gives the worker less than 5 ms of a second.
  quotas.cpu_ms_per_second = 5;
  start(spec("worker", scripted, quotas));
  command("worker", "burnk 100");
  command("worker", "whoami");
  ASSERT_TRUE(transcript.wait_line("worker burned 100 (0)", 120s)) << transcript.dump();
  ASSERT_TRUE(transcript.wait_line("worker whoami worker small=-8", 60s)) << transcript.dump();
  EXPECT_GT(system->status("worker")->throttled, 0u);
  auto dump = transcript.dump();
  EXPECT_LT(dump.find("worker burned 100 (0)"), dump.find("worker whoami worker"));
}

TEST_F(QuotaTest, TheFuelLimitPerMessageStillEndsARunawayHandler) {
  auto s = spec("runaway", scripted, {});
  s.fuel_per_message = 2'000'000;
  s.restart = actor::RestartPolicy::Temporary;
  start(std::move(s));
  command("runaway", "spin");
  for (int i = 0; i < 500 && system->status("runaway")->state != ComponentState::Failed; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto status = system->status("runaway");
  EXPECT_EQ(status->state, ComponentState::Failed);
  ASSERT_TRUE(status->last_error);
  EXPECT_EQ(status->last_error->code, ErrorCode::TrapOutOfFuel);
}

// A crash opens no fresh window: the rate used before the trap still counts
// after the restart.
TEST_F(QuotaTest, QuotasSurviveARestart) {
  security::ResourceQuota quotas;
  quotas.messages_per_second = 10;
  start(spec("crasher", scripted, quotas, {{Permission::MsgSend, "sink"}}));
  start(spec("sink", scripted, {}, {{Permission::MsgReceive, "crasher"}}));
  for (int attempt = 0; attempt < 3; ++attempt) {
    align_to_window();
    const int64_t window = security::quota_clock_now() / 1'000'000'000;
    const size_t floods = transcript.count_prefix("crasher flood ");
    const size_t inits = transcript.count_prefix("crasher init");
    command("crasher", "flood sink 8");
    ASSERT_TRUE(transcript.wait_count("crasher flood ", floods + 1)) << transcript.dump();
    command("crasher", "trap");
    ASSERT_TRUE(transcript.wait_count("crasher init", inits + 1)) << transcript.dump();
    command("crasher", "flood sink 8");
    ASSERT_TRUE(transcript.wait_count("crasher flood ", floods + 2)) << transcript.dump();
    if (security::quota_clock_now() / 1'000'000'000 != window) continue;  // a slow machine
    auto all = transcript.with_prefix("crasher flood ");
    EXPECT_EQ(all[floods], "crasher flood ok=8 quota=0 full=0 other=0");
    EXPECT_EQ(all[floods + 1], "crasher flood ok=2 quota=6 full=0 other=0");
    EXPECT_GE(system->status("crasher")->restarts, 1u);
    return;
  }
  FAIL() << "no attempt fit in one quota window";
}

// Storage is counted from what the store holds, not from what the instance
// remembers: a component that fills its quota and crashes comes back full.
TEST_F(QuotaTest, AStorageQuotaSurvivesACrash) {
  security::ResourceQuota quotas;
  quotas.storage_bytes = 1000;
  start(spec("hoarder", counter, quotas,
             {{Permission::StorageWrite, "*"}, {Permission::StorageRead, "*"}}));
  command("hoarder", "flood a 40 90");
  ASSERT_TRUE(transcript.wait_prefix("hoarder flood ")) << transcript.dump();
  const uint64_t held = store->usage("hoarder").value();
  EXPECT_LE(held, 1000u);
  EXPECT_GT(held, 800u);

  const size_t inits = transcript.count_prefix("hoarder init");
  command("hoarder", "trap");
  ASSERT_TRUE(transcript.wait_count("hoarder init", inits + 1)) << transcript.dump();
  EXPECT_GE(system->status("hoarder")->restarts, 1u);
  EXPECT_EQ(usage("hoarder", QuotaKind::Storage).used, held);

  const size_t denied_before = records("hoarder", "storage.write").size();
  command("hoarder", "flood b 5 90");
  ASSERT_TRUE(transcript.wait_count("hoarder flood ", 2)) << transcript.dump();
  auto floods = transcript.with_prefix("hoarder flood ");
  EXPECT_EQ(floods[1], fmt::format("hoarder flood ok=0 quota=5 other=0 usage={}", held));
  EXPECT_EQ(store->usage("hoarder").value(), held);
  auto writes = records("hoarder", "storage.write");
  ASSERT_EQ(writes.size(), denied_before + 5);
  for (size_t i = denied_before; i < writes.size(); ++i) {
    EXPECT_EQ(writes[i].result, AuditResult::Denied);
    EXPECT_EQ(writes[i].layer, DecisionLayer::Quota);
    EXPECT_NE(writes[i].reason.find("limit 1000"), std::string::npos) << writes[i].reason;
  }
}

TEST_F(QuotaTest, StatusReportsEveryQuota) {
  security::ResourceQuota quotas;
  quotas.memory_bytes = 8 * MiB;
  quotas.cpu_ms_per_second = 250;
  start(spec("idle", scripted, quotas));
  auto status = system->status("idle");
  ASSERT_TRUE(status);
  for (QuotaKind kind : security::kQuotaKinds) {
    const auto& q = status->quotas[static_cast<size_t>(kind)];
    EXPECT_EQ(q.quota, kind);
    EXPECT_EQ(q.limit, quotas.limit(kind)) << security::quota_name(kind);
    EXPECT_EQ(q.available, q.limit - q.used);
  }
  EXPECT_GT(status->quotas[static_cast<size_t>(QuotaKind::Memory)].used, 0u);
  EXPECT_EQ(status->quotas[static_cast<size_t>(QuotaKind::CpuTime)].limit, 250'000u);
}

}  // namespace
}  // namespace airssys::wasm::component
