// The host end to end: real counter components (tests/components/counter.c)
// installed into a registry in a temporary data directory, started, upgraded
// under a steady stream of messages, rolled back, uninstalled, and brought
// back by a new host on the same directory.
// Longer than 900 lines: one lifecycle (install, start, upgrade, rollback,
// uninstall, restart of the host) over one shared fixture.

#include "airssys/wasm/system/host.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <future>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "system_test_support.hpp"

namespace airssys::wasm::system {
namespace {

using namespace test;

std::vector<uint8_t> bytes(std::string_view text) { return {text.begin(), text.end()}; }

struct Audit {
  std::mutex mutex;
  std::vector<security::AuditRecord> records;
  auto subscriber() {
    return [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(mutex);
      records.push_back(r);
    };
  }
  size_t count(std::string_view permission, security::AuditResult result) {
    std::lock_guard lock(mutex);
    return static_cast<size_t>(std::count_if(records.begin(), records.end(), [&](const auto& r) {
      return r.permission == permission && r.result == result;
    }));
  }
};

class HostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = root_.path() / "data";
    fs::create_directories(data_);
    fs::permissions(data_, fs::perms::owner_all, fs::perm_options::replace);
    keys_ = trusted_keys(data_);
  }

  Result<std::unique_ptr<Host>> open_host() {
    return HostBuilder()
        .data_dir(data_)
        .workers(2)
        .state_durability(storage::Durability::Normal)
        .on_log(lines_.sink())
        .on_audit(audit_.subscriber())
        .build();
  }

  fs::path counter(std::string_view version, const fs::path& module, bool sign = true,
                   std::string_view name = "counter") {
    return make_component(root_.path() / fmt::format("src-{}-{}", name, version), module,
                          counter_manifest(name, version), sign ? &keys_ : nullptr);
  }

  // Sends ticks until `stop`, steadily, retrying while the mailbox is full;
  // returns how many were accepted.
  static uint64_t stream(Host& host, const std::atomic<bool>& stop) {
    uint64_t accepted = 0;
    while (!stop.load()) {
      for (;;) {
        auto sent = host.send("counter", bytes("tick"));
        if (sent) {
          ++accepted;
          break;
        }
        if (sent.error().code != ErrorCode::MailboxFull) {
          ADD_FAILURE() << "send " << accepted << ": " << sent.error().to_string();
          return accepted;
        }
        std::this_thread::sleep_for(1ms);
      }
      std::this_thread::sleep_for(500us);  // steady, not one burst into the old mailbox
    }
    return accepted;
  }

  static uint64_t stored_count(Host& host) {
    auto value = host.state().get("counter", "counter:value");
    if (!value || !*value) return 0;
    return std::stoull(std::string((*value)->begin(), (*value)->end()));
  }

  static bool wait_count(Host& host, uint64_t n, std::chrono::milliseconds timeout = 30s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (stored_count(host) < n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return stored_count(host) == n;
  }

  // The handled-message count of every version, once it reaches n: the
  // handler stores its count before the host counts it as handled.
  static uint64_t handled_once(Host& host, uint64_t n, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    uint64_t handled = 0;
    while ((handled = host.info("counter")->messages_handled) < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return handled;
  }

  TempDir root_;
  fs::path data_;
  security::KeyPair keys_;
  Lines lines_;
  Audit audit_;
  const fs::path v1_ = kComponents / "counter.wasm";
  const fs::path v2_ = kComponents / "counter_v2.wasm";
};

TEST_F(HostTest, InstallRecordsTrustSignatureAndApproval) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  auto installed = (*host)->install(counter("1.0.0", v1_));
  ASSERT_TRUE(installed) << installed.error().to_string();
  EXPECT_EQ(installed->name, "counter");
  EXPECT_EQ(installed->current.version, "1.0.0");
  EXPECT_EQ(installed->current.trust, security::TrustLevel::Trusted);
  EXPECT_TRUE(installed->current.signature.has_value());
  EXPECT_TRUE(installed->current.signer_key_id.has_value());
  EXPECT_TRUE(installed->current.approval_key.has_value());
  EXPECT_EQ(installed->current.module_hash.size(), 64u);
  EXPECT_EQ(installed->status, "installed");
  EXPECT_EQ(installed->desired, DesiredState::Stopped);
  EXPECT_TRUE(fs::exists(installed->current.store_dir / "component.wasm"));
  auto info = (*host)->info("counter");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->approval, security::ApprovalState::AutoApproved);
  EXPECT_FALSE(info->running);

  auto again = (*host)->install(counter("1.0.0", v1_));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::InvalidTransition);
  auto missing = (*host)->start("nobody");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);
}

// After shutdown every lifecycle call is refused with its own code.
TEST_F(HostTest, AShutDownHostRefusesLifecycleCallsWithItsOwnCode) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  ASSERT_TRUE((*host)->install(counter("1.0.0", v1_)));
  (*host)->shutdown();
  for (auto refused : {(*host)->start("counter"), (*host)->load(counter("1.0.0", v1_))}) {
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::HostShutDown) << refused.error().to_string();
    EXPECT_EQ(refused.error().message, "the host is shut down");
  }
  auto reload = (*host)->reload();
  ASSERT_FALSE(reload);
  EXPECT_EQ(reload.error().code, ErrorCode::HostShutDown);
  auto install = (*host)->install(counter("1.0.1", v1_));
  ASSERT_FALSE(install);
  EXPECT_EQ(install.error().code, ErrorCode::HostShutDown);
}

TEST_F(HostTest, UpgradeUnderSteadyStreamLosesNothingThenRollbackAndUninstall) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  ASSERT_TRUE(h.install(counter("1.0.0", v1_)));
  { auto started_ = h.start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }

  // Upgrade while a steady stream runs: every accepted message is counted
  // exactly once, by the old version or the new one. The stream runs from
  // before the upgrade until well after it.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> accepted{0};
  std::thread sender([&] { accepted = stream(h, stop); });
  while (stored_count(h) < 100) std::this_thread::sleep_for(1ms);
  auto upgraded = h.upgrade(counter("2.0.0", v2_));
  std::this_thread::sleep_for(300ms);
  stop = true;
  sender.join();
  ASSERT_TRUE(upgraded) << upgraded.error().to_string();
  EXPECT_EQ(upgraded->current.version, "2.0.0");
  ASSERT_TRUE(upgraded->previous);
  EXPECT_EQ(upgraded->previous->version, "1.0.0");
  const uint64_t first = accepted.load();
  EXPECT_TRUE(wait_count(h, first)) << "stored " << stored_count(h) << " of " << first;
  EXPECT_EQ(handled_once(h, first), first);
  auto info = h.info("counter");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->running);
  // Both versions took part: the old one before the switch, the new one after.
  ASSERT_TRUE(info->status);
  uint64_t by_new = info->status->messages_handled;
  EXPECT_GT(by_new, 0u) << "the upgrade did not happen under load";
  EXPECT_LT(by_new, first) << "the old version handled nothing";
  std::this_thread::sleep_for(1100ms);  // a fresh log-rate window for the answer
  ASSERT_TRUE(h.send("counter", bytes("version")));
  EXPECT_TRUE(lines_.wait_line("counter: counter version 2"));

  // Rollback under a second stream.
  stop = false;
  sender = std::thread([&] { accepted = stream(h, stop); });
  while (stored_count(h) < first + 50) std::this_thread::sleep_for(1ms);
  auto rolled = h.rollback("counter");
  std::this_thread::sleep_for(300ms);
  stop = true;
  sender.join();
  ASSERT_TRUE(rolled) << rolled.error().to_string();
  EXPECT_EQ(rolled->current.version, "1.0.0");
  EXPECT_EQ(rolled->previous->version, "2.0.0");
  const uint64_t total = first + accepted.load();
  EXPECT_TRUE(wait_count(h, total)) << "stored " << stored_count(h) << " of " << total;
  ASSERT_TRUE(h.status("counter"));
  EXPECT_GT(h.status("counter")->messages_handled, 0u) << "the rollback did not happen under load";
  EXPECT_LT(h.status("counter")->messages_handled, accepted.load());
  EXPECT_EQ(handled_once(h, total + 1), total + 1);  // + "version"
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(h.send("counter", bytes("version")));
  EXPECT_TRUE(lines_.wait_line("counter: counter version 1"));
  EXPECT_GE(audit_.count("lifecycle.upgrade", security::AuditResult::Granted), 1u);
  EXPECT_GE(audit_.count("lifecycle.rollback", security::AuditResult::Granted), 1u);
  std::printf("stream: %llu messages through the upgrade, %llu through the rollback, none lost\n",
              static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(total - first));

  // Uninstall keeping the state: a reinstalled counter continues from it.
  ASSERT_TRUE(h.uninstall("counter"));
  EXPECT_FALSE(h.status("counter"));
  EXPECT_FALSE(h.info("counter"));
  EXPECT_FALSE(fs::exists(data_ / "components" / "counter"));
  EXPECT_EQ(stored_count(h), total);
  ASSERT_TRUE(h.install(counter("1.0.0", v1_)));
  { auto started_ = h.start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(h, total + 1));

  // Uninstall removing the state.
  ASSERT_TRUE(h.uninstall("counter", {.remove_state = true}));
  auto keys = h.state().list("counter", "", "", 10);
  ASSERT_TRUE(keys);
  EXPECT_TRUE(keys->empty());
  EXPECT_EQ(*h.state().usage("counter"), 0u);
}

// The same guarantee for messages between components: a sender component
// floods the counter while it is upgraded; every send the sender saw succeed
// is counted exactly once.
TEST_F(HostTest, UpgradeLosesNoMessageFromAnotherComponent) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  auto manifest = [](std::string_view version) {
    return counter_manifest("counter", version, "\"pump\", \"host\"");
  };
  ASSERT_TRUE(h.install(make_component(root_.path() / "c1", v1_, manifest("1.0.0"), &keys_)));
  ASSERT_TRUE(h.install(make_component(
      root_.path() / "pump", kComponents / "scripted.wasm",
      "[component]\nname = \"pump\"\nversion = \"1.0.0\"\n\n[capabilities]\n"
      "messaging.send = [\"counter\"]\nmessaging.receive = [\"host\"]\n",
      &keys_)));
  { auto started_ = h.start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  { auto started_ = h.start("pump"); ASSERT_TRUE(started_) << started_.error().to_string(); }

  std::atomic<bool> stop{false};
  std::atomic<int> floods{0};
  std::thread driver([&] {
    while (!stop.load()) {
      if (h.send("pump", bytes("flood counter 10"))) ++floods;
      std::this_thread::sleep_for(25ms);  // 400 messages/s, under the pump's rate quota
    }
  });
  while (stored_count(h) < 100) std::this_thread::sleep_for(1ms);
  auto upgraded = h.upgrade(make_component(root_.path() / "c2", v2_, manifest("2.0.0"), &keys_));
  std::this_thread::sleep_for(300ms);
  stop = true;
  driver.join();
  ASSERT_TRUE(upgraded) << upgraded.error().to_string();

  // Every flood reports how many of its sends succeeded.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::vector<std::string> reports;
  while ((reports = lines_.with_prefix("pump: pump flood")).size() <
         static_cast<size_t>(floods.load())) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << reports.size() << " of " << floods.load() << " flood reports";
    std::this_thread::sleep_for(5ms);
  }
  uint64_t delivered = 0;
  for (const auto& line : reports) {
    auto at = line.find("ok=");
    ASSERT_NE(at, std::string::npos) << line;
    delivered += std::stoull(line.substr(at + 3));
  }
  ASSERT_GT(delivered, 100u);
  EXPECT_TRUE(wait_count(h, delivered)) << "stored " << stored_count(h) << " of " << delivered;
  auto info = h.info("counter");
  ASSERT_TRUE(info && info->status);
  EXPECT_EQ(info->messages_handled, delivered);
  EXPECT_GT(info->status->messages_handled, 0u) << "the new version received nothing";
  EXPECT_LT(info->status->messages_handled, delivered) << "the old version received nothing";
}

TEST_F(HostTest, FailingUpgradeKeepsTheRunningVersion) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  ASSERT_TRUE(h.install(counter("1.0.0", v1_)));
  { auto started_ = h.start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  ASSERT_TRUE(wait_count(h, 1));
  // More failed attempts than the supervisor's restart intensity (3 in 60 s):
  // a version on probation is never restarted, so nothing else suffers.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto broken = h.upgrade(counter("3.0.0", kComponents / "trap_init.wasm"));
    ASSERT_FALSE(broken);
    EXPECT_NE(broken.error().message.find("the running version stays"), std::string::npos)
        << broken.error().message;
  }
  auto info = h.info("counter");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->installed.current.version, "1.0.0");
  EXPECT_FALSE(info->installed.previous);
  EXPECT_TRUE(info->running);
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(h, 2));
  auto none = h.rollback("counter");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::InvalidTransition);
  auto upgraded = h.upgrade(counter("2.0.0", v2_));
  ASSERT_TRUE(upgraded) << upgraded.error().to_string();
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(h, 3));
  EXPECT_EQ(h.info("counter")->restarts, 0u);
}

// A data directory held by another process (a CLI command reading it, say)
// is waited for; past the wait, the refusal names the holder, which every
// holder writes into host.lock.
TEST_F(HostTest, ABusyDataDirectoryIsWaitedForAndItsHolderNamed) {
  const fs::path lock_path = data_ / "host.lock";
  int held = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);
  const std::string holder = "pid 4242: airssys-wasm list\n";
  ASSERT_EQ(::pwrite(held, holder.data(), holder.size(), 0),
            static_cast<ssize_t>(holder.size()));
  HostConfig config;
  config.data_dir = data_;
  config.workers = 2;
  config.lock_wait = std::chrono::milliseconds(100);
  auto refused = HostBuilder(config).build();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::InvalidTransition);
  EXPECT_NE(refused.error().message.find("pid 4242: airssys-wasm list"), std::string::npos)
      << refused.error().message;

  // A holder that lets go while the host waits: the host starts.
  config.lock_wait = std::chrono::seconds(60);
  auto pending = std::async(std::launch::async, [config] { return HostBuilder(config).build(); });
  auto opened_by_both = [&] {  // the builder has opened host.lock too: it is waiting
    const auto target = fs::weakly_canonical(lock_path);
    int count = 0;
    std::error_code ec;
    for (const auto& fd : fs::directory_iterator("/proc/self/fd", ec)) {
      if (fs::read_symlink(fd.path(), ec) == target) ++count;
    }
    return count >= 2;
  };
  for (int i = 0; i < 30'000 && !opened_by_both(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(opened_by_both());
  ::close(held);
  auto host = pending.get();
  ASSERT_TRUE(host) << host.error().to_string();
  std::ifstream in(lock_path);
  std::string record((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(record.rfind(fmt::format("pid {}: ", ::getpid()), 0), 0u) << record;
}

TEST_F(HostTest, AComponentFailingToStartHarmsNoOther) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  ASSERT_TRUE(h.install(counter("1.0.0", v1_)));
  ASSERT_TRUE(h.install(make_component(root_.path() / "broken", kComponents / "trap_init.wasm",
                                       counter_manifest("broken", "1.0.0"), &keys_)));
  { auto started_ = h.start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  for (int attempt = 0; attempt < 5; ++attempt) {  // more than the restart intensity
    auto failed = h.start("broken");
    ASSERT_FALSE(failed);
    EXPECT_TRUE(failed.error().is_trap()) << failed.error().to_string();
    EXPECT_EQ(h.info("broken")->installed.status, "failed");
  }
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(h, 1));
  EXPECT_TRUE(h.info("counter")->running);
}

// A module whose blocks nest 50,000 deep (past the engine's limit of 10,000)
// is refused with a typed error on either tier, at install and at start,
// while the host and a running neighbour carry on; a module with a name
// section it cannot read starts, with the warning on record.
TEST_F(HostTest, AModuleNestedTooDeepIsRefusedAndHarmsNoOther) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  ASSERT_TRUE(h.install(counter("1.0.0", v1_)));
  { auto started_ = h.start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }

  std::string deep("\0asm\1\0\0\0\x01\x05\x01\x60\x00\x01\x7f\x03\x02\x01\x00", 19);
  std::string body(1, '\0');
  for (int i = 0; i < 50'000; ++i) body += "\x02\x40";
  body += std::string(50'000, '\x0b') + "\x41\x07\x0b";
  std::string code(1, '\x01');
  for (uint64_t v = body.size();; ) {  // the body's size, LEB128
    uint8_t b = v & 0x7f;
    v >>= 7;
    code.push_back(static_cast<char>(b | (v ? 0x80 : 0)));
    if (!v) break;
  }
  code += body;
  std::string section(1, '\x0a');
  for (uint64_t v = code.size();; ) {
    uint8_t b = v & 0x7f;
    v >>= 7;
    section.push_back(static_cast<char>(b | (v ? 0x80 : 0)));
    if (!v) break;
  }
  write_file(root_.path() / "deep.wasm", deep + section + code);
  for (const char* tier : {"interp", "native"}) {
    SCOPED_TRACE(tier);
    std::string name = fmt::format("deep-{}", tier);
    auto dir = make_component(root_.path() / name, root_.path() / "deep.wasm",
                              counter_manifest(name, "1.0.0") +
                                  fmt::format("\n[runtime]\ntier = \"{}\"\n", tier),
                              &keys_);
    auto loaded = h.load(dir);
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code, ErrorCode::ModuleTooComplex) << loaded.error().to_string();
    EXPECT_NE(loaded.error().message.find("10000"), std::string::npos);
  }

  // counter.wasm with a name section appended whose entries are out of order.
  std::ifstream in(v1_, std::ios::binary);
  std::string counter_bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_file(root_.path() / "badnames.wasm",
             counter_bytes + std::string("\x00\x0e\x04name\x01\x07\x02\x01\x01x\x00\x01y", 16));
  ASSERT_TRUE(h.install(make_component(root_.path() / "src-badnames", root_.path() / "badnames.wasm",
                                       counter_manifest("badnames", "1.0.0"), &keys_)));
  { auto started_ = h.start("badnames"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  EXPECT_GE(audit_.count("lifecycle.load", security::AuditResult::Granted), 1u);

  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(h, 1));
  EXPECT_TRUE(h.info("counter")->running);
}

TEST_F(HostTest, LoadRunsAFolderWithoutInstallingIt) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  auto loaded = h.load(counter("1.0.0", v1_));
  ASSERT_TRUE(loaded) << loaded.error().to_string();
  EXPECT_TRUE(h.list()->empty());
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(h, 1));
  EXPECT_EQ(h.running(), std::vector<std::string>{"counter"});
  EXPECT_NE(h.metrics().find("airssys_component_up{component=\"counter\",version=\"loaded\"} 1"),
            std::string::npos);
  // Admission is the same as for an install: unknown and unapproved does not run.
  auto unknown = h.load(counter("1.0.0", v1_, /*sign=*/false, "stranger"));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::ApprovalRequired);
  EXPECT_FALSE(h.status("stranger"));
}

// A manifest's [runtime] tier decides, unless the operator overrides it; the
// native code is cached in the data directory.
TEST_F(HostTest, TheManifestChoosesTheTierAndTheOperatorMayOverrideIt) {
  auto dir = make_component(root_.path() / "src-native", v1_,
                            counter_manifest("counter", "1.0.0") + "\n[runtime]\ntier = \"native\"\n",
                            &keys_);
  {
    auto host = open_host();
    ASSERT_TRUE(host) << host.error().to_string();
    Host& h = **host;
    auto loaded = h.load(dir);
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    ASSERT_TRUE(h.send("counter", bytes("tick")));
    EXPECT_TRUE(wait_count(h, 1));
    ASSERT_TRUE(h.status("counter"));
    EXPECT_EQ(h.status("counter")->tier, engine::Tier::Native);
    EXPECT_FALSE(fs::is_empty(data_ / "cache" / "native"));
  }
  auto host = HostBuilder()
                  .data_dir(data_)
                  .workers(2)
                  .state_durability(storage::Durability::Normal)
                  .on_log(lines_.sink())
                  .tier(security::TierChoice::Interp, /*over_manifests=*/true)
                  .build();
  ASSERT_TRUE(host) << host.error().to_string();
  ASSERT_TRUE((*host)->load(dir));
  ASSERT_TRUE((*host)->send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(**host, 2));
  EXPECT_EQ((*host)->status("counter")->tier, engine::Tier::Interp);
}

TEST_F(HostTest, TamperedComponentIsRefusedAtInstall) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  // The module changed after signing.
  auto dir = counter("1.0.0", v1_);
  {
    std::ofstream out(dir / "component.wasm", std::ios::binary | std::ios::app);
    out << '\0';
  }
  auto refused = (*host)->install(dir);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::SignatureInvalid) << refused.error().to_string();
  // The manifest changed after signing (one more capability).
  auto dir2 = counter("1.0.0", v1_, true, "other");
  write_file(dir2 / "Component.toml",
             counter_manifest("other", "1.0.0") + "storage.delete = [\"counter:*\"]\n");
  auto refused2 = (*host)->install(dir2);
  ASSERT_FALSE(refused2);
  EXPECT_EQ(refused2.error().code, ErrorCode::SignatureInvalid);
  // The refusal names the operator's folder, not the host's staging copy.
  EXPECT_NE(refused2.error().message.find((dir2 / "Component.toml").string()), std::string::npos)
      << refused2.error().message;
  EXPECT_EQ(refused2.error().message.find(".staging"), std::string::npos)
      << refused2.error().message;

  EXPECT_TRUE((*host)->list()->empty());
  for (const auto& entry : fs::directory_iterator(data_ / "components")) {
    ADD_FAILURE() << "left behind: " << entry.path();
  }
  (*host)->audit().flush();
  EXPECT_EQ(audit_.count("trust.signature", security::AuditResult::Denied), 2u);
}

TEST_F(HostTest, TamperedInstalledCopyIsRefusedAtStart) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  auto installed = (*host)->install(counter("1.0.0", v1_));
  ASSERT_TRUE(installed);
  {
    std::ofstream out(installed->current.store_dir / "component.wasm",
                      std::ios::binary | std::ios::app);
    out << '\0';
  }
  auto started = (*host)->start("counter");
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code, ErrorCode::SignatureInvalid);
  EXPECT_FALSE((*host)->status("counter"));
  EXPECT_EQ((*host)->info("counter")->installed.status, "refused");
}

TEST_F(HostTest, UnknownComponentWaitsForApproval) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  auto installed = (*host)->install(counter("1.0.0", v1_, /*sign=*/false));
  ASSERT_TRUE(installed) << installed.error().to_string();
  EXPECT_EQ(installed->status, "pending-approval");
  EXPECT_EQ(installed->current.trust, security::TrustLevel::Unknown);
  EXPECT_EQ((*host)->info("counter")->approval, security::ApprovalState::Pending);
  auto refused = (*host)->start("counter");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::ApprovalRequired);
  auto approved = (*host)->approve("counter", "tester");
  ASSERT_TRUE(approved) << approved.error().to_string();
  EXPECT_EQ(approved->state, security::ApprovalState::Approved);
  { auto started_ = (*host)->start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  EXPECT_TRUE((*host)->info("counter")->running);
}

TEST_F(HostTest, RestartBringsBackComponentsWithStateAndApprovals) {
  {
    auto host = open_host();
    ASSERT_TRUE(host) << host.error().to_string();
    ASSERT_TRUE((*host)->install(counter("1.0.0", v1_, /*sign=*/false)));
    ASSERT_TRUE((*host)->approve("counter", "tester"));
    { auto started_ = (*host)->start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*host)->send("counter", bytes("tick")));
    ASSERT_TRUE(wait_count(**host, 5));
    ASSERT_TRUE((*host)->upgrade(counter("2.0.0", v2_, /*sign=*/false), {.approve = true}));
    ASSERT_TRUE((*host)->install(counter("1.0.0", v1_, true, "idle")));  // installed, never started
    ASSERT_TRUE((*host)->install(counter("1.0.0", v1_, true, "halted")));
    { auto started_ = (*host)->start("halted"); ASSERT_TRUE(started_) << started_.error().to_string(); }
    ASSERT_TRUE((*host)->stop("halted"));
    // A second host on the same data directory is refused while this one runs.
    auto second = HostBuilder().data_dir(data_).build();
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::InvalidTransition);
  }  // the host shuts down here
  lines_.clear();
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  auto info = (*host)->info("counter");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->installed.current.version, "2.0.0");
  EXPECT_EQ(info->installed.previous->version, "1.0.0");
  EXPECT_EQ(info->approval, security::ApprovalState::Approved);
  EXPECT_TRUE(lines_.wait_line("counter: counter init count=5"));
  EXPECT_FALSE((*host)->status("idle"));
  EXPECT_FALSE((*host)->status("halted"));
  EXPECT_EQ((*host)->info("halted")->installed.desired, DesiredState::Stopped);
  ASSERT_TRUE((*host)->send("counter", bytes("tick")));
  EXPECT_TRUE(wait_count(**host, 6));
  // The approval of the previous version is still on record: rollback needs no new one.
  ASSERT_TRUE((*host)->rollback("counter"));
  EXPECT_TRUE((*host)->info("counter")->running);
}

TEST_F(HostTest, MetricsInPrometheusText) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  ASSERT_TRUE((*host)->install(counter("1.0.0", v1_)));
  { auto started_ = (*host)->start("counter"); ASSERT_TRUE(started_) << started_.error().to_string(); }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*host)->send("counter", bytes("tick")));
  ASSERT_TRUE(wait_count(**host, 3));
  ASSERT_TRUE((*host)->send("counter", bytes("peek")));  // eight denied reads of other keys
  auto text = (*host)->metrics();
  auto has = [&](const std::string& line) { return text.find(line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("airssys_components_installed 1")) << text;
  EXPECT_TRUE(has("airssys_component_up{component=\"counter\",version=\"1.0.0\"} 1")) << text;
  EXPECT_TRUE(has("airssys_host_messages_total{component=\"counter\",result=\"accepted\"} 4"));
  EXPECT_TRUE(has("airssys_quota_limit{component=\"counter\",quota=\"storage\"} 104857600"));
  EXPECT_TRUE(has("airssys_quota_used{component=\"counter\",quota=\"storage\"} 14")) << text;
  EXPECT_TRUE(has("# TYPE airssys_messages_handled_total counter"));
  // Every line is a comment or `name{labels} value`.
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with("#")) continue;
    EXPECT_TRUE(line.starts_with("airssys_")) << line;
    EXPECT_NE(line.rfind(' '), std::string::npos) << line;
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    (*host)->audit().flush();
    text = (*host)->metrics();
    if (!has("airssys_denials_total{component=\"counter\"} 0")) break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no denial counted";
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE((*host)->send("counter", bytes("tick")));
  ASSERT_TRUE(wait_count(**host, 4));
  EXPECT_TRUE(has("airssys_messages_handled_total{component=\"counter\"} 4") ||
              (*host)->metrics().find("airssys_messages_handled_total{component=\"counter\"} 5") !=
                  std::string::npos);
}

// Host::send is a message from the sender "host": refused, typed and audited,
// to a component whose messaging.receive does not admit it.
TEST_F(HostTest, TheHostsMessagesNeedTheReceiversGrant) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  ASSERT_TRUE(h.install(make_component(root_.path() / "deaf", v1_,
                                       counter_manifest("counter", "1.0.0", "\"pump\""), &keys_)));
  { auto started = h.start("counter"); ASSERT_TRUE(started) << started.error().to_string(); }
  auto refused = h.send("counter", bytes("tick"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::CapabilityDenied);
  EXPECT_NE(refused.error().message.find("'counter' does not admit messages from the host"),
            std::string::npos)
      << refused.error().message;
  h.audit().flush();
  EXPECT_EQ(audit_.count("messaging.receive", security::AuditResult::Denied), 1u);
  EXPECT_NE(h.metrics().find("airssys_host_messages_total{component=\"counter\",result=\"refused\"} 1"),
            std::string::npos);
  EXPECT_EQ(stored_count(h), 0u);
}

// The operator's ceilings (the builder's or host.toml's, and the policy's)
// refuse a manifest that asks for more; a quota above the defaults makes an
// unknown component without capabilities wait for an approval.
TEST_F(HostTest, CeilingsRefuseMoreAndQuotasAboveTheDefaultsNeedAnApproval) {
  std::ofstream(data_ / "policy.toml") << "[quota]\nmemory = \"4MB\"\n";
  security::QuotaSpec ceilings;
  ceilings.memory_bytes = 8 * MiB;
  auto host = HostBuilder()
                  .data_dir(data_)
                  .workers(2)
                  .state_durability(storage::Durability::Normal)
                  .on_log(lines_.sink())
                  .on_audit(audit_.subscriber())
                  .quota_ceilings(ceilings)
                  .build();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  auto manifest = [](std::string_view memory) {
    return fmt::format("[component]\nname = \"big\"\nversion = \"1.0.0\"\n\n[quota]\nmemory = "
                       "\"{}\"\n",
                       memory);
  };
  // Above the builder's ceiling: refused, audited, not installed.
  auto refused = h.install(make_component(root_.path() / "too-big", v1_, manifest("16MB")));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::QuotaExceeded);
  EXPECT_NE(refused.error().message.find("quota.memory asks for 16 MiB, the ceiling is 8 MiB"),
            std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(h.info("big"));
  h.audit().flush();
  EXPECT_EQ(audit_.count("quota.ceiling", security::AuditResult::Denied), 1u);

  // Above the policy's default, under the ceiling, no capability: it waits.
  auto installed = h.install(make_component(root_.path() / "big", v1_, manifest("6MB")));
  ASSERT_TRUE(installed) << installed.error().to_string();
  EXPECT_EQ(installed->status, "pending-approval");
  auto info = h.info("big");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->approval, security::ApprovalState::Pending);
  auto waiting = h.start("big");
  ASSERT_FALSE(waiting);
  EXPECT_EQ(waiting.error().code, ErrorCode::ApprovalRequired);
  EXPECT_NE(waiting.error().message.find("memory 6 MiB, over 4 MiB"), std::string::npos)
      << waiting.error().message;
  ASSERT_TRUE(h.approve("big", "alice"));
  { auto started = h.start("big"); ASSERT_TRUE(started) << started.error().to_string(); }
  auto status = h.status("big");
  ASSERT_TRUE(status);
  auto memory = std::find_if(status->quotas.begin(), status->quotas.end(), [](const auto& q) {
    return q.quota == security::QuotaKind::Memory;
  });
  ASSERT_NE(memory, status->quotas.end());
  EXPECT_EQ(memory->limit, 6 * MiB);

  // The policy's own [ceiling], put in force by a reload, holds at the next start.
  ASSERT_TRUE(h.stop("big"));
  std::ofstream(data_ / "policy.toml") << "[quota]\nmemory = \"4MB\"\n\n[ceiling]\nmemory = \"5MB\"\n";
  auto report = h.reload("alice");
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(report->quota_ceilings.memory_bytes, 5 * MiB);
  auto lowered = h.start("big");
  ASSERT_FALSE(lowered);
  EXPECT_EQ(lowered.error().code, ErrorCode::QuotaExceeded);
  EXPECT_NE(lowered.error().message.find("quota.memory asks for 6 MiB, the ceiling is 5 MiB"),
            std::string::npos)
      << lowered.error().message;
}

// reload(): a new policy holds for the next host call of a running
// component; its [quota] sets the defaults of the next start; trust changes
// are named; a refused file changes nothing; each reload is audited.
TEST_F(HostTest, ReloadPutsTheNewPolicyInForceForRunningComponents) {
  auto host = open_host();
  ASSERT_TRUE(host) << host.error().to_string();
  Host& h = **host;
  ASSERT_TRUE(h.install(counter("1.0.0", v1_)));
  ASSERT_TRUE(h.start("counter"));
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  ASSERT_TRUE(wait_count(h, 1));

  std::ofstream(data_ / "policy.toml")
      << "[[rule]]\nname = \"freeze\"\neffect = \"deny\"\npermissions = [\"storage.write\"]\n"
         "reason = \"frozen\"\n\n[quota]\nstorage = \"2KB\"\n";
  auto report = h.reload("alice");
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(report->policy_rules, 1u);
  EXPECT_EQ(report->policy_generation, 1u);
  EXPECT_EQ(report->trusted_keys, 1u);
  EXPECT_TRUE(report->trust_changes.empty());
  EXPECT_EQ(report->default_quotas.storage_bytes, 2048u);
  EXPECT_EQ(h.default_quotas().storage_bytes, 2048u);
  EXPECT_EQ(h.config().default_quotas.storage_bytes, 100u * MiB);  // as built

  // The running version is refused by the new rule at its next write.
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  auto errors = [&](size_t n) {
    for (int i = 0; i < 2000 && lines_.with_prefix("counter: counter tick error").size() < n; ++i) {
      std::this_thread::sleep_for(5ms);
    }
    return lines_.with_prefix("counter: counter tick error").size();
  };
  EXPECT_EQ(errors(1), 1u);
  h.audit().flush();
  EXPECT_EQ(stored_count(h), 1u);
  {
    std::lock_guard lock(audit_.mutex);
    EXPECT_TRUE(std::any_of(audit_.records.begin(), audit_.records.end(), [](const auto& r) {
      return r.permission == "storage.write" && r.result == security::AuditResult::Denied &&
             r.layer == security::DecisionLayer::HostPolicy &&
             r.reason.find("rule 'freeze'") != std::string::npos;
    }));
  }
  // It keeps the quotas it started with; its next start takes the new defaults.
  EXPECT_EQ(h.status("counter")->quotas[0].limit, 100u * MiB);
  ASSERT_TRUE(h.stop("counter"));
  ASSERT_TRUE(h.start("counter"));
  EXPECT_EQ(h.status("counter")->quotas[0].limit, 2048u);

  // A broken policy: refused with its line, and the rule in force stays.
  std::ofstream(data_ / "policy.toml") << "[[rule]]\nname = \"x\"\neffect = \"maybe\"\n";
  auto refused = h.reload("alice");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(refused.error().message.find("policy.toml:3"), std::string::npos)
      << refused.error().message;
  ASSERT_TRUE(h.send("counter", bytes("tick")));
  EXPECT_EQ(errors(2), 2u);
  EXPECT_EQ(stored_count(h), 1u);

  // Trust: with the signer's key gone, the running counter is named.
  fs::remove(data_ / "policy.toml");
  security::TrustConfig empty;
  ASSERT_TRUE(empty.save(data_ / "trust.toml"));
  report = h.reload("alice");
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(report->policy_rules, 0u);
  EXPECT_EQ(report->policy_generation, 2u);
  ASSERT_EQ(report->trust_changes.size(), 1u);
  EXPECT_EQ(report->trust_changes[0].name, "counter");
  EXPECT_EQ(report->trust_changes[0].from, security::TrustLevel::Trusted);
  EXPECT_EQ(report->trust_changes[0].to, security::TrustLevel::Unknown);
  EXPECT_TRUE(report->trust_changes[0].running);
  ASSERT_TRUE(h.send("counter", bytes("tick")));  // no rule: granted again
  ASSERT_TRUE(wait_count(h, 2));
  // Its approval came from the key's trust: at its next start it waits for
  // an operator instead.
  ASSERT_TRUE(h.stop("counter"));
  auto again = h.start("counter");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::ApprovalRequired) << again.error().to_string();
  EXPECT_EQ(h.info("counter")->approval, security::ApprovalState::Pending);
  h.audit().flush();
  EXPECT_EQ(audit_.count("host.reload", security::AuditResult::Granted), 2u);
  EXPECT_EQ(audit_.count("host.reload", security::AuditResult::Denied), 1u);
  h.shutdown();
}

TEST(HostConfigTest, ReadsEveryKeyAndRefusesUnknownOnes) {
  auto config = HostConfig::parse(R"(
data_dir = "data"
workers = 3
tier = "auto"
state_durability = "normal"
ready_timeout_ms = 500
audit_rotate_size = "16MB"
audit_keep = 3
[admin]
socket = "/run/x/admin.sock"
[quota]
storage = "10MB"
message_rate = 50
memory = "1MB"
)",
                                  "/etc/airssys/host.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->data_dir, fs::path("/etc/airssys/data"));
  EXPECT_EQ(config->workers, 3u);
  EXPECT_EQ(config->tier, security::TierChoice::Auto);
  EXPECT_FALSE(config->tier_override.has_value());
  EXPECT_EQ(config->state_durability, storage::Durability::Normal);
  EXPECT_EQ(config->ready_timeout, 500ms);
  EXPECT_EQ(config->audit_rotate_bytes, 16u << 20);
  EXPECT_EQ(config->audit_keep, 3u);
  EXPECT_EQ(config->admin_socket, fs::path("/run/x/admin.sock"));
  EXPECT_EQ(config->quota.storage_bytes, 10u * 1024 * 1024);
  EXPECT_EQ(config->quota.message_rate, 50u);
  EXPECT_EQ(config->quota.memory_bytes, 1024u * 1024);
  EXPECT_FALSE(config->quota.cpu_ms_per_second);

  auto unknown = HostConfig::parse("wrokers = 2\n", "host.toml");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(unknown.error().message.find("host.toml:1: wrokers: unknown key"), std::string::npos)
      << unknown.error().message;
  auto bad = HostConfig::parse("[quota]\nmemory = \"1XB\"\ncpu_time = \"5s\"\n", "host.toml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("host.toml:2: quota.memory"), std::string::npos)
      << bad.error().message;
  EXPECT_NE(bad.error().message.find("host.toml:3: quota.cpu_time"), std::string::npos)
      << bad.error().message;
  EXPECT_FALSE(HostConfig::parse("[quotas]\nmemory = \"1MB\"\n", "host.toml"));
  // [ceiling]: the keys and units of [quota], its problems named ceiling.KEY.
  auto ceiling = HostConfig::parse("[ceiling]\nmemory = \"512MB\"\ncpu_time = \"250ms/s\"\n",
                                   "host.toml");
  ASSERT_TRUE(ceiling) << ceiling.error().to_string();
  EXPECT_EQ(ceiling->ceiling.memory_bytes, 512u * 1024 * 1024);
  EXPECT_EQ(ceiling->ceiling.cpu_ms_per_second, 250u);
  EXPECT_FALSE(ceiling->ceiling.storage_bytes);
  auto bad_ceiling = HostConfig::parse("[ceiling]\nmemory = \"lots\"\n", "host.toml");
  ASSERT_FALSE(bad_ceiling);
  EXPECT_NE(bad_ceiling.error().message.find("host.toml:2: ceiling.memory"), std::string::npos)
      << bad_ceiling.error().message;
  EXPECT_EQ(HostConfig::parse("workers = 0\n", "host.toml")->workers, 0u);  // one per core
  EXPECT_FALSE(HostConfig::parse("workers = 257\n", "host.toml"));
  EXPECT_EQ(HostConfig::parse("audit_rotate_size = 0\n", "host.toml")->audit_rotate_bytes, 0u);
  EXPECT_EQ(HostConfig::parse("", "host.toml")->audit_rotate_bytes,
            security::kDefaultAuditRotateBytes);
  auto tiny = HostConfig::parse("audit_rotate_size = \"1KB\"\n", "host.toml");
  ASSERT_FALSE(tiny);
  EXPECT_NE(tiny.error().message.find("host.toml:1: audit_rotate_size: must be at least 64KB"),
            std::string::npos)
      << tiny.error().message;
  EXPECT_FALSE(HostConfig::parse("audit_keep = 0\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("audit_keep = 1000\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("workers = \"2\"\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("state_durability = \"sometimes\"\n", "host.toml"));
  auto tier = HostConfig::parse("tier = \"fast\"\n", "host.toml");
  ASSERT_FALSE(tier);
  EXPECT_NE(tier.error().message.find("host.toml:1: tier: must be \"interp\", \"native\" or "
                                      "\"auto\""),
            std::string::npos)
      << tier.error().message;
}

// [native]: the native compile's bounds, with the engine's defaults for what
// is not set.
// host.toml is read like every other configuration file: every problem is
// reported, in file order, and keys nested deep enough to exhaust toml++'s
// stack are refused before parsing.
TEST(HostConfigTest, ReportsEveryProblemAndRefusesDeepNesting) {
  auto bad = HostConfig::parse(
      "workers = \"many\"\ntier = \"fast\"\n[admin]\nsocket = \"\"\n[native]\ncolour = 1\n",
      "host.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidConfig);
  EXPECT_EQ(bad.error().message,
            "host.toml:1: workers: must be an integer\n"
            "host.toml:2: tier: must be \"interp\", \"native\" or \"auto\"\n"
            "host.toml:4: admin.socket: must not be empty\n"
            "host.toml:6: native.colour: unknown key (known: compile_timeout_ms, compile_memory, "
            "max_module_size, max_function_size, max_br_table_targets, compile_jobs, "
            "bounds_checks)");
  std::string deep;
  for (int i = 0; i < 200'000; ++i) deep += "a.";
  deep += "a = 1\n";
  auto nested = HostConfig::parse("workers = 2\n" + deep, "host.toml");
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().message,
            "host.toml:2: more than 1000 '.' on one line: keys nested this deep are refused");
  auto syntax = HostConfig::parse("workers = \n", "host.toml");
  ASSERT_FALSE(syntax);
  EXPECT_TRUE(syntax.error().message.starts_with("host.toml:1: TOML syntax error at column "))
      << syntax.error().message;
}

TEST(HostConfigTest, ReadsTheNativeCompileBounds) {
  auto defaults = HostConfig::parse("", "host.toml");
  ASSERT_TRUE(defaults) << defaults.error().to_string();
  EXPECT_EQ(defaults->native.compile_timeout, engine::kDefaultCompileTimeout);
  EXPECT_EQ(defaults->native.compile_memory_bytes, engine::kDefaultCompileMemoryBytes);
  EXPECT_EQ(defaults->native.max_module_bytes, engine::kDefaultMaxCompileModuleBytes);
  EXPECT_EQ(defaults->native.max_function_bytes, engine::kDefaultMaxCompileFunctionBytes);
  EXPECT_EQ(defaults->native.max_br_table_targets, engine::kDefaultMaxCompileBrTableTargets);
  auto config = HostConfig::parse(R"(
[native]
compile_timeout_ms = 20000
compile_memory = "512MB"
max_module_size = "2MB"
max_function_size = "32KB"
max_br_table_targets = 4096
compile_jobs = 3
)",
                                  "host.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_EQ(config->native.compile_timeout, 20s);
  EXPECT_EQ(config->native.compile_memory_bytes, 512u << 20);
  EXPECT_EQ(config->native.max_module_bytes, 2u << 20);
  EXPECT_EQ(config->native.max_function_bytes, 32u << 10);
  EXPECT_EQ(config->native.max_br_table_targets, 4096u);
  EXPECT_EQ(config->native.compile_jobs, 3u);
  EXPECT_EQ(defaults->native.compile_jobs, 0u);  // one per core
  auto unknown = HostConfig::parse("[native]\ntimeout = 5\n", "host.toml");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("host.toml:2: native.timeout: unknown key"),
            std::string::npos)
      << unknown.error().message;
  auto small = HostConfig::parse("[native]\ncompile_memory = \"1MB\"\n", "host.toml");
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("must be at least 64MB"), std::string::npos)
      << small.error().message;
  EXPECT_FALSE(HostConfig::parse("[native]\ncompile_timeout_ms = 0\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("[native]\nmax_br_table_targets = 0\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("[native]\ncompile_jobs = 0\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("[native]\ncompile_jobs = 257\n", "host.toml"));
  EXPECT_FALSE(HostConfig::parse("native = 3\n", "host.toml"));
}

// [native] bounds_checks: guard pages by default, explicit checks when asked;
// policy.toml's [native] may ask for explicit checks, never take them away.
TEST(HostConfigTest, ReadsTheNativeBoundsChecks) {
  EXPECT_EQ(HostConfig::parse("", "host.toml")->native.bounds_checks,
            engine::BoundsChecks::Guard);
  auto explicit_checks = HostConfig::parse("[native]\nbounds_checks = \"explicit\"\n", "host.toml");
  ASSERT_TRUE(explicit_checks) << explicit_checks.error().to_string();
  EXPECT_EQ(explicit_checks->native.bounds_checks, engine::BoundsChecks::Explicit);
  auto guard = HostConfig::parse("[native]\nbounds_checks = \"guard\"\n", "host.toml");
  ASSERT_TRUE(guard) << guard.error().to_string();
  EXPECT_EQ(guard->native.bounds_checks, engine::BoundsChecks::Guard);
  auto bad = HostConfig::parse("[native]\nbounds_checks = \"none\"\n", "host.toml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message,
            "host.toml:2: native.bounds_checks: must be \"guard\" or \"explicit\"");
  EXPECT_FALSE(HostConfig::parse("[native]\nbounds_checks = 1\n", "host.toml"));

  security::NativeCompileBounds asks_explicit;
  asks_explicit.explicit_bounds_checks = true;
  security::NativeCompileBounds asks_guard;
  asks_guard.explicit_bounds_checks = false;
  engine::NativeOptions guard_options;
  engine::NativeOptions explicit_options;
  explicit_options.bounds_checks = engine::BoundsChecks::Explicit;
  EXPECT_EQ(component::with_native_bounds(guard_options, asks_explicit, true).bounds_checks,
            engine::BoundsChecks::Explicit);
  EXPECT_EQ(component::with_native_bounds(explicit_options, asks_guard, true).bounds_checks,
            engine::BoundsChecks::Explicit);
  EXPECT_EQ(component::with_native_bounds(explicit_options, asks_guard, false).bounds_checks,
            engine::BoundsChecks::Guard);
  EXPECT_EQ(component::with_native_bounds(guard_options, {}, true).bounds_checks,
            engine::BoundsChecks::Guard);
}

// The host's default quotas: host.toml's [quota] first, then policy.toml's
// [quota], then the built-in defaults.
TEST(HostConfigTest, DefaultQuotasComeFromHostTomlThenPolicyThenBuiltIn) {
  TempDir root;
  const fs::path data = root.path() / "data";
  fs::create_directories(data);
  fs::permissions(data, fs::perms::owner_all, fs::perm_options::replace);
  std::ofstream(data / "policy.toml") << "[quota]\nmemory = \"8MB\"\nmessage_rate = 7\n";
  auto config = HostConfig::parse("data_dir = \"data\"\n[quota]\nmessage_rate = 50\n",
                                  (root.path() / "host.toml").string());
  ASSERT_TRUE(config) << config.error().to_string();
  auto host = HostBuilder(*config).restore(false).build();
  ASSERT_TRUE(host) << host.error().to_string();
  const auto& q = (*host)->config().default_quotas;
  EXPECT_EQ(q.messages_per_second, 50u);   // host.toml
  EXPECT_EQ(q.memory_bytes, 8u * MiB);     // policy.toml
  EXPECT_EQ(q.storage_bytes, 100u * MiB);  // built in
  EXPECT_EQ(q.cpu_ms_per_second, 1000u);
  (*host)->shutdown();
}

}  // namespace
}  // namespace airssys::wasm::system
