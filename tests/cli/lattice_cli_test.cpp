// Hosts joining a lattice end to end: a real nats-server on loopback, `serve`
// processes with [lattice] in their host.toml, `lattice key` and `lattice
// hosts` of the real binary; a host the lattice does not list cannot join,
// and what a bare NATS client injects is refused on record.
#include <gtest/gtest.h>

#include <nats/nats.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "../support/nats_server.hpp"
#include "../support/temp_dir.hpp"
#include "daemon.hpp"
#include "subprocess.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

const std::string kCli = AIRSSYS_CLI;

void write_file(const fs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class LatticeCli : public ::testing::Test {
 protected:
  // host.toml of host `name`, its data directory beside it.
  fs::path host(const std::string& name, const std::string& extra = "") {
    const fs::path data = root_.path() / name;
    fs::create_directories(data);
    fs::permissions(data, fs::perms::owner_all, fs::perm_options::replace);
    const fs::path config = root_.path() / (name + ".toml");
    write_file(config, "data_dir = \"" + name + "\"\ntier = \"interp\"\n[lattice]\nservers = [\"" +
                           server_.url() + "\"]\nname = \"demo\"\nhost = \"" + name +
                           "\"\nheartbeat_ms = 100\nmissed_heartbeats = 20\n" + extra);
    return config;
  }
  testing::ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), kCli);
    auto r = testing::run_process(args, 60s);
    EXPECT_FALSE(r.timed_out);
    return r;
  }
  // `lattice hosts --json` of the host of `config`, once `peer` is as `live` says.
  json hosts_when(const fs::path& config, const std::string& peer, bool live) {
    json last;
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < until) {
      auto r = cli({"lattice", "hosts", "--config", config.string(), "--json"});
      last = json::parse(r.out, nullptr, false);
      if (!last.is_discarded() && last.contains("hosts")) {
        for (const auto& h : last["hosts"]) {
          if (h["name"] == peer && h["live"] == live) return last;
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << peer << " never became " << (live ? "live" : "gone") << ": " << last.dump();
    return last;
  }

  test::TempDir root_{"lattice-cli"};
  testing::NatsServer server_;
};

TEST_F(LatticeCli, TwoHostsJoinHearEachOtherAndSeeOneGo) {
  ASSERT_TRUE(server_.running());
  auto c1 = host("h1", "[lattice.labels]\nzone = \"a\"\n");
  auto c2 = host("h2");
  // Each host's line for the list, its key made on first use (mode 0600).
  auto k1 = cli({"lattice", "key", "--config", c1.string()});
  auto k2 = cli({"lattice", "key", "--config", c2.string()});
  ASSERT_EQ(k1.exit_code, 0) << k1.err;
  ASSERT_EQ(k2.exit_code, 0) << k2.err;
  EXPECT_EQ(k1.out.rfind("[[host]]\nname = \"h1\"\nkey = \"", 0), 0u) << k1.out;
  EXPECT_EQ(fs::status(root_.path() / "h1" / "host.key").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(cli({"lattice", "key", "--config", c1.string()}).out, k1.out);  // the same key
  for (const char* h : {"h1", "h2"}) {
    write_file(root_.path() / h / "lattice-hosts.toml", k1.out + k2.out);
  }
  testing::Daemon d1(kCli, c1, root_.path() / "h1.log");
  testing::Daemon d2(kCli, c2, root_.path() / "h2.log");
  ASSERT_TRUE(d1.wait_serving(root_.path() / "h1" / "admin.sock")) << d1.log();
  ASSERT_TRUE(d2.wait_serving(root_.path() / "h2" / "admin.sock")) << d2.log();
  EXPECT_NE(d1.log().find("joined lattice demo as host h1 over " + server_.url()),
            std::string::npos)
      << d1.log();

  auto seen = hosts_when(c2, "h1", true);
  EXPECT_EQ(seen["lattice"], "demo");
  EXPECT_EQ(seen["host"], "h2");
  EXPECT_EQ(seen["connected"], true);
  EXPECT_EQ(seen["hosts"][0]["labels"]["zone"], "a");
  hosts_when(c1, "h2", true);
  auto text = cli({"lattice", "hosts", "--config", c2.string()});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("lattice demo as host h2 (connected to " + server_.url() + ")"),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("live"), std::string::npos) << text.out;

  // h2 killed outright: h1 stops hearing it.
  d2.kill();
  hosts_when(c1, "h2", false);
  EXPECT_EQ(d1.terminate(), 0) << d1.log();
  auto audit = cli({"audit", "--config", c1.string(), "--permission", "lattice.join", "--json"});
  EXPECT_NE(audit.out.find("joined lattice 'demo' as host 'h1'"), std::string::npos) << audit.out;
}

TEST_F(LatticeCli, AHostTheListDoesNotNameCannotJoinAndIsToldItsLine) {
  ASSERT_TRUE(server_.running());
  auto c1 = host("h1");
  auto c3 = host("h3");
  auto k1 = cli({"lattice", "key", "--config", c1.string()});
  ASSERT_EQ(k1.exit_code, 0) << k1.err;
  write_file(root_.path() / "h3" / "lattice-hosts.toml", k1.out);  // h3 is not listed
  auto r = cli({"serve", "--config", c3.string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("host 'h3'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not in the lattice's host list"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[[host]]\nname = \"h3\"\nkey = \""), std::string::npos) << r.err;
  // Without a list at all, the same help.
  fs::remove(root_.path() / "h3" / "lattice-hosts.toml");
  auto none = cli({"serve", "--config", c3.string()});
  EXPECT_EQ(none.exit_code, 2) << none.err;
  EXPECT_NE(none.err.find("cannot read the lattice's host list"), std::string::npos) << none.err;
}

TEST_F(LatticeCli, WhatABareNatsClientSendsToAHostIsRefusedOnRecord) {
  ASSERT_TRUE(server_.running());
  auto c1 = host("h1");
  auto k1 = cli({"lattice", "key", "--config", c1.string()});
  write_file(root_.path() / "h1" / "lattice-hosts.toml", k1.out);
  testing::Daemon d1(kCli, c1, root_.path() / "h1.log");
  ASSERT_TRUE(d1.wait_serving(root_.path() / "h1" / "admin.sock")) << d1.log();
  natsConnection* bare = nullptr;
  ASSERT_EQ(natsConnection_ConnectTo(&bare, server_.url().c_str()), NATS_OK);
  const std::string junk = "AWL\x01 not an envelope";
  ASSERT_EQ(natsConnection_Publish(bare, "airssys.demo.host.h1", junk.data(),
                                   static_cast<int>(junk.size())),
            NATS_OK);
  ASSERT_EQ(natsConnection_FlushTimeout(bare, 10000), NATS_OK);
  natsConnection_Destroy(bare);
  json records;
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    auto r = cli({"audit", "--config", c1.string(), "--permission", "lattice.receive", "--json"});
    if (r.out.find("refused") != std::string::npos) {
      EXPECT_NE(r.out.find("denied"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("lattice envelope from"), std::string::npos) << r.out;
      EXPECT_EQ(d1.terminate(), 0) << d1.log();
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "no lattice.receive refusal on record\n" << read_file(root_.path() / "h1" / "audit.log");
}

TEST_F(LatticeCli, ABadLatticeTableIsRefusedWithEveryProblem) {
  ASSERT_TRUE(server_.running());
  const fs::path config = root_.path() / "bad.toml";
  write_file(config,
             "data_dir = \"bad\"\n[lattice]\nname = \"a.b\"\nservers = [\"http://x\"]\n"
             "heartbeat_ms = 1\nnkey = \"UABC\"\nport = 4\n");
  auto r = cli({"serve", "--config", config.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  for (const char* problem :
       {"bad.toml:3: lattice.name: must be 1 to 64 letters, digits, '_' or '-'",
        "bad.toml:4: lattice.servers: each must be a URL nats://HOST:PORT or tls://HOST:PORT",
        "bad.toml:5: lattice.heartbeat_ms: must be an integer between 50 and 60000",
        "lattice.nkey: and nkey_seed_file go together", "bad.toml:7: lattice.port: unknown key"}) {
    EXPECT_NE(r.err.find(problem), std::string::npos) << problem << "\n" << r.err;
  }
  // A host without [lattice] is on no lattice.
  const fs::path plain = root_.path() / "plain.toml";
  fs::create_directories(root_.path() / "plain");
  fs::permissions(root_.path() / "plain", fs::perms::owner_all, fs::perm_options::replace);
  write_file(plain, "data_dir = \"plain\"\ntier = \"interp\"\n");
  testing::Daemon d(kCli, plain, root_.path() / "plain.log");
  ASSERT_TRUE(d.wait_serving(root_.path() / "plain" / "admin.sock")) << d.log();
  auto hosts = cli({"lattice", "hosts", "--config", plain.string()});
  EXPECT_NE(hosts.exit_code, 0);
  EXPECT_NE(hosts.err.find("on no lattice"), std::string::npos) << hosts.err;
  EXPECT_EQ(d.terminate(), 0) << d.log();
}

}  // namespace
}  // namespace airssys::wasm
