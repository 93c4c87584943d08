#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/pattern.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>

#include "../support/temp_dir.hpp"
#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm::security {
namespace {

using namespace std::literals;

constexpr std::string_view kSpecExample = R"([component]
name = "order-validator"          # ^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$
version = "1.2.0"                 # SemVer
description = "Validates orders"  # optional, <= 500 chars
author = "Team Orders"            # optional
license = "Apache-2.0"            # optional, SPDX

[capabilities]
filesystem.read    = ["/srv/app/config/*", "/srv/app/data/**/*.json"]
filesystem.write   = ["/srv/app/data/out/**"]
network.connect    = ["api.example.com:443", "*.cdn.example.com:80"]
storage.read       = ["orders:*"]
storage.write      = ["orders:pending:*"]
storage.delete     = ["orders:pending:*"]
messaging.send     = ["billing", "audit-*"]       # target component names
messaging.receive  = ["gateway"]                  # who may send to me
messaging.publish  = ["orders.created"]           # topics
messaging.subscribe = ["inventory.*", "alerts.#"]

[quota]
storage = "50MB"
message_rate = 500          # messages per second
network_bandwidth = "5MB/s"
cpu_time = "500ms/s"
memory = "128MB"

[config]                    # free-form, handed to the component at start
threshold = 10
)";

// Four lines, so the first line of a body is line 5.
std::string with_component(std::string_view body) {
  return std::string("[component]\nname = \"order-validator\"\nversion = \"1.2.0\"\n\n") +
         std::string(body);
}

std::string problems_text(const ManifestCheck& check) {
  std::string out;
  for (const auto& p : check.problems) out += p.to_string() + "\n";
  return out;
}

TEST(Manifest, SpecExampleParsesIntoExactlyTheExpectedValues) {
  auto manifest = parse_manifest(kSpecExample, "Component.toml");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->file, "Component.toml");
  EXPECT_EQ(manifest->component, (ComponentInfo{"order-validator", "1.2.0", "Validates orders",
                                                "Team Orders", "Apache-2.0"}));
  using V = std::vector<std::string>;
  EXPECT_EQ(manifest->patterns(Permission::FsRead),
            (V{"/srv/app/config/*", "/srv/app/data/**/*.json"}));
  EXPECT_EQ(manifest->patterns(Permission::FsWrite), (V{"/srv/app/data/out/**"}));
  EXPECT_EQ(manifest->patterns(Permission::FsExecute), V{});
  EXPECT_EQ(manifest->patterns(Permission::NetConnect),
            (V{"api.example.com:443", "*.cdn.example.com:80"}));
  EXPECT_EQ(manifest->patterns(Permission::NetBind), V{});
  EXPECT_EQ(manifest->patterns(Permission::NetListen), V{});
  EXPECT_EQ(manifest->patterns(Permission::StorageRead), (V{"orders:*"}));
  EXPECT_EQ(manifest->patterns(Permission::StorageWrite), (V{"orders:pending:*"}));
  EXPECT_EQ(manifest->patterns(Permission::StorageDelete), (V{"orders:pending:*"}));
  EXPECT_EQ(manifest->patterns(Permission::MsgSend), (V{"billing", "audit-*"}));
  EXPECT_EQ(manifest->patterns(Permission::MsgReceive), (V{"gateway"}));
  EXPECT_EQ(manifest->patterns(Permission::MsgPublish), (V{"orders.created"}));
  EXPECT_EQ(manifest->patterns(Permission::MsgSubscribe), (V{"inventory.*", "alerts.#"}));
  EXPECT_EQ(manifest->quota, (QuotaSpec{50 * MiB, 500, 5 * MiB, 500, 128 * MiB}));
  EXPECT_EQ(manifest->config, nlohmann::json({{"threshold", 10}}));
  EXPECT_TRUE(manifest->requests_capabilities());
}

TEST(Manifest, MinimalManifestRequestsNothing) {
  auto manifest = parse_manifest(with_component(""), "Component.toml");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_FALSE(manifest->requests_capabilities());
  EXPECT_EQ(manifest->quota, QuotaSpec{});
  EXPECT_EQ(manifest->config, nlohmann::json::object());
  EXPECT_FALSE(manifest->component.description.has_value());
  EXPECT_FALSE(manifest->component.license.has_value());
  EXPECT_EQ(canonical_capabilities(*manifest), "");
}

TEST(Manifest, RuntimeTierIsReadAndCheckedAndOptional) {
  auto none = parse_manifest(with_component(""), "Component.toml");
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->runtime.tier.has_value());
  for (auto [text, tier] : {std::pair{"interp", TierChoice::Interp},
                            std::pair{"native", TierChoice::Native},
                            std::pair{"auto", TierChoice::Auto}}) {
    auto m = parse_manifest(with_component(std::string("[runtime]\ntier = \"") + text + "\"\n"),
                            "Component.toml");
    ASSERT_TRUE(m) << m.error().message;
    EXPECT_EQ(m->runtime.tier, tier);
    EXPECT_STREQ(tier_choice_name(tier), text);
  }
  auto bad = check_manifest(with_component("[runtime]\ntier = \"jit\"\nfast = true\n"),
                            "Component.toml");
  ASSERT_EQ(bad.problems.size(), 2u);
  EXPECT_EQ(bad.problems[0].key, "runtime.tier");
  EXPECT_NE(bad.problems[0].rule.find("\"jit\" is not a tier (known: interp, native, auto)"),
            std::string::npos)
      << bad.problems[0].to_string();
  EXPECT_EQ(bad.problems[1].key, "runtime.fast");
  auto not_string = check_manifest(with_component("[runtime]\ntier = 1\n"), "Component.toml");
  ASSERT_EQ(not_string.problems.size(), 1u);
  EXPECT_NE(not_string.problems[0].rule.find("must be a string"), std::string::npos);
}

TEST(Manifest, TableAndInlineFormsEqualDottedKeys) {
  auto dotted = parse_manifest(with_component(R"([capabilities]
filesystem.read = ["/a", "/b/*"]
storage.write = ["s:*"]
)"),
                               "a.toml");
  auto tables = parse_manifest(with_component(R"([capabilities.filesystem]
read = ["/a", "/b/*"]
[capabilities.storage]
write = ["s:*"]
)"),
                               "b.toml");
  auto inline_tables = parse_manifest(with_component(R"([capabilities]
filesystem = { read = ["/a", "/b/*"] }
storage = { write = ["s:*"] }
)"),
                                      "c.toml");
  ASSERT_TRUE(dotted) << dotted.error().message;
  ASSERT_TRUE(tables) << tables.error().message;
  ASSERT_TRUE(inline_tables) << inline_tables.error().message;
  EXPECT_EQ(dotted->capabilities, tables->capabilities);
  EXPECT_EQ(dotted->capabilities, inline_tables->capabilities);
}

TEST(Manifest, CanonicalCapabilitiesAreSortedAndIndependentOfFileOrder) {
  auto a = parse_manifest(with_component(R"([capabilities]
storage.read = ["b:*", "a:*"]
filesystem.read = ["/z", "/a"]
)"),
                          "a.toml");
  auto b = parse_manifest(with_component(R"([capabilities.filesystem]
read = ["/a", "/z"]
[capabilities.storage]
read = ["a:*", "b:*"]
)"),
                          "b.toml");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(canonical_capabilities(*a),
            "filesystem.read /a\nfilesystem.read /z\nstorage.read a:*\nstorage.read b:*\n");
  EXPECT_EQ(canonical_capabilities(*a), canonical_capabilities(*b));
}

// What an approval covers: the capabilities, then every quota the manifest
// sets, its tier and its [config] (with [config.env]); nothing of that kind
// set, the capabilities alone.
TEST(Manifest, ApprovalTermsCoverQuotasTierAndConfig) {
  auto plain = parse_manifest(with_component("[capabilities]\nstorage.read = [\"a:*\"]\n"), "a");
  ASSERT_TRUE(plain);
  EXPECT_EQ(canonical_approval_terms(*plain), canonical_capabilities(*plain));
  auto full = parse_manifest(with_component(R"([capabilities]
storage.read = ["a:*"]

[runtime]
tier = "native"

[quota]
memory = "4GB"
cpu_time = "250ms/s"
message_rate = 7
network_bandwidth = "1KB/s"
storage = "3B"

[config]
b = 1
a = "x\ny"

[config.env]
MODE = "fast"
)"),
                             "b");
  ASSERT_TRUE(full) << full.error().message;
  EXPECT_EQ(canonical_approval_terms(*full),
            "storage.read a:*\n"
            "quota storage 3 B\nquota message_rate 7 /s\nquota network_bandwidth 1024 B/s\n"
            "quota cpu_time 250 ms/s\nquota memory 4294967296 B\n"
            "runtime tier native\n"
            "config {\"a\":\"x\\ny\",\"b\":1,\"env\":{\"MODE\":\"fast\"}}\n");
}

// "host" is the sender of the host's own messages: no component takes it.
TEST(Manifest, TheHostsSenderNameIsReserved) {
  auto check = check_manifest("[component]\nname = \"host\"\nversion = \"1.0.0\"\n", "h.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].key, "component.name");
  EXPECT_NE(check.problems[0].rule.find("reserved"), std::string::npos) << check.problems[0].rule;
  EXPECT_TRUE(parse_manifest("[component]\nname = \"hosts\"\nversion = \"1.0.0\"\n", "ok"));
  // A grant may name it: that is how a component admits the host's messages.
  EXPECT_TRUE(parse_manifest(with_component("[capabilities]\nmessaging.receive = [\"host\"]\n"),
                             "r.toml"));
}

TEST(Manifest, ConfigBecomesJson) {
  auto manifest = parse_manifest(with_component(R"([config]
threshold = 10
ratio = 0.5
enabled = true
name = "x"
list = [1, "two", [3]]
when = 1979-05-27T07:32:00Z
day = 1979-05-27
[config.limits]
max = 3
)"),
                                 "Component.toml");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->config, nlohmann::json::parse(R"({
    "threshold": 10, "ratio": 0.5, "enabled": true, "name": "x",
    "list": [1, "two", [3]], "when": "1979-05-27T07:32:00Z", "day": "1979-05-27",
    "limits": {"max": 3}})"));
}

TEST(Manifest, ConfigEnvIsTheComponentsEnvironment) {
  auto manifest = parse_manifest(with_component(R"([config]
threshold = 10
[config.env]
MODE = "strict"
A_1 = ""
_x = "a=b c"
)"),
                                 "Component.toml");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest_environment(*manifest),
            (std::vector<std::string>{"A_1=", "MODE=strict", "_x=a=b c"}));
  // Still part of the configuration handed to airssys_init.
  EXPECT_EQ(manifest->config["env"]["MODE"], "strict");
  auto without = parse_manifest(with_component("[config]\nenv_like = 1\n"), "Component.toml");
  ASSERT_TRUE(without);
  EXPECT_TRUE(manifest_environment(*without).empty());
}

TEST(Manifest, ValidPatternsOfEveryKindAreAccepted) {
  auto manifest = parse_manifest(with_component(R"([capabilities]
filesystem.read = ["/", "/srv/{a,b}/*.json", "/srv/[abc]?.txt", "/srv/[!x]/**", "/srv/**/x"]
filesystem.execute = ["/usr/bin/tool"]
network.connect = ["localhost:8080", "10.0.0.1:1", "[::1]:65535", "*.cdn.example.com:80", "a-b.c0:443"]
network.bind = ["0.0.0.0:8080"]
network.listen = ["127.0.0.1:9000"]
storage.read = ["*"]
storage.write = ["a_b-c:d:*"]
storage.delete = ["orders"]
messaging.send = ["*", "abc", "a*", "audit-*"]
messaging.receive = ["gateway-01"]
messaging.publish = ["orders.created", "A-b_c.*"]
messaging.subscribe = ["#", "*", "a.*.c", "alerts.#"]
)"),
                                 "Component.toml");
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->patterns(Permission::NetConnect).size(), 5u);
  EXPECT_EQ(manifest->patterns(Permission::MsgSubscribe).size(), 4u);
}

struct RuleCase {
  std::string_view body;  // appended to a valid [component] section; line 5 is its first line
  int line;
  std::string_view key;
  std::string_view rule;  // a part of the rule text
};

class ManifestRule : public testing::TestWithParam<RuleCase> {};

TEST_P(ManifestRule, IsRefusedWithFileLineKeyAndRule) {
  const RuleCase& c = GetParam();
  auto check = check_manifest(with_component(c.body), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u) << problems_text(check);
  const ManifestProblem& p = check.problems[0];
  EXPECT_EQ(p.file, "Component.toml");
  EXPECT_EQ(p.line, c.line) << p.to_string();
  EXPECT_EQ(p.key, c.key) << p.to_string();
  EXPECT_NE(p.rule.find(c.rule), std::string::npos) << p.to_string();
  auto parsed = parse_manifest(with_component(c.body), "Component.toml");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::InvalidManifest);
  EXPECT_EQ(parsed.error().message, p.to_string());
}

constexpr std::string_view kFs = "capabilities.filesystem.read[0]";
constexpr std::string_view kNet = "capabilities.network.connect[0]";
constexpr std::string_view kStore = "capabilities.storage.read[0]";
constexpr std::string_view kSend = "capabilities.messaging.send[0]";
constexpr std::string_view kSub = "capabilities.messaging.subscribe[0]";

INSTANTIATE_TEST_SUITE_P(
    Filesystem, ManifestRule,
    testing::Values(
        RuleCase{"[capabilities]\nfilesystem.read = [\"/ok\", \"etc/passwd\"]", 6,
                 "capabilities.filesystem.read[1]", "\"etc/passwd\" is not an absolute path"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/../etc\"]", 6, kFs,
                 "\"/srv/../etc\" has a '..' segment"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/./etc\"]", 6, kFs, "has a '.' segment"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv//etc\"]", 6, kFs, "contains '//'"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/\\u0000x\"]", 6, kFs,
                 "\"/srv/\\x00x\" contains a control character (byte 0x00)"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/\\tx\"]", 6, kFs,
                 "contains a control character (byte 0x09)"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/\\u007f\"]", 6, kFs,
                 "contains a control character (byte 0x7f)"},
        RuleCase{"[capabilities]\nfilesystem.write = []", 6, "capabilities.filesystem.write",
                 "empty array"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"\"]", 6, kFs, "empty pattern"},
        RuleCase{"[capabilities]\nfilesystem.read = [\n  \"/a\",\n  \"/a\",\n]", 8,
                 "capabilities.filesystem.read[1]",
                 "\"/a\" is a duplicate of capabilities.filesystem.read[0]"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/\"]", 6, kFs, "ends with '/'"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/a**\"]", 6, kFs,
                 "'**' must be a whole segment"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/[ab\"]", 6, kFs,
                 "'[' without a closing ']'"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/{a,b\"]", 6, kFs,
                 "'{' without a closing '}'"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/srv/a}\"]", 6, kFs,
                 "'}' without an opening '{'"},
        RuleCase{"[capabilities]\nfilesystem.read = \"/srv\"", 6, "capabilities.filesystem.read",
                 "must be an array of strings, not a string"},
        RuleCase{"[capabilities]\nfilesystem.read = [7]", 6, kFs,
                 "must be a string, not an integer"},
        RuleCase{"[capabilities]\nfilesystem = [\"/srv\"]", 6, "capabilities.filesystem",
                 "must be a table of permissions"},
        RuleCase{"[capabilities]\nfilesystem.delete = [\"/srv\"]", 6,
                 "capabilities.filesystem.delete",
                 "unknown permission filesystem.delete (known for filesystem: read, write, "
                 "execute)"},
        RuleCase{"[capabilities]\n\"filesystem.read\" = [\"/srv\"]", 6,
                 "capabilities.\"filesystem.read\"", "quoted key"},
        RuleCase{"[capabilities]\nprocess.spawn = [\"x\"]", 6, "capabilities.process",
                 "unknown resource"}));

INSTANTIATE_TEST_SUITE_P(
    Network, ManifestRule,
    testing::Values(
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:0\"]", 6, kNet,
                 "\"example.com:0\" has port 0 outside 1-65535"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:65536\"]", 6, kNet,
                 "has port 65536 outside 1-65535"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:99999999999999999999999\"]", 6,
                 kNet, "outside 1-65535"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:*\"]", 6, kNet,
                 "has a wildcard port"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:4*\"]", 6, kNet,
                 "has a wildcard port"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com\"]", 6, kNet, "has no port"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:\"]", 6, kNet,
                 "has an empty port"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:https\"]", 6, kNet,
                 "which is not a number"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.com:0443\"]", 6, kNet,
                 "leading zero"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"a.*.com:443\"]", 6, kNet,
                 "host wildcard that is not a leading '*.' label"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"*example.com:443\"]", 6, kNet,
                 "host wildcard that is not a leading '*.' label"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"*:443\"]", 6, kNet,
                 "host wildcard that is not a leading '*.' label"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"example.*:443\"]", 6, kNet,
                 "host wildcard that is not a leading '*.' label"},
        RuleCase{"[capabilities]\nnetwork.connect = [\":443\"]", 6, kNet, "has an empty host"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"API.example.com:443\"]", 6, kNet,
                 "lowercase"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"ex_ample.com:443\"]", 6, kNet,
                 "has '_' in the host"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"-a.com:443\"]", 6, kNet,
                 "starts or ends with '-'"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"a..com:443\"]", 6, kNet, "empty host label"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"300.1.1.1:80\"]", 6, kNet,
                 "300 is above 255"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"10.1.1:80\"]", 6, kNet,
                 "not an IPv4 address"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"*.10.0.0:80\"]", 6, kNet,
                 "wildcard on an IP address"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"::1:443\"]", 6, kNet,
                 "write IPv6 addresses in brackets"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"[zz::1]:443\"]", 6, kNet,
                 "not an IPv6 address"},
        RuleCase{"[capabilities]\nnetwork.connect = [\"[::1]\"]", 6, kNet, "has no port"},
        RuleCase{"[capabilities]\nnetwork.bind = [\"0.0.0.0:*\"]", 6,
                 "capabilities.network.bind[0]", "wildcard port"}));

INSTANTIATE_TEST_SUITE_P(
    StorageAndMessaging, ManifestRule,
    testing::Values(
        RuleCase{"[capabilities]\nstorage.read = [\"orders::x\"]", 6, kStore, "empty segment"},
        RuleCase{"[capabilities]\nstorage.read = [\"orders:\"]", 6, kStore, "empty segment"},
        RuleCase{"[capabilities]\nstorage.read = [\"*:orders\"]", 6, kStore,
                 "'*' before the last segment"},
        RuleCase{"[capabilities]\nstorage.read = [\"orders:pend*\"]", 6, kStore,
                 "'*' inside a segment"},
        RuleCase{"[capabilities]\nstorage.read = [\"Orders\"]", 6, kStore,
                 "\"Orders\" has 'O', outside [a-z0-9_-]"},
        RuleCase{"[capabilities]\nstorage.read = [\"orders.x\"]", 6, kStore, "has '.'"},
        RuleCase{"[capabilities]\nmessaging.send = [\"Billing\"]", 6, kSend,
                 "is not a component name"},
        RuleCase{"[capabilities]\nmessaging.send = [\"ab\"]", 6, kSend, "is not a component name"},
        RuleCase{"[capabilities]\nmessaging.send = [\"a*b\"]", 6, kSend,
                 "'*' other than as a single trailing '*'"},
        RuleCase{"[capabilities]\nmessaging.send = [\"audit-**\"]", 6, kSend,
                 "'*' other than as a single trailing '*'"},
        RuleCase{"[capabilities]\nmessaging.receive = [\"-x*\"]", 6,
                 "capabilities.messaging.receive[0]", "is not a component-name prefix"},
        RuleCase{"[capabilities]\nmessaging.publish = [\"orders..created\"]", 6,
                 "capabilities.messaging.publish[0]", "empty level"},
        RuleCase{"[capabilities]\nmessaging.publish = [\"orders/created\"]", 6,
                 "capabilities.messaging.publish[0]", "has '/', outside [a-zA-Z0-9_-]"},
        RuleCase{"[capabilities]\nmessaging.subscribe = [\"alerts.#.x\"]", 6, kSub,
                 "'#' before the last level"},
        RuleCase{"[capabilities]\nmessaging.subscribe = [\"orders.cr*\"]", 6, kSub,
                 "inside a level"},
        RuleCase{"[capabilities]\nmessaging.subscribe = [\"orders.#x\"]", 6, kSub,
                 "inside a level"},
        RuleCase{"[capabilities]\nmessaging.shout = [\"x\"]", 6, "capabilities.messaging.shout",
                 "unknown permission messaging.shout"}));

INSTANTIATE_TEST_SUITE_P(
    Quota, ManifestRule,
    testing::Values(
        RuleCase{"[quota]\nstorage = \"50XB\"", 6, "quota.storage", "unknown unit 'XB'"},
        RuleCase{"[quota]\nstorage = \"50\"", 6, "quota.storage", "has no unit"},
        RuleCase{"[quota]\nstorage = 50", 6, "quota.storage",
                 "must be a string with a unit (e.g. \"128MB\"), not an integer"},
        RuleCase{"[quota]\nstorage = \"0MB\"", 6, "quota.storage", "must be more than 0"},
        RuleCase{"[quota]\nstorage = \"-5MB\"", 6, "quota.storage", "is not a size"},
        RuleCase{"[quota]\nstorage = \"1.5MB\"", 6, "quota.storage", "sizes are whole numbers"},
        RuleCase{"[quota]\nstorage = \"99999999999999999999TB\"", 6, "quota.storage", "too large"},
        RuleCase{"[quota]\nstorage = \"99999999TB\"", 6, "quota.storage", "too large"},
        RuleCase{"[quota]\nstorage = \"2000TB\"", 6, "quota.storage",
                 "2000 TiB is more than the limit of 1024 TiB"},
        RuleCase{"[quota]\nmessage_rate = 0", 6, "quota.message_rate", "must be more than 0"},
        RuleCase{"[quota]\nmessage_rate = -1", 6, "quota.message_rate", "-1 is negative"},
        RuleCase{"[quota]\nmessage_rate = \"500\"", 6, "quota.message_rate",
                 "must be a whole number of messages per second (e.g. 500), not a string"},
        RuleCase{"[quota]\nmessage_rate = 2.5", 6, "quota.message_rate", "whole number"},
        RuleCase{"[quota]\nmessage_rate = 2000000", 6, "quota.message_rate",
                 "more than the limit of 1000000 messages/s"},
        RuleCase{"[quota]\nnetwork_bandwidth = \"5MB\"", 6, "quota.network_bandwidth",
                 "\"5MB\" is a rate and must end in /s"},
        RuleCase{"[quota]\nnetwork_bandwidth = \"5XB/s\"", 6, "quota.network_bandwidth",
                 "unknown unit"},
        RuleCase{"[quota]\nnetwork_bandwidth = \"5/s\"", 6, "quota.network_bandwidth",
                 "has no unit"},
        RuleCase{"[quota]\nnetwork_bandwidth = \"0KB/s\"", 6, "quota.network_bandwidth",
                 "must be more than 0"},
        RuleCase{"[quota]\ncpu_time = \"500us/s\"", 6, "quota.cpu_time",
                 "unknown unit \"us/s\" in \"500us/s\""},
        RuleCase{"[quota]\ncpu_time = \"500ms\"", 6, "quota.cpu_time", "must end in /s"},
        RuleCase{"[quota]\ncpu_time = \"ms/s\"", 6, "quota.cpu_time", "is not a CPU time"},
        RuleCase{"[quota]\ncpu_time = \"0ms/s\"", 6, "quota.cpu_time", "must be more than 0"},
        RuleCase{"[quota]\ncpu_time = \"64001ms/s\"", 6, "quota.cpu_time",
                 "64001ms/s is more than the limit of 64000ms/s"},
        RuleCase{"[quota]\ncpu_time = \"99999999999999999999999ms/s\"", 6, "quota.cpu_time",
                 "too large"},
        RuleCase{"[quota]\nmemory = \"32KB\"", 6, "quota.memory", "less than one 64 KB"},
        RuleCase{"[quota]\nmemory = \"5GB\"", 6, "quota.memory",
                 "5 GiB is more than the limit of 4 GiB"},
        RuleCase{"[quota]\ndisk = \"5MB\"", 6, "quota.disk", "unknown key"}));

INSTANTIATE_TEST_SUITE_P(
    SectionsAndConfig, ManifestRule,
    testing::Values(
        RuleCase{"[extras]\nx = 1", 5, "extras", "unknown section or key"},
        RuleCase{"[[quota]]\nstorage = \"5MB\"", 5, "quota", "must be a table ([quota])"},
        RuleCase{"[config]\nx = nan", 6, "config.x", "must be a finite number"},
        RuleCase{"[config.a]\nlist = [1, inf]", 6, "config.a.list[1]", "must be a finite number"},
        RuleCase{"[config]\nenv = 3", 6, "config.env", "must be a table of strings"},
        RuleCase{"[config.env]\nPORT = 8080", 6, "config.env.PORT", "must be a string, not"},
        RuleCase{"[config.env]\n1X = \"a\"", 6, "config.env.1X",
                 "is not an environment variable name"},
        RuleCase{"[config.env]\n\"A=B\" = \"a\"", 6, "config.env.\"A=B\"",
                 "is not an environment variable name"},
        RuleCase{"[config.env]\nA = \"x\\u0000y\"", 6, "config.env.A", "NUL"},
        RuleCase{"[capabilities]\nfilesystem.read = [\"/a\"", 6, "", "TOML syntax error"},
        RuleCase{"name = \"again\"", 5, "", "TOML syntax error"}));

struct ComponentCase {
  std::string_view section;  // the whole [component] section; line 1 is its header
  int line;
  std::string_view key;
  std::string_view rule;
};

class ComponentRule : public testing::TestWithParam<ComponentCase> {};

TEST_P(ComponentRule, IsRefusedWithFileLineKeyAndRule) {
  const ComponentCase& c = GetParam();
  auto check = check_manifest(c.section, "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u) << problems_text(check);
  const ManifestProblem& p = check.problems[0];
  EXPECT_EQ(p.line, c.line) << p.to_string();
  EXPECT_EQ(p.key, c.key) << p.to_string();
  EXPECT_NE(p.rule.find(c.rule), std::string::npos) << p.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Component, ComponentRule,
    testing::Values(
        ComponentCase{"", 0, "component", "missing required section [component]"},
        ComponentCase{"component = \"order-validator\"", 1, "component",
                      "must be a table ([component])"},
        ComponentCase{"capabilities = 5\n[component]\nname = \"abc\"\nversion = \"1.0.0\"", 1,
                      "capabilities", "must be a table ([capabilities])"},
        ComponentCase{"[quota]\nmemory = \"1MB\"", 0, "component", "missing required section"},
        ComponentCase{"[component]\nversion = \"1.0.0\"", 1, "component.name",
                      "missing required key"},
        ComponentCase{"[component]\nname = \"abc\"", 1, "component.version",
                      "missing required key"},
        ComponentCase{"[component]\nname = \"Order_Validator\"\nversion = \"1.0.0\"", 2,
                      "component.name", "\"Order_Validator\" is not a valid component name"},
        ComponentCase{"[component]\nname = \"ab\"\nversion = \"1.0.0\"", 2, "component.name",
                      "is not a valid component name"},
        ComponentCase{"[component]\nname = \"-abc\"\nversion = \"1.0.0\"", 2, "component.name",
                      "is not a valid component name"},
        ComponentCase{"[component]\nname = \"abc-\"\nversion = \"1.0.0\"", 2, "component.name",
                      "is not a valid component name"},
        ComponentCase{"[component]\nname = 5\nversion = \"1.0.0\"", 2, "component.name",
                      "must be a string, not an integer"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2\"", 3, "component.version",
                      "\"1.2\" is not a SemVer 2.0.0 version: it needs exactly MAJOR.MINOR.PATCH"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"01.2.3\"", 3, "component.version",
                      "the major version '01' has a leading zero"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"v1.2.3\"", 3, "component.version",
                      "starts with 'v'"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.x\"", 3, "component.version",
                      "the patch version 'x' is not a number"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.3-\"", 3, "component.version",
                      "pre-release after '-' is empty"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.3-01\"", 3, "component.version",
                      "pre-release identifier '01' has a leading zero"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.3-a..b\"", 3,
                      "component.version", "pre-release has an empty identifier"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.3+\"", 3, "component.version",
                      "build metadata after '+' is empty"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.3+b_1\"", 3,
                      "component.version", "build metadata has '_'"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.2.3.4\"", 3, "component.version",
                      "exactly MAJOR.MINOR.PATCH"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = 1", 3, "component.version",
                      "must be a string, not an integer"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nhomepage = \"x\"", 4,
                      "component.homepage", "unknown key"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\ndescription = \"\"", 4,
                      "component.description", "is empty"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nauthor = \"a\\u0001\"", 4,
                      "component.author", "control character (byte 0x01)"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"Apache 2.0\"",
                      4, "component.license", "not an SPDX license expression"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"MIT OR\"", 4,
                      "component.license", "ends where a license identifier is expected"},
        ComponentCase{
            "[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"(MIT AND BSD-3-Clause\"",
            4, "component.license", "'(' is not closed"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"GPL/2\"", 4,
                      "component.license", "'GPL/2' is not a license identifier"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"MIT WITH\"", 4,
                      "component.license", "WITH must be followed by an exception"},
        ComponentCase{"[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"\"", 4,
                      "component.license", "it is empty"}));

TEST(Manifest, SemVerFollowsTheSpecification) {
  for (std::string_view v :
       {"0.0.0", "1.2.3", "10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
        "1.0.0-x.7.z.92", "1.0.0-alpha+001", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD", "1.0.0-x-y-z.--", "1.0.0-0A"}) {
    EXPECT_TRUE(is_semver(v)) << v;
  }
  for (std::string_view v :
       {"",           "1",      "1.2",    "1.2.3.4",  "01.1.1",   "1.01.1",  "1.1.01",
        "1.2.3-0123", "1.2.3-", "1.2.3+", "+invalid", "-invalid", "1.2.3-+", "1.2.3-a+b+c",
        "1.2.3-é",    "v1.2.3", " 1.2.3", "1.2.3 ",   "1.2.-3",   "1..3"}) {
    EXPECT_FALSE(is_semver(v)) << v;
  }
}

TEST(Manifest, ComponentNamesFollowTheRule) {
  for (std::string n : {"abc", "a-b", "order-validator", "a--b", "0ab", "a-0"}) {
    EXPECT_TRUE(is_valid_component_name(n)) << n;
  }
  EXPECT_TRUE(is_valid_component_name(std::string(64, 'a')));
  for (std::string n : {"", "a", "ab", "-ab", "ab-", "Abc", "a_b", "a.b", "a b", "ab*"}) {
    EXPECT_FALSE(is_valid_component_name(n)) << n;
  }
  EXPECT_FALSE(is_valid_component_name(std::string(65, 'a')));
}

TEST(Manifest, LicenseExpressionsInSpdxFormAreAccepted) {
  for (std::string_view license :
       {"MIT", "Apache-2.0", "MIT OR Apache-2.0", "(MIT OR Apache-2.0) AND BSD-3-Clause",
        "GPL-2.0-or-later WITH Classpath-exception-2.0", "GPL-2.0+", "LicenseRef-Proprietary",
        "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2", "mit or apache-2.0", "((MIT))"}) {
    std::string text = "[component]\nname = \"abc\"\nversion = \"1.0.0\"\nlicense = \"" +
                       std::string(license) + "\"\n";
    auto manifest = parse_manifest(text, "Component.toml");
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->component.license, std::string(license));
  }
}

TEST(Manifest, DescriptionIsLimitedTo500Characters) {
  std::string ok(500, 'x');
  std::string multi_byte;
  for (int i = 0; i < 500; ++i) multi_byte += "é";
  for (const auto& d : {ok, multi_byte, std::string("line one\n\tline two")}) {
    nlohmann::json escaped = d;
    auto text =
        "[component]\nname = \"abc\"\nversion = \"1.0.0\"\ndescription = " + escaped.dump() + "\n";
    auto manifest = parse_manifest(text, "Component.toml");
    ASSERT_TRUE(manifest) << manifest.error().message;
    EXPECT_EQ(manifest->component.description, d);
  }
  auto text = "[component]\nname = \"abc\"\nversion = \"1.0.0\"\ndescription = \"" +
              std::string(501, 'x') + "\"\n";
  auto check = check_manifest(text, "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].to_string(),
            "Component.toml:4: component.description: has 501 characters; at most 500 are "
            "allowed");
}

TEST(Manifest, TheMessageHasTheDocumentedShape) {
  auto result = parse_manifest(with_component(R"([capabilities]
filesystem.read = ["/srv", "../etc"]
)"),
                               "Component.toml");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message,
            "Component.toml:6: capabilities.filesystem.read[1]: \"../etc\" is not an absolute "
            "path\nComponent.toml:6: capabilities.filesystem.read[1]: \"../etc\" has a '..' "
            "segment");
  EXPECT_EQ(result.error().category(), ErrorCategory::Usage);
}

TEST(Manifest, EveryProblemIsReportedInFileOrder) {
  std::string text = R"([component]
name = "Bad_Name"
version = "1.0"
colour = "red"

[capabilities]
network.connect = ["example.com:*"]
filesystem.read = ["relative", "/ok", "/ok"]
storage.read = []

[quota]
memory = "12XB"
cpu_time = 5
)";
  auto check = check_manifest(text, "Component.toml");
  std::vector<std::pair<int, std::string>> got;
  for (const auto& p : check.problems) got.emplace_back(p.line, p.key);
  std::vector<std::pair<int, std::string>> expected = {
      {2, "component.name"},
      {3, "component.version"},
      {4, "component.colour"},
      {7, "capabilities.network.connect[0]"},
      {8, "capabilities.filesystem.read[0]"},
      {8, "capabilities.filesystem.read[2]"},
      {9, "capabilities.storage.read"},
      {12, "quota.memory"},
      {13, "quota.cpu_time"},
  };
  // Problems on one line come in key order, which is the order within the line here.
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, expected) << problems_text(check);
  auto parsed = parse_manifest(text, "Component.toml");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(std::count(parsed.error().message.begin(), parsed.error().message.end(), '\n'),
            static_cast<long>(expected.size()) - 1);
  int previous = 0;
  for (const auto& p : check.problems) {
    EXPECT_GE(p.line, previous);
    previous = p.line;
  }
}

TEST(Manifest, ManyProblemsAreCappedWithACount) {
  std::string body = "[capabilities]\nfilesystem.read = [";
  for (int i = 0; i < 1500; ++i) body += "\"rel" + std::to_string(i) + "\",";
  body += "]\n";
  auto check = check_manifest(with_component(body), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1001u);
  EXPECT_EQ(check.problems.back().rule, "500 more problems not shown");
}

TEST(Manifest, HostileInputIsRefusedWithoutCrashing) {
  // Over the size limit.
  std::string huge = with_component("[config]\nx = \"" + std::string(2 * MiB, 'a') + "\"\n");
  auto check = check_manifest(huge, "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems[0].rule.find("larger than 1 MiB"), std::string::npos);

  // A huge pattern under the size limit: refused, and the message stays short.
  std::string long_pattern =
      with_component("[capabilities]\nfilesystem.read = [\"/" + std::string(900000, 'a') + "\"]");
  check = check_manifest(long_pattern, "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems[0].rule.find("is longer than 4096 bytes"), std::string::npos);
  EXPECT_LT(check.problems[0].to_string().size(), 200u);

  // Deeply nested arrays and inline tables.
  check = check_manifest(
      with_component("[config]\nx = " + std::string(100000, '[') + std::string(100000, ']')),
      "Component.toml");
  ASSERT_FALSE(check.problems.empty());
  EXPECT_NE(check.problems[0].rule.find("TOML syntax error"), std::string::npos);
  std::string inline_tables = "[config]\nx = ";
  for (int i = 0; i < 10000; ++i) inline_tables += "{a = ";
  check = check_manifest(with_component(inline_tables), "Component.toml");
  ASSERT_FALSE(check.problems.empty());

  // Deeply nested dotted keys and table headers.
  std::string dotted = "[config]\n";
  for (int i = 0; i < 200000; ++i) dotted += "a.";
  check = check_manifest(with_component(dotted + "b = 1\n"), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].line, 6);
  EXPECT_NE(check.problems[0].rule.find("nested this deep"), std::string::npos);
  std::string header = "[config";
  for (int i = 0; i < 200000; ++i) header += ".a";
  check = check_manifest(with_component(header + "]\n"), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  // Nesting that stays under the limit still parses.
  std::string moderate = "[config]\n";
  for (int i = 0; i < 900; ++i) moderate += "a.";
  EXPECT_TRUE(parse_manifest(with_component(moderate + "b = 1\n"), "Component.toml"));

  // Invalid UTF-8, in a value and in a key.
  check = check_manifest(with_component("[config]\nx = \"\xff\xfe\"\n"), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].line, 6);
  EXPECT_NE(check.problems[0].rule.find("utf-8"), std::string::npos);
  check = check_manifest(with_component("[config]\n\"\xc3\x28\" = 1\n"), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);

  // NUL bytes, raw and escaped.
  std::string raw_nul = with_component("[capabilities]\nfilesystem.read = [\"/a");
  raw_nul += '\0';
  raw_nul += "\"]\n";
  check = check_manifest(raw_nul, "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems[0].rule.find("TOML syntax error"), std::string::npos);
  std::string trailing_nul = with_component("");
  trailing_nul += '\0';
  EXPECT_FALSE(parse_manifest(trailing_nul, "Component.toml"));
  check = check_manifest(with_component("[capabilities]\nstorage.read = [\"a\\u0000b\"]\n"),
                         "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_NE(check.problems[0].to_string().find("\"a\\x00b\" contains a control character"),
            std::string::npos);

  // Control characters in key names are shown escaped.
  check =
      check_manifest(with_component("[capabilities]\n\"\\u0007\" = [\"x\"]\n"), "Component.toml");
  ASSERT_EQ(check.problems.size(), 1u);
  EXPECT_EQ(check.problems[0].key, "capabilities.\"\\x07\"");
}

TEST(Manifest, RandomMutationsOfAValidManifestNeverCrash) {
  std::mt19937 random(20240501);
  std::string base(kSpecExample);
  constexpr std::string_view alphabet =
      "[]{}\"'=.,:*#/\\\n \x00\x01\xff"
      "abc019-_"sv;
  for (int round = 0; round < 3000; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(random() % 8);
    for (int e = 0; e < edits; ++e) {
      size_t at = random() % (text.size() + 1);
      switch (random() % 3) {
        case 0:
          text.insert(at, 1, alphabet[random() % alphabet.size()]);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default:
          if (at < text.size()) text[at] = alphabet[random() % alphabet.size()];
          break;
      }
    }
    auto check = check_manifest(text, "Component.toml");
    for (const auto& p : check.problems) {
      EXPECT_FALSE(p.rule.empty());
      EXPECT_EQ(p.file, "Component.toml");
    }
  }
}

class ManifestFile : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path();
  }
  airssys::wasm::test::TempDir tmp_{"manifest"};
  std::filesystem::path dir_;
};

TEST_F(ManifestFile, LoadsAFileAndNamesItInMessages) {
  auto path = dir_ / "Component.toml";
  std::ofstream(path) << kSpecExample;
  auto manifest = load_manifest(path);
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->file, path.string());
  EXPECT_EQ(manifest->component.name, "order-validator");

  std::ofstream(path) << with_component("[quota]\nmemory = \"1XB\"\n");
  auto bad = load_manifest(path);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidManifest);
  EXPECT_TRUE(bad.error().message.starts_with(path.string() + ":6: quota.memory: "))
      << bad.error().message;
}

TEST_F(ManifestFile, AnUnreadablePathIsAnIoError) {
  auto missing = load_manifest(dir_ / "missing.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::IoError);
  EXPECT_NE(missing.error().message.find("missing.toml"), std::string::npos);
  auto directory = load_manifest(dir_);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().code, ErrorCode::IoError);
}

TEST_F(ManifestFile, AnOversizedFileIsRefused) {
  auto path = dir_ / "Component.toml";
  std::ofstream(path) << with_component("[config]\nx = \"" + std::string(kMaxManifestBytes, 'a') +
                                        "\"\n");
  auto manifest = load_manifest(path);
  ASSERT_FALSE(manifest);
  EXPECT_EQ(manifest.error().code, ErrorCode::InvalidManifest);
  EXPECT_NE(manifest.error().message.find("larger than 1 MiB"), std::string::npos);
}

}  // namespace
}  // namespace airssys::wasm::security

#include "airssys/wasm/security/capability.hpp"

namespace airssys::wasm::security {
namespace {

// Found by fuzz_manifest: the manifest accepted a host whose last label is all
// digits ("exam0leom.0"), which the network matcher refuses. Whatever the
// manifest accepts, the capability set must build.
TEST(ManifestFuzzRegression, AcceptedPatternsAlwaysBuildACapabilitySet) {
  constexpr std::string_view kText = R"([component]
name = "order-validator"
version = "1.2.0"

[capabilities]
network.connect = ["*.cdn.exam0leom.0:80"]
storage.read = ["*"]
)";
  auto check = check_manifest(kText, "Component.toml");
  if (check.problems.empty()) {
    EXPECT_TRUE(CapabilitySet::build(check.manifest.capabilities).has_value());
  } else {
    bool named = false;
    for (const auto& p : check.problems) named |= p.key.starts_with("capabilities.");
    EXPECT_TRUE(named);
  }
  auto net = check_manifest(
      "[component]\nname = \"abc\"\nversion = \"1.0.0\"\n[capabilities]\n"
      "network.connect = [\"*.cdn.exam0leom.0:80\"]\n",
      "Component.toml");
  ASSERT_EQ(net.problems.size(), 1u);
  EXPECT_EQ(net.problems[0].line, 5);
  EXPECT_EQ(net.problems[0].key, "capabilities.network.connect[0]");
}

}  // namespace
}  // namespace airssys::wasm::security
