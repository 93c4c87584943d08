#pragma once
// The outbound HTTP part of the `airssys` host module (libcurl).
//
// airssys.http_request sends one request for the component and waits for the
// answer. Only http:// and https:// URLs; the URL's `host:port` (as written,
// with the scheme's default port when none is given) is checked against the
// component's network.connect grants, audited, before anything connects, and
// so is every redirect target, which the host follows itself (at most
// kMaxHttpRedirects). The connection is pinned to what was checked: a socket
// is opened only to the checked port and, for an IP literal, only to that
// address. No proxy, no cookies, no protocol but HTTP(S). Request and
// response bytes count against the component's network bandwidth quota per
// 1-second window. See docs/abi.md and docs/design.md.
//
// Every refusal is a negative AbiError; nothing traps the guest.

#include <cstdint>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::host {

inline constexpr uint32_t kMaxHttpUrlBytes = 8 * 1024;
inline constexpr uint32_t kMaxHttpRequestHeaderBytes = 64 * 1024;
inline constexpr uint64_t kMaxHttpRequestBodyBytes = 8 * MiB;
inline constexpr uint64_t kMaxHttpResponseBytes = 16 * MiB;  // headers + body
inline constexpr uint32_t kMaxHttpRedirects = 5;
inline constexpr uint32_t kDefaultHttpTimeoutMs = 30'000;  // timeout_ms 0
inline constexpr uint32_t kMaxHttpTimeoutMs = 60'000;      // longer ones are cut to this
inline constexpr uint32_t kHttpConnectTimeoutMs = 10'000;  // at most, per connection

// flags of http_request
inline constexpr uint32_t kHttpWantHeaders = 1;  // write the response headers before the body

// Defines airssys.http_request. The instance's user data must be a
// host::ComponentContext.
void add_http(engine::Linker& linker);

}  // namespace airssys::wasm::host
