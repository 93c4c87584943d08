// `airssys-wasm serve` and the lifecycle commands end to end: the real binary
// as a daemon on a temporary data directory, driven by the real CLI through
// its admin socket, stopped with SIGTERM and started again.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <sqlite3.h>

#include <chrono>
#include <set>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../system/system_test_support.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "../support/hostile_modules.hpp"
#include "daemon.hpp"
#include "subprocess.hpp"

namespace airssys::wasm::system::test {
namespace {

using testing::Daemon;
using testing::run_process;

const std::string kCli = AIRSSYS_CLI;

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}


class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = root_.path() / "data";
    fs::create_directories(data_);
    fs::permissions(data_, fs::perms::owner_all, fs::perm_options::replace);
    keys_ = trusted_keys(data_);
    config_ = root_.path() / "host.toml";
    write_file(config_, "data_dir = \"data\"\nworkers = 2\nstate_durability = \"normal\"\ntier = \"interp\"\n");
  }

  testing::ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), kCli);
    args.push_back("--data-dir");
    args.push_back(data_.string());
    return run_process(args, 60s);
  }

  bool wait_serving(Daemon& daemon) { return daemon.wait_serving(data_ / "admin.sock"); }

  nlohmann::json info(const std::string& name) {
    auto r = cli({"info", name, "--json"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
  }

  // The counter's granted key-value writes in the audit log, as `audit` reads it.
  size_t audited_writes() {
    auto r = cli({"audit", "--component", "counter", "--permission", "storage.write", "--result",
                  "granted", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    size_t n = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) ++n;
    return n;
  }

  fs::path component(const std::string& version, const fs::path& module) {
    return make_component(root_.path() / ("counter-" + version), module,
                          counter_manifest("counter", version), &keys_);
  }

  TempDir root_;
  fs::path data_;
  fs::path config_;
  security::KeyPair keys_;
};

TEST_F(ServeTest, LifecycleThroughTheDaemonAndARestart) {
  auto v1 = component("1.0.0", kComponents / "counter.wasm");
  auto v2 = component("2.0.0", kComponents / "counter_v2.wasm");
  auto log = root_.path() / "serve.log";
  {
    Daemon daemon(kCli, config_, log);
    ASSERT_TRUE(wait_serving(daemon)) << daemon.log();

    auto r = cli({"install", v1.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "installed counter 1.0.0 (trust trusted, status installed)\n");
    r = cli({"start", "counter"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int i = 0; i < 3; ++i) ASSERT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
    for (int i = 0; i < 500 && info("counter").value("messages_handled", 0) < 3; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(info("counter")["messages_handled"], 3);

    // status: the running component's quota usage, for people and scripts.
    r = cli({"status", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto status = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(status.is_array() && status.size() == 1) << r.out;
    EXPECT_EQ(status[0]["name"], "counter");
    EXPECT_EQ(status[0]["state"], "ready");
    EXPECT_EQ(status[0]["messages_handled"], 3);
    for (const char* q : {"storage", "message_rate", "network", "cpu_time", "memory"}) {
      const auto& quota = status[0]["quotas"][q];
      ASSERT_TRUE(quota.is_object()) << q << " in " << r.out;
      for (const char* field : {"used", "limit", "available", "percent", "level", "unit"}) {
        EXPECT_TRUE(quota.contains(field)) << q << "." << field;
      }
      EXPECT_EQ(quota["available"].get<uint64_t>(),
                quota["limit"].get<uint64_t>() - quota["used"].get<uint64_t>());
    }
    EXPECT_GT(status[0]["quotas"]["storage"]["used"].get<uint64_t>(), 0u);  // the counter's key
    EXPECT_GT(status[0]["quotas"]["memory"]["used"].get<uint64_t>(), 0u);
    EXPECT_EQ(status[0]["quotas"]["cpu_time"]["limit"], 1'000'000);
    r = cli({"status"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("counter (ready, interp tier): 3 messages, 0 restarts"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  memory "), std::string::npos) << r.out;
    r = cli({"status", "nobody"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("no running component named 'nobody'"), std::string::npos) << r.err;
    r = cli({"metrics"});
    EXPECT_NE(r.out.find("airssys_quota_used{component=\"counter\",quota=\"memory\"}"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("airssys_quota_limit{component=\"counter\",quota=\"cpu_time\"} 1000000"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("\nairssys_audit_write_failures_total 0\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\nairssys_audit_rotations_total 0\n"), std::string::npos) << r.out;

    r = cli({"upgrade", v2.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "upgraded to counter 2.0.0 (trust trusted, status running)\n");
    r = cli({"metrics"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("airssys_component_up{component=\"counter\",version=\"2.0.0\"} 1\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("airssys_messages_handled_total{component=\"counter\"} 3\n"),
              std::string::npos);

    // A tampered component is refused: exit 6, nothing installed.
    auto bad = make_component(root_.path() / "bad", kComponents / "counter.wasm",
                              counter_manifest("other", "1.0.0"), &keys_);
    { std::ofstream(bad / "component.wasm", std::ios::app) << 'x'; }
    r = cli({"install", bad.string()});
    EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
    EXPECT_NE(r.err.find("SignatureInvalid"), std::string::npos) << r.err;
    EXPECT_EQ(info("other"), nlohmann::json());

    r = cli({"info", "counter"});
    EXPECT_NE(r.out.find("version:          2.0.0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("previous:         1.0.0"), std::string::npos) << r.out;
    EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
  }
  EXPECT_NE(read_all(log).find("SIGTERM: stopping components"), std::string::npos);
  EXPECT_FALSE(fs::exists(data_ / "admin.sock"));

  // No host: the registry answers directly; starting needs the host.
  auto r = cli({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("counter"), std::string::npos);
  EXPECT_NE(r.out.find("running"), std::string::npos) << r.out;  // desired: running
  // The host's configuration finds the same data directory.
  r = run_process({kCli, "list", "--config", config_.string(), "--json"}, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto listed = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(listed.is_array()) << r.out;
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["name"], "counter");
  EXPECT_EQ(listed[0]["desired"], "running");
  EXPECT_EQ(listed[0]["status"], "stopped");
  r = cli({"start", "counter"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no host is running"), std::string::npos) << r.err;

  // A new host brings the component back with its state.
  fs::remove(log);
  {
    Daemon daemon(kCli, config_, log);
    ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
    auto i = info("counter");
    EXPECT_EQ(i["running"], true) << i.dump();
    auto by_config = run_process({kCli, "info", "counter", "--config", config_.string()}, 30s);
    EXPECT_EQ(by_config.exit_code, 0) << by_config.err;
    EXPECT_NE(by_config.out.find("running:          yes"), std::string::npos) << by_config.out;
    EXPECT_EQ(i["version"], "2.0.0");
    ASSERT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
    for (int k = 0; k < 500 && daemon.log().find("counter tick = 4") == std::string::npos; ++k) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_NE(daemon.log().find("[counter] counter tick = 4"), std::string::npos)
        << daemon.log();
    r = cli({"rollback", "counter"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "rolled back to counter 1.0.0 (trust trusted, status running)\n");
    r = cli({"uninstall", "counter"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "uninstalled counter; its state is kept\n");
    r = cli({"info", "counter"});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
  }
}

// A host.toml without `tier` runs components on auto; on a host without a C
// compiler that is the interpreter: said once when the host starts, on record
// for each component, and no denial.
TEST_F(ServeTest, WithoutACompilerTheDefaultTierIsTheInterpreterAfterOneNotice) {
  write_file(config_, "data_dir = \"data\"\nworkers = 2\nstate_durability = \"normal\"\n");
  auto v1 = component("1.0.0", kComponents / "counter.wasm");
  Daemon daemon({"/usr/bin/env", "AIRSSYS_CC=/nonexistent/bin/cc", kCli, "serve", "--config",
                 config_.string()},
                root_.path() / "serve.log");
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  ASSERT_EQ(cli({"install", v1.string()}).exit_code, 0);
  ASSERT_EQ(cli({"start", "counter"}).exit_code, 0);
  ASSERT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
  ASSERT_TRUE(daemon.wait_logged({"[counter] counter tick = 1"})) << daemon.log();
  EXPECT_EQ(info("counter")["tier"], "interp") << info("counter").dump();
  const std::string log = daemon.log();
  const std::string notice =
      "airssys-wasm serve: notice: no native tier on this host (native tier: no C compiler at "
      "'/nonexistent/bin/cc'";
  const auto first = log.find(notice);
  EXPECT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find(notice, first + 1), std::string::npos) << log;
  EXPECT_EQ(log.find("denied"), std::string::npos) << log;
  auto r = cli({"audit", "--component", "counter", "--permission", "lifecycle.tier", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("the native tier is unavailable"), std::string::npos) << r.out;
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// A host killed outright (SIGKILL: no shutdown step runs) loses nothing it
// had committed: the next host brings the component back with its key-value
// state and keeps the audit trail, serving over the socket the dead one left.
TEST_F(ServeTest, AKilledHostComesBackWithItsComponentStateAndAuditTrail) {
  auto v1 = component("1.0.0", kComponents / "counter.wasm");
  auto log = root_.path() / "serve.log";
  {
    Daemon daemon(kCli, config_, log);
    ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
    ASSERT_EQ(cli({"install", v1.string()}).exit_code, 0);
    ASSERT_EQ(cli({"start", "counter"}).exit_code, 0);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
    for (int i = 0; i < 500 && daemon.log().find("counter tick = 20") == std::string::npos; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_NE(daemon.log().find("[counter] counter tick = 20"), std::string::npos)
        << daemon.log();
    // The audit writer runs a moment behind the component; once the log
    // file holds the 20 writes, the host is killed.
    for (int i = 0; i < 500 && audited_writes() < 20; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(audited_writes(), 20u);
    daemon.kill();
  }
  EXPECT_TRUE(fs::exists(data_ / "admin.sock"));  // left behind by the dead host
  auto r = cli({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto listed = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(listed.is_array() && listed.size() == 1) << r.out;
  EXPECT_EQ(listed[0]["desired"], "running");

  fs::remove(log);
  Daemon daemon(kCli, config_, log);
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  EXPECT_EQ(info("counter")["running"], true);
  // A trust change while a host runs says when it applies.
  auto trusted = cli({"trust", "add-path", (root_.path() / "srv" / "**").string()});
  EXPECT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_NE(trusted.err.find("still decides trust as before; run airssys-wasm reload --data-dir"),
            std::string::npos)
      << trusted.err;
  auto nobody = cli({"send", "nobody", "tick"});
  EXPECT_EQ(nobody.exit_code, 1) << nobody.err;  // a failed request, not a trap
  EXPECT_NE(nobody.err.find("no component named 'nobody'"), std::string::npos) << nobody.err;
  ASSERT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
  for (int i = 0; i < 500 && daemon.log().find("counter tick = 21") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(daemon.log().find("[counter] counter tick = 21"), std::string::npos) << daemon.log();
  // The audit trail of the first host is still there, and the new one adds to it.
  for (int i = 0; i < 500 && audited_writes() < 21; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(audited_writes(), 21u);
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

namespace hostile = airssys::wasm::testing;

// The module's bytes written to `file`.
void write_module(const fs::path& file, const std::vector<uint8_t>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Under `serve`, beside a bystander that keeps working: a component past a
// native compile bound runs on the interpreter with the reason on record,
// and a compile in progress (started by `start`, which waits for it) runs in
// its own process group with a clean signal mask, and is killed when the
// host stops on SIGTERM, within its stop timeout.
TEST_F(ServeTest, NativeCompilesAreBoundedAndDoNotOutliveTheHost) {
  write_file(config_,
             "data_dir = \"data\"\nworkers = 2\nstate_durability = \"normal\"\ntier = \"interp\"\n"
             "stop_timeout_ms = 5000\n"
             "[native]\nmax_module_size = \"400KB\"\nmax_function_size = \"1MB\"\n"
             "compile_timeout_ms = 600000\n");
  std::vector<uint8_t> counter;
  {
    std::ifstream in(kComponents / "counter.wasm", std::ios::binary);
    counter.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_FALSE(counter.empty());
  const auto big_module = root_.path() / "big.wasm";
  write_module(big_module, hostile::with_custom_section(counter, 300 << 10));
  const auto slow_module = root_.path() / "slow.wasm";
  write_module(slow_module,
               hostile::with_exported_function(counter, "fill", hostile::stores_body(8000)));
  const std::string native = "\n[runtime]\ntier = \"native\"\n";
  auto bystander = component("1.0.0", kComponents / "counter.wasm");
  auto big = make_component(root_.path() / "big", big_module,
                            counter_manifest("big", "1.0.0") + native, &keys_);
  auto slow = make_component(root_.path() / "slow", slow_module,
                             counter_manifest("slow", "1.0.0") + native, &keys_);
  auto log = root_.path() / "serve.log";
  Daemon daemon(kCli, config_, log);
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  ASSERT_EQ(cli({"install", bystander.string()}).exit_code, 0);
  ASSERT_EQ(cli({"start", "counter"}).exit_code, 0);

  // Past max_module_size: the interpreter, on record.
  ASSERT_EQ(cli({"install", big.string()}).exit_code, 0);
  auto r = cli({"start", "big"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(cli({"send", "big", "tick"}).exit_code, 0);
  EXPECT_EQ(info("big")["tier"], "interp") << info("big").dump();
  r = cli({"audit", "--component", "big", "--permission", "lifecycle.tier", "--json"});
  EXPECT_NE(r.out.find("CompileLimit"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("max_module_size"), std::string::npos) << r.out;

  // A slow compile: `start` returns at once and the status says so.
  ASSERT_EQ(cli({"install", slow.string()}).exit_code, 0);
  r = cli({"start", "slow"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("compiling slow for the native tier"), std::string::npos) << r.out;
  EXPECT_EQ(info("slow")["status"], "compiling") << info("slow").dump();
  r = cli({"status", "slow"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("slow (compiling native code"), std::string::npos) << r.out;
  auto compilers = [&] {
    std::set<int> found;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (found.empty() && std::chrono::steady_clock::now() < deadline) {
      for (int g : hostile::compile_groups(daemon.pid())) {
        if (hostile::group_members(g).size() >= 3) found.insert(g);
      }
      std::this_thread::sleep_for(5ms);
    }
    return found;
  };
  auto all_gone = [](const std::set<int>& gs) {
    const auto gone_by = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      bool gone = true;
      for (int g : gs) gone &= hostile::group_members(g).empty();
      if (gone || std::chrono::steady_clock::now() >= gone_by) return gone;
      std::this_thread::sleep_for(20ms);
    }
  };
  std::set<int> groups = compilers();
  ASSERT_FALSE(groups.empty()) << "no compiler started\n" << daemon.log();
  for (int g : groups) {
    for (const auto& p : hostile::group_members(g)) {
      auto blocked = hostile::status_field(p.pid, "SigBlk");
      if (blocked) {
        EXPECT_EQ(*blocked, "0000000000000000") << "process " << p.pid;
      }
    }
  }
  // The bystander keeps working while the compiler runs.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
  for (int i = 0; i < 1000 && daemon.log().find("counter tick = 3") == std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(daemon.log().find("[counter] counter tick = 3"), std::string::npos) << daemon.log();
  // Stopping it kills its compile; nothing waits for the result any more.
  r = cli({"stop", "slow"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(all_gone(groups)) << "a compiler outlived the stop";
  EXPECT_EQ(info("slow")["status"], "stopped") << info("slow").dump();
  r = cli({"audit", "--component", "slow", "--permission", "lifecycle.stop", "--json"});
  EXPECT_NE(r.out.find("native compile is cancelled"), std::string::npos) << r.out;

  // Started again, it compiles again, and the host stops anyway.
  ASSERT_EQ(cli({"start", "slow"}).exit_code, 0);
  groups = compilers();
  ASSERT_FALSE(groups.empty()) << "no compiler started\n" << daemon.log();
  const auto began = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s + 3s) << "beyond the stop timeout";
  EXPECT_TRUE(all_gone(groups)) << "a compiler outlived the host";
}

// A start that needs a native compile returns at once; the component runs
// when the compile ends, and `start --wait` waits for that.
TEST_F(ServeTest, ANativeStartReturnsAtOnceAndRunsWhenItsCompileEnds) {
  write_file(config_, "data_dir = \"data\"\nworkers = 2\nstate_durability = \"normal\"\ntier = \"interp\"\n");
  std::vector<uint8_t> counter;
  {
    std::ifstream in(kComponents / "counter.wasm", std::ios::binary);
    counter.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_FALSE(counter.empty());
  const std::string native = "\n[runtime]\ntier = \"native\"\n";
  // Two modules the native cache cannot hold yet (a fresh data directory).
  const auto one = root_.path() / "one.wasm";
  write_module(one, hostile::with_custom_section(counter, 64));
  const auto two = root_.path() / "two.wasm";
  write_module(two, hostile::with_custom_section(counter, 96));
  auto first = make_component(root_.path() / "one", one,
                              counter_manifest("one", "1.0.0") + native, &keys_);
  auto second = make_component(root_.path() / "two", two,
                               counter_manifest("two", "1.0.0") + native, &keys_);
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  ASSERT_EQ(cli({"install", first.string()}).exit_code, 0);
  ASSERT_EQ(cli({"install", second.string()}).exit_code, 0);

  auto r = cli({"start", "one"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("compiling one for the native tier"), std::string::npos) << r.out;
  // A second start while it compiles is refused, and says why.
  r = cli({"start", "one"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("waits for its native compile"), std::string::npos) << r.err;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (info("one")["status"] == "compiling" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  auto report = info("one");
  ASSERT_EQ(report["status"], "running") << report.dump();
  EXPECT_EQ(report["tier"], "native") << report.dump();
  ASSERT_EQ(cli({"send", "one", "tick"}).exit_code, 0);
  for (int i = 0; i < 2000 && daemon.log().find("[one] one tick = 1") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(daemon.log().find("[one] one tick = 1"), std::string::npos) << daemon.log();
  r = cli({"audit", "--component", "one", "--permission", "lifecycle.compile", "--json"});
  EXPECT_NE(r.out.find("for the native tier before it starts"), std::string::npos) << r.out;

  // --wait: the command returns once the component runs.
  r = cli({"start", "two", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "started two\n");
  EXPECT_EQ(info("two")["status"], "running") << info("two").dump();
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// An unsigned component from an untrusted folder waits for the operator, and
// the install says how to approve it (the same key `approvals list` shows).
TEST_F(ServeTest, AnUnknownComponentIsInstalledPendingWithItsApprovalKey) {
  auto dir = make_component(root_.path() / "unsigned", kComponents / "counter.wasm",
                            counter_manifest("counter", "1.0.0"));
  auto r = cli({"install", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto listed = cli({"approvals", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const std::string key = listed.out.substr(0, listed.out.find(' '));
  ASSERT_EQ(key.size(), 64u) << listed.out;
  EXPECT_EQ(r.out,
            "installed counter 1.0.0 (trust unknown, status pending-approval)\n"
            "  it needs an approval: review its capabilities with `airssys-wasm approvals "
            "list`, approve it with `airssys-wasm approvals approve " +
                key + "`, then start it with `airssys-wasm start counter`\n");
  ASSERT_EQ(cli({"approvals", "approve", key}).exit_code, 0);
  EXPECT_EQ(info("counter")["approval"], "approved");
  // No host runs here: a trust change applies to the next command at once.
  auto trusted = cli({"trust", "add-path", (root_.path() / "srv" / "**").string()});
  EXPECT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_EQ(trusted.err, "");
}

// The operator changes policy.toml and trust.toml under a running host:
// `reload` (and SIGHUP) put them in force at once, without stopping anything;
// a refused file changes nothing; every reload is on record.
TEST_F(ServeTest, ReloadPutsANewPolicyAndTrustInForceWithoutARestart) {
  auto v1 = component("1.0.0", kComponents / "counter.wasm");
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  ASSERT_EQ(cli({"install", v1.string()}).exit_code, 0);
  ASSERT_EQ(cli({"start", "counter"}).exit_code, 0);
  auto wait_log = [&](const std::string& text, size_t count = 1) {
    auto seen = [&] {
      std::string all = daemon.log();
      size_t n = 0;
      for (size_t at = 0; (at = all.find(text, at)) != std::string::npos; at += text.size()) ++n;
      return n;
    };
    for (int i = 0; i < 1000 && seen() < count; ++i) std::this_thread::sleep_for(10ms);
    return seen() >= count;
  };
  auto tick = [&] { EXPECT_EQ(cli({"send", "counter", "tick"}).exit_code, 0); };
  tick();
  ASSERT_TRUE(wait_log("[counter] counter tick = 1")) << daemon.log();

  // A deny rule in force for the very next host call.
  write_file(data_ / "policy.toml",
             "[[rule]]\nname = \"freeze\"\neffect = \"deny\"\n"
             "permissions = [\"storage.write\"]\nreason = \"frozen for the audit\"\n");
  auto r = cli({"reload"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("reloaded: policy 1 (1 rules)"), std::string::npos) << r.out;
  tick();
  ASSERT_TRUE(wait_log("[counter] counter tick error")) << daemon.log();
  auto denied = [&] {
    auto a = cli({"audit", "--component", "counter", "--permission", "storage.write", "--result",
                  "denied", "--layer", "host-policy"});
    EXPECT_EQ(a.exit_code, 0) << a.err;
    return a.out;
  };
  std::string refusals;
  for (int i = 0; i < 500 && (refusals = denied()).empty(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(refusals.find("rule 'freeze': frozen for the audit"), std::string::npos) << refusals;

  // A broken policy is refused with its line; the rule in force stays.
  write_file(data_ / "policy.toml", "[[rule]]\nname = \"broken\"\neffect = \"maybe\"\n");
  r = cli({"reload"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("policy.toml:3"), std::string::npos) << r.err;
  tick();
  ASSERT_TRUE(wait_log("[counter] counter tick error", 2)) << daemon.log();

  // SIGHUP with the file gone: no rules, writes are granted again.
  fs::remove(data_ / "policy.toml");
  daemon.hangup();
  ASSERT_TRUE(wait_log("SIGHUP: reloaded policy 2 (0 rules)")) << daemon.log();
  tick();
  ASSERT_TRUE(wait_log("[counter] counter tick = 2")) << daemon.log();

  // The signer's key leaves trust.toml: reload names the running component
  // whose trust changes; it keeps running until it next starts.
  r = cli({"trust", "remove-key", "release"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cli({"reload", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto report = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out;
  EXPECT_EQ(report["policy_generation"], 3);
  EXPECT_EQ(report["trusted_keys"], 0);
  ASSERT_EQ(report["trust_changes"].size(), 1u) << r.out;
  EXPECT_EQ(report["trust_changes"][0]["name"], "counter");
  EXPECT_EQ(report["trust_changes"][0]["from"], "trusted");
  EXPECT_EQ(report["trust_changes"][0]["to"], "unknown");
  EXPECT_EQ(report["trust_changes"][0]["running"], true);
  EXPECT_EQ(info("counter")["running"], true);

  // Every reload is on record: three put in force, one refused.
  auto reloads = [&](const char* result) {
    auto a = cli({"audit", "--permission", "host.reload", "--result", result, "--json"});
    size_t n = 0;
    std::istringstream lines(a.out);
    for (std::string line; std::getline(lines, line);) ++n;
    return n;
  };
  for (int i = 0; i < 500 && reloads("granted") < 3; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(reloads("granted"), 3u);
  EXPECT_EQ(reloads("denied"), 1u);
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// The audit log under a running host: moved away by a log rotation tool (then
// SIGHUP), or removed. Either way the host goes on in a new file at the
// log's path, which begins with an audit.reopen record that says why.
TEST_F(ServeTest, AnAuditLogMovedAwayOrRemovedIsOpenedAgain) {
  auto v1 = component("1.0.0", kComponents / "counter.wasm");
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  ASSERT_EQ(cli({"install", v1.string()}).exit_code, 0);
  ASSERT_EQ(cli({"start", "counter"}).exit_code, 0);
  auto wait_log = [&](const std::string& text) {
    for (int i = 0; i < 3000 && daemon.log().find(text) == std::string::npos; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    return daemon.log().find(text) != std::string::npos;
  };
  // The records of the audit log file itself (not its rotated files).
  auto records_of = [&](const fs::path& file, std::string_view permission) {
    std::vector<security::AuditRecord> out;
    auto all = security::read_audit_records(file);
    EXPECT_TRUE(all) << all.error().message;
    if (!all) return out;
    for (auto& r : *all) {
      if (r.permission == permission) out.push_back(std::move(r));
    }
    return out;
  };
  EXPECT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
  ASSERT_TRUE(wait_log("[counter] counter tick = 1")) << daemon.log();

  fs::rename(data_ / "audit.log", data_ / "audit.log-moved");
  daemon.hangup();
  ASSERT_TRUE(wait_log("SIGHUP: reloaded")) << daemon.log();
  ASSERT_TRUE(fs::exists(data_ / "audit.log"));
  // The reload's own record follows the reopening.
  for (int i = 0; i < 3000 && records_of(data_ / "audit.log", "host.reload").empty(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto reopened = records_of(data_ / "audit.log", security::kAuditReopenPermission);
  ASSERT_EQ(reopened.size(), 1u);
  EXPECT_NE(reopened[0].reason.find("moved away"), std::string::npos) << reopened[0].reason;
  EXPECT_EQ(records_of(data_ / "audit.log", "host.reload").size(), 1u);
  EXPECT_TRUE(records_of(data_ / "audit.log-moved", "host.reload").empty());

  fs::remove(data_ / "audit.log");
  EXPECT_EQ(cli({"send", "counter", "tick"}).exit_code, 0);
  ASSERT_TRUE(wait_log("[counter] counter tick = 2")) << daemon.log();
  // The tick's records are written after it printed its line.
  for (int i = 0; i < 3000 && (!fs::exists(data_ / "audit.log") ||
                               records_of(data_ / "audit.log", "storage.write").empty());
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  reopened = records_of(data_ / "audit.log", security::kAuditReopenPermission);
  ASSERT_EQ(reopened.size(), 1u);
  EXPECT_NE(reopened[0].reason.find("was removed"), std::string::npos) << reopened[0].reason;
  EXPECT_EQ(records_of(data_ / "audit.log", "storage.write").size(), 1u);
  auto r = cli({"audit", "--permission", "audit.reopen"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// A state.db damaged in the middle (bytes overwritten) is refused when the
// host starts, with a message that names the file and what to do; the host
// does not come up to fail every key-value call of its components.
TEST_F(ServeTest, ADamagedStateDatabaseIsRefusedAtStart) {
  // The commands create state.db when no host runs; 2000 entries fill it.
  ASSERT_EQ(cli({"list"}).exit_code, 0);
  const auto file = data_ / "state.db";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db,
                           "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
                           "WHERE i < 1999) INSERT INTO kv (component, key, value) "
                           "SELECT 'counter', CAST('k:' || i AS BLOB), zeroblob(100) FROM n",
                           nullptr, nullptr, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);  // the last connection checkpoints the WAL into state.db
  }
  const auto size = fs::file_size(file);
  ASSERT_GT(size, 40u * 4096u);
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    const std::string junk(4096, '\xa5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto r = run_process({kCli, "serve", "--config", config_.string()}, 30s);
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(file.string() + " is damaged"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("backup"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(data_ / "admin.sock"));
}

// A component of the airssys world (wit/host.wit) under the daemon: signed,
// installed, started, messaged and reported like a core-ABI one, its health
// in the status.
TEST_F(ServeTest, AComponentOfTheWorldIsInstalledStartedAndMessagedLikeAnyOther) {
  const fs::path echo = kComponents / "world" / "echo.wasm";
  if (!fs::exists(echo)) GTEST_SKIP() << "jco is not installed: no world components";
  auto dir = make_component(root_.path() / "echo", echo,
                            "[component]\nname = \"echo\"\nversion = \"1.0.0\"\n\n"
                            "[capabilities]\nmessaging.receive = [\"host\"]\n",
                            &keys_);
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(wait_serving(daemon)) << daemon.log();
  auto r = cli({"install", dir.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = cli({"start", "echo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(cli({"send", "echo", "hello"}).exit_code, 0);
  for (int i = 0; i < 1000 && info("echo").value("messages_handled", 0) < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  auto report = info("echo");
  EXPECT_EQ(report["messages_handled"], 1) << report.dump();
  EXPECT_EQ(report["state"], "ready") << report.dump();
  // The echo counts its messages in its health reason (at its last check).
  EXPECT_EQ(report["health"], "degraded: 0 messages") << report.dump();
  r = cli({"status"});
  EXPECT_NE(r.out.find("health: degraded: 0 messages"), std::string::npos) << r.out;
}

TEST_F(ServeTest, BadConfigurationAndCommandLine) {
  write_file(config_, "data_dir = \"data\"\nworkerz = 2\n");
  auto r = run_process({kCli, "serve", "--config", config_.string()}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("host.toml:2: workerz: unknown key"), std::string::npos) << r.err;
  r = cli({"uninstall"});
  EXPECT_EQ(r.exit_code, 2);
  r = cli({"info", "nobody"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("no component named 'nobody' is installed"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace airssys::wasm::system::test
