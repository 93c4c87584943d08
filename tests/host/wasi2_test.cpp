// WASI 0.2 as the command components made by the preview 1 adapter see it:
// each C program of tests/components, wrapped by jco into a component, runs
// through cm::ComponentInstance against host::add_wasi2 and must do what the
// same program does as a core module under preview 1 (same output, same exit,
// same refusals and audit records). Without jco the components are not made
// and these tests skip.
#include "airssys/wasm/host/wasi2.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"

#include "../support/temp_dir.hpp"

namespace airssys::wasm::host {
namespace {

namespace fs = std::filesystem;
using security::Permission;

fs::path built(const std::string& name) { return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / name; }

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

security::CapabilitySet caps(std::vector<std::string> read, std::vector<std::string> write) {
  security::PatternLists lists;
  lists[static_cast<size_t>(Permission::FsRead)] = std::move(read);
  lists[static_cast<size_t>(Permission::FsWrite)] = std::move(write);
  return security::CapabilitySet::build(lists).value();
}

// What one run left: its output, how it ended, and the audit decisions.
struct Outcome {
  std::string out, err;
  std::optional<Error> error;  // none: it returned
  int32_t status = 0;          // the exit status: 0 when it returned ok
  std::vector<std::string> decisions;  // "result permission resource"
};

class Wasi2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(mutex);
      records.push_back(std::string(security::audit_result_name(r.result)) + " " + r.permission +
                        " " + r.resource);
    };
    audit = security::AuditLog::without_file(std::move(options)).value();
  }

  std::vector<std::string> take_decisions() {
    audit->flush();
    std::lock_guard lock(mutex);
    return std::exchange(records, {});
  }

  ComponentContext make_context(Outcome& o, std::vector<std::string> args,
                                std::vector<std::string> env,
                                std::shared_ptr<const security::WasmSecurityContext> security) {
    WasiOptions wasi;
    wasi.args = std::move(args);
    wasi.env = std::move(env);
    wasi.stdout_sink = [&o](std::span<const uint8_t> b) { o.out.append(b.begin(), b.end()); };
    wasi.stderr_sink = [&o](std::span<const uint8_t> b) { o.err.append(b.begin(), b.end()); };
    return ComponentContext(std::move(wasi),
                            SecurityBinding{security, nullptr, audit.get(), {}, nullptr});
  }

  static void ended(Outcome& o, Result<void> r) {
    if (r) return;
    o.error = r.error();
    o.status = r.error().code == ErrorCode::ProcExit ? r.error().exit_status : -1;
  }

  // The core module under preview 1.
  Outcome run_core(const fs::path& module_path, std::vector<std::string> args,
                   std::vector<std::string> env = {},
                   std::shared_ptr<const security::WasmSecurityContext> security = nullptr) {
    Outcome o;
    auto context = make_context(o, std::move(args), std::move(env), security);
    auto module = engine->load_file(module_path);
    EXPECT_TRUE(module.has_value()) << module_path;
    if (!module) return o;
    engine::Linker linker;
    add_wasi(linker);
    engine::InstanceOptions options;
    options.user_data = &context;
    auto store = engine->new_store();
    auto instance = store->instantiate(**module, linker, options);
    EXPECT_TRUE(instance.has_value()) << (instance ? "" : instance.error().to_string());
    if (!instance) return o;
    auto r = (*instance)->call("_start", {});
    ended(o, r ? Result<void>{} : Result<void>(std::unexpected(r.error())));
    o.decisions = take_decisions();
    return o;
  }

  // The adapter-made component under WASI 0.2.
  Outcome run_component(const fs::path& component_path, std::vector<std::string> args,
                        std::vector<std::string> env = {},
                        std::shared_ptr<const security::WasmSecurityContext> security = nullptr) {
    Outcome o;
    auto context = make_context(o, std::move(args), std::move(env), security);
    auto bytes = read_bytes(component_path);
    auto component = cm::decode_component(bytes, component_path.filename().string(), *engine);
    EXPECT_TRUE(component.has_value()) << (component ? "" : component.error().to_string());
    if (!component) return o;
    cm::HostInstance imports;
    add_wasi2(imports, context);
    auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports);
    EXPECT_TRUE(instance.has_value()) << (instance ? "" : instance.error().to_string());
    if (!instance) return o;
    auto run = wasi2_run_export(**instance);
    EXPECT_TRUE(run.has_value());
    if (!run) return o;
    auto r = (*instance)->call(*run, {});
    if (r) {
      // run: func() -> result; an error result is status 1, as the adapter says.
      EXPECT_EQ(r->size(), 1u);
      if (r->size() == 1 && (*r)[0].bits != 0) o.status = 1;
      ended(o, {});
    } else {
      ended(o, std::unexpected(r.error()));
    }
    o.decisions = take_decisions();
    return o;
  }

  void need(const char* name) {
    if (!fs::exists(built(name))) GTEST_SKIP() << name << " was not made (jco is not installed)";
  }

  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  // Before the audit log, whose thread writes them until it is gone.
  std::mutex mutex;
  std::vector<std::string> records;
  std::unique_ptr<security::AuditLog> audit;
};

TEST_F(Wasi2Test, HelloPrintsItsLines) {
  need("hello.component.wasm");
  auto o = run_component(built("hello.component.wasm"), {"hello", "x", "y z"});
  EXPECT_FALSE(o.error) << o.error->to_string();
  EXPECT_EQ(o.out,
            "Hello from a WebAssembly component!\n  argument 1: x\n  argument 2: y z\n");
  auto core = run_core(fs::path(AIRSSYS_BINARY_DIR) / "examples/hello/component.wasm",
                       {"hello", "x", "y z"});
  EXPECT_EQ(o.out, core.out);
}

TEST_F(Wasi2Test, WasiProbeSeesWhatItSeesUnderPreview1) {
  need("wasi_probe.component.wasm");
  std::vector<std::string> args = {"probe", "alpha", "beta gamma"};
  std::vector<std::string> env = {"A=1", "B=two", "EMPTY="};
  auto component = run_component(built("wasi_probe.component.wasm"), args, env);
  auto core = run_core(built("wasi_probe.wasm"), args, env);
  EXPECT_FALSE(component.error) << component.error->to_string();
  EXPECT_EQ(component.out,
            "argc=3\nargv[0]=probe\nargv[1]=alpha\nargv[2]=beta gamma\nenvc=3\n"
            "realtime_ok=1 monotonic_ok=1\nrandom_differs=1\nopen_passwd=-1\n");
  EXPECT_EQ(component.out, core.out);
  EXPECT_EQ(component.err, "to stderr\n");
  EXPECT_EQ(component.err, core.err);
  EXPECT_EQ(component.status, 0);
}

TEST_F(Wasi2Test, ExitCodeEndsWithTheAdaptersStatus) {
  need("exit_code.component.wasm");
  auto zero = run_component(built("exit_code.component.wasm"), {"exit_code", "0"});
  EXPECT_EQ(zero.status, 0);
  // The adapter ends any nonzero exit as exit(err): status 1 (jco run says 1 too).
  auto seven = run_component(built("exit_code.component.wasm"), {"exit_code", "7"});
  ASSERT_TRUE(seven.error);
  EXPECT_EQ(seven.error->code, ErrorCode::ProcExit);
  EXPECT_EQ(seven.status, 1);
  auto core = run_core(built("exit_code.wasm"), {"exit_code", "7"});
  EXPECT_EQ(core.status, 7);
}

std::vector<std::string> only(const std::string& result, const std::vector<std::string>& all) {
  std::vector<std::string> out;
  for (const auto& d : all) {
    if (d.rfind(result + " ", 0) == 0) out.push_back(d);
  }
  return out;
}

std::set<std::string> distinct(const std::vector<std::string>& all) {
  return {all.begin(), all.end()};
}

TEST_F(Wasi2Test, TheNativeTierRunsTheCommandsAsTheInterpreterDoes) {
  need("wasi_probe.component.wasm");
  need("hello.component.wasm");
  std::vector<std::string> args = {"probe", "alpha"};
  auto interpreted = run_component(built("wasi_probe.component.wasm"), args, {"A=1"});
  auto hello_interpreted = run_component(built("hello.component.wasm"), {"hello", "n"});
  auto native = engine::Engine::native();
  ASSERT_TRUE(native.has_value()) << native.error().to_string();
  engine = std::move(*native);
  auto compiled = run_component(built("wasi_probe.component.wasm"), args, {"A=1"});
  EXPECT_FALSE(compiled.error) << compiled.error->to_string();
  EXPECT_EQ(compiled.out, interpreted.out);
  EXPECT_EQ(compiled.err, interpreted.err);
  auto hello = run_component(built("hello.component.wasm"), {"hello", "n"});
  EXPECT_EQ(hello.out, hello_interpreted.out);
  EXPECT_EQ(hello.out, "Hello from a WebAssembly component!\n  argument 1: n\n");
}

class Wasi2Files : public Wasi2Test {
 protected:
  void SetUp() override {
    Wasi2Test::SetUp();
    write("grant/hello.txt", "hello");
    write("ro/readme.txt", "read me");
    write("outside/secret", "secret");
  }
  void write(const std::string& relative, const std::string& content) {
    fs::create_directories((root / relative).parent_path());
    std::ofstream(root / relative, std::ios::binary) << content;
  }
  std::string g(const std::string& relative = "") const {
    return relative.empty() ? (root / "grant").string() : (root / "grant" / relative).string();
  }
  std::string out(const std::string& relative) const { return (root / "outside" / relative).string(); }
  std::shared_ptr<const security::WasmSecurityContext> grants() {
    return security::WasmSecurityContext::create(
               "files-probe", caps({g() + "/**", (root / "ro").string() + "/**"}, {g() + "/**"}),
               security::TrustLevel::Trusted)
        .value();
  }
  // Runs files with `args` as a core module and as a component, on fresh
  // copies of the same tree, and expects the same output and decisions.
  Outcome both(std::vector<std::string> args, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {"files"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto snapshot = root.string() + ".before";
    fs::copy(root, snapshot, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    auto core = run_core(built("files.wasm"), argv, env, grants());
    fs::remove_all(root);
    fs::rename(snapshot, root);
    auto component = run_component(built("files.component.wasm"), argv, env, grants());
    EXPECT_EQ(component.out, core.out);
    // The same denials in the same order; the same paths granted (the adapter
    // reads a file's metadata in two calls, stat-at and metadata-hash-at, each
    // checked and recorded, where preview 1 makes one).
    EXPECT_EQ(only("denied", component.decisions), only("denied", core.decisions));
    EXPECT_EQ(distinct(only("granted", component.decisions)),
              distinct(only("granted", core.decisions)));
    EXPECT_EQ(component.status, core.status);
    return component;
  }

  test::TempDir dir{"wasi2"};
  fs::path root = fs::canonical(dir.path());
};

TEST_F(Wasi2Files, ReadsAndWritesBeneathItsGrantAsPreview1Does) {
  need("files.component.wasm");
  auto o = both({"read", g("hello.txt"), "write", g("new.txt"), "first", "append", g("new.txt"),
                 " second", "read", g("new.txt"), "seek", g("new.txt"), "6", "stat", g("new.txt"),
                 "mkdir", g("sub"), "stat", g("sub"), "rename", g("new.txt"), g("sub/moved.txt"),
                 "list", g(), "list", g("sub"), "read", (root / "ro/readme.txt").string(),
                 "remove", g("sub/moved.txt"), "rmdir", g("sub"), "list", g()});
  EXPECT_EQ(o.out,
            "read " + g("hello.txt") + ": hello\n" + "write " + g("new.txt") + ": ok\n" +
                "append " + g("new.txt") + ": ok\n" + "read " + g("new.txt") + ": first second\n" +
                "seek " + g("new.txt") + ": second (now at 12 of 12)\n" + "stat " + g("new.txt") +
                ": file of 12 bytes\n" + "mkdir " + g("sub") + ": ok\n" + "stat " + g("sub") +
                ": dir\n" + "rename " + g("new.txt") + ": ok\n" + "list " + g() +
                ": hello.txt sub\n" + "list " + g("sub") + ": moved.txt\n" + "read " +
                (root / "ro/readme.txt").string() + ": read me\n" + "remove " +
                g("sub/moved.txt") + ": ok\n" + "rmdir " + g("sub") + ": ok\n" + "list " + g() +
                ": hello.txt\n");
  EXPECT_FALSE(o.decisions.empty());
  for (const auto& d : o.decisions) EXPECT_EQ(d.rfind("granted ", 0), 0u) << d;
}

TEST_F(Wasi2Files, IsDeniedOutsideItsGrantWithTheSameAuditRecords) {
  need("files.component.wasm");
  fs::create_symlink("../outside/secret", root / "grant/planted");
  auto o = both({"read", out("secret"), "read", g("../outside/secret"), "read", g("planted"),
                 "read", "/etc/passwd", "write", out("new"), "x", "mkdir", out("dir"), "remove",
                 out("secret"), "write", (root / "ro/readme.txt").string(), "changed"});
  EXPECT_EQ(o.out, "read " + out("secret") + ": EACCES\n" + "read " + g("../outside/secret") +
                       ": EACCES\n" + "read " + g("planted") + ": EACCES\n" +
                       "read /etc/passwd: EACCES\n" + "write " + out("new") + ": EACCES\n" +
                       "mkdir " + out("dir") + ": EACCES\n" + "remove " + out("secret") +
                       ": EACCES\n" + "write " + (root / "ro/readme.txt").string() +
                       ": EACCES\n");
  auto denied = [&](const std::string& permission, const std::string& resource) {
    return std::find(o.decisions.begin(), o.decisions.end(),
                     "denied " + permission + " " + resource) != o.decisions.end();
  };
  EXPECT_TRUE(denied("filesystem.read", out("secret")));
  EXPECT_TRUE(denied("filesystem.read", "/etc/passwd"));
  EXPECT_TRUE(denied("filesystem.write", out("new")));
  EXPECT_TRUE(denied("filesystem.write", (root / "ro/readme.txt").string()));
  EXPECT_TRUE(fs::exists(root / "outside/secret"));
  EXPECT_FALSE(fs::exists(root / "outside/new"));
  std::ifstream in(root / "ro/readme.txt");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "read me");
}

TEST_F(Wasi2Files, SleepsOnAClockPollableAndReadsItsEnvironment) {
  need("files.component.wasm");
  auto start = std::chrono::steady_clock::now();
  auto o = both({"env", "MODE", "env", "HOME", "sleep", "50"}, {"MODE=strict"});
  EXPECT_EQ(o.out, "env MODE: strict\nenv HOME: (unset)\nsleep 50: ok\n");
  // Both runs slept at least their 50 ms (a poll on subscribe-duration).
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST_F(Wasi2Test, SocketsAreRefusedAndAudited) {
  need("cm/sockets.wasm");
  auto bytes = read_bytes(built("cm/sockets.wasm"));
  auto component = cm::decode_component(bytes, "sockets.wasm", *engine);
  ASSERT_TRUE(component.has_value()) << component.error().to_string();
  Outcome o;
  auto context = make_context(
      o, {"sockets"}, {},
      security::WasmSecurityContext::create("sockets", caps({}, {}), security::TrustLevel::Trusted)
          .value());
  cm::HostInstance imports;
  add_wasi2(imports, context);
  // The component asks for the interfaces at 0.2.0; the host's 0.2 serves them.
  auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports);
  ASSERT_TRUE(instance.has_value()) << instance.error().to_string();
  auto r = (*instance)->call("try-connect", {});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].bits, 1u);  // error-code.access-denied
  auto decisions = take_decisions();
  EXPECT_NE(std::find(decisions.begin(), decisions.end(),
                      "denied network.connect wasi:sockets/tcp-create-socket"),
            decisions.end());
}

TEST_F(Wasi2Test, AWriteTakesWhatCheckWritePermittedAndNoMore) {
  need("cm/stream_budget.wasm");
  auto bytes = read_bytes(built("cm/stream_budget.wasm"));
  auto component = cm::decode_component(bytes, "stream_budget.wasm", *engine);
  ASSERT_TRUE(component.has_value()) << component.error().to_string();
  Outcome o;
  auto context = make_context(o, {"budget"}, {}, nullptr);
  cm::HostInstance imports;
  add_wasi2(imports, context);
  auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports);
  ASSERT_TRUE(instance.has_value()) << instance.error().to_string();
  auto within = (*instance)->call("write-bytes", std::vector{cm::Val::u(cm::Kind::U32, 65536)});
  ASSERT_TRUE(within.has_value()) << within.error().to_string();
  EXPECT_EQ((*within)[0].bits, 0u);
  EXPECT_EQ(o.out, std::string(65536, 'x'));
  auto beyond = (*instance)->call("write-bytes", std::vector{cm::Val::u(cm::Kind::U32, 65537)});
  ASSERT_FALSE(beyond.has_value());
  EXPECT_EQ(beyond.error().code, ErrorCode::TrapHost);
  EXPECT_NE(beyond.error().message.find("check-write permitted 65536"), std::string::npos)
      << beyond.error().message;
  EXPECT_EQ(o.out.size(), 65536u);  // nothing of the refused write went out

  // Far past the permit, 2 MiB: the bytes are read as a view of the guest's
  // memory (no value per byte in the host) and refused on the permit.
  auto again = cm::ComponentInstance::instantiate(*component, *engine, imports);
  ASSERT_TRUE(again.has_value()) << again.error().to_string();
  auto huge = (*again)->call("write-bytes", std::vector{cm::Val::u(cm::Kind::U32, 2u << 20)});
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code, ErrorCode::TrapHost) << huge.error().to_string();
  EXPECT_NE(huge.error().message.find("check-write permitted 65536"), std::string::npos)
      << huge.error().message;
  EXPECT_EQ(o.out.size(), 65536u);
}

// A function type as WIT spells it, with the resource ids left out (the
// decoder's ids and the host's differ; the shapes must not).
std::string shape(const cm::FuncType& type) {
  return std::regex_replace(type.to_string(), std::regex("(own|borrow)<[0-9]+>"), "$1");
}

TEST(Wasi2Types, EveryFunctionTheAdapterImportsHasTheTypeTheHostGivesIt) {
  auto engine = engine::Engine::interpreter();
  cm::HostInstance imports;
  ComponentContext context(WasiOptions{});
  add_wasi2(imports, context);
  size_t checked = 0;
  for (const char* name : {"hello.component.wasm", "wasi_probe.component.wasm",
                           "exit_code.component.wasm", "files.component.wasm",
                           "spin.component.wasm", "grow.component.wasm", "cm/sockets.wasm",
                           "cm/stream_budget.wasm"}) {
    if (!fs::exists(built(name))) GTEST_SKIP() << name << " was not made (jco is not installed)";
    auto bytes = read_bytes(built(name));
    auto component = cm::decode_component(bytes, name, *engine);
    ASSERT_TRUE(component.has_value()) << component.error().to_string();
    for (const auto& imp : (*component)->imports) {
      ASSERT_EQ(imp.desc.sort, cm::Sort::Instance) << imp.name;
      const auto* host = imports.find(imp.name);
      ASSERT_NE(host, nullptr) << name << ": " << imp.name;
      for (const auto& e : imp.desc.instance->exports) {
        const auto* item = host->instance->find(e.name);
        ASSERT_NE(item, nullptr) << imp.name << " " << e.name;
        if (e.desc.sort != cm::Sort::Func) continue;
        ASSERT_EQ(item->sort, cm::Sort::Func) << imp.name << " " << e.name;
        EXPECT_EQ(shape(*item->type), shape(*e.desc.func)) << imp.name << " " << e.name;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 60u);
}

TEST(Wasi2Versions, AnyCompatibleVersionFindsTheHostsInterface) {
  cm::HostInstance imports;
  WasiOptions wasi;
  ComponentContext context(std::move(wasi));
  add_wasi2(imports, context);
  const auto* exact = imports.find("wasi:io/streams@0.2.12");
  ASSERT_NE(exact, nullptr);
  EXPECT_EQ(imports.find("wasi:io/streams@0.2.0"), exact);
  EXPECT_EQ(imports.find("wasi:io/streams@0.2.99"), exact);
  EXPECT_EQ(imports.find("wasi:io/streams@0.3.0"), nullptr);
  EXPECT_EQ(imports.find("wasi:io/streams@1.2.12"), nullptr);
  EXPECT_EQ(imports.find("wasi:io/stream@0.2.12"), nullptr);
  EXPECT_EQ(imports.find("wasi:io/streams"), nullptr);
}

}  // namespace
}  // namespace airssys::wasm::host
