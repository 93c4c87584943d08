#pragma once
// The host functions of the airssys interface once the guest's arguments are
// read: what both ABIs call, the core ABI (the `airssys` module, docs/abi.md)
// after reading its pointers and lengths, and the airssys:host world of
// components (world.cpp) after the canonical ABI lifted its values. Each
// makes every check (grants, host policy, quotas, payload limits), writes
// every audit record and answers every refusal the same way for both; only
// the way the answer reaches the guest differs.

#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"

namespace airssys::wasm::host {

// A value, or the refusal the guest sees (never AbiError::Ok).
template <class T>
using Answer = std::expected<T, AbiError>;

// ---- messaging (messaging.cpp)

// A payload the guest passes: its length, and its bytes unless the range is
// outside the guest's memory (the core ABI's pointers; a payload over the
// maximum is refused before its range is looked at).
struct Payload {
  uint64_t size = 0;
  std::optional<std::span<const uint8_t>> bytes;
};
[[nodiscard]] inline Payload payload_of(std::span<const uint8_t> bytes) {
  return Payload{bytes.size(), bytes};
}

// The component's messaging port; a call without a context or a port traps
// (fails closed): `function` names the call in the error.
[[nodiscard]] Result<MessagingPort*> messaging_port(const ComponentContext* ctx,
                                                    std::string_view function);
// The callers check messaging_port() first.
[[nodiscard]] Answer<void> message_send(ComponentContext& ctx, std::string_view target,
                                        const Payload& payload);
// The correlation id (> 0, as the port gives it).
[[nodiscard]] Answer<uint64_t> message_request(ComponentContext& ctx, std::string_view target,
                                               const Payload& payload, uint32_t timeout_ms);
// A correlation id <= 0 awaits no reply.
[[nodiscard]] Answer<void> message_reply(ComponentContext& ctx, int64_t correlation,
                                         const Payload& payload);
// The number of subscribers reached.
[[nodiscard]] Answer<uint32_t> message_publish(ComponentContext& ctx, std::string_view topic,
                                               const Payload& payload);
[[nodiscard]] Answer<void> topic_subscribe(ComponentContext& ctx, std::string_view filter);
[[nodiscard]] Answer<void> topic_unsubscribe(ComponentContext& ctx, std::string_view filter);

// ---- key-value state (kv.cpp)

// The value's size, none when the key is absent; the value is copied into
// `out` when it fits (an empty `out` asks for the size alone).
[[nodiscard]] Answer<std::optional<uint64_t>> kv_read(ComponentContext& ctx, std::string_view key,
                                                      std::span<uint8_t> out);
[[nodiscard]] Answer<void> kv_write(ComponentContext& ctx, std::string_view key,
                                    std::span<const uint8_t> value);
// Whether the key existed (and is now removed).
[[nodiscard]] Answer<bool> kv_remove(ComponentContext& ctx, std::string_view key);
[[nodiscard]] Answer<bool> kv_contains(ComponentContext& ctx, std::string_view key);
// Hands `take` the keys that start with `prefix` and sort after `after`, in
// order, at most `limit` (and kMaxKvListKeys) of them, until it returns false.
[[nodiscard]] Answer<void> kv_keys(ComponentContext& ctx, std::string_view prefix,
                                   std::string_view after, uint32_t limit,
                                   const std::function<bool(std::string_view key)>& take);
[[nodiscard]] Answer<uint64_t> kv_used(ComponentContext& ctx);

// ---- outbound HTTP (http.cpp)

// One header as the guest gave it: a token name, a value without control
// characters but tab, and none of the headers the host writes itself (Host,
// Content-Length, Transfer-Encoding).
[[nodiscard]] bool is_valid_header(std::string_view name, std::string_view value);

// What ended a refused or failed http_fetch, finer than its AbiError (the
// WASI 0.2 error-code of wasi:http tells these apart).
enum class HttpFailure : uint8_t {
  Invalid,             // the method, URL or headers (Invalid)
  Denied,              // a grant, the host policy, a redirect, the pinning (Denied)
  RequestTooLarge,     // a body over kMaxHttpRequestBodyBytes (TooLarge)
  RequestQuota,        // the request's bytes over the network quota (Quota)
  ResponseTooLarge,    // a response over kMaxHttpResponseBytes (TooLarge)
  ResponseQuota,       // the response's bytes over the network quota (Quota)
  DnsError,            // the name did not resolve (Unavailable)
  ConnectionRefused,   // (Unavailable)
  ConnectTimeout,      // no connection within the connect timeout (Timeout)
  FirstByteTimeout,    // no response byte within first_byte_timeout_ms (Timeout)
  BetweenBytesTimeout, // a pause over between_bytes_timeout_ms (Timeout)
  Timeout,             // the whole call over timeout_ms (Timeout)
  TlsCertificate,      // (Unavailable)
  TlsError,            // (Unavailable)
  Incomplete,          // the connection ended before the response did (Unavailable)
  ProtocolError,       // not an HTTP response (Unavailable)
  Unavailable,         // anything else (Unavailable)
};

struct HttpCall {
  std::string_view method;
  std::string_view url;
  std::vector<std::string> headers;  // "Name: value", each is_valid_header
  std::span<const uint8_t> body;
  uint32_t timeout_ms = 0;  // 0: the default
  uint64_t keep = 0;        // body bytes to keep in HttpAnswer::body
  // At most kHttpConnectTimeoutMs per connection; 0: that.
  uint32_t connect_timeout_ms = 0;
  // 0: none. Checked while the transfer waits, about once a second at least.
  uint32_t first_byte_timeout_ms = 0;     // from the request to the response's first byte
  uint32_t between_bytes_timeout_ms = 0;  // the longest pause between response bytes
};

struct HttpAnswer {
  int32_t status = 0;
  std::string headers;        // the final response's header lines, each ended by '\n'
  std::vector<uint8_t> body;  // its first `keep` bytes
  uint64_t body_total = 0;    // the body's whole length
};

// A refusal of http_exchange: what the guest of the airssys function sees,
// what ended the call, and the transfer's error text (may be empty).
struct HttpRefusal {
  AbiError error = AbiError::Unavailable;
  HttpFailure failure = HttpFailure::Unavailable;
  std::string text;
};

// Sends the request, following redirects, under network.connect and the
// network quota; a refusal says what ended it.
[[nodiscard]] std::expected<HttpAnswer, HttpRefusal> http_exchange(ComponentContext& ctx,
                                                                   HttpCall call);
// The same, answered as the airssys function answers.
[[nodiscard]] Answer<HttpAnswer> http_fetch(ComponentContext& ctx, HttpCall call);

// ---- logging (log.cpp)

// One line in the component's log (its stderr without a log); `quota` when
// the rate limit drops it.
[[nodiscard]] Answer<void> log_line(ComponentContext& ctx, LogLevel level, std::string_view text);

}  // namespace airssys::wasm::host
