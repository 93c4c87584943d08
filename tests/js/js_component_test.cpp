// Components written in JavaScript (examples/js/echo and the pipeline's
// validator in examples/pipeline/validator-js), made by the build with
// componentize-js: the Component Model layer decodes them as components of
// the airssys world, and the native tier's default bounds refuse the engine
// module they carry before any compiler runs (so `auto` keeps them on the
// interpreter). Where the host serves the world (host/world.hpp), they are
// instantiated on the interpreter and their handlers called as the host calls
// them: echo answers with the payload and counts in its key-value state, the
// validator gives the C validator's verdicts. And under `airssys-wasm up`,
// the real binary (interpreter tier): echo counts in the host's store, and
// the validator answers the pipeline's C orders on the core ABI, neither
// knowing the other's language or ABI. Without jco the components are not
// made and these tests skip.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/engine/engine.hpp"

#include "../engine/tiers.hpp"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>

#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/world.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/storage/kv.hpp"

#include "../support/temp_dir.hpp"
#include "daemon.hpp"

namespace airssys::wasm::cm {
namespace {

namespace fs = std::filesystem;

fs::path built(const std::string& name) {
  return fs::path(AIRSSYS_JS_EXAMPLES_DIR) / name / "component.wasm";
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class JsComponentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"echo", "validator"}) {
      if (!fs::exists(built(name))) {
        GTEST_SKIP() << built(name) << " was not made: jco is not installed (scripts/setup.sh)";
      }
    }
  }
};

std::vector<std::string> names(const std::vector<NamedExtern>& externs) {
  std::vector<std::string> out;
  for (const auto& e : externs) out.push_back(e.name);
  return out;
}

TEST_F(JsComponentTest, BothDecodeAsComponentsOfTheWorldWithNothingElseImported) {
  auto engine = engine::Engine::interpreter();
  for (const char* name : {"echo", "validator"}) {
    SCOPED_TRACE(name);
    const auto bytes = read_bytes(built(name));
    ASSERT_TRUE(is_component(bytes));
    auto component = decode_component(bytes, name, *engine);
    ASSERT_TRUE(component.has_value()) << component.error().to_string();
    // A "pure" component: the world's interfaces, no WASI.
    EXPECT_EQ(names((*component)->type.imports),
              (std::vector<std::string>{"airssys:host/types@0.3.0", "airssys:host/messaging@0.3.0",
                                        "airssys:host/kv@0.3.0", "airssys:host/http@0.3.0",
                                        "airssys:host/logging@0.3.0"}));
    EXPECT_EQ(names((*component)->type.exports),
              std::vector<std::string>{"airssys:host/handler@0.3.0"});
    // The JavaScript engine with the module snapshotted in, and the two small
    // modules of the canonical ABI's lowered imports.
    ASSERT_EQ((*component)->modules.size(), 3u);
    EXPECT_GT((*component)->modules[0].bytes.size(), 8ull << 20);
  }
}

TEST_F(JsComponentTest, TheNativeTierRefusesTheEngineModuleAtItsDefaultSizeBoundBeforeCompiling) {
  auto engine = engine::testing::make_engine(engine::Tier::Native);
  ASSERT_TRUE(engine);
  auto component = decode_component(read_bytes(built("echo")), "echo", *engine);
  ASSERT_FALSE(component.has_value());
  // CompileLimit, not an invalid component: a caller may run it on the
  // interpreter instead (component::load_tiered does, on record).
  EXPECT_EQ(component.error().code, ErrorCode::CompileLimit) << component.error().to_string();
  EXPECT_NE(component.error().message.find("over the native compile bound of 8388608 bytes "
                                           "(max_module_size)"),
            std::string::npos)
      << component.error().to_string();
  EXPECT_EQ(engine->stats().native_compiles, 0u);
}


// What a component asks of messaging, recorded; a reply finds a request
// only when the test delivered one with that id.
class RecordingPort : public host::MessagingPort {
 public:
  host::AbiError send(std::string_view, std::span<const uint8_t>) override {
    return host::AbiError::Denied;
  }
  int64_t request(std::string_view, std::span<const uint8_t>, uint32_t) override {
    return static_cast<int64_t>(host::AbiError::Denied);
  }
  host::AbiError reply(uint64_t id, std::span<const uint8_t> payload) override {
    if (!awaiting.erase(id)) return host::AbiError::NoRequest;
    replies[id] = std::string(payload.begin(), payload.end());
    return host::AbiError::Ok;
  }
  int32_t publish(std::string_view, std::span<const uint8_t>) override {
    return static_cast<int32_t>(host::AbiError::Denied);
  }
  host::AbiError subscribe(std::string_view) override { return host::AbiError::Denied; }
  host::AbiError unsubscribe(std::string_view) override { return host::AbiError::Denied; }

  std::set<uint64_t> awaiting;
  std::map<uint64_t, std::string> replies;
};

// One JavaScript component of the world on the interpreter, over a real
// context: a SQLite key-value store, an audit log, the component's log.
class JsWorldTest : public JsComponentTest {
 protected:
  void SetUp() override {
    JsComponentTest::SetUp();
    if (IsSkipped()) return;
    audit = security::AuditLog::without_file({}).value();
    auto opened = storage::KeyValueStore::open({.data_dir = dir.path() / "data"});
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
    store = std::move(*opened);
  }

  void start(const std::string& name, std::vector<std::string> storage) {
    security::PatternLists lists;
    lists[static_cast<size_t>(security::Permission::StorageRead)] = storage;
    lists[static_cast<size_t>(security::Permission::StorageWrite)] = storage;
    auto caps = security::CapabilitySet::build(lists);
    ASSERT_TRUE(caps.has_value()) << caps.error().to_string();
    auto security = security::WasmSecurityContext::create(name, std::move(*caps),
                                                          security::TrustLevel::Trusted, {});
    ASSERT_TRUE(security.has_value()) << security.error().to_string();
    context = std::make_unique<host::ComponentContext>(
        host::WasiOptions{}, host::SecurityBinding{*security, nullptr, audit.get(), {}, nullptr});
    context->set_kv(store.get());
    context->set_messaging(&port);
    log = std::make_unique<host::ComponentLog>(
        name, [this](const host::LogLine& line) { log_lines.emplace_back(line.text); });
    context->set_log(log.get());

    auto decoded = decode_component(read_bytes(built(name)), name, *engine);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    imports = std::make_unique<HostInstance>();
    host::add_airssys_world(*imports, *context);
    auto made = ComponentInstance::instantiate(*decoded, *engine, *imports);
    ASSERT_TRUE(made.has_value()) << made.error().to_string();
    instance = std::move(*made);
    auto init = call("init", {Val::string("{}")});
    ASSERT_TRUE(init.has_value()) << init.error().to_string();
    ASSERT_EQ(init->size(), 1u);
    EXPECT_EQ((*init)[0].kind, Kind::Result);
    EXPECT_EQ((*init)[0].bits, 0u) << (*init)[0].to_string();
  }

  Result<std::vector<Val>> call(std::string_view function, std::vector<Val> args) {
    return instance->call(fmt::format("{}/handler@{}#{}", host::kWorldPackage,
                                      host::kWorldVersion, function),
                          args);
  }

  static Val message(uint64_t kind, uint64_t id, std::string sender, std::string_view payload) {
    Val bytes{Kind::List, 0, {}, {}};
    for (unsigned char c : payload) bytes.items.push_back(Val::u(Kind::U8, c));
    return Val{Kind::Record,
               0,
               {},
               {Val{Kind::Enum, kind, {}, {}}, Val::u(Kind::U64, id), Val::string(std::move(sender)),
                Val{Kind::Option, 0, {}, {}}, std::move(bytes)}};
  }

  // `text` as a request from `sender`; the component's reply.
  std::string ask(const std::string& sender, const std::string& text) {
    const uint64_t id = ++asked;
    port.awaiting.insert(id);
    auto r = call("handle-message", {message(1, id, sender, text)});
    EXPECT_TRUE(r.has_value()) << text << ": " << r.error().to_string();
    auto it = port.replies.find(id);
    return it == port.replies.end() ? "(no reply)" : it->second;
  }

  std::string value_in_store(const std::string& ns, const std::string& key) {
    auto v = store->get(ns, key);
    EXPECT_TRUE(v.has_value());
    if (!v || !*v) return "(absent)";
    return std::string((*v)->begin(), (*v)->end());
  }

  test::TempDir dir{"js-world"};
  std::unique_ptr<storage::KeyValueStore> store;
  std::unique_ptr<security::AuditLog> audit;
  RecordingPort port;
  std::vector<std::string> log_lines;
  std::unique_ptr<host::ComponentLog> log;
  std::unique_ptr<host::ComponentContext> context;
  std::unique_ptr<HostInstance> imports;
  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  std::unique_ptr<ComponentInstance> instance;
  uint64_t asked = 0;
};

TEST_F(JsWorldTest, EchoAnswersWithThePayloadLogsAndCountsInItsState) {
  start("echo", {"echo:count"});
  EXPECT_EQ(ask("host", "hello"), "hello");
  EXPECT_EQ(ask("host", std::string("\0\xff bytes", 8)), std::string("\0\xff bytes", 8));
  auto sent = call("handle-message", {message(0, 0, "host", "no answer")});
  ASSERT_TRUE(sent.has_value()) << sent.error().to_string();
  EXPECT_EQ(port.replies.size(), 2u);
  EXPECT_EQ(value_in_store("echo", "echo:count"), "3");
  bool logged = false;
  for (const auto& line : log_lines) {
    if (line.find("#3 send from host: no answer") != std::string::npos) logged = true;
  }
  EXPECT_TRUE(logged);
  auto health = call("health", {});
  ASSERT_TRUE(health.has_value()) << health.error().to_string();
  EXPECT_EQ((*health)[0].kind, Kind::Variant);
  EXPECT_EQ((*health)[0].bits, 0u);  // healthy
}

TEST_F(JsWorldTest, TheValidatorGivesTheVerdictsOfTheCValidator) {
  start("validator", {});
  EXPECT_EQ(ask("orders", "order 1 widget 3"), "ok");
  EXPECT_EQ(ask("orders", "order 2 gadget 500"), "rejected: quantity must be 1 to 100");
  EXPECT_EQ(ask("orders", "order 3 sprocket 1"), "rejected: unknown item");
  EXPECT_EQ(ask("orders", "order 4 gizmo 7"), "ok");
  EXPECT_EQ(ask("orders", "order 5 gizmo 0"), "rejected: quantity must be 1 to 100");
  EXPECT_EQ(ask("orders", "order 712 3"), "rejected: not an order");
  EXPECT_EQ(ask("orders", "order 7widget 3"), "ok");
  EXPECT_EQ(ask("orders", "order 1 widget 3 more"), "rejected: not an order");
  EXPECT_EQ(ask("orders", "order 1 " + std::string(200, 'x') + " 3"), "rejected: not an order");
  // A message that is not a request gets no answer.
  auto sent = call("handle-message", {message(0, 0, "orders", "order 1 widget 3")});
  ASSERT_TRUE(sent.has_value()) << sent.error().to_string();
  EXPECT_EQ(port.replies.size(), 9u);
}

// The examples under `airssys-wasm up`: the host's actors, messaging, store
// and audit log, on the interpreter (the native tier refuses the engine
// module, see above). `up` runs until the work is seen done, then is
// interrupted: the JavaScript engine alone takes seconds to load.
class JsUnderUpTest : public JsComponentTest {
 protected:
  void SetUp() override {
    JsComponentTest::SetUp();
    if (IsSkipped()) return;
    fs::create_directories(home());
    fs::permissions(home(), fs::perms::owner_all, fs::perm_options::replace);
  }

  fs::path home() const { return dir.path() / "home"; }

  // A copy of the built example `from` as components/<name>.
  void add(const fs::path& from, const std::string& name) {
    fs::create_directories(dir.path() / "components");
    fs::copy(from, dir.path() / "components" / name, fs::copy_options::recursive);
  }

  std::unique_ptr<testing::Daemon> up(const std::vector<std::string>& sends) {
    std::vector<std::string> argv = {AIRSSYS_CLI, "up", (dir.path() / "components").string(),
                                     "--data-dir", home().string(), "--approve", "--tier",
                                     "interp"};
    for (const auto& s : sends) {
      argv.push_back("--send");
      argv.push_back(s);
    }
    return std::make_unique<testing::Daemon>(argv, dir.path() / "up.log");
  }

  test::TempDir dir{"js-up"};
};

TEST_F(JsUnderUpTest, EchoCountsEachMessageInTheHostsStore) {
  add(built("echo").parent_path(), "echo");
  auto run = up({"echo=hello", "echo=again"});
  ASSERT_TRUE(run->wait_logged({"[echo] info: echo ready, config {}",
                                "[echo] info: #1 send from host: hello",
                                "[echo] info: #2 send from host: again"},
                               std::chrono::seconds(100)))
      << run->log();
  ASSERT_EQ(run->terminate(), 0) << run->log();
  auto store = storage::KeyValueStore::open({.data_dir = home()});
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  auto count = (*store)->get("echo", "echo:count");
  ASSERT_TRUE(count.has_value() && count->has_value()) << run->log();
  EXPECT_EQ(std::string((*count)->begin(), (*count)->end()), "2");
}

TEST_F(JsUnderUpTest, TheValidatorAnswersTheCoreAbiOrders) {
  add(built("validator").parent_path(), "validator");
  add(fs::path(AIRSSYS_EXAMPLES_DIR) / "demo" / "orders", "orders");  // C, core ABI
  auto run = up({"orders=order 1 widget 3", "orders=order 2 gadget 500",
                 "orders=order 3 sprocket 1"});
  ASSERT_TRUE(run->wait_logged({"[orders] orders: order 1 accepted, published to 0 subscriber(s)",
                                "[orders] orders: order 2 rejected: quantity must be 1 to 100",
                                "[orders] orders: order 3 rejected: unknown item"},
                               std::chrono::seconds(100)))
      << run->log();
  ASSERT_EQ(run->terminate(), 0) << run->log();
  EXPECT_EQ(run->log().find("no answer from the validator"), std::string::npos) << run->log();
}

}  // namespace
}  // namespace airssys::wasm::cm
