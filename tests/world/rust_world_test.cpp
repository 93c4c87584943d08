// Components of the world airssys:host@0.3.0 written in Rust against sdk/rust
// and made by the build (cmake/AirssysRust.cmake): they decode and validate,
// import nothing of airssys but the world's interfaces with the world's
// types, export exactly its handler; and the test component rust/all, run on
// both tiers against a host side of the world played here, passes every
// value of every function through the crate's hand-written canonical ABI and
// back: parameters, return areas, cabi_realloc, post-return.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../engine/tiers.hpp"
#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi2.hpp"

namespace airssys::wasm::cm {
namespace {

namespace fs = std::filesystem;
using engine::Tier;

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
std::string text_of(const Val& list) {
  std::string s;
  for (const auto& b : list.items) s.push_back(static_cast<char>(b.bits));
  return s;
}
Val ok(std::vector<Val> payload = {}) { return Val{Kind::Result, 0, {}, std::move(payload)}; }
Val err_string(std::string s) { return Val{Kind::Result, 1, {}, {str(std::move(s))}}; }
// The world's error variant: denied 0, quota 1, too-large 2, not-found 3,
// full 4, invalid 5, timeout 6, unavailable 7, no-request 8.
Val err(uint64_t error) { return Val{Kind::Result, 1, {}, {Val{Kind::Variant, error, {}, {}}}}; }
Val u64(uint64_t v) { return Val::u(Kind::U64, v); }

// The host side of the world, played by the test: every call recorded as a
// line, and answers chosen to reach every case of every result.
struct WorldHost {
  std::vector<std::string> calls;      // "send alice 2 hi", "set k v1", ... (all but log)
  std::vector<std::string> log_calls;  // "<level> <message>" of every log call
  std::vector<std::string> logs;       // the messages of log calls at level info

  Result<std::vector<Val>> call(const std::string& fn, std::span<const Val> a) {
    auto one = [](Val v) { return Result<std::vector<Val>>(std::vector<Val>{std::move(v)}); };
    if (fn == "self-id") return one(str("all-test"));
    if (fn == "send") {
      calls.push_back("send " + a[0].text + " " + std::to_string(a[1].items.size()) + " " +
                      text_of(a[1]).substr(0, 16));
      return one(a[0].text == "nobody" ? err(3) : ok());
    }
    if (fn == "request") {
      calls.push_back("request " + a[0].text + " " + text_of(a[1]) + " " +
                      std::to_string(a[2].bits));
      return one(a[0].text == "slow" ? err(6) : ok({u64(7'000'000'000'123ull)}));
    }
    if (fn == "reply") {
      calls.push_back("reply " + std::to_string(a[0].bits) + " " + text_of(a[1]));
      return one(a[0].bits == 99 ? err(8) : ok());
    }
    if (fn == "publish") {
      calls.push_back("publish " + a[0].text + " " + text_of(a[1]));
      return one(a[0].text == "forbidden" ? err(0) : ok({Val::u(Kind::U32, 3)}));
    }
    if (fn == "subscribe" || fn == "unsubscribe") {
      calls.push_back(fn + " " + a[0].text);
      return one(a[0].text == "bad#" ? err(5) : ok());
    }
    if (fn == "get") {
      if (a[0].text == "secret") return one(err(0));
      if (a[0].text == "absent") return one(ok({Val{Kind::Option, 0, {}, {}}}));
      return one(ok({Val{Kind::Option, 1, {}, {bytes("value of " + a[0].text)}}}));
    }
    if (fn == "set") {
      calls.push_back("set " + a[0].text + " " + text_of(a[1]));
      return one(a[0].text == "big" ? err(2) : ok());
    }
    if (fn == "delete") return one(ok({Val::boolean(a[0].text == "k")}));
    if (fn == "exists") {
      if (a[0].text == "nokv") return one(err(7));
      return one(ok({Val::boolean(a[0].text == "k")}));
    }
    if (fn == "list") {
      calls.push_back("list " + a[0].text + " " + a[1].text + " " + std::to_string(a[2].bits));
      Val keys{Kind::List, 0, {}, {}};
      if (a[0].text != "none") keys.items = {str("p:a"), str("p:b"), str("p:\xc3\xbc")};
      return one(ok({keys}));
    }
    if (fn == "usage") return one(u64(123'456'789'012ull));
    if (fn == "fetch") {
      const auto& r = a[0].items;  // method, url, headers, body, timeout-ms
      std::string headers;
      for (const auto& h : r[2].items) headers += h.items[0].text + "=" + h.items[1].text + ";";
      calls.push_back("fetch " + r[0].text + " " + r[1].text + " " + headers + " " +
                      text_of(r[3]) + " " + std::to_string(r[4].bits));
      if (r[1].text == "http://down/") return one(err(7));
      auto pair = [](std::string k, std::string v) {
        return Val{Kind::Tuple, 0, {}, {str(std::move(k)), str(std::move(v))}};
      };
      Val response{Kind::Record, 0, {}, {Val::u(Kind::U16, 201),
                                         Val{Kind::List, 0, {}, {pair("content-type", "text/plain"),
                                                                 pair("x-a", "b")}},
                                         bytes("pong:" + text_of(r[3]))}};
      return one(ok({response}));
    }
    if (fn == "log") {
      if (a[0].bits == 2) logs.push_back(a[1].text);
      log_calls.push_back(std::to_string(a[0].bits) + " " + a[1].text);
      return one(a[1].text.find("drop-me") != std::string::npos ? err(1) : ok());
    }
    return make_error(ErrorCode::InternalError, "the test host has no " + fn);
  }
};

class RustWorldRun : public ::testing::TestWithParam<Tier> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_RUST();
    start(all_component());
  }

  // Instantiates the component at `path` on the tier under test.
  void start(const fs::path& path) {
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
    ASSERT_TRUE(fs::exists(path)) << path << ": the build did not make it";
    component_ = decode(path, *engine_);
    ASSERT_TRUE(component_);
    // The world's interfaces with the types the component imports them with
    // (checked against the world above), served by the test host; WASI 0.2
    // by the product's own host.
    host::add_wasi2(imports_, context_);
    for (const auto& imp : component_->type.imports) {
      if (!imp.name.starts_with("airssys:")) continue;
      auto& instance = imports_.define_instance(imp.name);
      for (const auto& e : imp.desc.instance->exports) {
        if (e.desc.sort == Sort::Type) {
          instance.define_type(e.name);
        } else if (e.desc.sort == Sort::Func) {
          std::string fn = e.name;
          instance.define_func(e.name, *e.desc.func,
                               [this, fn](std::span<const Val> args) { return host_.call(fn, args); });
        }
      }
    }
    ComponentOptions options;
    options.limits.max_memory_bytes = 4 * 1024 * 1024;
    auto instance = ComponentInstance::instantiate(component_, *engine_, imports_, options);
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
    host_.logs.clear();
    call("handle-message", {message(0, 0, "host", std::nullopt, text)});
    return host_.logs.empty() ? "" : host_.logs.back();
  }

  WorldHost host_;
  host::ComponentContext context_{host::WasiOptions{}};
  HostInstance imports_;
  std::unique_ptr<engine::Engine> engine_;
  std::shared_ptr<const Component> component_;
  std::unique_ptr<ComponentInstance> instance_;
};

TEST_P(RustWorldRun, InitGetsTheConfigAndItsErrorTextComesBack) {
  EXPECT_EQ(call("init", {str(R"({"greeting":"h\u00e9"})")}), std::vector{ok()});
  EXPECT_EQ(host_.logs, std::vector<std::string>{R"(init {"greeting":"h\u00e9"})"});
  EXPECT_EQ(call("init", {str("{}")}), std::vector{ok()});
  EXPECT_EQ(call("init", {str(R"({"mode":"refuse"})")}),
            std::vector{err_string(R"(refused the configuration {"mode":"refuse"})")});
  // An empty configuration crosses as an empty string.
  EXPECT_EQ(call("init", {str("")}), std::vector{ok()});
}

TEST_P(RustWorldRun, EveryFieldOfAMessageArrives) {
  call("handle-message", {message(1, 5'000'000'000ull, "alice", "orders.accepted", "hi")});
  EXPECT_EQ(host_.logs.at(0), R"(message Request 5000000000 alice Some("orders.accepted") 2 hi)");
  host_.logs.clear();
  call("handle-message", {message(2, 0, "b\xc3\xb6", std::nullopt, "")});
  EXPECT_EQ(host_.logs.at(0), "message Publish 0 b\xc3\xb6 None 0 ");
  // A request answered through the message itself: reply with its correlation id.
  call("handle-message", {message(1, 41, "alice", std::nullopt, "reply-this pong")});
  EXPECT_EQ(host_.calls.back(), "reply 41 pong");
  EXPECT_EQ(host_.logs.back(), "reply-this ok ()");
  // A message that is not a request has nothing to reply to.
  EXPECT_EQ(command("reply-this pong"), "reply-this err no-request");
}

TEST_P(RustWorldRun, MessagingFunctionsPassTheirArgumentsAndEveryResultCase) {
  EXPECT_EQ(command("self-id"), "self-id all-test");
  EXPECT_EQ(command("send bob hello"), "send ok ()");
  EXPECT_EQ(host_.calls.back(), "send bob 5 hello");
  EXPECT_EQ(command("send nobody hello"), "send err not-found");
  EXPECT_EQ(command("request validator order 250"), "request ok 7000000000123");
  EXPECT_EQ(host_.calls.back(), "request validator order 250");
  EXPECT_EQ(command("request slow x 1"), "request err timeout");
  EXPECT_EQ(command("reply 8000000000 answer"), "reply ok ()");
  EXPECT_EQ(host_.calls.back(), "reply 8000000000 answer");
  EXPECT_EQ(command("reply 99 late"), "reply err no-request");
  EXPECT_EQ(command("publish orders.accepted o1"), "publish ok 3");
  EXPECT_EQ(host_.calls.back(), "publish orders.accepted o1");
  EXPECT_EQ(command("publish forbidden o1"), "publish err denied");
  EXPECT_EQ(command("subscribe orders.#"), "subscribe ok ()");
  EXPECT_EQ(command("subscribe bad#"), "subscribe err invalid");
  EXPECT_EQ(command("unsubscribe orders.#"), "unsubscribe ok ()");
  EXPECT_EQ(host_.calls.back(), "unsubscribe orders.#");
}

TEST_P(RustWorldRun, KeyValueFunctionsPassTheirArgumentsAndEveryResultCase) {
  EXPECT_EQ(command("get k"), R"(get ok Some("value of k"))");
  EXPECT_EQ(command("get absent"), "get ok None");
  EXPECT_EQ(command("get secret"), "get err denied");
  EXPECT_EQ(command("set k v1"), "set ok ()");
  EXPECT_EQ(host_.calls.back(), "set k v1");
  EXPECT_EQ(command("set big v"), "set err too-large");
  EXPECT_EQ(command("delete k"), "delete ok true");
  EXPECT_EQ(command("delete other"), "delete ok false");
  EXPECT_EQ(command("exists k"), "exists ok true");
  EXPECT_EQ(command("exists other"), "exists ok false");
  EXPECT_EQ(command("exists nokv"), "exists err unavailable");
  EXPECT_EQ(command("list p: p:0 100"), "list ok [\"p:a\", \"p:b\", \"p:\xc3\xbc\"]");
  EXPECT_EQ(host_.calls.back(), "list p: p:0 100");
  EXPECT_EQ(command("list none  5"), "list ok []");
  EXPECT_EQ(host_.calls.back(), "list none  5");
  EXPECT_EQ(command("usage"), "usage 123456789012");
}

TEST_P(RustWorldRun, FetchPassesTheWholeRequestAndLiftsTheWholeResponse) {
  EXPECT_EQ(command("fetch POST https://api.example/x ping"),
            R"(fetch ok (201, [("content-type", "text/plain"), ("x-a", "b")], "pong:ping"))");
  EXPECT_EQ(host_.calls.back(), "fetch POST https://api.example/x x-one=1;x-two=zwei; ping 2500");
  EXPECT_EQ(command("fetch GET http://down/ "), "fetch err unavailable");
}

TEST_P(RustWorldRun, LogPassesItsLevelAndARefusedLineIsAnError) {
  command("log warn careful");
  EXPECT_EQ(host_.log_calls[host_.log_calls.size() - 2], "3 careful");
  EXPECT_EQ(host_.logs.back(), "log ok ()");
  command("log debug x");
  EXPECT_EQ(host_.log_calls[host_.log_calls.size() - 2], "1 x");
  // The host refuses every line with "drop-me": the component's line about
  // the message, whose refusal it reports at level error, then the command's.
  host_.log_calls.clear();
  command("log trace drop-me");
  EXPECT_EQ(host_.log_calls, (std::vector<std::string>{
                                 "2 message Send 0 host None 17 log trace drop-me",
                                 "4 log refused: quota", "0 drop-me", "2 log err quota"}));
}

TEST_P(RustWorldRun, RepliesAndTimeoutsArriveAtHandleReply) {
  host_.logs.clear();
  call("handle-reply", {u64(77), ok({bytes("answer")})});
  EXPECT_EQ(host_.logs.back(), R"(handle-reply 77 ok "answer")");
  call("handle-reply", {u64(9'000'000'000ull), err(6)});
  EXPECT_EQ(host_.logs.back(), "handle-reply 9000000000 err timeout");
  call("handle-reply", {u64(1), ok({bytes("")})});
  EXPECT_EQ(host_.logs.back(), R"(handle-reply 1 ok "")");
}

TEST_P(RustWorldRun, HealthAndShutdown) {
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 0, {}, {}})});
  command("health degraded slow-disk");
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 1, {}, {str("slow-disk")}})});
  command("health unhealthy broken");
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 2, {}, {str("broken")}})});
  host_.logs.clear();
  call("shutdown", {});
  EXPECT_EQ(host_.logs, std::vector<std::string>{"shutdown"});
}

TEST_P(RustWorldRun, WhatCrossesIsFreedAgain) {
  // Each core memory may hold 4 MB at most, and each route below carries
  // 4.8 MB or more into or out of the component: what the host hands over
  // (payloads, strings) and what the component hands back (the text of a
  // status or an init error, freed by post-return) must be freed again, or
  // these calls run out of memory and trap.
  const std::string big(16 * 1024, 'x');
  for (int i = 0; i < 300; ++i) {
    call("handle-message", {message(0, 0, "host", std::nullopt, "send bob " + big)});
    ASSERT_EQ(host_.calls.back(), "send bob 16384 xxxxxxxxxxxxxxxx") << i;
    call("handle-reply", {u64(1), ok({bytes(big)})});
    ASSERT_EQ(host_.logs.back(), "handle-reply 1 ok \"16384 bytes\"") << i;
  }
  command("health degraded " + big);
  for (int i = 0; i < 300; ++i) {
    auto status = call("health", {});
    ASSERT_EQ(status.size(), 1u);
    ASSERT_EQ(status[0].items.at(0).text.size(), big.size()) << i;
  }
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(call("init", {str("refuse " + big)})[0].bits, 1u) << i;
    EXPECT_EQ(command("get k"), R"(get ok Some("value of k"))");
  }
}

// The examples, run against the same host side of the world.
class RustExampleRun : public RustWorldRun {
 protected:
  void SetUp() override { SKIP_WITHOUT_RUST(); }
};

TEST_P(RustExampleRun, EchoAnswersEveryRequestWithItsPayloadAndLogsEachMessage) {
  ASSERT_NO_FATAL_FAILURE(start(fs::path(AIRSSYS_BINARY_DIR) / "examples/rust/echo/component.wasm"));
  EXPECT_EQ(call("init", {str("{}")}), std::vector{ok()});
  EXPECT_EQ(host_.logs, std::vector<std::string>{"echo: ready"});
  call("handle-message", {message(1, 12, "alice", std::nullopt, "ping \x01\x02")});
  EXPECT_EQ(host_.calls, std::vector<std::string>{"reply 12 ping \x01\x02"});
  EXPECT_EQ(host_.logs.back(), "echo: message 1 (Request, 7 bytes) from alice");
  // A message that is no request is logged, not answered.
  call("handle-message", {message(0, 0, "bob", std::nullopt, "hello")});
  call("handle-message", {message(2, 0, "carol", "news", "extra")});
  EXPECT_EQ(host_.calls.size(), 1u);
  EXPECT_EQ(host_.logs.back(), "echo: message 3 (Publish, 5 bytes) from carol");
  EXPECT_EQ(call("health", {}), std::vector{(Val{Kind::Variant, 0, {}, {}})});
}

TEST_P(RustExampleRun, RustOrdersHaveEachOrderValidatedAndPublishTheAcceptedOnes) {
  ASSERT_NO_FATAL_FAILURE(
      start(fs::path(AIRSSYS_BINARY_DIR) / "examples/pipeline-rust/orders/component.wasm"));
  EXPECT_EQ(call("init", {str("{}")}), std::vector{ok()});
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 7 widget 3")});
  EXPECT_EQ(host_.calls.back(), "request validator order 7 widget 3 10000");
  EXPECT_EQ(host_.logs.back(), "orders: order 7 (3 x widget) sent for validation");
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 8 gadget 0")});
  call("handle-message", {message(0, 0, "host", std::nullopt, "nonsense")});
  EXPECT_EQ(host_.logs.back(), "orders: ignored a message from host that is not an order");
  EXPECT_EQ(host_.calls.size(), 2u);
  // The test host gives every request the same correlation id: the second
  // order is the one pending under it.
  call("handle-reply", {u64(7'000'000'000'123ull), ok({bytes("ok")})});
  EXPECT_EQ(host_.calls.back(), "publish orders.accepted order 8 gadget 0");
  EXPECT_EQ(host_.logs.back(), "orders: order 8 accepted, published to 3 subscriber(s)");
  // Answered once: a second reply under the same id is nobody's.
  call("handle-reply", {u64(7'000'000'000'123ull), ok({bytes("ok")})});
  EXPECT_EQ(host_.calls.size(), 3u);
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 9 gizmo -1")});
  call("handle-reply", {u64(7'000'000'000'123ull), ok({bytes("rejected: quantity")})});
  EXPECT_EQ(host_.logs.back(), "orders: order 9 rejected: quantity");
  call("handle-message", {message(0, 0, "host", std::nullopt, "order 10 gizmo 1")});
  call("handle-reply", {u64(7'000'000'000'123ull), err(6)});
  EXPECT_EQ(host_.log_calls.back(), "3 orders: order 10: no answer from the validator: timed out");
  EXPECT_EQ(host_.calls.size(), 5u);
}

INSTANTIATE_TEST_SUITE_P(Tiers, RustExampleRun, ::testing::Values(Tier::Interp, Tier::Native),
                         engine::testing::tier_test_name);

INSTANTIATE_TEST_SUITE_P(Tiers, RustWorldRun, ::testing::Values(Tier::Interp, Tier::Native),
                         engine::testing::tier_test_name);

}  // namespace
}  // namespace airssys::wasm::cm
