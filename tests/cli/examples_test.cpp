// The examples of examples/, as built, run by the real binary: hello, the demo (the
// order pipeline beside the hostile component), the key-value counter across
// two runs, and the fetcher against loopback HTTP servers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "airssys/wasm/storage/kv.hpp"
#include "../support/temp_dir.hpp"
#include "audit_summary.hpp"
#include "subprocess.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kExamples = AIRSSYS_EXAMPLES_DIR;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Answers every request with 200 and a fixed body, until destroyed.
class HelloServer {
 public:
  HelloServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 8)) {
      throw std::runtime_error("cannot listen on loopback");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        std::string request;
        char buf[1024];
        ssize_t n;
        while (request.find("\r\n\r\n") == std::string::npos && (n = ::read(c, buf, sizeof buf)) > 0) {
          request.append(buf, static_cast<size_t>(n));
        }
        ++requests_;
        const std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello world\n";
        (void)!::write(c, reply.data(), reply.size());
        ::close(c);
      }
    });
  }
  ~HelloServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  int requests() const { return requests_.load(); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path();
    fs::create_directories(home());
    fs::permissions(home(), fs::perms::owner_all, fs::perm_options::replace);
    fs::create_directories(components());
  }

  fs::path home() const { return root_ / "home"; }
  fs::path components() const { return root_ / "components"; }

  // A copy of a built example under components/.
  fs::path add(const std::string& example) {
    fs::path to = components() / fs::path(example).filename();
    fs::copy(kExamples / example, to, fs::copy_options::recursive);
    return to;
  }

  testing::ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), AIRSSYS_CLI);
    auto r = testing::run_process(args, std::chrono::seconds(60));
    EXPECT_FALSE(r.timed_out);
    return r;
  }

  testing::ProcessResult up(const fs::path& dir, std::vector<std::string> extra) {
    std::vector<std::string> args = {"up", dir.string(), "--data-dir", home().string(),
                                     "--approve", "--tier", "interp"};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args);
  }

  // audit --summary --json: count per "component permission result layer".
  std::map<std::string, uint64_t> audit_summary() {
    return testing::audit_summary(AIRSSYS_CLI, home());
  }

  airssys::wasm::test::TempDir tmp_{"examples"};
  fs::path root_;
};

TEST_F(ExamplesTest, TheDemoRunsThePipelineAndContainsTheHostileComponent) {
  auto r = up(kExamples / "demo",
              {"--send", "orders=order 1 widget 3", "--send", "orders=order 2 gadget 500",
               "--send", "orders=order 3 sprocket 1", "--send", "orders=order 4 gizmo 7",
               "--send", "orders=order 5 widget 2", "--send", "hostile=attack", "--duration",
               "2500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The pipeline did its work while the hostile component attacked.
  EXPECT_TRUE(contains(r.out, "[orders] orders: order 1 accepted, published to 1 subscriber(s)")) << r.out;
  EXPECT_TRUE(contains(r.out, "[orders] orders: order 2 rejected: quantity must be 1 to 100"));
  EXPECT_TRUE(contains(r.out, "[orders] orders: order 3 rejected: unknown item"));
  EXPECT_TRUE(contains(r.out, "gizmo total now 7 (stored: ok)")) << r.out;
  EXPECT_TRUE(contains(r.out, "widget total now 5 (stored: ok)")) << r.out;
  for (const char* name : {"orders", "validator", "ledger", "hostile"}) {
    EXPECT_TRUE(contains(r.err, std::string(name) + ": terminated")) << r.err;
  }
  EXPECT_TRUE(contains(r.err, "ledger: terminated, 3 messages handled, 0 restarts")) << r.err;

  // Every attack contained.
  EXPECT_FALSE(contains(r.out, "READ IT"));
  EXPECT_FALSE(contains(r.out, "SENT"));
  EXPECT_TRUE(contains(r.out, "[hostile] hostile: 1. read /etc/passwd: ")) << r.out;
  EXPECT_TRUE(contains(r.out, "[hostile] hostile: 2. message the ledger: refused (denied)"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.out, m, std::regex(R"(flood of 5000 messages: (\d+) sent, (\d+) refused)")))
      << r.out;
  EXPECT_LE(std::stoi(m[1]), 200);  // 100 per second, a window boundary at most once
  EXPECT_GE(std::stoi(m[2]), 4800);
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(without end: stopped at (\d+) MiB)")));
  EXPECT_LE(std::stoi(m[1]), 4);
  EXPECT_TRUE(contains(r.out, "[hostile] hostile: 5. loop forever"));

  // The audit log holds each refusal; nothing of the pipeline was refused.
  auto audit = audit_summary();
  EXPECT_EQ(audit["hostile filesystem.read denied component"], 1u);
  EXPECT_EQ(audit["hostile messaging.send denied component"], 1u);
  EXPECT_GE(audit["hostile messaging.send denied quota"], 4800u);
  EXPECT_GE(audit["hostile memory.grow denied quota"], 1u);
  EXPECT_GE(audit["hostile cpu.time denied quota"], 1u);
  for (const auto& [key, count] : audit) {
    if (key.find(" denied ") == std::string::npos) continue;
    EXPECT_TRUE(key.starts_with("hostile ")) << key << " x " << count;
  }

  // The ledger's totals are in its key-value state.
  auto store = storage::KeyValueStore::open({.data_dir = home()});
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  auto widget = (*store)->get("ledger", "ledger:widget").value();
  ASSERT_TRUE(widget.has_value());
  EXPECT_EQ(std::string(widget->begin(), widget->end()), "5");
}

// The WASI hello runs from its folder: its manifest asks for no capability,
// so it needs no approval.
TEST_F(ExamplesTest, HelloRunsWithItsManifestAndNoCapability) {
  const fs::path hello = add("hello");
  auto r = cli({"validate", hello.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "valid (hello 1.0.0, 0 capability patterns)")) << r.out;
  r = cli({"run", "--data-dir", home().string(), hello.string(), "--", "one", "two"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "Hello from a WebAssembly component!\n  argument 1: one\n  argument 2: two\n");
  r = cli({"inspect", "--json", hello.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(json::parse(r.out)["capabilities"].empty()) << r.out;
}

TEST_F(ExamplesTest, TheCounterKeepsItsTotalAcrossRuns) {
  add("counter");
  auto r = up(components(), {"--send", "counter=5", "--duration", "500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "[counter] counter: starting at 0")) << r.out;
  EXPECT_TRUE(contains(r.out, "[counter] counter: host added 5, total 5 (stored: ok)")) << r.out;
  r = up(components(), {"--send", "counter=1", "--send", "counter=1", "--duration", "500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "[counter] counter: starting at 5")) << r.out;
  EXPECT_TRUE(contains(r.out, "total 7 (stored: ok)")) << r.out;
}

TEST_F(ExamplesTest, TheFetcherReachesItsGrantedHostAndNothingElse) {
  HelloServer granted;
  HelloServer other;
  fs::path dir = add("fetcher");
  // The example grants 127.0.0.1:8080; here the granted server's port.
  std::ifstream in(dir / "Component.toml");
  std::string manifest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const std::string port = std::to_string(granted.port());
  manifest = std::regex_replace(manifest, std::regex("8080"), port);
  std::ofstream(dir / "Component.toml", std::ios::trunc) << manifest;

  const std::string other_url = "http://127.0.0.1:" + std::to_string(other.port()) + "/";
  auto r = up(components(), {"--send", "fetcher=fetch", "--send", "fetcher=" + other_url,
                             "--send", "fetcher=http://localhost:" + port + "/", "--duration",
                             "1500"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "[fetcher] fetcher: GET http://127.0.0.1:" + port +
                                  "/ -> 200, 12 bytes: hello world"))
      << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "[fetcher] fetcher: GET " + other_url + " refused or failed: denied"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "[fetcher] fetcher: GET http://localhost:" + port +
                                  "/ refused or failed: denied"))
      << r.out;
  EXPECT_EQ(granted.requests(), 1);
  EXPECT_EQ(other.requests(), 0);
  EXPECT_EQ(audit_summary()["fetcher network.connect denied component"], 2u);
}

}  // namespace
}  // namespace airssys::wasm
