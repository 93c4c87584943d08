#include "airssys/wasm/host/http.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/security/pattern.hpp"
#include "airssys_functions.hpp"

namespace airssys::wasm::host {
namespace {

using security::NetworkEndpoint;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kResponseInfoBytes = 12;  // {i32 status, u32 headers_len, u32 body_len}
constexpr std::string_view kConnect = "network.connect";

int32_t code(AbiError e) {
  return static_cast<int32_t>(e);
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---- bandwidth ---------------------------------------------------------------
// Bytes in both directions count against the component's network quota (per
// 1-second window) in its QuotaTracker, which its supervisor keeps across
// restarts, so a restart does not open a fresh window.

// ---- the request as the guest wrote it -------------------------------------

struct Request {
  std::string method;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
};



bool is_token_char(uint8_t c) {
  return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

bool is_valid_header(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (uint8_t c : name) {
    if (!is_token_char(c)) return false;
  }
  for (uint8_t c : value) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  const std::string n = lower(name);
  return n != "host" && n != "content-length" && n != "transfer-encoding";
}

namespace {

// "Name: value" lines separated by '\n' (a '\r' before it is dropped, empty
// lines are skipped), each is_valid_header.
std::optional<std::vector<std::string>> parse_headers(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    if (!is_valid_header(line.substr(0, colon), line.substr(colon + 1))) return std::nullopt;
    out.emplace_back(line);
  }
  return out;
}

// ---- the URL: parsed by curl, checked as written ---------------------------

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlHandle = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct CurlStr {
  char* p = nullptr;
  ~CurlStr() { curl_free(p); }
};

struct Target {
  UrlHandle url;
  std::string host_port;     // what was authorized: the host as written, the port
  NetworkEndpoint endpoint;  // its parse (name or address), for pinning
  std::string host_text;     // storage for endpoint.name
  uint16_t port = 0;
};

// The host of an absolute URL's authority exactly as written ("[::1]" keeps
// its brackets), or nullopt when there is none or it carries user info.
std::optional<std::string> raw_host(std::string_view url) {
  size_t start;
  if (auto p = url.find("://"); p != std::string_view::npos) {
    start = p + 3;
  } else {
    return std::nullopt;
  }
  std::string_view authority = url.substr(start);
  authority = authority.substr(0, authority.find_first_of("/?#\\"));
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(authority.substr(0, close + 1));
  }
  return std::string(authority.substr(0, authority.rfind(':')));
}

enum class Outcome { Ok, Invalid, Denied };

// Parses `url` (absolute, or relative to `base`), keeps only http and https,
// and authorizes `host:port` with the host as written against network.connect.
Outcome check_target(ComponentContext& ctx, std::string_view url, const CURLU* base, Target& out) {
  UrlHandle u(base ? curl_url_dup(const_cast<CURLU*>(base)) : curl_url());
  if (!u) return Outcome::Invalid;
  const std::string text(url);
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), 0) != CURLUE_OK) return Outcome::Invalid;
  CurlStr scheme, host, port, user;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &scheme.p, 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_HOST, &host.p, 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_PORT, &port.p, CURLU_DEFAULT_PORT) != CURLUE_OK) {
    return Outcome::Invalid;
  }
  const std::string s = lower(scheme.p);
  if (s != "http" && s != "https") {
    if (!base) return Outcome::Invalid;
    ctx.audit(kConnect, text, AuditResult::Denied, DecisionLayer::Component,
              "a redirect to a scheme other than http and https");
    return Outcome::Denied;
  }
  if (curl_url_get(u.get(), CURLUPART_USER, &user.p, 0) == CURLUE_OK) return Outcome::Invalid;

  // A relative reference keeps the (already checked) host of its base.
  std::optional<std::string> written;
  if (url.find("://") != std::string_view::npos) {
    written = raw_host(url);
  } else if (url.starts_with("//")) {
    written = raw_host(std::string("x:") + text);
  } else {
    written = std::string(host.p);
  }
  if (!written || written->empty()) return Outcome::Invalid;
  out.host_port = *written + ":" + port.p;
  if (!ctx.authorize(Permission::NetConnect, out.host_port)) return Outcome::Denied;
  // curl may have rewritten the host (2130706433 and 0177.0.0.1 become
  // 127.0.0.1, %-escapes are decoded): then it would not connect to what was
  // checked. The matcher refuses such spellings anyway; this is the backstop.
  if (lower(*written) != lower(host.p)) {
    ctx.audit(kConnect, out.host_port, AuditResult::Denied, DecisionLayer::Component,
              fmt::format("the URL parser reads the host as {}", host.p));
    return Outcome::Denied;
  }
  out.host_text = *written;
  const unsigned long p = std::strtoul(port.p, nullptr, 10);
  if (p == 0 || p > 65535) return Outcome::Invalid;
  out.port = static_cast<uint16_t>(p);
  auto ep = NetworkEndpoint::parse(out.host_text, out.port);
  if (!ep) return Outcome::Invalid;
  out.endpoint = *ep;
  out.url = std::move(u);
  return Outcome::Ok;
}

// ---- one transfer ----------------------------------------------------------

struct Transfer {
  ComponentContext* ctx = nullptr;
  const Target* target = nullptr;
  uint64_t keep = 0;  // body bytes worth keeping (the guest's buffer)
  std::string headers;
  std::string location;
  std::vector<uint8_t> body;
  uint64_t body_total = 0;
  uint64_t received = 0;
  bool over_quota = false;
  bool too_large = false;
  bool pin_refused = false;
  // The call's own timeouts (0: none), checked by run_transfer.
  uint32_t first_byte_ms = 0;
  uint32_t between_bytes_ms = 0;
  Clock::time_point started{};
  Clock::time_point last_byte{};
  bool first_byte_timed_out = false;
  bool between_bytes_timed_out = false;

  bool count(size_t n) {
    last_byte = Clock::now();
    if (received + n > kMaxHttpResponseBytes) {
      too_large = true;
      return false;
    }
    // Audited once, by the refusal that ends the transfer.
    if (!ctx->consume_quota(kConnect, target->host_port, security::QuotaKind::Network, n)) {
      over_quota = true;
      return false;
    }
    received += n;
    return true;
  }
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!t->count(bytes)) return 0;
  if (t->body.size() < t->keep) {
    const size_t take = static_cast<size_t>(std::min<uint64_t>(bytes, t->keep - t->body.size()));
    t->body.insert(t->body.end(), data, data + take);
  }
  t->body_total += bytes;
  return bytes;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!t->count(bytes)) return 0;
  std::string_view line(data, bytes);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {  // a new response (after 1xx): start over
    t->headers.clear();
    t->location.clear();
    return bytes;
  }
  if (line.empty()) return bytes;
  if (const size_t colon = line.find(':');
      colon != std::string_view::npos && lower(line.substr(0, colon)) == "location") {
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    t->location = value;
  }
  t->headers.append(line);
  t->headers.push_back('\n');
  return bytes;
}

// Opens the connection's socket only to the checked port and, when the host
// is an IP literal, only to that address: no alternative route (a proxy, a
// rewritten host, a cached connection) reaches anything else.
curl_socket_t on_open_socket(void* user, curlsocktype, curl_sockaddr* a) {
  auto* t = static_cast<Transfer*>(user);
  const NetworkEndpoint& ep = t->target->endpoint;
  std::array<uint8_t, 16> addr{};
  bool v4 = false;
  uint16_t port = 0;
  if (a->family == AF_INET && a->addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in in{};
    std::memcpy(&in, &a->addr, sizeof in);
    std::memcpy(addr.data(), &in.sin_addr, 4);
    port = ntohs(in.sin_port);
    v4 = true;
  } else if (a->family == AF_INET6 && a->addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &a->addr, sizeof in6);
    port = ntohs(in6.sin6_port);
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(&in6.sin6_addr, kMapped, 12) == 0) {
      std::memcpy(addr.data(), reinterpret_cast<const uint8_t*>(&in6.sin6_addr) + 12, 4);
      v4 = true;
    } else {
      std::memcpy(addr.data(), &in6.sin6_addr, 16);
    }
  } else {
    t->pin_refused = true;
    return CURL_SOCKET_BAD;
  }
  bool ok = port == t->target->port;
  if (ok && ep.kind == NetworkEndpoint::HostKind::Ipv4) {
    ok = v4 && std::memcmp(addr.data(), ep.address.data(), 4) == 0;
  } else if (ok && ep.kind == NetworkEndpoint::HostKind::Ipv6) {
    ok = !v4 && addr == ep.address;
  }
  if (!ok) {
    t->pin_refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

// When the transfer passes its first-byte or between-bytes timeout (none:
// not yet); marks which one it passed.
std::optional<Clock::time_point> next_deadline(Transfer& t) {
  const auto now = Clock::now();
  if (t.received == 0) {
    if (t.first_byte_ms == 0) return std::nullopt;
    const auto at = t.started + std::chrono::milliseconds(t.first_byte_ms);
    if (now >= at) t.first_byte_timed_out = true;
    return at;
  }
  if (t.between_bytes_ms == 0) return std::nullopt;
  const auto at = t.last_byte + std::chrono::milliseconds(t.between_bytes_ms);
  if (now >= at) t.between_bytes_timed_out = true;
  return at;
}

struct MultiDeleter {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};

// Runs the transfer; with a first-byte or between-bytes timeout, on a multi
// handle that wakes up by the next deadline, so that it ends on time.
CURLcode run_transfer(CURL* c, Transfer& t) {
  t.started = Clock::now();
  t.last_byte = t.started;
  if (t.first_byte_ms == 0 && t.between_bytes_ms == 0) return curl_easy_perform(c);
  std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
  if (!multi || curl_multi_add_handle(multi.get(), c) != CURLM_OK) return CURLE_OUT_OF_MEMORY;
  CURLcode rc = CURLE_OK;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
      rc = CURLE_RECV_ERROR;
      break;
    }
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
        if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
      }
      break;
    }
    const auto deadline = next_deadline(t);
    if (t.first_byte_timed_out || t.between_bytes_timed_out) {
      rc = CURLE_OPERATION_TIMEDOUT;
      break;
    }
    long wait_ms = 1000;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            *deadline - Clock::now()).count() + 1;
      wait_ms = std::clamp<long>(static_cast<long>(left), 1, 1000);
    }
    curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(wait_ms), nullptr);
  }
  curl_multi_remove_handle(multi.get(), c);
  return rc;
}

// What a failed transfer's curl code means.
HttpFailure failure_of(CURLcode rc, bool connected) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return HttpFailure::DnsError;
    case CURLE_COULDNT_CONNECT:
      return HttpFailure::ConnectionRefused;
    case CURLE_OPERATION_TIMEDOUT:
      return connected ? HttpFailure::Timeout : HttpFailure::ConnectTimeout;
    case CURLE_PEER_FAILED_VERIFICATION:
      return HttpFailure::TlsCertificate;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
      return HttpFailure::TlsError;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      return HttpFailure::Incomplete;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
      return HttpFailure::ProtocolError;
    default:
      return HttpFailure::Unavailable;
  }
}

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// Sends one request to `target`; status in `status`, or the refusal.
std::optional<HttpRefusal> perform(ComponentContext& ctx, const Target& target,
                                   const Request& req, Transfer& t, long remaining_ms,
                                   long connect_ms, long& status) {
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return HttpRefusal{AbiError::Unavailable, HttpFailure::Unavailable, "curl_easy_init"};
  CURL* c = easy.get();
  std::unique_ptr<curl_slist, ListDeleter> list;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (next) {
      (void)list.release();
      list.reset(next);
    }
    return next != nullptr;
  };
  const HttpRefusal no_headers{AbiError::Unavailable, HttpFailure::Unavailable, "headers"};
  for (const auto& h : req.headers) {
    if (!append(h)) return no_headers;
  }
  if (!append("Expect:")) return no_headers;

  curl_easy_setopt(c, CURLOPT_CURLU, target.url.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, remaining_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(remaining_ms, connect_ms));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  if (!req.body.empty() || (req.method != "GET" && req.method != "HEAD")) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
  }

  const CURLcode rc = run_transfer(c, t);
  if (t.over_quota) {  // audited by the refusal
    return HttpRefusal{AbiError::Quota, HttpFailure::ResponseQuota, "network quota exceeded"};
  }
  if (t.too_large) {
    ctx.audit(kConnect, target.host_port, AuditResult::Denied, DecisionLayer::Quota,
              fmt::format("response over {} bytes", kMaxHttpResponseBytes));
    return HttpRefusal{AbiError::TooLarge, HttpFailure::ResponseTooLarge,
                  fmt::format("response over {} bytes", kMaxHttpResponseBytes)};
  }
  if (t.pin_refused) {
    ctx.audit(kConnect, target.host_port, AuditResult::Denied, DecisionLayer::Component,
              "a connection to another address or port than the one checked");
    return HttpRefusal{AbiError::Denied, HttpFailure::Denied, "connection not pinned"};
  }
  if (t.first_byte_timed_out) {
    return HttpRefusal{AbiError::Timeout, HttpFailure::FirstByteTimeout,
                  fmt::format("no response within {} ms", t.first_byte_ms)};
  }
  if (t.between_bytes_timed_out) {
    return HttpRefusal{AbiError::Timeout, HttpFailure::BetweenBytesTimeout,
                  fmt::format("the response paused for {} ms", t.between_bytes_ms)};
  }
  curl_off_t connect_time = 0;
  curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_time);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return HttpRefusal{AbiError::Timeout, failure_of(rc, connect_time > 0), curl_easy_strerror(rc)};
  }
  if (rc != CURLE_OK) {
    const std::string line =
        fmt::format("airssys.http_request {}: {}\n", target.host_port, curl_easy_strerror(rc));
    ctx.write_stderr({reinterpret_cast<const uint8_t*>(line.data()), line.size()});
    return HttpRefusal{AbiError::Unavailable, failure_of(rc, connect_time > 0),
                       curl_easy_strerror(rc)};
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return std::nullopt;
}

}  // namespace

std::expected<HttpAnswer, HttpRefusal> http_exchange(ComponentContext& ctx, HttpCall call) {
  auto refuse = [](AbiError e, HttpFailure f,
                   std::string text = {}) -> std::expected<HttpAnswer, HttpRefusal> {
    return std::unexpected(HttpRefusal{e, f, std::move(text)});
  };
  if (call.method.empty() || call.method.size() > 16 || call.url.empty() ||
      call.url.size() > kMaxHttpUrlBytes) {
    return refuse(AbiError::Invalid, HttpFailure::Invalid);
  }
  Request req;
  req.method.assign(call.method);
  for (char ch : req.method) {
    if (ch < 'A' || ch > 'Z') return refuse(AbiError::Invalid, HttpFailure::Invalid);
  }
  const std::string url_text(call.url);
  for (unsigned char ch : url_text) {
    if (ch <= 0x20 || ch >= 0x7f) return refuse(AbiError::Invalid, HttpFailure::Invalid);
  }
  req.headers = std::move(call.headers);
  if (call.body.size() > kMaxHttpRequestBodyBytes) {
    return refuse(AbiError::TooLarge, HttpFailure::RequestTooLarge);
  }
  req.body.assign(call.body.begin(), call.body.end());
  if (ctx.name().empty() || !ctx.security().context) {
    return refuse(AbiError::Denied, HttpFailure::Denied);
  }

  global_init();
  const uint32_t timeout_ms = call.timeout_ms == 0 ? kDefaultHttpTimeoutMs
                                                   : std::min(call.timeout_ms, kMaxHttpTimeoutMs);
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const long connect_ms = call.connect_timeout_ms == 0
                              ? static_cast<long>(kHttpConnectTimeoutMs)
                              : static_cast<long>(std::min(call.connect_timeout_ms,
                                                           kHttpConnectTimeoutMs));

  Target target;
  switch (check_target(ctx, url_text, nullptr, target)) {
    case Outcome::Ok:
      break;
    case Outcome::Invalid:
      return refuse(AbiError::Invalid, HttpFailure::Invalid);
    case Outcome::Denied:
      return refuse(AbiError::Denied, HttpFailure::Denied);
  }

  for (uint32_t hop = 0;; ++hop) {
    const long remaining = static_cast<long>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (remaining <= 0) return refuse(AbiError::Timeout, HttpFailure::Timeout);
    // What goes out: the request line, the headers and the body.
    uint64_t out_bytes = req.method.size() + url_text.size() + req.body.size() + 16;
    for (const auto& h : req.headers) out_bytes += h.size() + 2;
    if (!ctx.consume_quota(kConnect, target.host_port, security::QuotaKind::Network, out_bytes)) {
      return refuse(AbiError::Quota, HttpFailure::RequestQuota);
    }
    Transfer t;
    t.ctx = &ctx;
    t.target = &target;
    t.keep = call.keep;
    t.first_byte_ms = call.first_byte_timeout_ms;
    t.between_bytes_ms = call.between_bytes_timeout_ms;
    long status = 0;
    if (auto failed = perform(ctx, target, req, t, remaining, connect_ms, status)) {
      return refuse(failed->error, failed->failure, std::move(failed->text));
    }

    const bool redirect =
        (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) &&
        !t.location.empty();
    if (redirect) {
      if (hop == kMaxHttpRedirects) {
        ctx.audit(kConnect, target.host_port, AuditResult::Denied, DecisionLayer::Component,
                  fmt::format("more than {} redirects", kMaxHttpRedirects));
        return refuse(AbiError::Denied, HttpFailure::Denied);
      }
      Target next;
      switch (check_target(ctx, t.location, target.url.get(), next)) {
        case Outcome::Ok:
          break;
        case Outcome::Invalid:
          ctx.audit(kConnect, target.host_port, AuditResult::Denied, DecisionLayer::Component,
                    "a redirect to a malformed location");
          return refuse(AbiError::Denied, HttpFailure::Denied);
        case Outcome::Denied:
          return refuse(AbiError::Denied, HttpFailure::Denied);
      }
      // 301, 302 and 303 continue with GET without a body; 307 and 308 repeat
      // the request. Credentials stay with the host they were written for.
      if (status != 307 && status != 308 && req.method != "HEAD") {
        req.method = "GET";
        req.body.clear();
      }
      if (lower(next.host_port) != lower(target.host_port)) {
        std::erase_if(req.headers, [](const std::string& h) {
          const std::string n = lower(std::string_view(h).substr(0, h.find(':')));
          return n == "authorization" || n == "cookie" || n == "proxy-authorization";
        });
      }
      target = std::move(next);
      continue;
    }
    return HttpAnswer{static_cast<int32_t>(status), std::move(t.headers), std::move(t.body),
                      t.body_total};
  }
}

Answer<HttpAnswer> http_fetch(ComponentContext& ctx, HttpCall call) {
  auto answer = http_exchange(ctx, std::move(call));
  if (!answer) return std::unexpected(answer.error().error);
  return std::move(*answer);
}

namespace {

// http_request(method, method_len, url, url_len, headers, headers_len, body,
//              body_len, buf, buf_len, response, flags, timeout_ms) -> i32
int64_t http_request(HostCall& call, ComponentContext& ctx, Args a) {
  auto method = call.memory(u32(a[0]), u32(a[1]));
  auto url = call.memory(u32(a[2]), u32(a[3]));
  auto headers = call.memory(u32(a[4]), u32(a[5]));
  auto body = call.memory(u32(a[6]), u32(a[7]));
  const uint32_t buf_len = u32(a[9]);
  auto buf = call.memory(u32(a[8]), buf_len);
  const uint32_t info_ptr = u32(a[10]);
  auto info = call.memory(info_ptr, kResponseInfoBytes);
  const uint32_t flags = u32(a[11]);
  if (!method || !url || !headers || !body || !buf || !info) return code(AbiError::Invalid);
  if ((flags & ~kHttpWantHeaders) != 0) return code(AbiError::Invalid);
  if (headers->size() > kMaxHttpRequestHeaderBytes) return code(AbiError::Invalid);
  auto parsed = parse_headers({reinterpret_cast<const char*>(headers->data()), headers->size()});
  if (!parsed) return code(AbiError::Invalid);
  auto answer = http_fetch(
      ctx, HttpCall{{reinterpret_cast<const char*>(method->data()), method->size()},
                    {reinterpret_cast<const char*>(url->data()), url->size()},
                    std::move(*parsed),
                    *body,
                    u32(a[12]),
                    buf_len});
  if (!answer) return code(answer.error());

  // The final answer: headers (when asked for) then the body.
  const std::string_view head =
      (flags & kHttpWantHeaders) ? std::string_view(answer->headers) : std::string_view();
  const uint64_t total = head.size() + answer->body_total;
  const int32_t status32 = answer->status;
  std::memcpy(info->data(), &status32, 4);
  const uint32_t head_len = static_cast<uint32_t>(head.size());
  const uint32_t body_len = static_cast<uint32_t>(answer->body_total);
  std::memcpy(info->data() + 4, &head_len, 4);
  std::memcpy(info->data() + 8, &body_len, 4);
  const size_t head_copy = std::min<size_t>(head.size(), buf_len);
  if (head_copy != 0) std::memcpy(buf->data(), head.data(), head_copy);
  const size_t body_copy = std::min<size_t>(answer->body.size(), buf_len - head_copy);
  if (body_copy != 0) std::memcpy(buf->data() + head_copy, answer->body.data(), body_copy);
  if (total > buf_len) return code(AbiError::Buffer);
  return status32;
}

}  // namespace

void add_http(engine::Linker& linker) {
  static const std::vector<AirssysFunction> kFunctions = {
      {"http_request", std::vector<ValType>(13, I32), I32, http_request},
  };
  define_airssys_functions(linker, kFunctions);
}

}  // namespace airssys::wasm::host
