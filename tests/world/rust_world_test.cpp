// Components of the world airssys:host@0.3.0 written in Rust against sdk/rust
// and made by the build (cmake/AirssysRust.cmake): they decode and validate,
// import nothing of airssys but the world's interfaces with the world's
// types, export exactly its handler; and the test component rust/all, run on
// both tiers against the host's world (host::add_airssys_world over a real
// context: a SQLite store, an audit log, a component log, a loopback HTTP
// server, messaging through a recording port), passes every value of every
// function through the crate's hand-written canonical ABI and back:
// parameters, return areas, cabi_realloc, post-return. The examples run
// against the same host.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../engine/tiers.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/wasi2.hpp"
#include "airssys/wasm/host/world.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/storage/kv.hpp"

#include "../support/loopback_http.hpp"
#include "../support/temp_dir.hpp"

namespace airssys::wasm::cm {
namespace {

namespace fs = std::filesystem;
using engine::Tier;
using security::Permission;

const std::string kHandler = "airssys:host/handler@0.3.0";

fs::path all_component() {
  return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "world" / "all.rust.wasm";
}

// The Rust components the build makes: the test component and the examples.
std::vector<fs::path> rust_components() {
  const fs::path examples = fs::path(AIRSSYS_BINARY_DIR) / "examples";
  return {all_component(), examples / "rust" / "echo" / "component.wasm",
          examples / "pipeline-rust" / "orders" / "component.wasm"};
}

#define SKIP_WITHOUT_RUST()                                                                \
  do {                                                                                     \
    if (std::string(AIRSSYS_RUST_MISSING) != "") {                                         \
      GTEST_SKIP() << "Rust components are not built: " << AIRSSYS_RUST_MISSING;           \
    }                                                                                      \
  } while (0)

std::shared_ptr<const Component> decode(const fs::path& path, engine::Engine& engine) {
  auto bytes = engine::read_module_file(path);
  EXPECT_TRUE(bytes.has_value()) << path << ": " << (bytes ? "" : bytes.error().to_string());
  if (!bytes) return nullptr;
  auto component = decode_component(*bytes, path.filename().string(), engine);
  EXPECT_TRUE(component.has_value()) << path << ": " << component.error().to_string();
  return component ? *component : nullptr;
}

// Every function of the world, with its type as the decoder prints it (the
// error variant written out where it appears).
const std::string kError =
    "variant { denied, quota, too-large, not-found, full, invalid, timeout, unavailable, "
    "no-request }";
const std::map<std::string, std::map<std::string, std::string>>& world_functions() {
  static const std::map<std::string, std::map<std::string, std::string>> functions = {
      {"airssys:host/messaging@0.3.0",
       {{"self-id", "func() -> string"},
        {"send", "func(target: string, payload: list<u8>) -> result<_, " + kError + ">"},
        {"request", "func(target: string, payload: list<u8>, timeout-ms: u32) -> result<u64, " +
                        kError + ">"},
        {"reply", "func(correlation-id: u64, payload: list<u8>) -> result<_, " + kError + ">"},
        {"publish", "func(topic: string, payload: list<u8>) -> result<u32, " + kError + ">"},
        {"subscribe", "func(filter: string) -> result<_, " + kError + ">"},
        {"unsubscribe", "func(filter: string) -> result<_, " + kError + ">"}}},
      {"airssys:host/kv@0.3.0",
       {{"get", "func(key: string) -> result<option<list<u8>>, " + kError + ">"},
        {"set", "func(key: string, value: list<u8>) -> result<_, " + kError + ">"},
        {"delete", "func(key: string) -> result<bool, " + kError + ">"},
        {"exists", "func(key: string) -> result<bool, " + kError + ">"},
        {"list", "func(prefix: string, after: string, limit: u32) -> result<list<string>, " +
                     kError + ">"},
        {"usage", "func() -> u64"}}},
      {"airssys:host/http@0.3.0",
       {{"fetch",
         "func(request: record { method: string, url: string, headers: list<tuple<string, "
         "string>>, body: list<u8>, timeout-ms: u32 }) -> result<record { status: u16, headers: "
         "list<tuple<string, string>>, body: list<u8> }, " +
             kError + ">"}}},
      {"airssys:host/logging@0.3.0",
       {{"log", "func(level: enum { trace, debug, info, warn, error }, message: string) -> "
                "result<_, " + kError + ">"}}},
      {kHandler,
       {{"init", "func(config: string) -> result<_, string>"},
        {"handle-message",
         "func(message: record { kind: enum { send, request, publish }, correlation-id: u64, "
         "sender: string, topic: option<string>, payload: list<u8> })"},
        {"handle-reply", "func(correlation-id: u64, reply: result<list<u8>, " + kError + ">)"},
        {"health", "func() -> variant { healthy, degraded(string), unhealthy(string) }"},
        {"shutdown", "func()"}}},
  };
  return functions;
}

// The functions of an imported or exported instance, by name with their types.
std::map<std::string, std::string> functions_of(const NamedExtern& instance) {
  std::map<std::string, std::string> out;
  for (const auto& e : instance.desc.instance->exports) {
    if (e.desc.sort == Sort::Func) out[e.name] = e.desc.func->to_string();
  }
  return out;
}

TEST(RustWorld, ComponentsImportOnlyTheWorldsInterfacesAndExportItsHandler) {
  SKIP_WITHOUT_RUST();
  auto engine = engine::Engine::interpreter();
  // What the host serves besides the world: WASI 0.2, which the preview 1
  // adapter imports for the Rust standard library.
  HostInstance wasi;
  host::ComponentContext context(host::WasiOptions{});
  host::add_wasi2(wasi, context);
  for (const auto& path : rust_components()) {
    SCOPED_TRACE(path.string());
    ASSERT_TRUE(fs::exists(path)) << "the build did not make it";
    auto component = decode(path, *engine);
    ASSERT_TRUE(component);
    std::set<std::string> world_imports;
    for (const auto& imp : component->type.imports) {
      ASSERT_EQ(imp.desc.sort, Sort::Instance) << imp.name;
      if (imp.name.starts_with("airssys:")) {
        world_imports.insert(imp.name);
        if (imp.name == "airssys:host/types@0.3.0") continue;
        auto world = world_functions().find(imp.name);
        ASSERT_NE(world, world_functions().end()) << "not an interface of the world: " << imp.name;
        // An import holds the functions the component uses, each with the world's type.
        for (const auto& [name, type] : functions_of(imp)) {
          auto expected = world->second.find(name);
          ASSERT_NE(expected, world->second.end()) << imp.name << " has no " << name;
          EXPECT_EQ(type, expected->second) << imp.name << "#" << name;
        }
      } else {
        EXPECT_TRUE(imp.name.starts_with("wasi:")) << imp.name;
        EXPECT_NE(wasi.find(imp.name), nullptr) << "the host serves no " << imp.name;
      }
    }
    EXPECT_TRUE(world_imports.contains("airssys:host/logging@0.3.0"));
    if (path == all_component()) {
      // It calls every function: it imports every interface of the world, whole.
      EXPECT_EQ(world_imports, (std::set<std::string>{
                                   "airssys:host/types@0.3.0", "airssys:host/messaging@0.3.0",
                                   "airssys:host/kv@0.3.0", "airssys:host/http@0.3.0",
                                   "airssys:host/logging@0.3.0"}));
      for (const auto& imp : component->type.imports) {
        auto world = world_functions().find(imp.name);
        if (world != world_functions().end()) {
          EXPECT_EQ(functions_of(imp), world->second);
        }
      }
    }
    ASSERT_EQ(component->type.exports.size(), 1u);
    const auto& handler = component->type.exports[0];
    EXPECT_EQ(handler.name, kHandler);
    ASSERT_EQ(handler.desc.sort, Sort::Instance);
    EXPECT_EQ(functions_of(handler), world_functions().at(kHandler));
  }
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// docs/guide-rust.md shows the echo example's code, its Cargo.toml and the
// examples' manifests: each such block is the file the build uses, so the
// guide shows what is built and tested here.
TEST(RustWorld, TheGuideShowsTheBuiltExamples) {
  const fs::path root(AIRSSYS_SOURCE_DIR);
  std::istringstream guide(read_text(root / "docs/guide-rust.md"));
  const std::vector<fs::path> sources = {
      root / "examples/rust/echo/src/lib.rs", root / "examples/rust/echo/Cargo.toml",
      root / "examples/rust/echo/Component.toml",
      root / "examples/pipeline/orders-rust/Component.toml"};
  std::string line, info, block;
  bool open = false;
  int checked = 0;
  while (std::getline(guide, line)) {
    if (!line.starts_with("```")) {
      if (open) block += line + "\n";
      continue;
    }
    if (!open) {
      open = true;
      info = line.substr(3);
      block.clear();
      continue;
    }
    open = false;
    if (info != "rust" && !info.ends_with("Cargo.toml") && !info.ends_with("Component.toml")) continue;
    ++checked;
    bool found = false;
    for (const auto& source : sources) {
      const std::string text = read_text(source);
      // Code is quoted from its file; a manifest or Cargo.toml is the whole file.
      found = found || (info == "rust" ? text.find(block) != std::string::npos : text == block);
    }
    EXPECT_TRUE(found) << "docs/guide-rust.md: this " << info << " block is in no example:\n" << block;
  }
  EXPECT_EQ(checked, 4);
}

// ---------------------------------------------------------------- values

Val str(std::string s) { return Val::string(std::move(s)); }
Val bytes(const std::string& s) {
  Val v{Kind::List, 0, {}, {}};
  for (unsigned char c : s) v.items.push_back(Val::u(Kind::U8, c));
  return v;
}
Val ok(std::vector<Val> payload = {}) { return Val{Kind::Result, 0, {}, std::move(payload)}; }
Val err_string(std::string s) { return Val{Kind::Result, 1, {}, {str(std::move(s))}}; }
// The world's error variant: denied 0, quota 1, too-large 2, not-found 3,
// full 4, invalid 5, timeout 6, unavailable 7, no-request 8.
Val err(uint64_t error) { return Val{Kind::Result, 1, {}, {Val{Kind::Variant, error, {}, {}}}}; }
Val u64(uint64_t v) { return Val::u(Kind::U64, v); }

// What the component asks of messaging, recorded. Delivering messages is the
// component layer's (a ComponentRuntime: tests/component/world_test.cpp and
// the polyglot pipeline of tests/cli/polyglot_test.cpp run Rust components
// of the world there); the handlers are called here one by one, as that
// runtime calls them, so the port stands in for it with the answers it
// gives: correlation ids, subscriber counts, `not-found` for a target that
// is gone, `no-request` for a reply that answers nothing. Everything before
// the port (names, grants, payload limits, audit) is the real host's.
class RecordingPort : public host::MessagingPort {
 public:
  host::AbiError send(std::string_view target, std::span<const uint8_t> payload) override {
    calls.push_back(fmt::format("send {} {} {}", target, payload.size(),
                                std::string(payload.begin(), payload.end()).substr(0, 16)));
    return target == "gone" ? host::AbiError::NotFound : host::AbiError::Ok;
  }
  int64_t request(std::string_view target, std::span<const uint8_t> payload,
                  uint32_t timeout_ms) override {
    calls.push_back(fmt::format("request {} {} {}", target,
                                std::string(payload.begin(), payload.end()), timeout_ms));
    return static_cast<int64_t>(next_id++);
  }
  host::AbiError reply(uint64_t id, std::span<const uint8_t> payload) override {
    calls.push_back(fmt::format("reply {} {}", id, std::string(payload.begin(), payload.end())));
    return awaiting.erase(id) ? host::AbiError::Ok : host::AbiError::NoRequest;
  }
  int32_t publish(std::string_view topic, std::span<const uint8_t> payload) override {
    calls.push_back(fmt::format("publish {} {}", topic, std::string(payload.begin(), payload.end())));
    return 3;
  }
  host::AbiError subscribe(std::string_view filter) override {
    calls.push_back(fmt::format("subscribe {}", filter));
    return host::AbiError::Ok;
  }
  host::AbiError unsubscribe(std::string_view filter) override {
    calls.push_back(fmt::format("unsubscribe {}", filter));
    return filter == "never.subscribed" ? host::AbiError::NotFound : host::AbiError::Ok;
  }
  uint64_t max_payload() const override { return 64 * 1024; }

  uint64_t next_id = 7'000'000'000'123ull;
  std::set<uint64_t> awaiting;
  std::vector<std::string> calls;
};

// The component's grants: what the commands below use, and nothing else.
struct Grants {
  std::vector<std::string> read{}, write{}, remove{}, send{}, publish{}, subscribe{}, connect{};
};

class RustWorldRun : public ::testing::TestWithParam<Tier> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_RUST();
    open_host();
    ASSERT_NO_FATAL_FAILURE(start(all_component()));
  }

  // The audit log (its records kept here) and the store.
  void open_host() {
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(records_mutex_);
      records_.push_back(r);
    };
    audit_ = security::AuditLog::without_file(std::move(options)).value();
    auto opened = storage::KeyValueStore::open({.data_dir = dir_.path() / "data"});
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
    store_ = std::move(*opened);
  }

  Grants all_grants() const {
    return {.read = {"k", "absent", "big", "p:*"},
            .write = {"k", "big", "p:*"},
            .remove = {"k", "other"},
            .send = {"bob", "gone"},
            .publish = {"orders.accepted"},
            .subscribe = {"orders.*"},
            .connect = {fmt::format("127.0.0.1:{}", server_.port()), "127.0.0.1:1"}};
  }

  // Instantiates the component at `path`, named "all-test", on the tier
  // under test against WASI 0.2 and the host's world, over a context with the
  // SQLite store (unless `with_store` is false), the audit log, a component
  // log and the recording port.
  void start(const fs::path& path, std::optional<Grants> grants = std::nullopt,
             security::ResourceQuota quotas = {}, host::LogOptions log_options = {},
             bool with_store = true) {
    if (GetParam() == Tier::Native) {
      // The native code of the components is kept in the build tree:
      // compiled once, not once per test process.
      engine::NativeOptions native;
      native.cache_dir = AIRSSYS_WORLD_NATIVE_CACHE;
      auto engine = engine::Engine::native(native);
      ASSERT_TRUE(engine.has_value()) << engine.error().to_string();
      engine_ = std::move(*engine);
    } else {
      engine_ = engine::Engine::interpreter();
    }
    const Grants g = grants ? *grants : all_grants();
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::StorageRead)] = g.read;
    lists[static_cast<size_t>(Permission::StorageWrite)] = g.write;
    lists[static_cast<size_t>(Permission::StorageDelete)] = g.remove;
    lists[static_cast<size_t>(Permission::MsgSend)] = g.send;
    lists[static_cast<size_t>(Permission::MsgPublish)] = g.publish;
    lists[static_cast<size_t>(Permission::MsgSubscribe)] = g.subscribe;
    lists[static_cast<size_t>(Permission::NetConnect)] = g.connect;
    auto caps = security::CapabilitySet::build(lists);
    ASSERT_TRUE(caps.has_value()) << caps.error().to_string();
    auto security = security::WasmSecurityContext::create("all-test", std::move(*caps),
                                                          security::TrustLevel::Trusted, quotas);
    ASSERT_TRUE(security.has_value()) << security.error().to_string();
    context_ = std::make_unique<host::ComponentContext>(
        host::WasiOptions{},
        host::SecurityBinding{*security, nullptr, audit_.get(), {}, nullptr});
    if (with_store) context_->set_kv(store_.get());
    context_->set_messaging(&port_);
    log_ = std::make_unique<host::ComponentLog>(
        "all-test",
        [this](const host::LogLine& line) {
          log_calls_.push_back(fmt::format("{} {}", host::log_level_name(line.level), line.text));
          if (line.level == host::LogLevel::Info) logs_.emplace_back(line.text);
        },
        log_options);
    context_->set_log(log_.get());

    ASSERT_TRUE(fs::exists(path)) << path << ": the build did not make it";
    component_ = decode(path, *engine_);
    ASSERT_TRUE(component_);
    imports_ = std::make_unique<HostInstance>();
    host::add_wasi2(*imports_, *context_);
    host::add_airssys_world(*imports_, *context_);
    ComponentOptions options;
    options.limits.max_memory_bytes = 4 * 1024 * 1024;
    auto instance = ComponentInstance::instantiate(component_, *engine_, *imports_, options);
    ASSERT_TRUE(instance.has_value()) << instance.error().to_string();
    instance_ = std::move(*instance);
  }

  std::vector<Val> call(const std::string& fn, std::vector<Val> args) {
    auto r = instance_->call(kHandler + "#" + fn, args);
    EXPECT_TRUE(r.has_value()) << fn << ": " << r.error().to_string();
    return r ? *r : std::vector<Val>{};
  }

  static Val message(uint64_t kind, uint64_t correlation, std::string sender,
                     std::optional<std::string> topic, const std::string& payload) {
    Val t{Kind::Option, topic ? 1u : 0u, {}, {}};
    if (topic) t.items.push_back(str(*topic));
    return Val{Kind::Record, 0, {},
               {Val{Kind::Enum, kind, {}, {}}, u64(correlation), str(std::move(sender)), t,
                bytes(payload)}};
  }

  // Sends a command as a message from the host and returns the last info line logged.
  std::string command(const std::string& text) {
    logs_.clear();
    call("handle-message", {message(0, 0, "host", std::nullopt, text)});
    return logs_.empty() ? "" : logs_.back();
  }

  std::string last_call() const { return port_.calls.empty() ? "" : port_.calls.back(); }

  // The audit records of `permission` with `result`.
  size_t audited(std::string_view permission, security::AuditResult result) {
    audit_->flush();
    std::lock_guard lock(records_mutex_);
    size_t n = 0;
    for (const auto& r : records_) n += r.permission == permission && r.result == result;
    return n;
  }

  test::TempDir dir_{"rust-world"};
  std::mutex records_mutex_;
  std::vector<security::AuditRecord> records_;
  std::unique_ptr<storage::KeyValueStore> store_;
  std::unique_ptr<security::AuditLog> audit_;
  test::Loopback server_{[](const std::string& path) {
    if (path == "/x") return test::reply(201, "Content-Type: text/plain\r\nX-A: b\r\n", "pong");
    return test::reply(404, "", "no such page");
  }};
  RecordingPort port_;
  std::vector<std::string> log_calls_;  // "<level> <message>" of every line logged
  std::vector<std::string> logs_;       // the messages of lines at level info
  std::unique_ptr<host::ComponentLog> log_;
  std::unique_ptr<host::ComponentContext> context_;
  std::unique_ptr<HostInstance> imports_;
  std::unique_ptr<engine::Engine> engine_;
  std::shared_ptr<const Component> component_;
  std::unique_ptr<ComponentInstance> instance_;
};

TEST_P(RustWorldRun, InitGetsTheConfigAndItsErrorTextComesBack) {
  EXPECT_EQ(call("init", {str(R"({"greeting":"h\u00e9"})")}), std::vector{ok()});
  EXPECT_EQ(logs_, std::vector<std::string>{R"(init {"greeting":"h\u00e9"})"});
  EXPECT_EQ(call("init", {str("{}")}), std::vector{ok()});
  EXPECT_EQ(call("init", {str(R"({"mode":"refuse"})")}),
            std::vector{err_string(R"(refused the configuration {"mode":"refuse"})")});
  // An empty configuration crosses as an empty string.
  EXPECT_EQ(call("init", {str("")}), std::vector{ok()});
}

TEST_P(RustWorldRun, EveryFieldOfAMessageArrives) {
  call("handle-message", {message(1, 5'000'000'000ull, "alice", "orders.accepted", "hi")});
  EXPECT_EQ(logs_.at(0), R"(message Request 5000000000 alice Some("orders.accepted") 2 hi)");
  logs_.clear();
  call("handle-message", {message(2, 0, "b\xc3\xb6", std::nullopt, "")});
  EXPECT_EQ(logs_.at(0), "message Publish 0 b\xc3\xb6 None 0 ");
  // A request answered through the message itself: reply with its correlation id.
  port_.awaiting.insert(41);
  call("handle-message", {message(1, 41, "alice", std::nullopt, "reply-this pong")});
  EXPECT_EQ(last_call(), "reply 41 pong");
  EXPECT_EQ(logs_.back(), "reply-this ok ()");
  // A message that is not a request has nothing to reply to: the host's
  // guard, before any port.
  const size_t calls = port_.calls.size();
  EXPECT_EQ(command("reply-this pong"), "reply-this err no-request");
  EXPECT_EQ(port_.calls.size(), calls);
}

// The crate serves a handler's arguments from a buffer of its own (16 KiB),
// a larger one from its allocator, freed after the handler; the buffer
// serves the next message again. Each message arrives whole, in turn.
TEST_P(RustWorldRun, MessagesLargerAndSmallerThanTheCratesArgumentBufferArriveWhole) {
  const size_t sizes[] = {3, 40000, 16380, 5, 16384, 30000, 1};
  for (size_t size : sizes) {
    std::string payload(size, ' ');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + (i * 7 + size) % 26);
    logs_.clear();
    call("handle-message", {message(2, 0, "alice", "t" + std::to_string(size), payload)});
    ASSERT_FALSE(logs_.empty()) << size;
    EXPECT_EQ(logs_.at(0), fmt::format(R"(message Publish 0 alice Some("t{}") {} {})", size, size,
                                       payload.substr(0, 32)));
  }
}

TEST_P(RustWorldRun, MessagingFunctionsPassTheirArgumentsAndEveryResultCase) {
  EXPECT_EQ(command("self-id"), "self-id all-test");
  EXPECT_EQ(command("send bob hello"), "send ok ()");
  EXPECT_EQ(last_call(), "send bob 5 hello");
  EXPECT_EQ(command("send gone hello"), "send err not-found");
  // Refused by the host before the port: no grant, a malformed name.
  const size_t calls = port_.calls.size();
  EXPECT_EQ(command("send nobody hello"), "send err denied");
  EXPECT_EQ(command("send bad\x01name hello"), "send err invalid");
  EXPECT_EQ(port_.calls.size(), calls);
  EXPECT_EQ(command("send bob " + std::string(64 * 1024 + 1, 'x')), "send err too-large");
  EXPECT_EQ(port_.calls.size(), calls);
  EXPECT_EQ(command("request bob order 250"), "request ok 7000000000123");
  EXPECT_EQ(last_call(), "request bob order 250");
  EXPECT_EQ(command("request nobody x 1"), "request err denied");
  port_.awaiting.insert(8'000'000'000ull);
  EXPECT_EQ(command("reply 8000000000 answer"), "reply ok ()");
  EXPECT_EQ(last_call(), "reply 8000000000 answer");
  EXPECT_EQ(command("reply 99 late"), "reply err no-request");
  EXPECT_EQ(command("publish orders.accepted o1"), "publish ok 3");
  EXPECT_EQ(last_call(), "publish orders.accepted o1");
  EXPECT_EQ(command("publish forbidden o1"), "publish err denied");
  EXPECT_EQ(command("subscribe orders.*"), "subscribe ok ()");
  EXPECT_EQ(last_call(), "subscribe orders.*");
  EXPECT_EQ(command("subscribe payments.*"), "subscribe err denied");
  EXPECT_EQ(command("unsubscribe orders.*"), "unsubscribe ok ()");
  EXPECT_EQ(last_call(), "unsubscribe orders.*");
  EXPECT_EQ(command("unsubscribe never.subscribed"), "unsubscribe err not-found");
  EXPECT_GE(audited("messaging.send", security::AuditResult::Denied), 2u);
}

TEST_P(RustWorldRun, KeyValueFunctionsPassTheirArgumentsAndEveryResultCase) {
  EXPECT_EQ(command("set k v1"), "set ok ()");
  EXPECT_EQ(command("get k"), R"(get ok Some("v1"))");
  EXPECT_EQ(command("get absent"), "get ok None");
  EXPECT_EQ(command("get secret"), "get err denied");
  EXPECT_EQ(command("exists k"), "exists ok true");
  EXPECT_EQ(command("exists absent"), "exists ok false");
  // Keys are printable ASCII (the host answers `invalid` for any other);
  // strings of other bytes cross in EveryFieldOfAMessageArrives.
  for (const char* key : {"p:a", "p:b", "p:c"}) {
    EXPECT_EQ(command(std::string("set ") + key + " 1"), "set ok ()");
  }
  EXPECT_EQ(command("set p:\xc3\xbc 1"), "set err invalid");
  EXPECT_EQ(command("list p: p:0 100"), "list ok [\"p:a\", \"p:b\", \"p:c\"]");
  EXPECT_EQ(command("list p: p:a 1"), "list ok [\"p:b\"]");
  EXPECT_EQ(command("list p: p:c 5"), "list ok []");
  // What the store holds, as the component's usage and the store say it:
  // each key's bytes and its value's.
  const uint64_t usage = store_->usage("all-test").value();
  EXPECT_EQ(usage, (1u + 2u) + 3 * (3u + 1u));
  EXPECT_EQ(command("usage"), "usage " + std::to_string(usage));
  EXPECT_EQ(command("delete k"), "delete ok true");
  EXPECT_EQ(command("delete other"), "delete ok false");
  EXPECT_EQ(store_->get("all-test", "k").value(), std::nullopt);
  EXPECT_EQ(audited("storage.read", security::AuditResult::Denied), 1u);
}

TEST_P(RustWorldRun, KeyValueQuotaAndSizeRefusalsAreErrorsOnRecord) {
  security::ResourceQuota quotas;
  quotas.storage_bytes = 64;
  ASSERT_NO_FATAL_FAILURE(start(all_component(), std::nullopt, quotas));
  EXPECT_EQ(command("set k " + std::string(40, 'v')), "set ok ()");
  EXPECT_EQ(command("set big " + std::string(40, 'v')), "set err quota");
  EXPECT_EQ(store_->get("all-test", "big").value(), std::nullopt);
  EXPECT_GE(audited("storage.write", security::AuditResult::Denied), 1u);
}

TEST_P(RustWorldRun, WithoutAStoreKeyValueCallsAreUnavailable) {
  ASSERT_NO_FATAL_FAILURE(start(all_component(), std::nullopt, {}, {}, /*with_store=*/false));
  EXPECT_EQ(command("exists k"), "exists err unavailable");
  EXPECT_EQ(command("get k"), "get err unavailable");
  EXPECT_EQ(command("usage"), "usage 0");
}

TEST_P(RustWorldRun, FetchPassesTheWholeRequestAndLiftsTheWholeResponse) {
  const std::string base = fmt::format("http://127.0.0.1:{}", server_.port());
  EXPECT_EQ(command("fetch POST " + base + "/x ping"),
            R"(fetch ok (201, [("Content-Length", "4"), ("Connection", "close"), )"
            R"(("Content-Type", "text/plain"), ("X-A", "b")], "pong"))");
  auto heads = server_.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_TRUE(heads[0].starts_with("POST /x HTTP/1.1\r\n")) << heads[0];
  EXPECT_NE(heads[0].find("\r\nx-one: 1"), std::string::npos) << heads[0];
  EXPECT_NE(heads[0].find("\r\nx-two: zwei"), std::string::npos) << heads[0];
  // Nobody listens on port 1, which is granted; the other port is not.
  EXPECT_EQ(command("fetch GET http://127.0.0.1:1/ "), "fetch err unavailable");
  EXPECT_EQ(command("fetch GET http://127.0.0.1:2/ "), "fetch err denied");
  EXPECT_EQ(server_.heads().size(), 1u);
}

TEST_P(RustWorldRun, LogPassesItsLevelAndARefusedLineIsAnError) {
  command("log warn careful");
  EXPECT_EQ(log_calls_[log_calls_.size() - 2], "warn careful");
  EXPECT_EQ(logs_.back(), "log ok ()");
  command("log debug x");
  EXPECT_EQ(log_calls_[log_calls_.size() - 2], "debug x");
  // Past the log's rate limit every line is refused, the component's own
  // report of the refusal included: what shows is that its calls go on (no
  // trap) and the log counts what it dropped.
  host::LogOptions limits;
  limits.lines_per_second = 3;
  ASSERT_NO_FATAL_FAILURE(start(all_component(), std::nullopt, {}, limits));
  for (int i = 0; i < 1000 && log_->dropped() == 0; ++i) command("log trace flood");
  EXPECT_GT(log_->dropped(), 0u);
  EXPECT_EQ(command("self-id"), "");  // its line, refused too, in the same second or not
  EXPECT_GE(log_calls_.size(), 3u);
}

TEST_P(RustWorldRun, RepliesAndTimeoutsArriveAtHandleReply) {
  logs_.clear();
  call("handle-reply", {u64(77), ok({bytes("answer")})});
  EXPECT_EQ(logs_.back(), R"(handle-reply 77 ok "answer")");
  call("handle-reply", {u64(9'000'000'000ull), err(6)});
  EXPECT_EQ(logs_.back(), "handle-reply 9000000000 err timeout");
  call("handle-reply", {u64(1), ok({bytes("")})});
  EXPECT_EQ(logs_.back(), R"(handle-reply 1 ok "")");
}

TEST_P(RustWorldRun, HealthAndShutdown) {
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 0, {}, {}})});
  command("health degraded slow-disk");
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 1, {}, {str("slow-disk")}})});
  command("health unhealthy broken");
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 2, {}, {str("broken")}})});
  logs_.clear();
  call("shutdown", {});
  EXPECT_EQ(logs_, std::vector<std::string>{"shutdown"});
}

TEST_P(RustWorldRun, WhatCrossesIsFreedAgain) {
  // Each core memory may hold 4 MB at most, and each route below carries
  // 4.8 MB or more into or out of the component: what the host hands over
  // (payloads, strings) and what the component hands back (the text of a
  // status or an init error, freed by post-return) must be freed again, or
  // these calls run out of memory and trap.
  const std::string big(16 * 1024, 'x');
  host::LogOptions unlimited;  // every line of these 1,800 calls is read
  unlimited.lines_per_second = 1'000'000;
  unlimited.bytes_per_second = 1ull << 40;
  ASSERT_NO_FATAL_FAILURE(start(all_component(), std::nullopt, {}, unlimited));
  ASSERT_EQ(command("set k v"), "set ok ()");
  for (int i = 0; i < 300; ++i) {
    call("handle-message", {message(0, 0, "host", std::nullopt, "send bob " + big)});
    ASSERT_EQ(last_call(), "send bob 16384 xxxxxxxxxxxxxxxx") << i;
    call("handle-reply", {u64(1), ok({bytes(big)})});
    ASSERT_EQ(logs_.back(), "handle-reply 1 ok \"16384 bytes\"") << i;
  }
  command("health degraded " + big);
  for (int i = 0; i < 300; ++i) {
    auto status = call("health", {});
    ASSERT_EQ(status.size(), 1u);
    ASSERT_EQ(status[0].items.at(0).text.size(), big.size()) << i;
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(call("init", {str("refuse " + big)})[0].bits, 1u) << i;
    EXPECT_EQ(command("get k"), R"(get ok Some("v"))");
  }
}

// The examples, run against the same host.
class RustExampleRun : public RustWorldRun {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_RUST();
    open_host();
  }
};

TEST_P(RustExampleRun, EchoAnswersEveryRequestWithItsPayloadAndLogsEachMessage) {
  ASSERT_NO_FATAL_FAILURE(start(fs::path(AIRSSYS_BINARY_DIR) / "examples/rust/echo/component.wasm",
                                Grants{}));
  EXPECT_EQ(call("init", {str("{}")}), std::vector{ok()});
  EXPECT_EQ(logs_, std::vector<std::string>{"echo: ready"});
  port_.awaiting.insert(12);
  call("handle-message", {message(1, 12, "alice", std::nullopt, "ping \x01\x02")});
  EXPECT_EQ(port_.calls, std::vector<std::string>{"reply 12 ping \x01\x02"});
  EXPECT_TRUE(port_.awaiting.empty());
  EXPECT_EQ(logs_.back(), "echo: message 1 (Request, 7 bytes) from alice");
  // A message that is no request is logged, not answered.
  call("handle-message", {message(0, 0, "bob", std::nullopt, "hello")});
  call("handle-message", {message(2, 0, "carol", "news", "extra")});
  EXPECT_EQ(port_.calls.size(), 1u);
  EXPECT_EQ(logs_.back(), "echo: message 3 (Publish, 5 bytes) from carol");
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 0, {}, {}})});
}

TEST_P(RustExampleRun, RustOrdersHaveEachOrderValidatedAndPublishTheAcceptedOnes) {
  // The grants of its manifest (examples/pipeline/orders-rust/Component.toml).
  ASSERT_NO_FATAL_FAILURE(
      start(fs::path(AIRSSYS_BINARY_DIR) / "examples/pipeline-rust/orders/component.wasm",
            Grants{.send = {"validator"}, .publish = {"orders.accepted"}}));
  EXPECT_EQ(call("init", {str("{}")}), std::vector{ok()});
  const uint64_t first = port_.next_id;
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 7 widget 3")});
  EXPECT_EQ(last_call(), "request validator order 7 widget 3 10000");
  EXPECT_EQ(logs_.back(), "orders: order 7 (3 x widget) sent for validation");
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 8 gadget 0")});
  call("handle-message", {message(0, 0, "host", std::nullopt, "nonsense")});
  EXPECT_EQ(logs_.back(), "orders: ignored a message from host that is not an order");
  EXPECT_EQ(port_.calls.size(), 2u);
  // The answers come back in another order than the requests went out.
  call("handle-reply", {u64(first + 1), ok({bytes("ok")})});
  EXPECT_EQ(last_call(), "publish orders.accepted order 8 gadget 0");
  EXPECT_EQ(logs_.back(), "orders: order 8 accepted, published to 3 subscriber(s)");
  // Answered once: a second reply under the same id is nobody's.
  call("handle-reply", {u64(first + 1), ok({bytes("ok")})});
  EXPECT_EQ(port_.calls.size(), 3u);
  call("handle-reply", {u64(first), ok({bytes("rejected: quantity")})});
  EXPECT_EQ(logs_.back(), "orders: order 7 rejected: quantity");
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 10 gizmo 1")});
  call("handle-reply", {u64(first + 2), err(6)});
  EXPECT_EQ(log_calls_.back(), "warn orders: order 10: no answer from the validator: timed out");
  EXPECT_EQ(port_.calls.size(), 4u);
  // Its grants hold: nothing but the validator may be asked.
  EXPECT_EQ(audited("messaging.send", security::AuditResult::Denied), 0u);
}

INSTANTIATE_TEST_SUITE_P(Tiers, RustExampleRun, ::testing::Values(Tier::Interp, Tier::Native),
                         engine::testing::tier_test_name);

INSTANTIATE_TEST_SUITE_P(Tiers, RustWorldRun, ::testing::Values(Tier::Interp, Tier::Native),
                         engine::testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::cm
