// wasi:http/outgoing-handler for components, end to end: the C client of
// tests/components/http (built against wasi:http 0.2.0 and made a component
// by jco) sends GET and POST requests through host::add_wasi2 to real HTTP
// servers on 127.0.0.1, under the very rules of the airssys HTTP function:
// the network.connect grant (denied by default, audited), redirects checked
// hop by hop, the first-byte timeout, and the network quota in both
// directions. On both tiers. Without jco the component is not made and these
// tests skip.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi2.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "../support/loopback_http.hpp"

namespace airssys::wasm::host {
namespace {

namespace fs = std::filesystem;
using cm::Kind;
using cm::Val;

using Request = test::HttpRequest;
using Server = test::Loopback;
using test::reply;

// Answers one request with `start` (a head and the beginning of a body it
// does not finish), then says nothing more until the client hangs up.
class Stalling {
 public:
  explicit Stalling(std::string start) : start_(std::move(start)) {
    fd_ = test::listen_loopback(port_);
    thread_ = std::thread([this] {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::string data;
      char chunk[4096];
      while (data.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        data.append(chunk, static_cast<size_t>(n));
      }
      ::send(c, start_.data(), start_.size(), MSG_NOSIGNAL);
      while (::recv(c, chunk, sizeof chunk, 0) > 0) {
      }
      ::close(c);
    });
  }
  ~Stalling() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  [[nodiscard]] std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string start_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// A port that takes connections (the kernel completes them) and never answers.
class Silent {
 public:
  Silent() {
    fd_ = test::listen_loopback(port_);
  }
  ~Silent() { ::close(fd_); }
  [[nodiscard]] std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};


std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

std::vector<uint8_t> read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Fetch {
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint64_t first_byte_timeout_ms = 0;
  uint64_t between_bytes_timeout_ms = 0;
};

class Wasi2Http : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (!fs::exists(component_path())) {
      GTEST_SKIP() << "http/client.wasm was not made (jco is not installed)";
    }
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(mutex);
      records.push_back(std::string(security::audit_result_name(r.result)) + " " + r.permission +
                        " " + r.resource);
    };
    audit = security::AuditLog::without_file(std::move(options)).value();
    if (std::string(GetParam()) == "native") {
      auto native = engine::Engine::native();
      ASSERT_TRUE(native.has_value()) << native.error().to_string();
      engine = std::move(*native);
    } else {
      engine = engine::Engine::interpreter();
    }
  }

  static fs::path component_path() {
    return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "http" / "client.wasm";
  }

  std::vector<std::string> take_records() {
    audit->flush();
    std::lock_guard lock(mutex);
    return std::exchange(records, {});
  }

  // Grants network.connect for `grants`; the network quota is `quota` bytes a second.
  void make_context(std::vector<std::string> grants, uint64_t quota = 10 * MiB) {
    security::PatternLists lists;
    lists[static_cast<size_t>(security::Permission::NetConnect)] = std::move(grants);
    auto caps = security::CapabilitySet::build(lists);
    ASSERT_TRUE(caps.has_value()) << caps.error().to_string();
    security::QuotaLimits limits;
    limits.network_bytes_per_second = quota;
    auto created = security::WasmSecurityContext::create("http-client", std::move(*caps),
                                                         security::TrustLevel::Trusted, limits);
    ASSERT_TRUE(created.has_value()) << created.error().to_string();
    context = std::make_unique<ComponentContext>(
        WasiOptions{}, SecurityBinding{*created, nullptr, audit.get(), {}, nullptr});
  }

  // What the client answers for one request to `authority`.
  std::string fetch(const std::string& authority, const Fetch& f) {
    auto bytes = read_bytes(component_path());
    auto component = cm::decode_component(bytes, "client.wasm", *engine);
    EXPECT_TRUE(component.has_value()) << (component ? "" : component.error().to_string());
    if (!component) return "";
    cm::HostInstance imports;
    add_wasi2(imports, *context);
    auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports);
    EXPECT_TRUE(instance.has_value()) << (instance ? "" : instance.error().to_string());
    if (!instance) return "";
    Val headers{Kind::List, 0, {}, {}};
    for (const auto& [name, value] : f.headers) {
      headers.items.push_back(Val{Kind::Tuple, 0, {}, {Val::string(name), Val::string(value)}});
    }
    Val body{Kind::List, 0, {}, {}};
    for (char c : f.body) body.items.push_back(Val::u(Kind::U8, static_cast<uint8_t>(c)));
    std::vector<Val> args = {Val::string(f.method),
                             Val::string("http"),
                             Val::string(authority),
                             Val::string(f.path),
                             headers,
                             body,
                             Val::u(Kind::U64, f.first_byte_timeout_ms),
                             Val::u(Kind::U64, f.between_bytes_timeout_ms)};
    auto r = (*instance)->call("fetch", args);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    if (!r || r->size() != 1) return "";
    return (*r)[0].text;
  }

  std::unique_ptr<engine::Engine> engine;
  std::mutex mutex;
  std::vector<std::string> records;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<ComponentContext> context;
};

bool contains(const std::vector<std::string>& records, const std::string& record) {
  return std::find(records.begin(), records.end(), record) != records.end();
}

TEST_P(Wasi2Http, AGrantedGetReturnsStatusHeadersAndBody) {
  Server server([](const Request&) { return reply(200, "X-Test: yes\r\n", "hello world"); });
  make_context({server.authority()});
  Fetch f;
  f.path = "/hello?x=1";
  f.headers = {{"X-Probe", "one"}, {"Accept", "text/plain"}};
  const std::string out = fetch(server.authority(), f);
  EXPECT_TRUE(out.starts_with("status 200\n")) << out;
  EXPECT_NE(out.find("x-test: yes\n"), std::string::npos) << out;
  EXPECT_NE(out.find("content-length: 11\n"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("body 11\nhello world")) << out;
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/hello?x=1");
  EXPECT_NE(requests[0].head.find("\r\nX-Probe: one"), std::string::npos) << requests[0].head;
  EXPECT_NE(requests[0].head.find("\r\nAccept: text/plain"), std::string::npos);
  EXPECT_TRUE(contains(take_records(), "granted network.connect " + server.authority()));
}

TEST_P(Wasi2Http, AGrantedPostSendsItsBodyThroughTheOutputStream) {
  Server server([](const Request& r) { return reply(201, "", r.method + " " + r.body); });
  make_context({server.authority()});
  Fetch f;
  f.method = "POST";
  f.path = "/echo";
  f.body = pattern(10000);  // three writes of the stream
  f.headers = {{"Content-Type", "text/plain"}};
  const std::string out = fetch(server.authority(), f);
  EXPECT_TRUE(out.starts_with("status 201\n")) << out.substr(0, 200);
  EXPECT_TRUE(out.ends_with("body 10005\nPOST " + f.body)) << out.substr(0, 200);
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body, f.body);
}

TEST_P(Wasi2Http, WithoutTheGrantTheRequestIsDeniedAndAudited) {
  Server server([](const Request&) { return reply(200, "", "secret"); });
  make_context({});
  const std::string out = fetch(server.authority(), Fetch{});
  EXPECT_EQ(out, "error HTTP-request-denied\n");
  EXPECT_TRUE(server.requests().empty());
  EXPECT_TRUE(contains(take_records(), "denied network.connect " + server.authority()));
}

TEST_P(Wasi2Http, ARedirectToAHostWithoutTheGrantIsRefused) {
  Server other([](const Request&) { return reply(200, "", "elsewhere"); });
  const std::string location = "http://" + other.authority() + "/hello";
  Server server([&](const Request&) { return reply(302, "Location: " + location + "\r\n", ""); });
  make_context({server.authority()});
  const std::string out = fetch(server.authority(), Fetch{});
  EXPECT_EQ(out, "error HTTP-request-denied\n");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_TRUE(other.requests().empty());
  auto records = take_records();
  EXPECT_TRUE(contains(records, "granted network.connect " + server.authority()));
  EXPECT_TRUE(contains(records, "denied network.connect " + other.authority()));
}

TEST_P(Wasi2Http, ARedirectToAGrantedHostIsFollowed) {
  Server other([](const Request&) { return reply(200, "", "arrived"); });
  const std::string location = "http://" + other.authority() + "/there";
  Server server([&](const Request&) { return reply(302, "Location: " + location + "\r\n", ""); });
  make_context({server.authority(), other.authority()});
  const std::string out = fetch(server.authority(), Fetch{});
  EXPECT_TRUE(out.starts_with("status 200\n")) << out;
  EXPECT_TRUE(out.ends_with("body 7\narrived")) << out;
  ASSERT_EQ(other.requests().size(), 1u);
  EXPECT_EQ(other.requests()[0].path, "/there");
}

TEST_P(Wasi2Http, AServerThatNeverAnswersEndsInTheFirstByteTimeout) {
  Silent silent;
  make_context({silent.authority()});
  Fetch f;
  f.first_byte_timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  const std::string out = fetch(silent.authority(), f);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(out, "error connection-read-timeout\n");
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  // Bounds a hang only: the default timeout of the host is 30 s.
  EXPECT_LT(elapsed, std::chrono::seconds(20));
}

TEST_P(Wasi2Http, AResponseThatStopsEndsInTheBetweenBytesTimeout) {
  Stalling server("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nthe first part");
  make_context({server.authority()});
  Fetch f;
  f.between_bytes_timeout_ms = 300;
  const auto start = std::chrono::steady_clock::now();
  const std::string out = fetch(server.authority(), f);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(out, "error connection-read-timeout\n");
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
  EXPECT_LT(elapsed, std::chrono::seconds(20));  // bounds a hang only
}

TEST_P(Wasi2Http, ARequestBodyOverTheNetworkQuotaIsRefused) {
  Server server([](const Request&) { return reply(200, "", "ok"); });
  make_context({server.authority()}, 4096);
  Fetch f;
  f.method = "PUT";
  f.body = pattern(8000);
  const std::string out = fetch(server.authority(), f);
  EXPECT_EQ(out, "error HTTP-request-body-size 8000\n");
  EXPECT_TRUE(server.requests().empty());
  auto records = take_records();
  EXPECT_TRUE(contains(records, "denied network.connect " + server.authority()));
}

TEST_P(Wasi2Http, AResponseBodyOverTheNetworkQuotaIsRefused) {
  Server server([](const Request&) { return reply(200, "", pattern(8000)); });
  make_context({server.authority()}, 4096);
  const std::string out = fetch(server.authority(), Fetch{});
  EXPECT_EQ(out, "error HTTP-response-body-size\n");
  auto records = take_records();
  EXPECT_TRUE(contains(records, "denied network.connect " + server.authority()));
}

TEST_P(Wasi2Http, HeadersTheHostWritesItselfAreForbidden) {
  Server server([](const Request&) { return reply(200, "", ""); });
  make_context({server.authority()});
  Fetch f;
  f.headers = {{"Host", "example.com"}};
  EXPECT_EQ(fetch(server.authority(), f), "header-error 1\n");  // forbidden
  f.headers = {{"Bad Name", "x"}};
  EXPECT_EQ(fetch(server.authority(), f), "header-error 0\n");  // invalid-syntax
  EXPECT_TRUE(server.requests().empty());
}

TEST_P(Wasi2Http, AContentLengthMustMatchTheBody) {
  Server server([](const Request& r) { return reply(200, "", r.body); });
  make_context({server.authority()});
  Fetch f;
  f.method = "POST";
  f.body = "hello";
  f.headers = {{"Content-Length", "3"}};
  EXPECT_EQ(fetch(server.authority(), f), "error HTTP-request-body-size 5\n");
  EXPECT_TRUE(server.requests().empty());
  f.headers = {{"Content-Length", "5"}};
  EXPECT_EQ(fetch(server.authority(), f),
            "status 200\ncontent-length: 5\nconnection: close\nbody 5\nhello");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].body, "hello");
}

INSTANTIATE_TEST_SUITE_P(Tiers, Wasi2Http, ::testing::Values("interpreter", "native"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace airssys::wasm::host

namespace airssys::wasm::host {
namespace {

// JavaScript's fetch() (componentize-js over wasi:http), on the interpreter
// (a JavaScript component's engine takes seconds to decode there).
class Wasi2HttpJs : public ::testing::Test {
 protected:
  static fs::path js_path() {
    return fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "http" / "fetch_js.wasm";
  }
};

TEST_F(Wasi2HttpJs, FetchSendsThroughTheHostUnderTheGrant) {
  if (!fs::exists(js_path()))
    GTEST_SKIP() << "http/fetch_js.wasm was not made (jco is not installed)";
  Server server([](const Request& r) {
    return reply(200, "X-Test: js\r\n", r.method + (r.body.empty() ? "" : " " + r.body));
  });
  std::mutex mutex;
  std::vector<std::string> records;
  security::AuditLogOptions options;
  options.subscriber = [&](const security::AuditRecord& r, std::string_view) {
    std::lock_guard lock(mutex);
    records.push_back(std::string(security::audit_result_name(r.result)) + " " + r.permission +
                      " " + r.resource);
  };
  auto audit = security::AuditLog::without_file(std::move(options)).value();
  auto engine = engine::Engine::interpreter();
  auto bytes = read_bytes(js_path());
  auto component = cm::decode_component(bytes, "fetch_js.wasm", *engine);
  ASSERT_TRUE(component.has_value()) << component.error().to_string();
  auto context_with = [&](std::vector<std::string> grants) {
    security::PatternLists lists;
    lists[static_cast<size_t>(security::Permission::NetConnect)] = std::move(grants);
    auto created = security::WasmSecurityContext::create(
        "js-fetch", security::CapabilitySet::build(lists).value(), security::TrustLevel::Trusted);
    return std::make_unique<ComponentContext>(
        WasiOptions{}, SecurityBinding{*created, nullptr, audit.get(), {}, nullptr});
  };
  auto get = [&](ComponentContext& context, const std::string& url, const std::string& body) {
    cm::HostInstance imports;
    add_wasi2(imports, context);
    auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports);
    EXPECT_TRUE(instance.has_value()) << (instance ? "" : instance.error().to_string());
    if (!instance) return std::string();
    engine::CallOptions call;
    call.fuel = 20'000'000'000;
    auto r = (*instance)->call("get", std::vector{Val::string(url), Val::string(body)}, call);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().to_string());
    return r && r->size() == 1 ? (*r)[0].text : std::string();
  };
  const std::string url = "http://" + server.authority() + "/js";
  auto granted = context_with({server.authority()});
  EXPECT_EQ(get(*granted, url, ""), "status 200 js\nGET");
  EXPECT_EQ(get(*granted, url, "ping"), "status 200 js\nPOST ping");
  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(requests[1].head.find("\r\nX-From: js"), std::string::npos) << requests[1].head;

  auto denied = context_with({});
  const std::string out = get(*denied, url, "");
  EXPECT_TRUE(out.starts_with("error ")) << out;
  EXPECT_EQ(server.requests().size(), 2u);
  audit->flush();
  std::lock_guard lock(mutex);
  EXPECT_TRUE(contains(records, "denied network.connect " + server.authority()));
}

}  // namespace
}  // namespace airssys::wasm::host
