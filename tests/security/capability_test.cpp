#include "airssys/wasm/security/capability.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "../support/allocation_counter.hpp"
#include "airssys/wasm/security/context.hpp"

namespace airssys::wasm::security {
namespace {

using namespace std::string_view_literals;

std::vector<std::string>& list(PatternLists& lists, Permission p) {
  return lists[static_cast<size_t>(p)];
}

// The manifest example of the specification.
PatternLists example_lists() {
  PatternLists lists;
  list(lists, Permission::FsRead) = {"/srv/app/config/*", "/srv/app/data/**/*.json"};
  list(lists, Permission::FsWrite) = {"/srv/app/data/out/**"};
  list(lists, Permission::NetConnect) = {"api.example.com:443", "*.cdn.example.com:80"};
  list(lists, Permission::StorageRead) = {"orders:*"};
  list(lists, Permission::StorageWrite) = {"orders:pending:*"};
  list(lists, Permission::StorageDelete) = {"orders:pending:*"};
  list(lists, Permission::MsgSend) = {"billing", "audit-*"};
  list(lists, Permission::MsgReceive) = {"gateway"};
  list(lists, Permission::MsgPublish) = {"orders.created"};
  list(lists, Permission::MsgSubscribe) = {"inventory.*", "alerts.#"};
  return lists;
}

CapabilitySet example_set() {
  auto set = CapabilitySet::build(example_lists());
  EXPECT_TRUE(set.has_value()) << set.error().message;
  return set ? std::move(*set) : CapabilitySet{};
}

struct CheckCase {
  Permission permission;
  std::string_view resource;
  bool granted;
  DecisionReason reason;
  uint32_t pattern_index = Decision::kNoPattern;
};

constexpr auto kMatched = DecisionReason::Matched;
constexpr auto kNoMatch = DecisionReason::NoMatch;
constexpr auto kNotGranted = DecisionReason::NotGranted;

// The table of the example set: grants, denials and each reason.
const std::vector<CheckCase>& example_cases() {
  using P = Permission;
  using R = DecisionReason;
  static const std::vector<CheckCase> cases = {
      {P::FsRead, "/srv/app/config/app.toml", true, kMatched, 0},
      {P::FsRead, "/srv/app/data/2024/orders.json", true, kMatched, 1},
      {P::FsRead, "/srv/app/config/sub/app.toml", false, kNoMatch},
      {P::FsRead, "/srv/app/config/../../../etc/passwd", false, R::MalformedPath},
      {P::FsRead, "/srv/app/config//app.toml", false, R::MalformedPath},
      {P::FsRead, "/srv/app/config/app.toml/", false, R::MalformedPath},
      {P::FsRead, "/srv/app/config/app\0.toml"sv, false, R::MalformedPath},
      {P::FsRead, "srv/app/config/app.toml", false, R::MalformedPath},
      {P::FsRead, "/etc/passwd", false, kNoMatch},
      {P::FsWrite, "/srv/app/data/out", true, kMatched, 0},
      {P::FsWrite, "/srv/app/data/out/a/b", true, kMatched, 0},
      {P::FsWrite, "/srv/app/config/app.toml", false, kNoMatch},
      {P::FsExecute, "/srv/app/data/out/run.sh", false, kNotGranted},
      {P::NetConnect, "api.example.com:443", true, kMatched, 0},
      {P::NetConnect, "img.cdn.example.com:80", true, kMatched, 1},
      {P::NetConnect, "cdn.example.com:80", false, kNoMatch},
      {P::NetConnect, "api.example.com:80", false, kNoMatch},
      {P::NetConnect, "api.example.com.:443", false, R::MalformedAddress},
      {P::NetConnect, "api.example.com", false, R::MalformedAddress},
      {P::NetConnect, "[::1]:443", false, kNoMatch},
      {P::NetBind, "0.0.0.0:8080", false, kNotGranted},
      {P::NetListen, "0.0.0.0:8080", false, kNotGranted},
      {P::StorageRead, "orders:1", true, kMatched, 0},
      {P::StorageRead, "orders:a:b", true, kMatched, 0},
      {P::StorageRead, "orders", false, kNoMatch},
      {P::StorageRead, "orders:", false, R::MalformedKey},
      {P::StorageRead, "orders::1", false, R::MalformedKey},
      {P::StorageRead, "ordersX:1", false, kNoMatch},
      {P::StorageWrite, "orders:pending:1", true, kMatched, 0},
      {P::StorageWrite, "orders:1", false, kNoMatch},
      {P::StorageDelete, "orders:pending:7", true, kMatched, 0},
      {P::MsgSend, "billing", true, kMatched, 0},
      {P::MsgSend, "audit-log", true, kMatched, 1},
      {P::MsgSend, "audit-", false, R::MalformedName},
      {P::MsgSend, "Billing", false, R::MalformedName},
      {P::MsgSend, "shipping", false, kNoMatch},
      {P::MsgReceive, "gateway", true, kMatched, 0},
      {P::MsgReceive, "billing", false, kNoMatch},
      {P::MsgPublish, "orders.created", true, kMatched, 0},
      {P::MsgPublish, "orders.deleted", false, kNoMatch},
      {P::MsgPublish, "orders.*", false, R::MalformedTopic},
      {P::MsgPublish, "orders..created", false, R::MalformedTopic},
      {P::MsgSubscribe, "inventory.widgets", true, kMatched, 0},
      {P::MsgSubscribe, "inventory.*", true, kMatched, 0},
      {P::MsgSubscribe, "inventory.#", false, kNoMatch},
      {P::MsgSubscribe, "inventory.a.b", false, kNoMatch},
      {P::MsgSubscribe, "alerts", true, kMatched, 1},
      {P::MsgSubscribe, "alerts.#", true, kMatched, 1},
      {P::MsgSubscribe, "alerts.disk.*", true, kMatched, 1},
      {P::MsgSubscribe, "#", false, kNoMatch},
      {P::MsgSubscribe, "alerts.#.x", false, R::MalformedTopic},
  };
  return cases;
}

TEST(CapabilitySet, ChecksTheManifestExample) {
  const CapabilitySet set = example_set();
  for (const auto& c : example_cases()) {
    const Decision d = set.check(c.permission, c.resource);
    const std::string what =
        std::string(permission_name(c.permission)) + " " + std::string(c.resource);
    EXPECT_EQ(d.granted, c.granted) << what;
    EXPECT_EQ(d.reason, c.reason) << what << ": " << d.reason_text();
    EXPECT_EQ(d.permission, c.permission) << what;
    EXPECT_EQ(d.pattern_index, c.pattern_index) << what;
  }
}

TEST(CapabilitySet, DeniesEverythingByDefault) {
  const CapabilitySet empty;
  auto built = CapabilitySet::build(PatternLists{});
  ASSERT_TRUE(built.has_value());
  for (Permission p : kAllPermissions) {
    for (const CapabilitySet* set : {&empty, static_cast<const CapabilitySet*>(&*built)}) {
      const Decision d = set->check(p, "anything");
      EXPECT_FALSE(d.granted) << permission_name(p);
      EXPECT_EQ(d.reason, kNotGranted);
      EXPECT_EQ(d.reason_text(), "permission not granted");
      EXPECT_FALSE(set->grants_any(p));
      EXPECT_TRUE(set->patterns(p).empty());
    }
  }
}

TEST(CapabilitySet, PermissionsDoNotLeakIntoEachOther) {
  PatternLists lists;
  list(lists, Permission::FsRead) = {"/**"};
  list(lists, Permission::StorageRead) = {"*"};
  list(lists, Permission::MsgReceive) = {"*"};
  list(lists, Permission::MsgSubscribe) = {"#"};
  auto set = CapabilitySet::build(lists);
  ASSERT_TRUE(set.has_value());
  EXPECT_TRUE(set->check(Permission::FsRead, "/etc/passwd").granted);
  EXPECT_FALSE(set->check(Permission::FsWrite, "/etc/passwd").granted);
  EXPECT_FALSE(set->check(Permission::FsExecute, "/bin/sh").granted);
  EXPECT_TRUE(set->check(Permission::StorageRead, "a:b").granted);
  EXPECT_FALSE(set->check(Permission::StorageWrite, "a:b").granted);
  EXPECT_FALSE(set->check(Permission::StorageDelete, "a:b").granted);
  EXPECT_TRUE(set->check(Permission::MsgReceive, "anyone").granted);
  EXPECT_FALSE(set->check(Permission::MsgSend, "anyone").granted);
  EXPECT_TRUE(set->check(Permission::MsgSubscribe, "#").granted);
  EXPECT_FALSE(set->check(Permission::MsgPublish, "a").granted);
}

TEST(CapabilitySet, ReportsTheFirstMatchingPattern) {
  PatternLists lists;
  list(lists, Permission::FsRead) = {"/a/b", "/a/*", "/a/**"};
  auto set = CapabilitySet::build(lists);
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(set->check(Permission::FsRead, "/a/b").pattern_index, 0u);
  EXPECT_EQ(set->check(Permission::FsRead, "/a/c").pattern_index, 1u);
  EXPECT_EQ(set->check(Permission::FsRead, "/a/c/d").pattern_index, 2u);
  const auto patterns = set->patterns(Permission::FsRead);
  ASSERT_EQ(patterns.size(), 3u);
  EXPECT_EQ(patterns[set->check(Permission::FsRead, "/a/c").pattern_index], "/a/*");
}

TEST(CapabilitySet, RefusesABadPatternNamingPermissionAndRule) {
  struct Case {
    Permission permission;
    std::string pattern;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {Permission::FsWrite, "relative/path",
            "filesystem.write: invalid path pattern \"relative/path\": a path pattern is "
            "absolute: it starts with '/'"},
           {Permission::NetConnect, "api.example.com:*",
            "network.connect: invalid host:port pattern \"api.example.com:*\": wildcard ports "
            "are not allowed: name the exact port"},
           {Permission::StorageRead, "orders:*:x",
            "storage.read: invalid storage key pattern \"orders:*:x\": '*' is allowed only as "
            "the whole last segment, as in orders:*"},
           {Permission::MsgSend, "Billing",
            "messaging.send: invalid component name pattern \"Billing\": component names are "
            "lower case"},
           {Permission::MsgSubscribe, "alerts.#.x",
            "messaging.subscribe: invalid topic pattern \"alerts.#.x\": '#' is allowed only as "
            "the last level"},
       }) {
    PatternLists lists = example_lists();
    list(lists, c.permission).push_back(c.pattern);
    auto set = CapabilitySet::build(lists);
    ASSERT_FALSE(set.has_value()) << c.pattern;
    EXPECT_EQ(set.error().code, ErrorCode::InvalidArgument);
    EXPECT_EQ(set.error().message, c.message);
  }
}

TEST(CapabilitySet, EveryReasonHasAText) {
  for (auto r : {DecisionReason::Matched, DecisionReason::DevMode, DecisionReason::NotGranted,
                 DecisionReason::NoMatch, DecisionReason::MalformedPath,
                 DecisionReason::MalformedAddress, DecisionReason::MalformedKey,
                 DecisionReason::MalformedName, DecisionReason::MalformedTopic}) {
    EXPECT_FALSE(decision_reason_text(r).empty());
    EXPECT_NE(decision_reason_text(r), "?");
  }
  EXPECT_EQ(decision_reason_text(DecisionReason::DevMode), "dev mode");
}

// The hot path allocates nothing: every case of the example table, granted or
// denied, through the set and through a context, with operator new counting.
TEST(CapabilitySet, CheckAllocatesNothing) {
  const CapabilitySet set = example_set();
  auto context = WasmSecurityContext::create("order-validator", set, TrustLevel::Trusted);
  auto dev = WasmSecurityContext::create("order-validator", set, TrustLevel::DevMode);
  ASSERT_TRUE(context && dev);
  const auto& cases = example_cases();
  std::array<Decision, 256> decisions{};
  ASSERT_LE(3 * cases.size(), decisions.size());

  size_t n = 0;
  const size_t allocations = test::allocations_of([&] {
    for (const auto& c : cases) {
      decisions[n++] = set.check(c.permission, c.resource);
      decisions[n++] = (*context)->check(c.permission, c.resource);
      decisions[n++] = (*dev)->check(c.permission, c.resource);
    }
  });

  EXPECT_EQ(allocations, 0u);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(decisions[3 * i].granted, cases[i].granted) << cases[i].resource;
    EXPECT_EQ(decisions[3 * i + 1].granted, cases[i].granted) << cases[i].resource;
    EXPECT_TRUE(decisions[3 * i + 2].granted);
  }

  // The counter itself works.
  std::string* probe = nullptr;
  EXPECT_GE(test::allocations_of([&] { probe = new std::string(100, 'x'); }), 1u);
  delete probe;
}

TEST(CapabilitySet, ChecksFromManyThreadsAtOnce) {
  const CapabilitySet set = example_set();
  std::atomic<size_t> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 200; ++round) {
        for (const auto& c : example_cases()) {
          if (set.check(c.permission, c.resource).granted != c.granted) ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0u);
}

// ---- WasmSecurityContext ---------------------------------------------------

TEST(QuotaLimits, Defaults) {
  const QuotaLimits q;
  EXPECT_EQ(q.storage_bytes, 100u * 1024 * 1024);
  EXPECT_EQ(q.messages_per_second, 1000u);
  EXPECT_EQ(q.network_bytes_per_second, 10u * 1024 * 1024);
  EXPECT_EQ(q.cpu_ms_per_second, 1000u);
  EXPECT_EQ(q.memory_bytes, 256u * 1024 * 1024);
}

TEST(WasmSecurityContext, KeepsWhatItWasBuiltWith) {
  QuotaLimits quotas;
  quotas.memory_bytes = 128 * MiB;
  quotas.messages_per_second = 500;
  auto ctx =
      WasmSecurityContext::create("order-validator", example_set(), TrustLevel::Unknown, quotas);
  ASSERT_TRUE(ctx.has_value()) << ctx.error().message;
  const auto& c = **ctx;
  EXPECT_EQ(c.component_id(), "order-validator");
  EXPECT_EQ(c.trust_level(), TrustLevel::Unknown);
  EXPECT_EQ(c.quotas(), quotas);
  EXPECT_EQ(c.capabilities().patterns(Permission::MsgSend).size(), 2u);
}

TEST(WasmSecurityContext, IsImmutableAndSharedByPointer) {
  static_assert(!std::is_copy_constructible_v<WasmSecurityContext>);
  static_assert(!std::is_copy_assignable_v<WasmSecurityContext>);
  static_assert(!std::is_move_constructible_v<WasmSecurityContext>);
  using Created = decltype(WasmSecurityContext::create("", {}, TrustLevel::Trusted))::value_type;
  static_assert(std::is_same_v<Created, std::shared_ptr<const WasmSecurityContext>>);

  auto ctx = WasmSecurityContext::create("worker", {}, TrustLevel::Trusted);
  ASSERT_TRUE(ctx.has_value());
  std::shared_ptr<const WasmSecurityContext> after_restart = *ctx;
  EXPECT_EQ(after_restart.get(), ctx->get());
  EXPECT_EQ(ctx->use_count(), 2);
}

TEST(WasmSecurityContext, RefusesAnInvalidComponentId) {
  for (const char* bad : {"", "ab", "Order", "-order", "order-", "order_validator"}) {
    auto ctx = WasmSecurityContext::create(bad, {}, TrustLevel::Trusted);
    ASSERT_FALSE(ctx.has_value()) << bad;
    EXPECT_EQ(ctx.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(ctx.error().message.find("is not a component name"), std::string::npos);
  }
}

TEST(WasmSecurityContext, DelegatesToItsCapabilities) {
  for (TrustLevel trust : {TrustLevel::Trusted, TrustLevel::Unknown}) {
    auto ctx = WasmSecurityContext::create("order-validator", example_set(), trust);
    ASSERT_TRUE(ctx.has_value());
    for (const auto& c : example_cases()) {
      const Decision d = (*ctx)->check(c.permission, c.resource);
      EXPECT_EQ(d.granted, c.granted) << c.resource;
      EXPECT_EQ(d.reason, c.reason) << c.resource;
      EXPECT_EQ(d.pattern_index, c.pattern_index) << c.resource;
    }
  }
}

TEST(WasmSecurityContext, DevModeGrantsEverythingAndSaysSo) {
  auto ctx = WasmSecurityContext::create("dev-tool", {}, TrustLevel::DevMode);
  ASSERT_TRUE(ctx.has_value());
  for (Permission p : kAllPermissions) {
    const Decision d = (*ctx)->check(p, "/etc/shadow");
    EXPECT_TRUE(d.granted);
    EXPECT_EQ(d.permission, p);
    EXPECT_EQ(d.reason, DecisionReason::DevMode);
    EXPECT_EQ(d.reason_text(), "dev mode");
    EXPECT_EQ(d.pattern_index, Decision::kNoPattern);
  }
}

}  // namespace
}  // namespace airssys::wasm::security
