// The airssys:host world served to components: C components of
// tests/components/world (built against sdk/c/airssys_world.h, made
// components by jco) run through cm::ComponentInstance against
// host::add_wasi2 and host::add_airssys_world over a real ComponentContext:
// a SQLite key-value store, an audit log, a component log and a loopback
// HTTP server. The handlers are called as the host calls them; the answers,
// the audit records, the store and the server say what the imports did.
// Messaging goes through a port of this test that records what it is asked
// (the component layer's port is tested with it). Without jco the components
// are not made and these tests skip.
#include "airssys/wasm/host/world.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/wasi2.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/storage/kv.hpp"

#include "../support/loopback_http.hpp"
#include "../support/temp_dir.hpp"

namespace airssys::wasm::host {
namespace {

namespace fs = std::filesystem;
using cm::Kind;
using cm::Val;
using security::Permission;

fs::path built(const std::string& name) {
  return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "world" / (name + ".wasm");
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string handler(std::string_view function) {
  return fmt::format("{}/handler@{}#{}", kWorldPackage, kWorldVersion, function);
}

// What the component asks of messaging, recorded; a reply finds a request
// only when the test delivered one with that id.
class RecordingPort : public MessagingPort {
 public:
  AbiError send(std::string_view target, std::span<const uint8_t> payload) override {
    sent.emplace_back(target, std::string(payload.begin(), payload.end()));
    return AbiError::Ok;
  }
  int64_t request(std::string_view target, std::span<const uint8_t> payload,
                  uint32_t timeout_ms) override {
    requests.push_back(fmt::format("{} {} {}", target,
                                   std::string(payload.begin(), payload.end()), timeout_ms));
    return next_id++;
  }
  AbiError reply(uint64_t id, std::span<const uint8_t> payload) override {
    if (!awaiting.erase(id)) return AbiError::NoRequest;
    replies[id] = std::string(payload.begin(), payload.end());
    return AbiError::Ok;
  }
  int32_t publish(std::string_view topic, std::span<const uint8_t> payload) override {
    published.emplace_back(topic, std::string(payload.begin(), payload.end()));
    return static_cast<int32_t>(subscriptions.size());
  }
  AbiError subscribe(std::string_view filter) override {
    subscriptions.insert(std::string(filter));
    return AbiError::Ok;
  }
  AbiError unsubscribe(std::string_view filter) override {
    return subscriptions.erase(std::string(filter)) ? AbiError::Ok : AbiError::NotFound;
  }
  uint64_t max_payload() const override { return max; }

  uint64_t max = 4096;
  int64_t next_id = 500;
  std::set<uint64_t> awaiting;
  std::map<uint64_t, std::string> replies;
  std::vector<std::pair<std::string, std::string>> sent;
  std::vector<std::string> requests;
  std::vector<std::pair<std::string, std::string>> published;
  std::set<std::string> subscriptions;
};

struct Grants {
  std::vector<std::string> read{}, write{}, remove{}, send{}, publish{}, subscribe{}, connect{};
};

class WorldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(built("probe"))) {
      GTEST_SKIP() << "the world's components were not made: jco is not installed";
    }
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(mutex);
      records.push_back(r);
    };
    audit = security::AuditLog::without_file(std::move(options)).value();
    auto opened = storage::KeyValueStore::open({.data_dir = dir.path() / "data"});
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
    store = std::move(*opened);
  }

  // A component named `name` of the world, granted `grants`, instantiated
  // against WASI 0.2 and the world over a context with the store, the log
  // and (unless `with_port` is false) the recording port.
  void start(const std::string& component, const std::string& name, const Grants& grants,
             security::ResourceQuota quotas = {}, LogOptions log_options = {},
             bool with_port = true) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::StorageRead)] = grants.read;
    lists[static_cast<size_t>(Permission::StorageWrite)] = grants.write;
    lists[static_cast<size_t>(Permission::StorageDelete)] = grants.remove;
    lists[static_cast<size_t>(Permission::MsgSend)] = grants.send;
    lists[static_cast<size_t>(Permission::MsgPublish)] = grants.publish;
    lists[static_cast<size_t>(Permission::MsgSubscribe)] = grants.subscribe;
    lists[static_cast<size_t>(Permission::NetConnect)] = grants.connect;
    auto caps = security::CapabilitySet::build(lists);
    ASSERT_TRUE(caps.has_value()) << caps.error().to_string();
    auto security = security::WasmSecurityContext::create(name, std::move(*caps),
                                                          security::TrustLevel::Trusted, quotas);
    ASSERT_TRUE(security.has_value()) << security.error().to_string();
    WasiOptions wasi;
    wasi.stdout_sink = [this](std::span<const uint8_t> b) { output.append(b.begin(), b.end()); };
    wasi.stderr_sink = wasi.stdout_sink;
    context = std::make_unique<ComponentContext>(
        std::move(wasi), SecurityBinding{*security, nullptr, audit.get(), {}, nullptr});
    context->set_kv(store.get());
    if (with_port) context->set_messaging(&port);
    log = std::make_unique<ComponentLog>(
        name,
        [this](const LogLine& line) {
          log_lines.push_back(fmt::format("{} {}", log_level_name(line.level), line.text));
        },
        log_options);
    context->set_log(log.get());

    auto decoded = cm::decode_component(read_bytes(built(component)), component, *engine);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    imports = std::make_unique<cm::HostInstance>();
    add_wasi2(*imports, *context);
    add_airssys_world(*imports, *context);
    auto made = cm::ComponentInstance::instantiate(*decoded, *engine, *imports);
    ASSERT_TRUE(made.has_value()) << made.error().to_string();
    instance = std::move(*made);
  }

  Result<std::vector<Val>> call(std::string_view function, std::vector<Val> args) {
    return instance->call(handler(function), args);
  }

  static Val message(uint64_t kind, uint64_t id, std::string sender,
                     std::optional<std::string> topic, std::string_view payload) {
    Val bytes{Kind::List, 0, {}, {}};
    for (unsigned char c : payload) bytes.items.push_back(Val::u(Kind::U8, c));
    Val t{Kind::Option, topic ? 1u : 0u, {}, {}};
    if (topic) t.items.push_back(Val::string(*topic));
    return Val{Kind::Record,
               0,
               {},
               {Val{Kind::Enum, kind, {}, {}}, Val::u(Kind::U64, id), Val::string(std::move(sender)),
                std::move(t), std::move(bytes)}};
  }

  // Sends `text` as a request from the host; the component's reply.
  std::string ask(const std::string& text) {
    const uint64_t id = ++asked;
    port.awaiting.insert(id);
    auto r = call("handle-message", {message(1, id, "host", std::nullopt, text)});
    EXPECT_TRUE(r.has_value()) << text << ": " << r.error().to_string();
    auto it = port.replies.find(id);
    return it == port.replies.end() ? "(no reply)" : it->second;
  }

  // The audit records of `permission` with `result` on `resource`.
  size_t audited(std::string_view permission, security::AuditResult result,
                 std::string_view resource = {}) {
    audit->flush();
    std::lock_guard lock(mutex);
    size_t n = 0;
    for (const auto& r : records) {
      if (r.permission == permission && r.result == result &&
          (resource.empty() || r.resource == resource)) {
        ++n;
      }
    }
    return n;
  }

  std::string value_in_store(const std::string& ns, const std::string& key) {
    auto v = store->get(ns, key);
    EXPECT_TRUE(v.has_value());
    if (!v || !*v) return "(absent)";
    return std::string((*v)->begin(), (*v)->end());
  }

  test::TempDir dir{"world"};
  std::unique_ptr<storage::KeyValueStore> store;
  // Before the audit log, which writes them until it is gone.
  std::mutex mutex;
  std::vector<security::AuditRecord> records;
  std::unique_ptr<security::AuditLog> audit;
  RecordingPort port;
  std::string output;
  std::vector<std::string> log_lines;
  std::unique_ptr<ComponentLog> log;
  std::unique_ptr<ComponentContext> context;
  std::unique_ptr<cm::HostInstance> imports;
  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  std::unique_ptr<cm::ComponentInstance> instance;
  uint64_t asked = 0;
};

const Grants kCounterGrants{.read = {"counter:*"}, .write = {"counter:*"}, .remove = {"counter:*"}};

TEST_F(WorldTest, KeyValueCallsWorkAndTheStateIsInTheStore) {
  start("probe", "probe", kCounterGrants);
  EXPECT_EQ(ask("get counter:a"), "ok absent");
  EXPECT_EQ(ask("set counter:a 41"), "ok ");
  EXPECT_EQ(ask("set counter:b forty two"), "ok ");
  EXPECT_EQ(ask("get counter:b"), "ok forty two");
  EXPECT_EQ(ask("exists counter:a"), "ok true");
  EXPECT_EQ(ask("exists counter:c"), "ok false");
  EXPECT_EQ(ask("list counter: - 10"), "ok counter:a,counter:b");
  EXPECT_EQ(ask("list counter: counter:a 10"), "ok counter:b");
  EXPECT_EQ(ask("list counter: - 1"), "ok counter:a");
  EXPECT_EQ(ask("list counter: - 0"), "ok ");
  EXPECT_EQ(value_in_store("probe", "counter:a"), "41");
  EXPECT_EQ(value_in_store("probe", "counter:b"), "forty two");
  EXPECT_EQ(ask("usage"), fmt::format("ok {}", store->usage("probe").value()));
  EXPECT_EQ(store->usage("probe").value(), 9u + 2 + 9 + 9);
  EXPECT_EQ(ask("delete counter:a"), "ok true");
  EXPECT_EQ(ask("delete counter:a"), "ok false");
  EXPECT_EQ(value_in_store("probe", "counter:a"), "(absent)");
  EXPECT_GE(audited("storage.write", security::AuditResult::Granted, "counter:a"), 1u);
}

TEST_F(WorldTest, TheNativeTierServesTheSameWorld) {
  auto native = engine::Engine::native();
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  engine = std::move(*native);
  start("probe", "probe", {.read = {"counter:*"}, .write = {"counter:*"}, .send = {"echo"}});
  EXPECT_EQ(ask("set counter:a 7"), "ok ");
  EXPECT_EQ(ask("get counter:a"), "ok 7");
  EXPECT_EQ(ask("set other:a 7"), "error denied");
  EXPECT_EQ(ask("send echo hi"), "ok ");
  EXPECT_EQ(ask("send ledger hi"), "error denied");
  EXPECT_EQ(value_in_store("probe", "counter:a"), "7");
  EXPECT_EQ(audited("storage.write", security::AuditResult::Denied, "other:a"), 1u);
}

TEST_F(WorldTest, AnUngrantedKeyIsDeniedAndOnRecord) {
  start("probe", "probe", kCounterGrants);
  EXPECT_EQ(ask("set secret:x 1"), "error denied");
  EXPECT_EQ(ask("get secret:x"), "error denied");
  EXPECT_EQ(ask("delete secret:x"), "error denied");
  EXPECT_EQ(ask("exists secret:x"), "error denied");
  EXPECT_EQ(ask("list secret: - 10"), "error denied");
  EXPECT_EQ(audited("storage.write", security::AuditResult::Denied, "secret:x"), 1u);
  EXPECT_EQ(audited("storage.read", security::AuditResult::Denied, "secret:x"), 2u);
  EXPECT_EQ(audited("storage.delete", security::AuditResult::Denied, "secret:x"), 1u);
  EXPECT_EQ(audited("storage.read", security::AuditResult::Denied, "secret:*"), 1u);
  EXPECT_EQ(value_in_store("probe", "secret:x"), "(absent)");
}

TEST_F(WorldTest, WithoutAStoreKeyValueCallsAreUnavailable) {
  start("probe", "probe", kCounterGrants);
  context->set_kv(nullptr);
  EXPECT_EQ(ask("set counter:a 1"), "error unavailable");
  EXPECT_EQ(ask("get counter:a"), "error unavailable");
  EXPECT_EQ(ask("usage"), "ok 0");
}

TEST_F(WorldTest, AStorageFloodStopsAtTheQuotaOnRecord) {
  security::ResourceQuota quotas;
  quotas.storage_bytes = 1000;
  start("hostile", "hostile", {.read = {"*"}, .write = {"*"}, .remove = {"*"}}, quotas);
  // flood:0..9 take 7 + 100 bytes each: nine fit in 1000.
  EXPECT_EQ(ask("flood-kv 20 100"), "ok=9 quota=11");
  EXPECT_EQ(store->usage("hostile").value(), 9u * 107);
  {
    audit->flush();
    std::lock_guard lock(mutex);
    size_t quota_denials = 0;
    for (const auto& r : records) {
      if (r.permission == "storage.write" && r.result == security::AuditResult::Denied &&
          r.layer == security::DecisionLayer::Quota) {
        ++quota_denials;
      }
    }
    EXPECT_GE(quota_denials, 1u);
  }
  // A value over the maximum is too large, after the grant check, on record.
  EXPECT_EQ(ask(fmt::format("flood-kv 1 {}", 1024 * 1024 + 1)), "too-large=1");
  EXPECT_EQ(audited("storage.write", security::AuditResult::Denied, "flood:0"), 1u);
}

TEST_F(WorldTest, MalformedKeysAndNamesAreInvalidAnswersNotTraps) {
  start("hostile", "hostile",
        {.read = {"*"}, .write = {"*"}, .remove = {"*"}, .send = {"*"}, .publish = {"*"},
         .subscribe = {"*"}});
  std::string all_invalid;
  for (int i = 0; i < 7 * 4 + 2; ++i) all_invalid += i ? " invalid" : "invalid";
  EXPECT_EQ(ask("bad-keys"), all_invalid);
  all_invalid.clear();
  for (int i = 0; i < 3 * 3 + 1; ++i) all_invalid += i ? " invalid" : "invalid";
  EXPECT_EQ(ask("bad-names"), all_invalid);
  EXPECT_TRUE(port.sent.empty());
  EXPECT_TRUE(port.published.empty());
  EXPECT_TRUE(port.subscriptions.empty());
  EXPECT_EQ(store->usage("hostile").value(), 0u);
}

TEST_F(WorldTest, MessagingGoesThroughThePortUnderTheGrants) {
  start("probe", "probe",
        {.send = {"echo"}, .publish = {"orders.*"}, .subscribe = {"orders.#"}});
  EXPECT_EQ(ask("self"), "ok probe");
  EXPECT_EQ(ask("send echo hello there"), "ok ");
  ASSERT_EQ(port.sent.size(), 1u);
  EXPECT_EQ(port.sent[0], (std::pair<std::string, std::string>("echo", "hello there")));
  EXPECT_EQ(ask("send ledger hello"), "error denied");
  EXPECT_EQ(port.sent.size(), 1u);
  EXPECT_EQ(audited("messaging.send", security::AuditResult::Denied, "ledger"), 1u);

  EXPECT_EQ(ask("subscribe orders.#"), "ok ");
  EXPECT_EQ(ask("subscribe payments.#"), "error denied");
  EXPECT_EQ(audited("messaging.subscribe", security::AuditResult::Denied, "payments.#"), 1u);
  EXPECT_EQ(ask("publish orders.new one"), "ok 1");
  EXPECT_EQ(ask("publish payments.new one"), "error denied");
  EXPECT_EQ(audited("messaging.publish", security::AuditResult::Denied, "payments.new"), 1u);
  EXPECT_EQ(ask("unsubscribe orders.#"), "ok ");
  EXPECT_EQ(ask("unsubscribe orders.#"), "error not-found");

  EXPECT_EQ(ask("request echo ping 250"), "ok 500");
  ASSERT_EQ(port.requests.size(), 1u);
  EXPECT_EQ(port.requests[0], "echo ping 250");
  EXPECT_EQ(ask("request ledger ping 0"), "error denied");

  // A reply to an id that awaits none reaches nobody and is on record.
  EXPECT_EQ(ask("reply 77 forged"), "error no-request");
  EXPECT_EQ(ask("reply 0 forged"), "error no-request");
  EXPECT_EQ(audited("messaging.reply", security::AuditResult::Denied, "correlation 77"), 1u);
}

TEST_F(WorldTest, RepliesAndTimeoutsArriveAtHandleReply) {
  start("probe", "probe", {.send = {"echo"}});
  ASSERT_EQ(ask("request echo ping 100"), "ok 500");
  Val pong{Kind::List, 0, {}, {Val::u(Kind::U8, 'p'), Val::u(Kind::U8, 'o')}};
  ASSERT_TRUE(call("handle-reply", {Val::u(Kind::U64, 500), Val{Kind::Result, 0, {}, {pong}}}));
  // error case 6 of the world's error variant: timeout.
  ASSERT_TRUE(call("handle-reply", {Val::u(Kind::U64, 501),
                                    Val{Kind::Result, 1, {}, {Val{Kind::Variant, 6, {}, {}}}}}));
  EXPECT_EQ(log_lines, (std::vector<std::string>{"info reply 500 ok po", "info reply 501 error timeout"}));
}

TEST_F(WorldTest, APayloadOverThePortsMaximumIsTooLargeOnRecord) {
  start("hostile", "hostile", {.send = {"echo"}, .publish = {"topic"}});
  port.max = 100;
  EXPECT_EQ(ask("oversize echo 101"), "too-large too-large too-large");
  EXPECT_EQ(ask("oversize echo 100"), "ok ok no-request");
  EXPECT_EQ(audited("messaging.payload", security::AuditResult::Denied), 3u);
  // The first grant is checked before the payload: an ungranted target is denied.
  EXPECT_EQ(ask("oversize ledger 101"), "denied too-large too-large");
}

TEST_F(WorldTest, WithoutAMessagingPortMessagingTrapsAsTheCoreAbiDoes) {
  start("probe", "probe", kCounterGrants, {}, {}, /*with_port=*/false);
  auto r = call("handle-message", {message(0, 0, "host", std::nullopt, "self")});
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("airssys:host/messaging@0.3.0#self-id called without a "
                                   "component messaging port"),
            std::string::npos)
      << r.error().to_string();
}

TEST_F(WorldTest, LogLinesGoToTheComponentLogAndTheRateLimitAnswersQuota) {
  LogOptions limits;
  limits.lines_per_second = 10;
  start("probe", "probe", {});
  EXPECT_EQ(ask("log 3 careful now"), "ok ");
  EXPECT_EQ(ask("log 0 fine detail"), "ok ");
  EXPECT_EQ(log_lines, (std::vector<std::string>{"warn careful now", "trace fine detail"}));

  start("hostile", "hostile", {}, {}, limits);
  const std::string counts = ask("flood-log 200");
  int ok = 0, quota = 0;
  ASSERT_EQ(std::sscanf(counts.c_str(), "ok=%d quota=%d", &ok, &quota), 2) << counts;
  // Ten a second: the flood may straddle a few windows, never pass the limit in one.
  EXPECT_EQ(ok + quota, 200);
  EXPECT_GE(ok, 10);
  EXPECT_LT(ok, 100);
  EXPECT_EQ(log->dropped(), static_cast<uint64_t>(quota));
}

TEST_F(WorldTest, HandlersInitHealthAndShutdown) {
  start("probe", "probe", {});
  auto init = call("init", {Val::string(R"({"url": "http://127.0.0.1:1"})")});
  ASSERT_TRUE(init.has_value()) << init.error().to_string();
  ASSERT_EQ(init->size(), 1u);
  EXPECT_EQ((*init)[0], (Val{Kind::Result, 0, {}, {}}));
  auto failed = call("init", {Val::string(R"({"fail": true})")});
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ((*failed)[0],
            (Val{Kind::Result, 1, {}, {Val::string("the config asks this start to fail")}}));

  auto health = call("health", {});
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ((*health)[0], (Val{Kind::Variant, 0, {}, {}}));
  ask("self");
  health = call("health", {});
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ((*health)[0], (Val{Kind::Variant, 1, {}, {Val::string("1 commands")}}));

  ASSERT_TRUE(call("shutdown", {}).has_value());
  EXPECT_EQ(log_lines.back(), "info shutting down");
}

TEST_F(WorldTest, TheEchoAnswersEveryRequestWithItsPayload) {
  start("echo", "echo", {});
  for (const std::string& payload : std::vector<std::string>{"one", "", std::string(3000, 'x')}) {
    EXPECT_EQ(ask(payload), payload);
  }
  // A one-way message and a published one get no answer, and are counted.
  ASSERT_TRUE(call("handle-message", {message(0, 0, "probe", std::nullopt, "fire")}));
  ASSERT_TRUE(call("handle-message", {message(2, 0, "probe", "orders.new", "news")}));
  auto health = call("health", {});
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ((*health)[0], (Val{Kind::Variant, 1, {}, {Val::string("5 messages")}}));
  EXPECT_EQ(port.replies.size(), 3u);
  EXPECT_TRUE(port.awaiting.empty());
}

class WorldHttpTest : public WorldTest {
 protected:
  std::string base() const { return fmt::format("http://127.0.0.1:{}", server.port()); }
  std::string grant() const { return fmt::format("127.0.0.1:{}", server.port()); }

  test::Loopback server{[](const std::string& path) {
    if (path == "/hello") return test::reply(200, "X-Answer: 42\r\n", "hello");
    if (path == "/moved") return test::reply(302, "Location: /hello\r\n");
    if (path == "/away") return test::reply(302, "Location: http://127.0.0.1:1/\r\n");
    if (path == "/big") return test::reply(200, "", std::string(4000, 'b'));
    return test::reply(404, "", "no such page");
  }};
};

TEST_F(WorldHttpTest, FetchAnswersWithStatusHeadersAndBody) {
  start("probe", "probe", {.connect = {grant()}});
  auto init = call("init", {Val::string(fmt::format(R"({{"url": "{}"}})", base()))});
  ASSERT_TRUE(init.has_value());
  EXPECT_EQ(ask("fetch GET /hello"), "ok 200 x-answer=42 hello");
  EXPECT_EQ(ask("fetch GET /missing"), "ok 404 x-answer= no such page");
  EXPECT_EQ(ask("fetch GET /moved"), "ok 200 x-answer=42 hello");
  auto heads = server.heads();
  ASSERT_EQ(heads.size(), 4u);
  EXPECT_NE(heads[0].find("GET /hello HTTP/1.1"), std::string::npos) << heads[0];
  EXPECT_NE(heads[0].find("\r\nx-probe: yes"), std::string::npos) << heads[0];
  EXPECT_EQ(audited("network.connect", security::AuditResult::Granted, grant()), 4u);

  // A redirect to a host that is not granted is not followed.
  EXPECT_EQ(ask("fetch GET /away"), "error denied");
  EXPECT_EQ(audited("network.connect", security::AuditResult::Denied, "127.0.0.1:1"), 1u);
  EXPECT_EQ(server.heads().size(), 5u);
}

TEST_F(WorldHttpTest, UngrantedHostsAndMalformedRequestsAreRefused) {
  start("hostile", "hostile", {.connect = {grant()}});
  EXPECT_EQ(ask("fetch http://127.0.0.1:1/"), "denied");
  EXPECT_EQ(audited("network.connect", security::AuditResult::Denied, "127.0.0.1:1"), 1u);
  EXPECT_EQ(ask("fetch ftp://127.0.0.1/"), "invalid");
  // Host, Content-Length, Transfer-Encoding, a name that is no token, a
  // value with a line break, a lower-case method: nothing goes out.
  EXPECT_EQ(ask(fmt::format("bad-headers {}/hello", base())),
            "invalid invalid invalid invalid invalid invalid");
  EXPECT_TRUE(server.heads().empty());
}

TEST_F(WorldHttpTest, TheBandwidthQuotaAnswersQuotaOnRecord) {
  security::ResourceQuota quotas;
  quotas.network_bytes_per_second = 3000;
  start("hostile", "hostile", {.connect = {grant()}}, quotas);
  const std::string counts = ask(fmt::format("flood-fetch 3 {}/big", base()));
  EXPECT_EQ(counts, "quota=3") << counts;
  EXPECT_GE(audited("network.connect", security::AuditResult::Denied, grant()), 1u);
}

// liar.wit imports airssys:host/kv@0.3.0 `get` as func(key: u32) -> u32.
// The instantiation should refuse it; cm::ComponentInstance::instantiate does
// not compare the host function's type with the import's yet, and then the
// world's own check of its arguments refuses it at the first call: a trap
// that names the function, before any host code reads the value.
TEST_F(WorldTest, AnImportWithTheRightNameAndAWrongSignatureIsRefusedNamingTheFunction) {
  ComponentContext ctx(WasiOptions{});
  cm::HostInstance host;
  add_wasi2(host, ctx);
  add_airssys_world(host, ctx);
  auto component = cm::decode_component(read_bytes(built("liar")), "liar", *engine);
  ASSERT_TRUE(component.has_value()) << component.error().to_string();
  // Refused before anything runs, naming the import and both types.
  auto made = cm::ComponentInstance::instantiate(*component, *engine, host);
  ASSERT_FALSE(made.has_value()) << "the liar was instantiated";
  EXPECT_EQ(made.error().code, ErrorCode::IncompatibleImport) << made.error().to_string();
  EXPECT_NE(made.error().message.find("airssys:host/kv@0.3.0#get"), std::string::npos)
      << made.error().to_string();
  EXPECT_NE(made.error().message.find("func(key: u32) -> u32"), std::string::npos)
      << made.error().to_string();
}

}  // namespace
}  // namespace airssys::wasm::host
