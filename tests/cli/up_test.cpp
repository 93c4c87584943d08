// `airssys-wasm up DIR`: real components from a folder, under one supervisor.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "../support/daemon.hpp"
#include "../support/hostile_modules.hpp"
#include "../support/temp_dir.hpp"
#include "subprocess.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;

class UpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    fs::create_directories(root_ / "home");
    fs::create_directories(root_ / "components");
    std::ofstream(root_ / "home" / "trust.toml") << "dev_mode = false\n";
    fs::permissions(root_ / "home" / "trust.toml", fs::perms::owner_read | fs::perms::owner_write);
    // The interpreter unless a manifest or --tier says otherwise: no
    // background compile beside what a test looks at.
    std::ofstream(root_ / "host.toml") << "tier = \"interp\"\n";
  }

  void add(const std::string& name, const std::string& wasm, const std::string& capabilities) {
    auto dir = root_ / "components" / name;
    fs::create_directories(dir);
    fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / wasm, dir / "component.wasm");
    std::ofstream(dir / "Component.toml") << "[component]\nname = \"" << name
                                          << "\"\nversion = \"1.0.0\"\n"
                                          << (capabilities.empty() ? "" : "[capabilities]\n")
                                          << capabilities;
  }

  testing::ProcessResult up(std::vector<std::string> extra) {
    std::vector<std::string> args = {AIRSSYS_CLI, "up", (root_ / "components").string(),
                                     "--data-dir", (root_ / "home").string(), "--trust-config",
                                     (root_ / "home" / "trust.toml").string(), "--config",
                                     (root_ / "host.toml").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = testing::run_process(args, std::chrono::seconds(60));
    EXPECT_FALSE(r.timed_out);
    return r;
  }

  airssys::wasm::test::TempDir tmp_{"up"};
  fs::path root_;
};

TEST_F(UpTest, StartsEveryComponentDeliversFirstMessagesAndLogsDenials) {
  add("alpha", "scripted.wasm", "messaging.send = [\"beta\"]\nmessaging.receive = [\"host\"]\n");
  add("beta", "scripted.wasm", "messaging.receive = [\"alpha\", \"host\"]\n");
  auto r = up({"--approve", "--duration", "1500", "--send", "alpha=send beta hello", "--send",
               "beta=send alpha not-allowed"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[beta] beta got send from alpha: hello"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[beta] beta send alpha = -1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[alpha] alpha shutdown"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("started alpha"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("denied: beta messaging.send alpha"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("beta: terminated, 2 messages handled, 0 restarts"), std::string::npos)
      << r.err;
  std::ifstream audit(root_ / "home" / "audit.log");
  std::string log((std::istreambuf_iterator<char>(audit)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("\"permission\":\"messaging.send\""), std::string::npos);
}

// --tier overrides each manifest's [runtime] tier; native code is compiled
// into <data dir>/cache/native.
TEST_F(UpTest, TheTierComesFromTheCommandLineOrTheManifest) {
  add("alpha", "scripted.wasm", "messaging.send = [\"beta\"]\nmessaging.receive = [\"host\"]\n");
  add("beta", "scripted.wasm", "messaging.receive = [\"alpha\"]\n");
  std::ofstream(root_ / "components" / "beta" / "Component.toml", std::ios::app)
      << "[runtime]\ntier = \"native\"\n";
  auto r = up({"--approve", "--duration", "1500", "--send", "alpha=send beta hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[beta] beta got send from alpha: hello"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("beta: tier native"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("beta: terminated, 1 messages handled, 0 restarts, native tier"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("alpha: terminated, 1 messages handled, 0 restarts\n"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::is_empty(root_ / "home" / "cache" / "native"));

  auto forced = up({"--duration", "1000", "--tier", "interp", "--send", "alpha=send beta again"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(forced.err.find("native tier"), std::string::npos) << forced.err;
  EXPECT_NE(forced.out.find("[beta] beta got send from alpha: again"), std::string::npos)
      << forced.out;
  auto bad = up({"--tier", "jit"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

// Without --tier, a manifest's tier or a host.toml, `up` runs auto: each
// component starts on the interpreter at once and moves to native code when
// its background compile ends, between two messages, saying so.
TEST_F(UpTest, WithoutATierComponentsStartAtOnceAndMoveToNativeCode) {
  add("counter", "counter.wasm",
      "storage.read = [\"counter:*\"]\nstorage.write = [\"counter:*\"]\n"
      "messaging.receive = [\"host\"]\n");
  testing::Daemon up({AIRSSYS_CLI, "up", (root_ / "components").string(), "--data-dir",
                      (root_ / "home").string(), "--trust-config",
                      (root_ / "home" / "trust.toml").string(), "--approve", "--send",
                      "counter=tick"},
                     root_ / "up.log");
  // The compile's time only bounds a hang: minutes on a loaded machine.
  ASSERT_TRUE(up.wait_logged({"[counter] counter tick = 1",
                              "'counter' moved to the native tier"},
                             std::chrono::seconds(300)))
      << up.log();
  EXPECT_EQ(up.terminate(), 0) << up.log();
  const std::string log = up.log();
  EXPECT_NE(log.find("counter: terminated, 1 messages handled, 0 restarts, native tier"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("tier auto"), std::string::npos) << log;  // the default is not announced
  EXPECT_EQ(log.find("notice:"), std::string::npos) << log;
  EXPECT_FALSE(fs::is_empty(root_ / "home" / "cache" / "native"));
}

// Without a C compiler, the default (auto) runs every component on the
// interpreter, says so once, and keeps the decision on record; a component
// that asks for native explicitly cannot start.
TEST_F(UpTest, WithoutACompilerEverythingRunsOnTheInterpreterAfterOneNotice) {
  add("alpha", "scripted.wasm", "messaging.send = [\"beta\"]\nmessaging.receive = [\"host\"]\n");
  add("beta", "scripted.wasm", "messaging.receive = [\"alpha\"]\n");
  const std::vector<std::string> args = {"/usr/bin/env", "AIRSSYS_CC=/nonexistent/bin/cc",
                                         AIRSSYS_CLI, "up", (root_ / "components").string(),
                                         "--data-dir", (root_ / "home").string(),
                                         "--trust-config",
                                         (root_ / "home" / "trust.toml").string(), "--approve"};
  auto with = [&](std::vector<std::string> extra) {
    auto argv = args;
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = testing::run_process(argv, std::chrono::seconds(60));
    EXPECT_FALSE(r.timed_out);
    return r;
  };
  auto r = with({"--duration", "1500", "--send", "alpha=send beta hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[beta] beta got send from alpha: hello"), std::string::npos) << r.out;
  const std::string notice = "notice: no native tier on this host (native tier: no C compiler at "
                             "'/nonexistent/bin/cc'";
  const auto first = r.err.find(notice);
  EXPECT_NE(first, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(notice, first + 1), std::string::npos) << r.err;  // once
  EXPECT_EQ(r.err.find("denied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("beta: terminated, 1 messages handled, 0 restarts\n"), std::string::npos)
      << r.err;
  std::ifstream in(root_ / "home" / "audit.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* name : {"alpha", "beta"}) {
    bool found = false;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      found |= line.find("\"component\":\"" + std::string(name) + "\"") != std::string::npos &&
               line.find("\"permission\":\"lifecycle.tier\"") != std::string::npos &&
               line.find("\"resource\":\"interp\"") != std::string::npos &&
               line.find("the native tier is unavailable") != std::string::npos;
    }
    EXPECT_TRUE(found) << name << "\n" << log;
  }

  auto native = with({"--duration", "1000", "--tier", "native"});
  EXPECT_NE(native.exit_code, 0) << native.err;
  EXPECT_NE(native.err.find("no C compiler at '/nonexistent/bin/cc'"), std::string::npos)
      << native.err;
}

// The host's own messages are admitted like any sender's: by the receiver's
// messaging.receive grant naming "host"; otherwise refused and audited.
TEST_F(UpTest, TheHostsMessagesReachOnlyComponentsThatAdmitTheHost) {
  add("alpha", "scripted.wasm", "messaging.receive = [\"host\"]\n");
  add("beta", "scripted.wasm", "messaging.receive = [\"alpha\"]\n");
  add("gamma", "scripted.wasm", "");
  auto r = up({"--approve", "--duration", "1500", "--send", "alpha=whoami", "--send",
               "beta=whoami", "--send", "gamma=whoami"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[alpha] alpha whoami alpha"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[beta] beta whoami"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("[gamma] gamma whoami"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("'beta' does not admit messages from the host"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("'gamma' does not admit messages from the host"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("beta: terminated, 0 messages handled"), std::string::npos) << r.err;
  std::ifstream in(root_ / "home" / "audit.log");
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const char* name : {"beta", "gamma"}) {
    bool found = false;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
      found |= line.find("\"component\":\"" + std::string(name) + "\"") != std::string::npos &&
               line.find("\"permission\":\"messaging.receive\"") != std::string::npos &&
               line.find("\"resource\":\"host\"") != std::string::npos &&
               line.find("\"result\":\"denied\"") != std::string::npos;
    }
    EXPECT_TRUE(found) << name << "\n" << log;
  }
}

TEST_F(UpTest, UnapprovedComponentsAreRefusedBeforeAnythingStarts) {
  add("alpha", "scripted.wasm", "messaging.send = [\"beta\"]\n");
  auto r = up({"--duration", "500"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_NE(r.err.find("approvals approve"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("started alpha"), std::string::npos) << r.err;
}

TEST_F(UpTest, AComponentThatFailsAtEveryStartIsRestartedWithBackOffThenGivenUp) {
  add("broken", "trap_init.wasm", "");
  auto r = up({"--duration", "20000"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  // Three restarts with back-off (100 ms, 150 ms, 225 ms), then the intensity limit.
  EXPECT_NE(r.err.find("restarted 'broken'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gave up"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("broken: failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unreachable"), std::string::npos) << r.err;
}

TEST_F(UpTest, AnEmptyFolderIsAnError) {
  auto r = up({"--duration", "100"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("holds no component folder"), std::string::npos) << r.err;
  auto bad = up({"--send", "nonsense"});
  EXPECT_EQ(bad.exit_code, 2);
}

// A component whose blocks nest 50,000 deep is refused at load with a typed
// error, on either tier; the host process exits cleanly, it does not crash.
TEST_F(UpTest, AModuleNestedTooDeepIsRefusedWithoutCrashingTheHost) {
  add("alpha", "scripted.wasm", "");
  auto dir = root_ / "components" / "deep";
  fs::create_directories(dir);
  std::string body(1, '\0');
  for (int i = 0; i < 50'000; ++i) body += "\x02\x40";
  body += std::string(50'000, '\x0b') + "\x0b";
  auto leb = [](uint64_t v) {
    std::string out;
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      out.push_back(static_cast<char>(b | (v ? 0x80 : 0)));
    } while (v);
    return out;
  };
  std::string code = "\x01" + leb(body.size()) + body;
  std::ofstream(dir / "component.wasm", std::ios::binary)
      << std::string("\0asm\1\0\0\0\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00", 18) << "\x0a"
      << leb(code.size()) << code;
  std::ofstream(dir / "Component.toml") << "[component]\nname = \"deep\"\nversion = \"1.0.0\"\n";
  for (const char* tier : {"interp", "native"}) {
    SCOPED_TRACE(tier);
    auto r = up({"--approve", "--duration", "500", "--tier", tier});
    EXPECT_EQ(r.signal, 0) << r.err;
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("ModuleTooComplex"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("function 0"), std::string::npos) << r.err;
  }
}

// --- Native compiles end with `up` ----------------------------------------

namespace hostile = airssys::wasm::testing;
using namespace std::chrono_literals;

// `up` in the background, its output in a file, stopped with a signal.
class Background {
 public:
  Background(const std::vector<std::string>& args, const fs::path& log) : log_(log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Sends `sig`; true when the process ended within `limit`.
  bool stop(int sig, std::chrono::seconds limit) {
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

class UpCompileTest : public UpTest {
 protected:
  // A counter with one more exported function that takes its C compiler long.
  void add_slow(const std::string& name, const std::string& tier) {
    std::ifstream in(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "counter.wasm", std::ios::binary);
    std::vector<uint8_t> counter((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
    ASSERT_FALSE(counter.empty());
    auto bytes = hostile::with_exported_function(counter, "fill", hostile::stores_body(6000));
    auto dir = root_ / "components" / name;
    fs::create_directories(dir);
    std::ofstream(dir / "component.wasm", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    std::ofstream(dir / "Component.toml")
        << "[component]\nname = \"" << name << "\"\nversion = \"1.0.0\"\n"
        << "[capabilities]\nstorage.read = [\"counter:*\"]\nstorage.write = [\"counter:*\"]\n"
        << "messaging.receive = [\"host\"]\n"
        << "[runtime]\ntier = \"" << tier << "\"\n";
  }
  std::vector<std::string> args() {
    return {AIRSSYS_CLI, "up", (root_ / "components").string(), "--data-dir",
            (root_ / "home").string(), "--trust-config",
            (root_ / "home" / "trust.toml").string(), "--approve", "--send", "counter=tick"};
  }
};

// On `auto`, the compile runs while the components do; SIGTERM stops `up`
// at once and the compile with it.
TEST_F(UpCompileTest, SigtermStopsATierUpCompileBesideARunningBystander) {
  add("counter", "counter.wasm",
      "storage.read = [\"counter:*\"]\nstorage.write = [\"counter:*\"]\n"
      "messaging.receive = [\"host\"]\n");
  add_slow("slow", "auto");
  Background up(args(), root_ / "up.log");
  auto groups = hostile::wait_compiling(up.pid());
  ASSERT_FALSE(groups.empty()) << "no compiler started\n" << up.log();
  for (int i = 0; i < 1000 && up.log().find("[counter] counter tick = 1") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(up.log().find("[counter] counter tick = 1"), std::string::npos) << up.log();
  EXPECT_TRUE(up.stop(SIGTERM, 15s)) << "up waited for the compile\n" << up.log();
  EXPECT_TRUE(hostile::groups_gone(groups)) << "a compiler outlived up";
}

// On `native`, `up` compiles before anything starts, with the default
// SIGTERM action: `up` ends, and its compiler with it.
TEST_F(UpCompileTest, AHostKilledDuringANativeCompileTakesTheCompilerWithIt) {
  add_slow("slow", "native");
  for (int sig : {SIGTERM, SIGKILL}) {
    fs::remove_all(root_ / "home" / "cache");
    Background up(args(), root_ / "up.log");
    auto groups = hostile::wait_compiling(up.pid());
    ASSERT_FALSE(groups.empty()) << "no compiler started\n" << up.log();
    EXPECT_TRUE(up.stop(sig, 15s)) << up.log();
    EXPECT_TRUE(hostile::groups_gone(groups)) << "a compiler outlived up (signal " << sig << ")";
  }
}

}  // namespace
}  // namespace airssys::wasm
