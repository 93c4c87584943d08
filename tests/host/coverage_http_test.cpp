// airssys.http_request redirects between two real loopback servers, called by
// a WAT module through the engine: credentials stay with the host they were
// written for, a redirect to another scheme or to a malformed location is a
// denial, and HEAD goes out as HEAD.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/http.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"

#include "../support/loopback_http.hpp"

namespace airssys::wasm::host {
namespace {

using engine::Value;
using test::Loopback;
using test::reply;

// Memory: 0 method, 64 url, 4096 headers, 8192 buffer (256), 9000 response info.
constexpr std::string_view kFetch = R"((module
  (import "airssys" "http_request" (func $http
    (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "fetch") (param $method_len i32) (param $url_len i32) (param $headers_len i32)
    (result i32)
    (call $http (i32.const 0) (local.get $method_len) (i32.const 64) (local.get $url_len)
      (i32.const 4096) (local.get $headers_len) (i32.const 0) (i32.const 0)
      (i32.const 8192) (i32.const 256) (i32.const 9000) (i32.const 0) (i32.const 5000))))
)";

class HttpRedirects : public ::testing::Test {
 protected:
  void SetUp() override {
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(mutex);
      records.push_back(std::string(security::audit_result_name(r.result)) + " " + r.resource +
                        " | " + r.reason);
    };
    audit = security::AuditLog::without_file(std::move(options)).value();
    security::PatternLists lists;
    lists[static_cast<size_t>(security::Permission::NetConnect)] = {
        "127.0.0.1:" + std::to_string(first.port()), "127.0.0.1:" + std::to_string(second.port())};
    auto caps = security::CapabilitySet::build(lists);
    ASSERT_TRUE(caps.has_value()) << caps.error().to_string();
    auto created = security::WasmSecurityContext::create("fetch-probe", std::move(*caps),
                                                         security::TrustLevel::Trusted);
    ASSERT_TRUE(created.has_value()) << created.error().to_string();
    context = std::make_unique<ComponentContext>(
        WasiOptions{}, SecurityBinding{*created, nullptr, audit.get(), {}, nullptr});
    add_http(linker);
    auto module = engine->load_wat(kFetch, "fetch.wat");
    ASSERT_TRUE(module.has_value()) << module.error().to_string();
    engine::InstanceOptions o;
    o.user_data = context.get();
    auto made = store->instantiate(**module, linker, o);
    ASSERT_TRUE(made.has_value()) << made.error().to_string();
    instance = *made;
  }

  // The status, or the negative AbiError.
  int32_t fetch(const std::string& method, const std::string& url, const std::string& headers) {
    auto put = [&](uint32_t at, const std::string& s) {
      EXPECT_TRUE(instance->write_memory(at, {reinterpret_cast<const uint8_t*>(s.data()), s.size()})
                      .has_value());
    };
    put(0, method);
    put(64, url);
    put(4096, headers);
    auto r = instance->call("fetch", std::vector{Value::i32(static_cast<int32_t>(method.size())),
                                                 Value::i32(static_cast<int32_t>(url.size())),
                                                 Value::i32(static_cast<int32_t>(headers.size()))});
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    return r ? (*r)[0].as_i32() : 0;
  }
  std::string url(const Loopback& server, const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server.port()) + path;
  }
  bool denied_because(const std::string& words) {
    audit->flush();
    std::lock_guard lock(mutex);
    for (const auto& r : records) {
      if (r.starts_with("denied ") && r.find(words) != std::string::npos) return true;
    }
    return false;
  }
  static bool has_header(const std::string& head, const std::string& name) {
    return head.find("\r\n" + name + ":") != std::string::npos;
  }

  Loopback second{[](const std::string&) { return reply(200, "", "second"); }};
  Loopback first{[this](const std::string& path) {
    if (path == "/away") return reply(302, "Location: " + url(second, "/landing") + "\r\n");
    if (path == "/here") return reply(307, "Location: /landing\r\n");
    if (path == "/file") return reply(302, "Location: file:///etc/passwd\r\n");
    if (path == "/ftp") return reply(302, "Location: ftp://127.0.0.1/pub\r\n");
    if (path == "/broken") return reply(302, "Location: http://[::1\r\n");
    return reply(200, "", "first");
  }};
  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  std::unique_ptr<engine::Store> store = engine->new_store();
  engine::Linker linker;
  std::mutex mutex;
  std::vector<std::string> records;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<ComponentContext> context;
  std::shared_ptr<engine::Instance> instance;
};

const std::string kCredentials = "Authorization: Bearer secret\nCookie: s=1\nX-Keep: yes\n";

TEST_F(HttpRedirects, CredentialsDoNotFollowARedirectToAnotherHost) {
  EXPECT_EQ(fetch("GET", url(first, "/away"), kCredentials), 200);
  auto firsts = first.heads();
  auto seconds = second.heads();
  ASSERT_EQ(firsts.size(), 1u);
  ASSERT_EQ(seconds.size(), 1u);
  EXPECT_TRUE(has_header(firsts[0], "Authorization"));
  EXPECT_TRUE(has_header(firsts[0], "Cookie"));
  EXPECT_FALSE(has_header(seconds[0], "Authorization")) << seconds[0];
  EXPECT_FALSE(has_header(seconds[0], "Cookie")) << seconds[0];
  EXPECT_TRUE(has_header(seconds[0], "X-Keep")) << seconds[0];
}

TEST_F(HttpRedirects, CredentialsStayOnARedirectToTheSameHost) {
  EXPECT_EQ(fetch("GET", url(first, "/here"), kCredentials), 200);
  auto heads = first.heads();
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_TRUE(heads[1].starts_with("GET /landing ")) << heads[1];
  EXPECT_TRUE(has_header(heads[1], "Authorization"));
  EXPECT_TRUE(has_header(heads[1], "Cookie"));
}

TEST_F(HttpRedirects, ARedirectToAnotherSchemeOrAMalformedLocationIsDenied) {
  EXPECT_EQ(fetch("GET", url(first, "/ftp"), ""), -1);
  EXPECT_TRUE(denied_because("a redirect to a scheme other than http and https"));
  // A file URL has no host to check: refused as malformed.
  EXPECT_EQ(fetch("GET", url(first, "/file"), ""), -1);
  EXPECT_EQ(fetch("GET", url(first, "/broken"), ""), -1);
  EXPECT_TRUE(denied_because("a redirect to a malformed location"));
  EXPECT_TRUE(second.heads().empty());
}

TEST_F(HttpRedirects, HeadIsSentAsHead) {
  EXPECT_EQ(fetch("HEAD", url(first, "/plain"), ""), 200);
  auto heads = first.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_TRUE(heads[0].starts_with("HEAD /plain ")) << heads[0];
}

}  // namespace
}  // namespace airssys::wasm::host
