// `airssys-wasm request` and `logs` end to end: the real binary as a daemon
// (`serve`) on a temporary data directory with a real component that answers
// requests and logs them (responder.wasm), asked through the real CLI.

#include <chrono>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../system/system_test_support.hpp"
#include "daemon.hpp"
#include "subprocess.hpp"

namespace airssys::wasm::system::test {
namespace {

using nlohmann::json;
using testing::Daemon;
using testing::run_process;

const std::string kCli = AIRSSYS_CLI;

std::string responder_manifest(const std::string& name, const std::string& receive) {
  return "[component]\nname = \"" + name + "\"\nversion = \"1.0.0\"\n\n[capabilities]\n" +
         "messaging.receive = [" + receive + "]\n";
}

class RequestLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = root_.path() / "data";
    fs::create_directories(data_);
    fs::permissions(data_, fs::perms::owner_all, fs::perm_options::replace);
    keys_ = trusted_keys(data_);
    config_ = root_.path() / "host.toml";
    write_file(config_, "data_dir = \"data\"\nworkers = 2\nstate_durability = \"normal\"\n"
                        "tier = \"interp\"\n");
  }

  testing::ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), kCli);
    args.push_back("--data-dir");
    args.push_back(data_.string());
    return run_process(args, 60s);
  }

  // Installs (and starts, unless told not to) a responder named `name`.
  void add(const std::string& name, const std::string& receive = "\"host\"",
           bool start = true) {
    auto dir = make_component(root_.path() / name, kComponents / "responder.wasm",
                              responder_manifest(name, receive), &keys_);
    auto r = cli({"install", dir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (!start) return;
    r = cli({"start", name});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::vector<std::string> audit_lines(const std::string& component,
                                       const std::string& permission) {
    auto r = cli({"audit", "--component", component, "--permission", permission, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) out.push_back(line);
    return out;
  }

  TempDir root_;
  fs::path data_;
  fs::path config_;
  security::KeyPair keys_;
};

TEST_F(RequestLogsTest, ARequestPrintsTheComponentsReply) {
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "admin.sock")) << daemon.log();
  add("responder");
  auto r = cli({"request", "responder", "hello there"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "echo:hello there\n");
  EXPECT_EQ(r.err, "");
  r = cli({"request", "responder", "again", "--json", "--timeout", "20s"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(r.out, nullptr, false);
  EXPECT_EQ(j["reply"], "echo:again") << r.out;
  EXPECT_EQ(j["bytes"], 10) << r.out;
}

TEST_F(RequestLogsTest, ATimeoutANonRunningComponentAndARefusalAreClearErrors) {
  // No host at all.
  auto r = cli({"request", "responder", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no host is running"), std::string::npos) << r.err;

  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "admin.sock")) << daemon.log();
  add("responder");
  add("idle", "\"host\"", false);
  add("closed", "\"someone-else\"");

  // A request the component leaves unanswered.
  r = cli({"request", "responder", "silent please", "--timeout", "300ms"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("ReplyTimeout"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'responder' did not reply within 300 ms"), std::string::npos) << r.err;
  // The component still answers the next one.
  r = cli({"request", "responder", "next"});
  EXPECT_EQ(r.out, "echo:next\n") << r.err;

  // Installed, not running.
  r = cli({"request", "idle", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("installed but not running"), std::string::npos) << r.err;
  // Not there at all.
  r = cli({"request", "nobody", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no component named 'nobody'"), std::string::npos) << r.err;

  // A component that does not admit the host: refused, on record.
  r = cli({"request", "closed", "x", "--json"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  auto j = json::parse(r.err, nullptr, false);
  EXPECT_EQ(j["error"]["code"], "CapabilityDenied") << r.err;
  bool audited = false;
  for (const auto& line : audit_lines("closed", "messaging.receive")) {
    auto record = json::parse(line, nullptr, false);
    audited |= record["result"] == "denied" && record["resource"] == "host";
  }
  EXPECT_TRUE(audited);

  // Bad command lines.
  for (const char* timeout : {"soon", "0", "11m"}) {
    r = cli({"request", "responder", "x", "--timeout", timeout});
    EXPECT_EQ(r.exit_code, 2) << timeout << ": " << r.err;
    EXPECT_NE(r.err.find("--timeout"), std::string::npos) << r.err;
  }
}

TEST_F(RequestLogsTest, LogsShowWhatTheComponentLoggedAndFollowNewLines) {
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "admin.sock")) << daemon.log();
  add("responder");
  ASSERT_EQ(cli({"request", "responder", "first"}).exit_code, 0);
  ASSERT_EQ(cli({"send", "responder", "print to stdout"}).exit_code, 0);
  // The send is handled after `send` returns: wait until its lines are kept.
  std::string out;
  for (auto until = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < until && out.find("stdout to stdout") ==
                                                        std::string::npos;) {
    out = cli({"logs", "responder"}).out;
  }
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 3u) << out;
  EXPECT_NE(lines[0].find("Z info  request from host: first"), std::string::npos) << out;
  EXPECT_NE(lines[1].find("Z info  message from host: print to stdout"), std::string::npos)
      << out;
  EXPECT_NE(lines[2].find("Z stdout to stdout"), std::string::npos) << out;

  auto r = cli({"logs", "responder", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::istringstream json_lines(r.out);
  std::string first;
  std::getline(json_lines, first);
  auto j = json::parse(first, nullptr, false);
  EXPECT_EQ(j["text"], "request from host: first") << first;
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["source"], "log");
  EXPECT_EQ(j["sequence"], 1);

  // --since: a duration back from now, or a time.
  EXPECT_EQ(cli({"logs", "responder", "--since", "1h"}).out, out);
  r = cli({"logs", "responder", "--since", "2199-01-01"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  r = cli({"logs", "responder", "--since", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--since"), std::string::npos) << r.err;
  r = cli({"logs", "nobody"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no component named 'nobody'"), std::string::npos) << r.err;

  // --follow: what is kept, then each new line as it comes.
  Daemon follower({kCli, "logs", "responder", "--follow", "--data-dir", data_.string()},
                  root_.path() / "follow.log");
  ASSERT_TRUE(follower.wait_logged({"request from host: first"})) << follower.log();
  ASSERT_EQ(cli({"request", "responder", "later"}).exit_code, 0);
  EXPECT_TRUE(follower.wait_logged({"request from host: later"})) << follower.log();
  ASSERT_EQ(cli({"send", "responder", "still later"}).exit_code, 0);
  EXPECT_TRUE(follower.wait_logged({"message from host: still later"})) << follower.log();
}

// A host that stops while a request waits for its reply, and while `logs
// --follow` waits for a line, stops at once: neither holds it up.
TEST_F(RequestLogsTest, StoppingTheHostEndsTheWaitsAtOnce) {
  Daemon daemon(kCli, config_, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "admin.sock")) << daemon.log();
  add("responder");
  testing::ProcessResult waited;
  std::thread requester([&] {
    waited = run_process({kCli, "request", "responder", "silent forever", "--timeout", "10m",
                          "--data-dir", data_.string()},
                         120s);
  });
  Daemon follower({kCli, "logs", "responder", "-f", "--data-dir", data_.string()},
                  root_.path() / "follow.log");
  // The component has the request (the host logs what it logs).
  ASSERT_TRUE(daemon.wait_logged({"request from host: silent forever"})) << daemon.log();
  ASSERT_TRUE(follower.wait_logged({"request from host: silent forever"})) << follower.log();
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
  requester.join();
  // Well before the request's 10 minutes: the stop did not wait for it.
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5min);
  EXPECT_FALSE(waited.timed_out);
  EXPECT_EQ(waited.exit_code, 1) << waited.err;
  EXPECT_EQ(waited.out, "");
  EXPECT_NE(waited.err.find("airssys-wasm: "), std::string::npos) << waited.err;
}

}  // namespace
}  // namespace airssys::wasm::system::test
