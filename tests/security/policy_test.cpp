// The operator's host policy: deny rules win, allow rules narrow, and a
// granted capability is refused by a host deny rule.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "trust_fixtures.hpp"

namespace airssys::wasm::security {
namespace {

constexpr std::string_view kPolicy = R"(
[[rule]]
name = "no-writes-under-etc"
effect = "deny"
permissions = ["filesystem.write"]
resources = ["/etc/**"]
reason = "no component ever writes under /etc"

[[rule]]
name = "internal-network-only"
effect = "allow"
permissions = ["network.connect"]
resources = ["*.internal.example.com:443"]
except_signers = ["00aa11bb22cc33dd"]

[[rule]]
name = "no-billing-for-plugins"
effect = "deny"
permissions = ["messaging.send"]
resources = ["billing"]
components = ["plugin-*"]

[[rule]]
name = "only-signed-storage-deletes"
effect = "deny"
permissions = ["storage.delete"]
except_signers = ["00aa11bb22cc33dd"]
)";

HostPolicy policy() {
  auto p = HostPolicy::parse(kPolicy, "policy.toml");
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
  return p ? std::move(*p) : HostPolicy{};
}

TEST(HostPolicy, QuotaDefaultsUseTheManifestUnits) {
  auto p = HostPolicy::parse(R"(
[quota]
storage = "10MB"
message_rate = 50
network_bandwidth = "1MB/s"
cpu_time = "250ms/s"
memory = "64MB"
)",
                             "policy.toml");
  ASSERT_TRUE(p.has_value()) << p.error().message;
  const auto& q = p->quota_defaults();
  EXPECT_EQ(q.storage_bytes, 10 * MiB);  // MB is 2^20 bytes, as in manifests
  EXPECT_EQ(q.message_rate, 50u);
  EXPECT_EQ(q.network_bytes_per_second, 1 * MiB);
  EXPECT_EQ(q.cpu_ms_per_second, 250u);
  EXPECT_EQ(q.memory_bytes, 64 * MiB);
  // The component's manifest still wins where it sets a quota.
  QuotaSpec manifest;
  manifest.message_rate = 5;
  auto effective = effective_quotas(manifest, effective_quotas(q, {}));
  EXPECT_EQ(effective.messages_per_second, 5u);
  EXPECT_EQ(effective.storage_bytes, 10 * MiB);
  EXPECT_TRUE(HostPolicy::parse("", "empty.toml")->quota_defaults() == QuotaSpec{});
}

// [ceiling]: the most a manifest may ask for, with the keys of [quota];
// a default above its ceiling in the same file is refused with its line.
TEST(HostPolicy, CeilingsAreReadAndADefaultAboveItsCeilingIsRefused) {
  auto p = HostPolicy::parse("[quota]\nmemory = \"64MB\"\n\n[ceiling]\nmemory = \"512MB\"\n"
                             "cpu_time = \"500ms/s\"\n",
                             "policy.toml");
  ASSERT_TRUE(p.has_value()) << p.error().message;
  EXPECT_EQ(p->quota_ceilings().memory_bytes, 512 * MiB);
  EXPECT_EQ(p->quota_ceilings().cpu_ms_per_second, 500u);
  EXPECT_FALSE(p->quota_ceilings().storage_bytes);
  QuotaSpec asked;
  asked.memory_bytes = 4 * GiB;
  asked.cpu_ms_per_second = 100;
  auto over = quotas_above(asked, p->quota_ceilings());
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].key, "memory");
  EXPECT_EQ(over[0].to_string(), "memory 4 GiB, over 512 MiB");
  // A ceiling lowers a default above it; the tighter of two ceilings wins.
  QuotaSpec low;
  low.memory_bytes = 32 * MiB;
  auto both = tighter_ceilings(p->quota_ceilings(), low);
  EXPECT_EQ(both.memory_bytes, 32 * MiB);
  EXPECT_EQ(both.cpu_ms_per_second, 500u);
  EXPECT_EQ(clamp_to_ceilings(QuotaLimits{}, both).memory_bytes, 32 * MiB);
  EXPECT_EQ(clamp_to_ceilings(QuotaLimits{}, both).storage_bytes, QuotaLimits{}.storage_bytes);

  auto bad = HostPolicy::parse("[quota]\nmemory = \"1GB\"\n\n[ceiling]\nmemory = \"512MB\"\n"
                               "speed = 3\n",
                               "policy.toml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(bad.error().message.find("policy.toml:2: quota.memory: the default is above the "
                                     "ceiling (memory 1 GiB, over 512 MiB)"),
            std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("policy.toml:6: ceiling.speed: unknown key"),
            std::string::npos)
      << bad.error().message;
}

// [native] bounds native compiles for every host reading the policy; its
// keys are host.toml's, and every problem is reported with its line.
TEST(HostPolicy, NativeCompileBoundsAreReadAndCheckedLikeHostToml) {
  auto policy = HostPolicy::parse(R"([native]
compile_timeout_ms = 60000
compile_memory = "512MB"
max_module_size = "4MB"
max_function_size = 65536
max_br_table_targets = 1000
compile_jobs = 1
)",
                                  "policy.toml");
  ASSERT_TRUE(policy) << policy.error().to_string();
  const auto& b = policy->native_bounds();
  EXPECT_EQ(b.compile_timeout, std::chrono::milliseconds(60000));
  EXPECT_EQ(b.compile_memory_bytes, 512ull << 20);
  EXPECT_EQ(b.max_module_bytes, 4ull << 20);
  EXPECT_EQ(b.max_function_bytes, 65536u);
  EXPECT_EQ(b.max_br_table_targets, 1000u);
  EXPECT_EQ(b.compile_jobs, 1u);
  EXPECT_EQ(HostPolicy{}.native_bounds(), NativeCompileBounds{});

  auto bad = HostPolicy::parse(R"([native]
compile_memory = "1MB"
max_threads = 4
compile_timeout_ms = 0
)",
                               "policy.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(bad.error().message.find("policy.toml:2: native.compile_memory: must be at least 64MB"),
            std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("policy.toml:3: native.max_threads: unknown key"),
            std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("policy.toml:4: native.compile_timeout_ms: must be between"),
            std::string::npos)
      << bad.error().message;
  auto not_table = HostPolicy::parse("native = 3\n", "policy.toml");
  ASSERT_FALSE(not_table);
  EXPECT_NE(not_table.error().message.find("native: must be a table ([native])"),
            std::string::npos)
      << not_table.error().message;
}

TEST(HostPolicy, BadQuotaDefaultsAreRefusedWithTheirLine) {
  auto p = HostPolicy::parse("[quota]\nstorage = \"10\"\ncpu_time = \"5s\"\nturbo = 1\n",
                             "policy.toml");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(p.error().message.find("policy.toml:2: quota.storage"), std::string::npos)
      << p.error().message;
  EXPECT_NE(p.error().message.find("policy.toml:3: quota.cpu_time"), std::string::npos)
      << p.error().message;
  EXPECT_NE(p.error().message.find("policy.toml:4: quota.turbo: unknown key"), std::string::npos)
      << p.error().message;
  EXPECT_FALSE(HostPolicy::parse("quota = 5\n", "policy.toml").has_value());
}

TEST(HostPolicy, DenyRulesRefuseWhatTheyName) {
  auto p = policy();
  auto d = p.check({"writer", std::nullopt}, Permission::FsWrite, "/etc/passwd");
  EXPECT_FALSE(d.allowed);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->name, "no-writes-under-etc");
  EXPECT_EQ(d.reason, "no component ever writes under /etc");
  EXPECT_TRUE(p.check({"writer", std::nullopt}, Permission::FsWrite, "/srv/out/x").allowed);
  EXPECT_TRUE(p.check({"writer", std::nullopt}, Permission::FsRead, "/etc/passwd").allowed);
}

TEST(HostPolicy, AllowRulesNarrowTheirPermissionUnlessTheSignerIsExcepted) {
  auto p = policy();
  EXPECT_TRUE(p.check({"fetcher", std::nullopt}, Permission::NetConnect,
                      "db.internal.example.com:443")
                  .allowed);
  auto d = p.check({"fetcher", std::nullopt}, Permission::NetConnect, "api.example.com:443");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule->name, "internal-network-only");
  // Signed by the excepted key: the rule does not apply.
  std::string_view key = "00aa11bb22cc33dd";
  EXPECT_TRUE(p.check({"fetcher", key}, Permission::NetConnect, "api.example.com:443").allowed);
  std::string_view other = "ffffffffffffffff";
  EXPECT_FALSE(p.check({"fetcher", other}, Permission::NetConnect, "api.example.com:443").allowed);
}

TEST(HostPolicy, ComponentPatternsScopeARule) {
  auto p = policy();
  EXPECT_FALSE(p.check({"plugin-x", std::nullopt}, Permission::MsgSend, "billing").allowed);
  EXPECT_TRUE(p.check({"gateway", std::nullopt}, Permission::MsgSend, "billing").allowed);
  EXPECT_TRUE(p.check({"plugin-x", std::nullopt}, Permission::MsgSend, "audit").allowed);
}

TEST(HostPolicy, ARuleWithoutResourcesCoversEveryResource) {
  auto p = policy();
  EXPECT_FALSE(p.check({"a", std::nullopt}, Permission::StorageDelete, "orders:1").allowed);
  std::string_view key = "00aa11bb22cc33dd";
  EXPECT_TRUE(p.check({"a", key}, Permission::StorageDelete, "orders:1").allowed);
}

TEST(HostPolicy, DenyWinsWhateverTheOrder) {
  auto p = HostPolicy::parse(R"(
[[rule]]
name = "allow-tmp"
effect = "allow"
permissions = ["filesystem.write"]
resources = ["/tmp/**"]
[[rule]]
name = "deny-secret"
effect = "deny"
permissions = ["filesystem.write"]
resources = ["/tmp/secret/**"]
)",
                             "p.toml")
               .value();
  EXPECT_TRUE(p.check({"c", std::nullopt}, Permission::FsWrite, "/tmp/a").allowed);
  auto d = p.check({"c", std::nullopt}, Permission::FsWrite, "/tmp/secret/k");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule->name, "deny-secret");
}

TEST(HostPolicy, AGrantedCapabilityIsStillRefusedByAHostDenyRule) {
  PatternLists grants;
  grants[static_cast<size_t>(Permission::FsWrite)] = {"/**"};
  auto context =
      WasmSecurityContext::create("writer", CapabilitySet::build(grants).value(),
                                  TrustLevel::Trusted)
          .value();
  EXPECT_TRUE(context->check(Permission::FsWrite, "/etc/passwd").granted);
  EXPECT_FALSE(policy().check({"writer", std::nullopt}, Permission::FsWrite, "/etc/passwd").allowed);
}

TEST(HostPolicy, NoRulesNoObjection) {
  HostPolicy empty;
  EXPECT_TRUE(empty.check({"x", std::nullopt}, Permission::FsWrite, "/etc/passwd").allowed);
  auto parsed = HostPolicy::parse("", "empty.toml");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->rules().empty());
}

struct BadPolicy {
  const char* text;
  const char* expected;
};

TEST(HostPolicy, BadRulesAreRefusedWithFileLineKeyAndRule) {
  for (auto [text, expected] : std::initializer_list<BadPolicy>{
           {"[[rule]]\nname='a'\neffect='maybe'\npermissions=['filesystem.read']",
            "p.toml:3: rule[0].effect: must be \"allow\" or \"deny\""},
           {"[[rule]]\nname='a'\neffect='deny'\npermissions=['filesystem.delete']",
            "p.toml:4: rule[0].permissions: unknown permission \"filesystem.delete\""},
           {"[[rule]]\nname='a'\neffect='deny'\npermissions=['filesystem.read','network.connect']",
            "one resource kind"},
           {"[[rule]]\nname='a'\neffect='deny'\npermissions=['filesystem.read']\nresources=['etc']",
            "p.toml:5: rule[0].resources"},
           {"[[rule]]\nname='a'\neffect='deny'", "p.toml:1: rule[0].permissions: every rule names its permissions"},
           {"[[rule]]\neffect='deny'\npermissions=['filesystem.read']", "needs a non-empty name"},
           {"[[rule]]\nname='a'\neffect='deny'\npermissions=['filesystem.read']\ncolour='red'",
            "p.toml:5: rule[0].colour: unknown key"},
           {"[[rule]]\nname='a'\neffect='deny'\npermissions=[]", "must not be empty"},
           {"[[rule]]\nname='a'\neffect='deny'\npermissions=['filesystem.read']\n"
            "[[rule]]\nname='a'\neffect='deny'\npermissions=['filesystem.read']",
            "duplicate rule name"},
           {"[[rule]]\nname='a'\neffect='often'\npermissions=['filesystem.read']\n"
            "[quota]\nmemory='lots'",
            "p.toml:3: rule[0].effect: must be \"allow\" or \"deny\"\np.toml:6: quota.memory"},
           {"rules = 1", "unknown key"},
           {"[[rule]\n", "TOML syntax error at column"},
       }) {
    auto r = HostPolicy::parse(text, "p.toml");
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidConfig);
    EXPECT_NE(r.error().message.find(expected), std::string::npos)
        << text << "\n---\n" << r.error().message;
  }
}

// toml++ recurses once per level of dotted keys; a line deep enough to
// exhaust the stack is refused before parsing.
TEST(HostPolicy, KeysNestedTooDeepAreRefusedBeforeParsing) {
  std::string deep;
  for (int i = 0; i < 200'000; ++i) deep += "a.";
  auto r = HostPolicy::parse("\n" + deep + "a = 1\n", "p.toml");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidConfig);
  EXPECT_EQ(r.error().message,
            "p.toml:2: more than 1000 '.' on one line: keys nested this deep are refused");
}

// The operator's hard limits: a file that others may write, or that another
// user owns, could have had its deny rules removed; it is refused.
TEST(HostPolicy, AFileOthersMayWriteOrAnotherUserOwnsIsRefused) {
  using testing::TempDir;
  using testing::write_file;
  TempDir dir;
  const auto file = dir / "policy.toml";
  write_file(file, "[[rule]]\nname = \"x\"\neffect = \"deny\"\npermissions = [\"network.connect\"]\n");
  ASSERT_TRUE(HostPolicy::load(file));
  ASSERT_EQ(::chmod(file.c_str(), 0666), 0);
  auto writable = HostPolicy::load(file);
  ASSERT_FALSE(writable);
  EXPECT_NE(writable.error().message.find("chmod go-w"), std::string::npos)
      << writable.error().message;
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
  auto foreign = HostPolicy::load(file, true);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("belongs to another user"), std::string::npos)
      << foreign.error().message;
}

TEST(HostPolicy, AMissingFileIsAnErrorUnlessAllowed) {
  EXPECT_FALSE(HostPolicy::load("/nonexistent/policy.toml").has_value());
  auto empty = HostPolicy::load("/nonexistent/policy.toml", true);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->rules().empty());
}

// Decisions on four threads while the policy is replaced 2000 times: each
// one is made whole by one policy or the other (never a mix, never a freed
// rule), and the last policy is the one in force.
TEST(PolicySlot, DecisionsStayWholeWhileThePolicyIsReplaced) {
  auto deny = [](const char* resource) {
    auto p = HostPolicy::parse(std::string("[[rule]]\nname = \"r\"\neffect = \"deny\"\n"
                                           "permissions = [\"filesystem.write\"]\nresources = [\"") +
                                   resource + "\"]\nreason = \"" + resource + "\"\n",
                               "policy.toml");
    EXPECT_TRUE(p.has_value());
    return std::move(*p);
  };
  PolicySlot slot(deny("/a/**"));
  EXPECT_EQ(slot.generation(), 0u);
  const PolicySubject subject{"c", std::nullopt};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, decisions{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const HostPolicy& p = slot.current();
        bool a = !p.check(subject, Permission::FsWrite, "/a/x").allowed;
        bool b = !p.check(subject, Permission::FsWrite, "/b/x").allowed;
        auto verdict = p.check(subject, Permission::FsWrite, a ? "/a/x" : "/b/x");
        // Exactly one of the two is denied, and the rule that did it names it.
        if (a == b || !verdict.rule || verdict.reason != (a ? "/a/**" : "/b/**")) ++torn;
        decisions.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (int i = 0; i < 2000; ++i) slot.replace(deny(i % 2 ? "/a/**" : "/b/**"));
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(decisions.load(), 0u);
  EXPECT_EQ(slot.generation(), 2000u);
  // The last one (i = 1999) denies /a.
  EXPECT_FALSE(slot.current().check(subject, Permission::FsWrite, "/a/x").allowed);
  EXPECT_TRUE(slot.current().check(subject, Permission::FsWrite, "/b/x").allowed);
  PolicySlot none;
  EXPECT_TRUE(none.current().rules().empty());
}

}  // namespace
}  // namespace airssys::wasm::security
