// Outbound HTTP end to end: a real fetcher component (tests/components/
// fetcher.c) on the thread-pool scheduler calls airssys.http_request against
// real HTTP servers on 127.0.0.1 that the test runs on threads. Everything is
// observed through what the component prints, what the audit log records and
// what the servers saw.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../support/component_runtime.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "component_test_support.hpp"

namespace airssys::wasm::component {
namespace {

using namespace std::chrono_literals;
using security::AuditResult;
using security::DecisionLayer;
using security::Permission;

// A tiny HTTP/1.1 server: one thread accepts, one thread per connection.
//   GET  /hello           200 "hello world"
//   POST /echo            200 with the request body
//   GET  /size/N          200 with N bytes of 'x'
//   GET  /slow            waits 3 s, then 200 "late"
//   GET  /redirect/PORT   302 to http://127.0.0.1:PORT/hello
//   GET  /loop            302 to /loop (relative)
//   GET  /header          200 "ok" with X-Answer: 42; echoes X-Test in X-Seen
class TestServer {
 public:
  TestServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0) {
      throw std::runtime_error("cannot listen");
    }
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TestServer() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    acceptor_.join();
    std::lock_guard lock(mutex_);
    for (auto& t : workers_) t.join();
  }
  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  void accept_loop() {
    while (!stopping_) {
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, c] {
        serve(c);
        close(c);
      });
    }
  }

  static std::string header_value(const std::string& head, const std::string& name) {
    std::string lower_head = head;
    for (auto& ch : lower_head)
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const size_t at = lower_head.find("\r\n" + name + ":");
    if (at == std::string::npos) return "";
    size_t start = at + 3 + name.size();
    while (start < head.size() && head[start] == ' ') ++start;
    return head.substr(start, head.find("\r\n", start) - start);
  }

  void serve(int c) {
    std::string data;
    char chunk[4096];
    size_t end;
    while ((end = data.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = recv(c, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      data.append(chunk, static_cast<size_t>(n));
    }
    const std::string head = data.substr(0, end);
    std::string body = data.substr(end + 4);
    const size_t length =
        static_cast<size_t>(std::atol(header_value(head, "content-length").c_str()));
    while (body.size() < length) {
      ssize_t n = recv(c, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      body.append(chunk, static_cast<size_t>(n));
    }
    ++requests_;
    const std::string method = head.substr(0, head.find(' '));
    const size_t path_start = head.find(' ') + 1;
    const std::string path = head.substr(path_start, head.find(' ', path_start) - path_start);
    int status = 200;
    std::string extra;
    std::string out;
    if (path == "/hello") {
      out = "hello world";
    } else if (path == "/echo" && method == "POST") {
      out = "echo:" + body;
    } else if (path.starts_with("/size/")) {
      out.assign(static_cast<size_t>(std::atol(path.c_str() + 6)), 'x');
    } else if (path == "/slow") {
      for (int i = 0; i < 30 && !stopping_; ++i) std::this_thread::sleep_for(100ms);
      out = "late";
    } else if (path.starts_with("/redirect/")) {
      status = 302;
      extra = "Location: http://127.0.0.1:" + path.substr(10) + "/hello\r\n";
    } else if (path == "/loop") {
      status = 302;
      extra = "Location: /loop\r\n";
    } else if (path == "/header") {
      extra = "X-Answer: 42\r\nX-Seen: " + header_value(head, "x-test") + "\r\n";
      out = "ok";
    } else {
      status = 404;
      out = "no";
    }
    const std::string response = "HTTP/1.1 " + std::to_string(status) +
                                 " X\r\nContent-Length: " + std::to_string(out.size()) +
                                 "\r\nConnection: close\r\n" + extra + "\r\n" + out;
    size_t sent = 0;
    while (sent < response.size()) {
      ssize_t n = send(c, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};


class HttpSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    module = engine->load_file(std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / "fetcher.wasm")
                 .value();
    audit = lines.audit_log();
    ComponentRuntimeOptions options;
    options.engine = engine;
    options.audit = audit.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    // Real sockets and real time: the thread pool.
    harness = std::make_unique<test::ComponentRuntimeHarness>(test::Scheduling::ThreadPool);
    system = &harness->start_system(options);
  }

  void TearDown() override {
    harness->stop();
    audit->flush();
  }

  // Starts the fetcher `name` with network.connect for `grants`.
  void start(const std::string& name, std::vector<std::string> grants,
             security::QuotaLimits quotas = {}) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::NetConnect)] = std::move(grants);
    lists[static_cast<size_t>(Permission::MsgReceive)] = {"host"};  // its commands
    ComponentSpec s;
    s.name = name;
    s.module = module;
    s.security =
        security::WasmSecurityContext::create(name, security::CapabilitySet::build(lists).value(),
                                              security::TrustLevel::Trusted, quotas)
            .value();
    s.slice = 10'000;
    s.stdout_sink = [this](std::span<const uint8_t> b) { lines.add(b); };
    s.stderr_sink = s.stdout_sink;
    ASSERT_TRUE(system->start(std::move(s)).has_value());
    ASSERT_FALSE(lines.wait_nth(name + " init", 1).empty()) << lines.dump();
  }

  // Sends one fetch command and returns the line it printed.
  std::string fetch(const std::string& name, const std::string& args) {
    const std::string text = "fetch " + args;
    EXPECT_TRUE(system->send_from_host(name, std::vector<uint8_t>(text.begin(), text.end())));
    return lines.wait_nth(name + " fetch ", ++fetches[name]);
  }

  std::string url(uint16_t port, const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

  bool audited(const std::string& component, AuditResult result, const std::string& resource,
               std::optional<DecisionLayer> layer = std::nullopt) {
    audit->flush();
    for (const auto& r : lines.records()) {
      if (r.component == component && r.permission == "network.connect" && r.result == result &&
          r.resource == resource && (!layer || r.layer == *layer)) {
        return true;
      }
    }
    return false;
  }

  testing::Transcript lines;  // what the fetchers print, and the audit records
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> module;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<test::ComponentRuntimeHarness> harness;
  ComponentRuntime* system = nullptr;
  std::map<std::string, size_t> fetches;
  TestServer server;
  TestServer other;  // never granted
};

std::string grant(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

TEST_F(HttpSystemTest, AGrantedGetAndPostSucceed) {
  start("web", {grant(server.port())});
  EXPECT_EQ(fetch("web", "GET " + url(server.port(), "/hello") + " 1000 0 0"),
            "web fetch = 200 headers=0 body=11 text=hello world")
      << lines.dump();
  EXPECT_EQ(fetch("web", "POST " + url(server.port(), "/echo") + " 1000 0 0 some data"),
            "web fetch = 200 headers=0 body=14 text=echo:some data")
      << lines.dump();
  EXPECT_EQ(fetch("web", "GET " + url(server.port(), "/missing") + " 1000 0 0"),
            "web fetch = 404 headers=0 body=2 text=no");
  EXPECT_TRUE(audited("web", AuditResult::Granted, grant(server.port())));
  EXPECT_EQ(server.requests(), 3);
}

TEST_F(HttpSystemTest, HeadersGoBothWays) {
  start("web", {grant(server.port())});
  const std::string line = fetch("web", "GET " + url(server.port(), "/header") + " 1000 0 1");
  EXPECT_TRUE(line.starts_with("web fetch = 200 headers=")) << line;
  EXPECT_NE(line.find("X-Answer: 42|"), std::string::npos) << line;
  EXPECT_NE(line.find("X-Seen: fetcher|"), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with("|ok")) << line;
}

TEST_F(HttpSystemTest, AnUngrantedHostOrPortIsRefusedAndAudited) {
  start("web", {grant(server.port())});
  const std::string p = std::to_string(server.port());
  EXPECT_TRUE(fetch("web", "GET " + url(other.port(), "/hello") + " 1000 0 0")
                  .starts_with("web fetch error -1 "));
  EXPECT_TRUE(audited("web", AuditResult::Denied, grant(other.port())));
  // Other spellings of the granted address are other hosts to the matcher.
  EXPECT_TRUE(fetch("web", "GET http://localhost:" + p + "/hello 1000 0 0")
                  .starts_with("web fetch error -1 "));
  EXPECT_TRUE(audited("web", AuditResult::Denied, "localhost:" + p));
  EXPECT_TRUE(fetch("web", "GET http://2130706433:" + p + "/hello 1000 0 0")
                  .starts_with("web fetch error -1 "));
  EXPECT_TRUE(audited("web", AuditResult::Denied, "2130706433:" + p));
  EXPECT_TRUE(fetch("web", "GET http://0177.0.0.1:" + p + "/hello 1000 0 0")
                  .starts_with("web fetch error -1 "));
  EXPECT_TRUE(
      fetch("web", "GET http://[::1]:" + p + "/hello 1000 0 0").starts_with("web fetch error -1 "));
  // Only http and https; no user info.
  EXPECT_TRUE(fetch("web", "GET file:///etc/passwd 1000 0 0").starts_with("web fetch error -6 "));
  EXPECT_TRUE(fetch("web", "GET http://u:p@127.0.0.1:" + p + "/hello 1000 0 0")
                  .starts_with("web fetch error -6 "));
  EXPECT_EQ(other.requests(), 0);
  EXPECT_EQ(server.requests(), 0) << lines.dump();
}

TEST_F(HttpSystemTest, RedirectsAreFollowedOnlyToGrantedHosts) {
  start("web", {grant(server.port())});
  EXPECT_EQ(fetch("web", "GET " + url(server.port(), "/redirect/" + std::to_string(server.port())) +
                             " 1000 0 0"),
            "web fetch = 200 headers=0 body=11 text=hello world")
      << lines.dump();
  EXPECT_EQ(server.requests(), 2);
  EXPECT_TRUE(
      fetch("web",
            "GET " + url(server.port(), "/redirect/" + std::to_string(other.port())) + " 1000 0 0")
          .starts_with("web fetch error -1 "))
      << lines.dump();
  EXPECT_TRUE(audited("web", AuditResult::Denied, grant(other.port())));
  EXPECT_EQ(other.requests(), 0);
}

TEST_F(HttpSystemTest, ARedirectLoopEndsAfterFiveRedirects) {
  start("web", {grant(server.port())});
  EXPECT_TRUE(fetch("web", "GET " + url(server.port(), "/loop") + " 1000 0 0")
                  .starts_with("web fetch error -1 "))
      << lines.dump();
  EXPECT_EQ(server.requests(), 6);
}

TEST_F(HttpSystemTest, ASlowServerTimesOut) {
  start("web", {grant(server.port())});
  const auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(fetch("web", "GET " + url(server.port(), "/slow") + " 1000 300 0")
                  .starts_with("web fetch error -7 "))
      << lines.dump();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2500ms);
}

TEST_F(HttpSystemTest, AResponseLargerThanTheBufferReportsItsLength) {
  start("web", {grant(server.port())});
  EXPECT_EQ(fetch("web", "GET " + url(server.port(), "/size/3000") + " 10 0 0"),
            "web fetch error -8 status=200 headers=0 body=3000 text=xxxxxxxxxx")
      << lines.dump();
  EXPECT_EQ(fetch("web", "GET " + url(server.port(), "/size/3000") + " 3000 0 0").substr(0, 36),
            "web fetch = 200 headers=0 body=3000 ");
}

TEST_F(HttpSystemTest, TheBandwidthQuotaRefusesAndAudits) {
  security::QuotaLimits quotas;
  quotas.network_bytes_per_second = 4000;
  start("web", {grant(server.port())}, quotas);
  EXPECT_TRUE(fetch("web", "GET " + url(server.port(), "/size/1000") + " 8000 0 0")
                  .starts_with("web fetch = 200 "));
  EXPECT_TRUE(fetch("web", "GET " + url(server.port(), "/size/6000") + " 8000 0 0")
                  .starts_with("web fetch error -2 "))
      << lines.dump();
  EXPECT_TRUE(audited("web", AuditResult::Denied, grant(server.port()), DecisionLayer::Quota));
  // A request body over the window is refused before anything is sent.
  const int before = server.requests();
  quotas.network_bytes_per_second = 100;
  start("tiny", {grant(server.port())}, quotas);
  EXPECT_TRUE(
      fetch("tiny", "POST " + url(server.port(), "/echo") + " 8000 0 0 " + std::string(200, 'b'))
          .starts_with("tiny fetch error -2 "));
  EXPECT_EQ(server.requests(), before);
}

}  // namespace
}  // namespace airssys::wasm::component
