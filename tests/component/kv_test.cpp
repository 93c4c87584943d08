// Key-value state end to end: real counter components (tests/components/
// counter.c) on the thread-pool scheduler, with a real store in a temporary
// data directory. Everything is observed through what the components print,
// what the audit log records and what the store holds.
#include "airssys/wasm/storage/kv.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "../support/component_runtime.hpp"
#include "../storage/storage_test_support.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "component_test_support.hpp"

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;
using security::AuditResult;
using security::DecisionLayer;
using security::Permission;


struct StorageGrants {
  std::vector<std::string> read = {};
  std::vector<std::string> write = {};
  std::vector<std::string> remove = {};
};

class KeyValueSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    module = engine->load_file(std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / "counter.wasm")
                 .value();
    audit = lines.audit_log();
    open_store();
    start_host();
  }

  void TearDown() override {
    stop_host();
    audit->flush();
  }

  void open_store() {
    auto s = storage::KeyValueStore::open({.data_dir = dir.path() / "data"});
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    store = std::move(*s);
  }

  void start_host(bool with_store = true) {
    harness = std::make_unique<test::ComponentRuntimeHarness>(test::Scheduling::ThreadPool);
    ComponentRuntimeOptions options;
    options.engine = engine;
    options.audit = audit.get();
    options.policy = policy.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    options.kv = with_store ? store.get() : nullptr;
    system = &harness->start_system(options);
  }

  void stop_host() {
    if (!harness) return;
    harness->stop();
    harness.reset();
    system = nullptr;
  }

  // Everything the host holds goes away, and comes back from the data directory.
  void restart_host() {
    stop_host();
    store.reset();
    open_store();
    start_host();
  }

  ComponentSpec spec(const std::string& name, const StorageGrants& grants,
                     security::QuotaLimits quotas = {}) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::StorageRead)] = grants.read;
    lists[static_cast<size_t>(Permission::StorageWrite)] = grants.write;
    lists[static_cast<size_t>(Permission::StorageDelete)] = grants.remove;
    lists[static_cast<size_t>(Permission::MsgReceive)] = {"host"};  // its commands
    ComponentSpec s;
    s.name = name;
    s.module = module;
    s.security =
        security::WasmSecurityContext::create(name, security::CapabilitySet::build(lists).value(),
                                              security::TrustLevel::Trusted, quotas)
            .value();
    s.slice = 10'000;
    s.stdout_sink = [this, name](std::span<const uint8_t> b) { lines.add(name, b); };
    s.stderr_sink = s.stdout_sink;
    return s;
  }

  void start(ComponentSpec s) {
    const std::string name = s.name;
    const size_t inits = lines.with_prefix(name + " init ").size();
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    ASSERT_TRUE(lines.wait_count(name + " init ", inits + 1)) << lines.dump();
  }

  void command(const std::string& target, const std::string& text) {
    ASSERT_TRUE(system->send_from_host(target, std::vector<uint8_t>(text.begin(), text.end())));
  }

  std::vector<security::AuditRecord> audit_records(const std::string& component,
                                                   const std::string& permission,
                                                   AuditResult result) {
    audit->flush();
    std::vector<security::AuditRecord> out;
    for (const auto& r : lines.records()) {
      if (r.component == component && r.permission == permission && r.result == result) {
        out.push_back(r);
      }
    }
    return out;
  }

  bool audited(const std::string& component, const std::string& permission, AuditResult result,
               const std::string& resource) {
    for (const auto& r : audit_records(component, permission, result)) {
      if (r.resource == resource) return true;
    }
    return false;
  }

  storage::test::TempDir dir;
  testing::Transcript lines;  // what the components print, and the audit records
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> module;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<security::PolicySlot> policy;
  std::unique_ptr<storage::KeyValueStore> store;
  std::unique_ptr<test::ComponentRuntimeHarness> harness;
  ComponentRuntime* system = nullptr;
};

const StorageGrants kCounterGrants{.read = {"counter:*"}, .write = {"counter:*"}};

TEST_F(KeyValueSystemTest, TheCounterCountsEveryMessage) {
  start(spec("alpha", kCounterGrants));
  ASSERT_TRUE(lines.wait_line("alpha init count=0")) << lines.dump();
  for (int i = 0; i < 5; ++i) command("alpha", "tick");
  ASSERT_TRUE(lines.wait_line("alpha tick = 5")) << lines.dump();
  auto value = store->get("alpha", "counter:value").value();
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(std::string(value->begin(), value->end()), "5");
}

TEST_F(KeyValueSystemTest, TheCounterKeepsItsValueAcrossARestartOfTheComponent) {
  start(spec("alpha", kCounterGrants));
  for (int i = 0; i < 3; ++i) command("alpha", "tick");
  ASSERT_TRUE(lines.wait_line("alpha tick = 3")) << lines.dump();
  command("alpha", "trap");
  ASSERT_TRUE(lines.wait_line("alpha trapping"));
  ASSERT_TRUE(lines.wait_line("alpha init count=3")) << lines.dump();
  EXPECT_TRUE(harness->run_until([&] { return system->status("alpha")->restarts > 0; }));
  EXPECT_EQ(system->status("alpha")->restarts, 1u);
  command("alpha", "tick");
  EXPECT_TRUE(lines.wait_line("alpha tick = 4")) << lines.dump();
}

TEST_F(KeyValueSystemTest, TheCounterAndTheUsageSurviveARestartOfTheHost) {
  start(spec("alpha", kCounterGrants));
  for (int i = 0; i < 12; ++i) command("alpha", "tick");
  command("alpha", "set counter:note remember-me");
  command("alpha", "usage");
  ASSERT_TRUE(lines.wait_count("alpha usage = ", 1)) << lines.dump();
  const std::string usage_before = lines.with_prefix("alpha usage = ").back();
  EXPECT_EQ(usage_before, "alpha usage = " + std::to_string(13 + 2 + 12 + 11));

  restart_host();
  start(spec("alpha", kCounterGrants));
  ASSERT_TRUE(lines.wait_line("alpha init count=12")) << lines.dump();
  command("alpha", "usage");
  ASSERT_TRUE(lines.wait_count("alpha usage = ", 2)) << lines.dump();
  EXPECT_EQ(lines.with_prefix("alpha usage = ").back(), usage_before);
  command("alpha", "get counter:note");
  command("alpha", "tick");
  EXPECT_TRUE(lines.wait_line("alpha get counter:note = remember-me")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha tick = 13")) << lines.dump();
}

TEST_F(KeyValueSystemTest, GrantsAreEnforcedAndAudited) {
  start(spec("alpha", {.read = {"counter:*", "public:*"}, .write = {"counter:*"}}));
  command("alpha", "tick");
  command("alpha", "set secret:plan x");
  command("alpha", "get secret:plan");
  command("alpha", "exists secret:plan");
  command("alpha", "del counter:value");
  command("alpha", "exists counter:value");
  ASSERT_TRUE(lines.wait_line("alpha exists counter:value = 1")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha tick = 1"));
  EXPECT_TRUE(lines.wait_line("alpha set secret:plan = -1")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha get secret:plan error -1")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha exists secret:plan = -1")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha del counter:value = -1")) << lines.dump();
  EXPECT_FALSE(store->exists("alpha", "secret:plan").value());

  EXPECT_TRUE(audited("alpha", "storage.write", AuditResult::Granted, "counter:value"));
  EXPECT_TRUE(audited("alpha", "storage.read", AuditResult::Granted, "counter:value"));
  EXPECT_TRUE(audited("alpha", "storage.write", AuditResult::Denied, "secret:plan"));
  EXPECT_TRUE(audited("alpha", "storage.read", AuditResult::Denied, "secret:plan"));
  EXPECT_TRUE(audited("alpha", "storage.delete", AuditResult::Denied, "counter:value"));
}

TEST_F(KeyValueSystemTest, SetGetDeleteExistsAndAGetIntoASmallBuffer) {
  start(spec("alpha", {.read = {"*"}, .write = {"*"}, .remove = {"*"}}));
  command("alpha", "set greeting hello-world");
  command("alpha", "get greeting");
  command("alpha", "getsmall greeting");
  command("alpha", "get missing");
  command("alpha", "exists greeting");
  command("alpha", "del greeting");
  command("alpha", "del greeting");
  command("alpha", "exists greeting");
  command("alpha", "usage");
  ASSERT_TRUE(lines.wait_line("alpha usage = 0")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha set greeting = 0"));
  EXPECT_TRUE(lines.wait_line("alpha get greeting = hello-world"));
  EXPECT_TRUE(lines.wait_line("alpha getsmall greeting = -8 len=11")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha get missing error -4"));
  EXPECT_TRUE(lines.wait_line("alpha exists greeting = 1"));
  EXPECT_TRUE(lines.wait_line("alpha del greeting = 1"));
  EXPECT_TRUE(lines.wait_line("alpha del greeting = 0"));
  EXPECT_TRUE(lines.wait_line("alpha exists greeting = 0"));
}

TEST_F(KeyValueSystemTest, MalformedKeysAreInvalid) {
  start(spec("alpha", {.read = {"*"}, .write = {"*"}}));
  command("alpha", "set a::b x");
  command("alpha", "set :a x");
  command("alpha", "set a: x");
  command("alpha", "set a:* x");
  command("alpha", "set " + std::string(storage::kMaxKeyBytes + 1, 'k') + " x");
  command("alpha", "set " + std::string(storage::kMaxKeyBytes, 'k') + " x");
  ASSERT_TRUE(lines.wait_line("alpha set " + std::string(storage::kMaxKeyBytes, 'k') + " = 0"))
      << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha set a::b = -6"));
  EXPECT_TRUE(lines.wait_line("alpha set :a = -6"));
  EXPECT_TRUE(lines.wait_line("alpha set a: = -6"));
  EXPECT_TRUE(lines.wait_line("alpha set a:* = -6"));
  EXPECT_TRUE(
      lines.wait_line("alpha set " + std::string(storage::kMaxKeyBytes + 1, 'k') + " = -6"));
}

TEST_F(KeyValueSystemTest, NoComponentReachesAnotherComponentsKeys) {
  const StorageGrants everything{.read = {"*"}, .write = {"*"}, .remove = {"*"}};
  start(spec("alpha", everything));
  start(spec("beta", everything));
  command("beta", "set counter:value beta-secret-77");
  ASSERT_TRUE(lines.wait_line("beta set counter:value = 0")) << lines.dump();

  command("alpha", "peek");
  ASSERT_TRUE(lines.wait_count("alpha peek ", 8)) << lines.dump();
  for (const auto& line : lines.with_prefix("alpha peek ")) {
    EXPECT_EQ(line.find("beta-secret"), std::string::npos) << line;
    EXPECT_NE(line.find(" error "), std::string::npos) << line;
  }
  // Keys that spell another namespace are just keys of the caller, or invalid.
  EXPECT_TRUE(lines.wait_line("alpha peek 0 error -4"));  // beta:counter:value
  EXPECT_TRUE(lines.wait_line("alpha peek 3 error -6"));  // embedded NUL
  EXPECT_TRUE(lines.wait_line("alpha peek 5 error -6"));  // *
  EXPECT_TRUE(lines.wait_line("alpha peek 7 error -6"));  // embedded NUL

  command("alpha", "list");
  command("alpha", "set beta:counter:value overwritten");
  command("alpha", "del counter:value");
  command("alpha", "usage");
  ASSERT_TRUE(lines.wait_count("alpha usage = ", 1)) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha list  = ")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha del counter:value = 0"));
  command("beta", "get counter:value");
  command("beta", "list");
  EXPECT_TRUE(lines.wait_line("beta get counter:value = beta-secret-77")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("beta list  = counter:value")) << lines.dump();
  auto beta = store->get("beta", "counter:value").value();
  ASSERT_TRUE(beta.has_value());
  EXPECT_EQ(std::string(beta->begin(), beta->end()), "beta-secret-77");
  EXPECT_TRUE(store->exists("alpha", "beta:counter:value").value());
}

TEST_F(KeyValueSystemTest, AStorageFloodStopsAtTheQuota) {
  security::QuotaLimits quotas;
  quotas.storage_bytes = 4096;
  start(spec("alpha", {.read = {"*"}, .write = {"*"}, .remove = {"*"}}, quotas));
  command("alpha", "flood flood 100 100");
  ASSERT_TRUE(lines.wait_count("alpha flood ", 1)) << lines.dump();
  const std::string line = lines.with_prefix("alpha flood ").back();
  int ok = 0, quota = 0, other = 0;
  long long usage = 0;
  ASSERT_EQ(std::sscanf(line.c_str(), "alpha flood ok=%d quota=%d other=%d usage=%lld", &ok, &quota,
                        &other, &usage),
            4)
      << line;
  // flood:0..9 take 107 bytes each, flood:10..99 108: 10 * 107 + 28 * 108 = 4094.
  EXPECT_EQ(ok, 38);
  EXPECT_EQ(quota, 62);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(usage, 4094);
  EXPECT_EQ(store->usage("alpha").value(), 4094u);
  EXPECT_FALSE(store->exists("alpha", "flood:38").value());

  auto denied = audit_records("alpha", "storage.write", AuditResult::Denied);
  ASSERT_EQ(denied.size(), 62u);
  EXPECT_EQ(denied.front().layer, DecisionLayer::Quota);
  EXPECT_EQ(denied.front().resource, "flood:38");
  EXPECT_NE(denied.front().reason.find("4096"), std::string::npos) << denied.front().reason;

  // A delete releases its bytes; the quota also holds after a host restart.
  command("alpha", "del flood:0");
  command("alpha", "set flood:new " + std::string(90, 'n'));
  command("alpha", "set flood:more x");
  ASSERT_TRUE(lines.wait_count("alpha set flood:more = ", 1)) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha del flood:0 = 1"));
  EXPECT_TRUE(lines.wait_line("alpha set flood:new = 0")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha set flood:more = -2")) << lines.dump();
  const uint64_t held = store->usage("alpha").value();
  EXPECT_EQ(held, 4094u - 107 + 99);

  restart_host();
  start(spec("alpha", {.read = {"*"}, .write = {"*"}, .remove = {"*"}}, quotas));
  command("alpha", "usage");
  command("alpha", "set flood:more x");
  ASSERT_TRUE(lines.wait_count("alpha set flood:more = ", 2)) << lines.dump();
  EXPECT_EQ(lines.with_prefix("alpha set flood:more = ").back(), "alpha set flood:more = -2");
  EXPECT_TRUE(lines.wait_line("alpha usage = " + std::to_string(held))) << lines.dump();
}

// A quota lowered under what the namespace holds: every write that grows the
// usage is refused, and a write that shrinks a value (or keeps its size)
// still passes, so the component can bring itself back under the quota.
TEST_F(KeyValueSystemTest, AShrinkingWritePassesOverALoweredQuota) {
  const StorageGrants all{.read = {"*"}, .write = {"*"}, .remove = {"*"}};
  start(spec("alpha", all));
  command("alpha", "set big:a " + std::string(600, 'a'));
  command("alpha", "set big:b " + std::string(246, 'b'));
  ASSERT_TRUE(lines.wait_line("alpha set big:b = 0")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha set big:a = 0")) << lines.dump();
  ASSERT_EQ(store->usage("alpha").value(), 856u);

  restart_host();
  security::QuotaLimits lowered;
  lowered.storage_bytes = 512;
  start(spec("alpha", all, lowered));
  // In this order, each while the namespace holds 856 bytes.
  command("alpha", "set big:c x");                         // grows: refused
  command("alpha", "set big:b " + std::string(246, 'c'));  // the same size
  command("alpha", "set big:a " + std::string(100, 'a'));  // 605 -> 105 bytes
  ASSERT_TRUE(lines.wait_line("alpha set big:c = -2")) << lines.dump();
  // Each key's second write, after the restart.
  ASSERT_TRUE(lines.wait_count("alpha set big:a = ", 2)) << lines.dump();
  ASSERT_TRUE(lines.wait_count("alpha set big:b = ", 2)) << lines.dump();
  EXPECT_EQ(lines.with_prefix("alpha set big:a = ").back(), "alpha set big:a = 0");
  EXPECT_EQ(lines.with_prefix("alpha set big:b = ").back(), "alpha set big:b = 0");
  EXPECT_EQ(store->usage("alpha").value(), 856u - 500u);
  EXPECT_EQ(store->get("alpha", "big:a").value(), std::optional(std::vector<uint8_t>(100, 'a')));
  auto denied = audit_records("alpha", "storage.write", AuditResult::Denied);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_EQ(denied[0].resource, "big:c");
  EXPECT_TRUE(audited("alpha", "storage.write", AuditResult::Granted, "big:a"));
}

TEST_F(KeyValueSystemTest, AValueOverTheMaximumIsTooLarge) {
  start(spec("alpha", {.read = {"*"}, .write = {"*"}}));
  command("alpha", "flood big 1 " + std::to_string(storage::kMaxValueBytes + 1));
  command("alpha", "flood max 1 " + std::to_string(storage::kMaxValueBytes));
  ASSERT_TRUE(lines.wait_count("alpha flood ", 2)) << lines.dump();
  auto floods = lines.with_prefix("alpha flood ");
  EXPECT_EQ(floods[0], "alpha flood ok=0 quota=0 other=1 usage=0");
  EXPECT_EQ(floods[1], "alpha flood ok=1 quota=0 other=0 usage=" +
                           std::to_string(storage::kMaxValueBytes + 5));
  EXPECT_TRUE(audited("alpha", "storage.write", AuditResult::Denied, "big:0"));
}

TEST_F(KeyValueSystemTest, ListingNeedsAGrantCoveringThePrefix) {
  start(spec("alpha", {.read = {"orders:*"}, .write = {"orders:*", "users:*"}}));
  for (const char* key : {"orders:2", "orders:10", "orders:1", "orders:1:a", "users:1"}) {
    command("alpha", std::string("set ") + key + " v");
  }
  command("alpha", "list orders:");
  command("alpha", "list orders:1");
  command("alpha", "list users:");
  command("alpha", "list ord");
  ASSERT_TRUE(lines.wait_count("alpha list ord ", 1)) << lines.dump();
  // Pages of a 24-byte buffer: the cursor carries the listing over.
  EXPECT_TRUE(lines.wait_line("alpha list orders: = orders:1,orders:10,orders:1:a,orders:2"))
      << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha list orders:1 = orders:1,orders:10,orders:1:a"));
  EXPECT_TRUE(lines.wait_line("alpha list users: error -1"));
  EXPECT_TRUE(lines.wait_line("alpha list ord error -1"));
  EXPECT_TRUE(audited("alpha", "storage.read", AuditResult::Granted, "orders:*"));
  EXPECT_TRUE(audited("alpha", "storage.read", AuditResult::Denied, "users:*"));
  EXPECT_TRUE(audited("alpha", "storage.read", AuditResult::Denied, "*"));
}

TEST_F(KeyValueSystemTest, AHostPolicyDenyRuleHidesKeysFromAList) {
  stop_host();
  constexpr std::string_view kPolicy = R"([[rule]]
name = "no-secret-orders"
effect = "deny"
permissions = ["storage.read"]
resources = ["orders:secret:*"]
reason = "secret orders stay with the operator"
)";
  policy = std::make_unique<security::PolicySlot>(
      security::HostPolicy::parse(kPolicy, "policy.toml").value());
  start_host();
  start(spec("alpha", {.read = {"orders:*"}, .write = {"orders:*"}}));
  command("alpha", "set orders:1 a");
  command("alpha", "set orders:secret:1 b");
  command("alpha", "set orders:2 c");
  command("alpha", "list orders:");
  command("alpha", "get orders:secret:1");
  ASSERT_TRUE(lines.wait_count("alpha get orders:secret:1 ", 1)) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha list orders: = orders:1,orders:2")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha get orders:secret:1 error -1"));
  auto denied = audit_records("alpha", "storage.read", AuditResult::Denied);
  ASSERT_FALSE(denied.empty());
  EXPECT_EQ(denied.back().layer, DecisionLayer::HostPolicy);
}

TEST_F(KeyValueSystemTest, WithoutAStoreTheFunctionsAreUnavailable) {
  stop_host();
  start_host(/*with_store=*/false);
  start(spec("alpha", kCounterGrants));
  ASSERT_TRUE(lines.wait_line("alpha init count=-9")) << lines.dump();
  command("alpha", "tick");
  command("alpha", "usage");
  EXPECT_TRUE(lines.wait_line("alpha tick error -9")) << lines.dump();
  EXPECT_TRUE(lines.wait_line("alpha usage = -9")) << lines.dump();
}

}  // namespace
}  // namespace airssys::wasm::component
