// WASI preview 1 as real components see it: C programs built with wasi-libc,
// and WAT modules that pass hostile pointers.
#include <gtest/gtest.h>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"

namespace airssys::wasm::host {
namespace {

using engine::Value;

class WasiTest : public ::testing::Test {
 protected:
  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  std::unique_ptr<engine::Store> store = engine->new_store();
  engine::Linker linker;
  std::string out, err;

  void SetUp() override { add_wasi(linker); }

  WasiOptions options(std::vector<std::string> args = {"probe"}) {
    WasiOptions o;
    o.args = std::move(args);
    o.stdout_sink = [this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); };
    o.stderr_sink = [this](std::span<const uint8_t> b) { err.append(b.begin(), b.end()); };
    return o;
  }

  std::shared_ptr<engine::Instance> instantiate(const engine::Module& module,
                                                ComponentContext* context) {
    engine::InstanceOptions o;
    o.user_data = context;
    auto i = store->instantiate(module, linker, o);
    EXPECT_TRUE(i.has_value()) << (i ? "" : i.error().to_string());
    return i ? *i : nullptr;
  }
};

std::filesystem::path component(const char* name) {
  return std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

TEST_F(WasiTest, ACProgramSeesItsArgumentsClocksAndRandomAndWritesBothStreams) {
  auto module = engine->load_file(component("wasi_probe.wasm")).value();
  ComponentContext context(options({"probe", "alpha", "beta gamma"}));
  auto instance = instantiate(*module, &context);
  ASSERT_TRUE(instance);
  auto r = instance->call("_start", {});
  ASSERT_TRUE(r.has_value()) << r.error().to_string();
  EXPECT_EQ(out,
            "argc=3\nargv[0]=probe\nargv[1]=alpha\nargv[2]=beta gamma\nenvc=0\n"
            "realtime_ok=1 monotonic_ok=1\nrandom_differs=1\nopen_passwd=-1\n");
  EXPECT_EQ(err, "to stderr\n");
}

TEST_F(WasiTest, TheEnvironmentComesFromTheContext) {
  auto module = engine->load_file(component("wasi_probe.wasm")).value();
  WasiOptions o = options();
  o.env = {"A=1", "B=two"};
  ComponentContext context(std::move(o));
  auto instance = instantiate(*module, &context);
  ASSERT_TRUE(instance->call("_start", {}).has_value());
  EXPECT_NE(out.find("envc=2\n"), std::string::npos) << out;
}

TEST_F(WasiTest, ExitStatusArrivesAsProcExit) {
  auto module = engine->load_file(component("exit_code.wasm")).value();
  ComponentContext context(options({"exit", "42"}));
  auto instance = instantiate(*module, &context);
  auto r = instance->call("_start", {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::ProcExit);
  EXPECT_EQ(r.error().exit_status, 42);
}

constexpr std::string_view kRawWasi = R"((module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "hi\n")
  (func (export "write") (param $fd i32) (param $iov i32) (param $n i32) (result i32)
    ;; iovec at 0: {ptr=100, len=3}
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 3))
    (call $fd_write (local.get $fd) (local.get $iov) (local.get $n) (i32.const 16)))
  (func (export "write_bad_buffer") (result i32)
    (i32.store (i32.const 0) (i32.const 65530))
    (i32.store (i32.const 4) (i32.const 100))
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
  (func (export "args_get") (param i32 i32) (result i32)
    (call $args_get (local.get 0) (local.get 1)))
  (func (export "random") (param i32 i32) (result i32)
    (call $random_get (local.get 0) (local.get 1)))
  (func (export "clock") (param i32 i32) (result i32)
    (call $clock (local.get 0) (i64.const 0) (local.get 1)))
  (func (export "prestat") (result i32) (call $prestat (i32.const 3) (i32.const 0)))
  (func (export "open") (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 2) (i32.const 0)
      (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 0))))
)";

int32_t call_i32(engine::Instance& instance, std::string_view name, std::vector<Value> args) {
  auto r = instance.call(name, args);
  EXPECT_TRUE(r.has_value()) << name << ": " << (r ? "" : r.error().to_string());
  return r ? (*r)[0].as_i32() : -1;
}

TEST_F(WasiTest, HostilePointersGetEfaultAndTheGuestKeepsRunning) {
  auto module = engine->load_wat(kRawWasi, "raw.wat").value();
  ComponentContext context(options());
  auto instance = instantiate(*module, &context);
  ASSERT_TRUE(instance);
  constexpr int32_t kSuccess = 0, kBadf = 8, kFault = 21;
  EXPECT_EQ(call_i32(*instance, "write", {Value::i32(1), Value::i32(0), Value::i32(1)}), kSuccess);
  EXPECT_EQ(out, "hi\n");
  // The iovec table itself out of range, a huge count, and a buffer past the end.
  EXPECT_EQ(call_i32(*instance, "write", {Value::i32(1), Value::i32(65532), Value::i32(1)}), kFault);
  EXPECT_EQ(call_i32(*instance, "write", {Value::i32(1), Value::i32(-8), Value::i32(1)}), kFault);
  EXPECT_EQ(call_i32(*instance, "write", {Value::i32(1), Value::i32(0), Value::i32(-1)}), 28);
  EXPECT_EQ(call_i32(*instance, "write_bad_buffer", {}), kFault);
  EXPECT_EQ(call_i32(*instance, "write", {Value::i32(7), Value::i32(0), Value::i32(1)}), kBadf);
  EXPECT_EQ(call_i32(*instance, "args_get", {Value::i32(65535), Value::i32(0)}), kFault);
  EXPECT_EQ(call_i32(*instance, "args_get", {Value::i32(0), Value::i32(65535)}), kFault);
  EXPECT_EQ(call_i32(*instance, "random", {Value::i32(65000), Value::i32(1000)}), kFault);
  EXPECT_EQ(call_i32(*instance, "random", {Value::i32(-1), Value::i32(-1)}), kFault);
  EXPECT_EQ(call_i32(*instance, "clock", {Value::i32(0), Value::i32(65535)}), kFault);
  // Nothing was written out of those calls, and the instance still works.
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(call_i32(*instance, "write", {Value::i32(2), Value::i32(0), Value::i32(1)}), kSuccess);
  EXPECT_EQ(err, "hi\n");
}

TEST_F(WasiTest, WithoutGrantsOnlyTheRootIsPreopenedAndCpuClocksAreRefused) {
  auto module = engine->load_wat(kRawWasi, "raw.wat").value();
  ComponentContext context(options());
  auto instance = instantiate(*module, &context);
  EXPECT_EQ(call_i32(*instance, "prestat", {}), 0);  // fd 3: the root, which opens nothing
  EXPECT_EQ(call_i32(*instance, "open", {}), 2);     // EACCES: no security context, no grant
  EXPECT_EQ(call_i32(*instance, "clock", {Value::i32(2), Value::i32(0)}), 28);  // EINVAL
  EXPECT_EQ(call_i32(*instance, "clock", {Value::i32(1), Value::i32(0)}), 0);
}

TEST_F(WasiTest, AWasiCallWithoutAComponentContextFailsClosed) {
  auto module = engine->load_wat(kRawWasi, "raw.wat").value();
  auto instance = instantiate(*module, nullptr);
  auto r = instance->call("write", std::vector{Value::i32(1), Value::i32(0), Value::i32(1)});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::InternalError);
  EXPECT_TRUE(out.empty());
}

TEST_F(WasiTest, EveryPreview1FunctionLinks) {
  // A module importing all of preview 1 instantiates against the host.
  std::string wat = "(module\n";
  const char* names[] = {
      "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_res_get",
      "fd_close", "fd_datasync", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_filestat_get",
      "fd_prestat_get", "fd_prestat_dir_name", "fd_renumber", "fd_sync", "fd_tell",
      "path_create_directory", "path_remove_directory", "path_unlink_file", "random_get",
      "sched_yield", "sock_shutdown", "proc_raise"};
  for (const char* name : names) {
    wat += std::string("(import \"wasi_snapshot_preview1\" \"") + name + "\" (func))\n";
  }
  wat += ")";
  // Declared with the wrong type on purpose: linking names the mismatch.
  auto module = engine->load_wat(wat, "all.wat").value();
  ComponentContext context(options());
  engine::InstanceOptions o;
  o.user_data = &context;
  auto r = store->instantiate(*module, linker, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::IncompatibleImport);
  EXPECT_NE(r.error().message.find("'wasi_snapshot_preview1'.'args_get'"), std::string::npos);

  auto ok = engine->load_wat(R"((module
    (import "wasi_snapshot_preview1" "fd_seek" (func (param i32 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "path_open"
      (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "sock_recv"
      (func (param i32 i32 i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))))",
                             "some.wat");
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(store->instantiate(**ok, linker, o).has_value());
}

}  // namespace
}  // namespace airssys::wasm::host
