#pragma once
// The fixture of the threat suite: a real ComponentRuntime on the thread-pool
// scheduler, a real key-value store and a real audit log file in a private
// directory, the hostile component (tests/security/components/hostile.c) and
// a bystander, "keeper" (tests/components/counter.c), whose counter proves
// after every attack that other components keep working and lose no data.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../support/line_log.hpp"
#include "../support/temp_dir.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/storage/kv.hpp"

namespace airssys::wasm::threat {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using security::AuditRecord;
using security::AuditResult;
using security::DecisionLayer;
using security::Permission;

inline fs::path built_component(const char* name) {
  return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

// Lines the components print, in order, across threads.
using Lines = airssys::wasm::test::LineLog;

using Grants = std::map<Permission, std::vector<std::string>>;

// The engine every scenario runs on: the interpreter, or with
// AIRSSYS_THREAT_NATIVE (the threat_native_test binary) the native tier, its
// compiled modules cached in the build tree across the suite's processes.
inline std::shared_ptr<engine::Engine> make_threat_engine() {
#ifdef AIRSSYS_THREAT_NATIVE
  engine::NativeOptions options;
  options.cache_dir = AIRSSYS_THREAT_NATIVE_CACHE;
  auto native = engine::Engine::native(options);
  if (!native) throw std::runtime_error(native.error().to_string());
  return std::shared_ptr<engine::Engine>(std::move(*native));
#else
  return std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
#endif
}

class ThreatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp.path();
    fs::create_directories(root / "grant");
    fs::create_directories(root / "outside");
    write(root / "grant/hello.txt", "hello");
    write(root / "outside/secret", "secret");
    engine = make_threat_engine();
    hostile_module = engine->load_file(built_component("hostile.wasm")).value();
    keeper_module = engine->load_file(built_component("counter.wasm")).value();
    auto s = storage::KeyValueStore::open({.data_dir = root / "data"});
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    store = std::move(*s);
    boot();
  }

  void TearDown() override {
    halt();
  }

  // A fresh audit log on the file (appending) and a fresh system.
  void boot(size_t audit_capacity = 16384,
            actor::SupervisorOptions supervisor = immediate_restarts(),
            uint64_t audit_rotate_bytes = security::kDefaultAuditRotateBytes,
            uint32_t audit_keep = security::kDefaultAuditKeep,
            uint32_t audit_repeat_limit = security::kDefaultAuditRepeatLimit) {
    security::AuditLogOptions audit_options;
    audit_options.capacity = audit_capacity;
    audit_options.rotate_bytes = audit_rotate_bytes;
    audit_options.keep = audit_keep;
    audit_options.repeat_limit = audit_repeat_limit;
    auto log = security::AuditLog::open(audit_file(), audit_options);
    ASSERT_TRUE(log.has_value()) << log.error().to_string();
    audit = std::move(*log);
    scheduler = std::make_unique<actor::ThreadPoolScheduler>(actor::ThreadPoolOptions{2});
    component::ComponentRuntimeOptions options;
    options.engine = engine;
    options.audit = audit.get();
    options.kv = store.get();
    options.supervisor = std::move(supervisor);
    system = std::make_unique<component::ComponentRuntime>(*scheduler, options);
  }

  void halt() {
    if (!system) return;
    system->stop();
    scheduler->shutdown();
    system.reset();
    scheduler.reset();
    audit->flush();
    audit.reset();
  }

  static actor::SupervisorOptions immediate_restarts() {
    actor::SupervisorOptions s;
    s.backoff.kind = actor::BackoffKind::Immediate;
    s.intensity.max_restarts = 20;
    return s;
  }

  fs::path audit_file() const { return root / "audit.jsonl"; }

  static void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }
  static std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::shared_ptr<const security::WasmSecurityContext> context(
      const std::string& name, const Grants& grants, security::QuotaLimits quotas = {}) {
    security::PatternLists lists;
    for (const auto& [permission, patterns] : grants) {
      lists[static_cast<size_t>(permission)] = patterns;
    }
    // Every component here takes its commands from the host.
    lists[static_cast<size_t>(security::Permission::MsgReceive)].push_back("host");
    auto caps = security::CapabilitySet::build(lists);
    EXPECT_TRUE(caps.has_value()) << caps.error().to_string();
    return security::WasmSecurityContext::create(name, *caps, security::TrustLevel::Trusted, quotas)
        .value();
  }

  component::ComponentSpec spec(const std::string& name, const Grants& grants,
                                security::QuotaLimits quotas = {},
                                std::shared_ptr<const engine::Module> module = nullptr) {
    component::ComponentSpec s;
    s.name = name;
    s.module = module ? module : hostile_module;
    s.security = context(name, grants, quotas);
    s.slice = 10'000;
    s.fuel_per_message = 50'000'000;
    s.stdout_sink = [this, name](std::span<const uint8_t> b) { lines.add(name, b); };
    s.stderr_sink = s.stdout_sink;
    return s;
  }

  // Starts the component and waits for its "<name> init" line.
  void start(component::ComponentSpec s) {
    const std::string name = s.name;
    const size_t from = lines.size();
    auto started = system->start(std::move(s));
    ASSERT_TRUE(started.has_value()) << started.error().to_string();
    ASSERT_NE(lines.wait(name + " init", from), "") << lines.dump();
  }

  void start_hostile(const Grants& grants, security::QuotaLimits quotas = {}) {
    start(spec("hostile", grants, quotas));
  }

  // The bystander: a counter in its own key-value namespace, ticked once.
  void start_keeper(Grants extra = {}, size_t mailbox = 1024) {
    Grants grants = std::move(extra);
    grants[Permission::StorageRead].push_back("counter:*");
    grants[Permission::StorageWrite].push_back("counter:*");
    auto s = spec("keeper", grants, {}, keeper_module);
    s.mailbox_capacity = mailbox;
    start(std::move(s));
    keeper_alive();
  }

  // Waits until the keeper has counted `accepted` more messages from someone
  // else (a flood it accepted), so that the next keeper_alive() reads its own
  // answer and not the tail of the flood: every one counted, exactly once.
  void keeper_counted(int accepted) {
    keeper_ticks += accepted;
    const std::string line = "keeper tick = " + std::to_string(keeper_ticks);
    // The keeper's lines count up one by one, so the first line with this
    // prefix is this very number.
    EXPECT_EQ(lines.wait(line, 0), line) << lines.dump();
  }

  // The bystander still answers, and its counter went on from where it was:
  // nothing of its state was lost or changed by anyone else.
  void keeper_alive() {
    ++keeper_ticks;
    const size_t from = lines.size();
    ASSERT_TRUE(system->send_from_host("keeper", bytes("tick")).has_value());
    EXPECT_EQ(lines.wait("keeper tick", from), "keeper tick = " + std::to_string(keeper_ticks))
        << lines.dump();
  }

  static std::vector<uint8_t> bytes(const std::string& text) {
    return std::vector<uint8_t>(text.begin(), text.end());
  }

  // Sends a command to the component and returns the first line starting
  // with `expect` that follows.
  std::string ask(const std::string& target, const std::string& text, const std::string& expect,
                  std::chrono::milliseconds timeout = 15s) {
    const size_t from = lines.size();
    auto sent = system->send_from_host(target, bytes(text));
    EXPECT_TRUE(sent.has_value()) << (sent ? "" : sent.error().to_string());
    std::string line = lines.wait(expect, from, timeout);
    EXPECT_NE(line, "") << "no line '" << expect << "' after '" << text << "'\n" << lines.dump();
    return line;
  }

  // A hostile component without grants sends 20000 messages to the keeper,
  // each refused and audited; returns the audit log's counters afterwards.
  security::AuditStats refused_flood() {
    start_keeper();
    start_hostile({});  // no grants: every send is a denial to record
    const std::string line = ask("hostile", "flood keeper 20000", "hostile flood ", 60s);
    EXPECT_EQ(line, "hostile flood ok=0 quota=0 full=0 other=20000");
    audit->flush();
    return audit->stats();
  }

  // Every record of the audit log (its rotated files first), parsed line by
  // line (every complete line must parse). The log may be live: flush()
  // waits only for the records queued before it, so the writer may be
  // appending a later one right now; a last line without its newline is
  // that record, still being written, and is left for the next read.
  std::vector<AuditRecord> audit_records() {
    if (audit) audit->flush();
    std::vector<AuditRecord> out;
    for (const auto& file : security::audit_log_files(audit_file())) {
      std::string text = read(file);
      text.erase(text.find_last_of('\n') == std::string::npos ? 0
                                                               : text.find_last_of('\n') + 1);
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        auto r = security::parse_audit_line(line);
        EXPECT_TRUE(r.has_value()) << "not an audit record: " << line;
        if (r) out.push_back(std::move(*r));
      }
    }
    return out;
  }

  // The records of `component` for `permission` with `result`, optionally
  // only those whose resource contains `resource`.
  std::vector<AuditRecord> audited(const std::string& component, const std::string& permission,
                                   AuditResult result, const std::string& resource = "") {
    std::vector<AuditRecord> out;
    for (auto& r : audit_records()) {
      if (r.component == component && r.permission == permission && r.result == result &&
          r.resource.find(resource) != std::string::npos) {
        out.push_back(std::move(r));
      }
    }
    return out;
  }

  // The component's state and last error once it has settled on `state`.
  std::optional<component::ComponentStatus> wait_state(const std::string& name,
                                                       component::ComponentState state,
                                                       std::chrono::milliseconds timeout = 15s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto s = system->status(name);
      if (s && s->state == state) return s;
      std::this_thread::sleep_for(5ms);
    }
    return system->status(name);
  }

  airssys::wasm::test::TempDir tmp{"threat"};
  fs::path root;
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> hostile_module;
  std::shared_ptr<const engine::Module> keeper_module;
  std::unique_ptr<storage::KeyValueStore> store;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<actor::ThreadPoolScheduler> scheduler;
  std::unique_ptr<component::ComponentRuntime> system;
  Lines lines;
  int keeper_ticks = 0;
};

}  // namespace airssys::wasm::threat
