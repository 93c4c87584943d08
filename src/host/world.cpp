// The airssys:host world's imports: each WIT function lifts nothing itself
// (the canonical ABI did), calls the function the core ABI calls after
// reading guest memory (airssys_calls.hpp), and turns its answer into the
// WIT result: a value, or the `error` case of the refusal's name.
#include "airssys/wasm/host/world.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include <fmt/format.h>

#include "airssys/wasm/host/http.hpp"
#include "airssys/wasm/cm/typed.hpp"
#include "airssys/wasm/host/kv.hpp"
#include "airssys_calls.hpp"

namespace airssys::wasm::host {
namespace {

using cm::FuncType;
using cm::Kind;
using cm::TypeRef;
using cm::Val;
using Vals = Result<std::vector<Val>>;

// The cases of airssys:host/types.error, in order, by the core ABI's codes.
constexpr std::array<AbiError, 9> kErrorCases = {
    AbiError::Denied,  AbiError::Quota,       AbiError::TooLarge,
    AbiError::NotFound, AbiError::Full,       AbiError::Invalid,
    AbiError::Timeout, AbiError::Unavailable, AbiError::NoRequest};

std::string versioned(std::string_view interface) {
  return fmt::format("{}/{}@{}", kWorldPackage, interface, kWorldVersion);
}

TypeRef t(Kind kind) { return cm::primitive(kind); }
TypeRef bytes_type() { return cm::list_of(t(Kind::U8)); }
TypeRef headers_type() { return cm::list_of(cm::tuple_of({t(Kind::String), t(Kind::String)})); }

TypeRef error_type() {
  std::vector<cm::Case> cases;
  for (AbiError e : kErrorCases) cases.push_back({abi_error_name(e), nullptr});
  return cm::variant_of(std::move(cases));
}

FuncType fn(std::vector<cm::Field> params, TypeRef result) {
  return FuncType{std::move(params), std::move(result)};
}

// ---- values

Vals one(Val v) { return std::vector<Val>{std::move(v)}; }

Val ok(std::vector<Val> payload = {}) { return Val{Kind::Result, 0, {}, std::move(payload)}; }

// The error case of a refusal; a refusal the world has no case for (a
// caller's buffer) is the host's fault, and traps.
Vals refused(AbiError e, std::string_view function) {
  for (size_t i = 0; i < kErrorCases.size(); ++i) {
    if (kErrorCases[i] == e) {
      return one(Val{Kind::Result, 1, {}, {Val{Kind::Variant, i, {}, {}}}});
    }
  }
  return make_error(ErrorCode::InternalError,
                    fmt::format("{}: the refusal {} has no case in the world's error",
                                function, abi_error_name(e)));
}

template <class T, class F>
Vals answer(const Answer<T>& a, std::string_view function, F&& to_val) {
  if (!a) return refused(a.error(), function);
  if constexpr (std::is_void_v<T>) {
    return one(ok());
  } else {
    return one(ok({to_val(*a)}));
  }
}


std::string_view text(const Val& v) { return v.text; }

std::vector<uint8_t> bytes_of(const Val& v) {
  std::vector<uint8_t> out;
  out.reserve(v.items.size());
  for (const auto& b : v.items) out.push_back(static_cast<uint8_t>(b.bits));
  return out;
}

Val bytes_val(std::span<const uint8_t> bytes) {
  Val v{Kind::List, 0, {}, {}};
  v.items.reserve(bytes.size());
  for (uint8_t b : bytes) v.items.push_back(Val::u(Kind::U8, b));
  return v;
}

Val pair(std::string_view a, std::string_view b) {
  return Val{Kind::Tuple, 0, {}, {Val::string(std::string(a)), Val::string(std::string(b))}};
}

// A function body: the checked arguments, and the function's name
// ("airssys:host/kv@0.3.0#get") for the errors that trap.
using Body = std::function<Vals(std::span<const Val> args, const std::string& function)>;

// Defines `name` on the interface instance `inst`. The body may read the
// arguments as the world's type gives them: a component that imports the
// function under its name with another type is refused when it is
// instantiated (cm checks every host function against the import's type),
// and the canonical ABI lifts only well-formed values of that type.
void define(cm::HostInstance& inst, std::string_view iface, std::string_view name, FuncType type,
            Body body) {
  std::string function = fmt::format("{}#{}", iface, name);
  inst.define_func(std::string(name), std::move(type),
                   [function, body = std::move(body)](std::span<const Val> args) -> Vals {
                     return body(args, function);
                   });
}

// ---- typed definitions
//
// The functions messages and state go through are defined with C++ types
// (cm/typed.hpp): their arguments are read straight from the caller's
// memory and their results written straight into it, without cm::Val trees.

using cm::typed::Bytes;
using cm::typed::CaseIndex;
using cm::typed::Outcome;
using cm::typed::Unit;
template <class T>
using Typed = Result<Outcome<T, CaseIndex>>;

// The error case of a refusal (see refused()).
Result<CaseIndex> error_case(AbiError e, std::string_view function) {
  for (size_t i = 0; i < kErrorCases.size(); ++i) {
    if (kErrorCases[i] == e) return CaseIndex{static_cast<uint32_t>(i)};
  }
  return make_error(ErrorCode::InternalError,
                    fmt::format("{}: the refusal {} has no case in the world's error",
                                function, abi_error_name(e)));
}

template <class V, class T, class F>
Typed<V> outcome(const Answer<T>& a, std::string_view function, F&& to_value) {
  if (!a) {
    AIRSSYS_TRY_ASSIGN(CaseIndex e, error_case(a.error(), function));
    return Outcome<V, CaseIndex>::failure(e);
  }
  if constexpr (std::is_void_v<T>) {
    return Outcome<V, CaseIndex>::success(to_value());
  } else {
    return Outcome<V, CaseIndex>::success(to_value(*a));
  }
}

Typed<Unit> outcome(const Answer<void>& a, std::string_view function) {
  return outcome<Unit>(a, function, [] { return Unit{}; });
}

// define_typed, for a body that also gets the function's name. The C++
// types are the WIT type's by construction; were they not, every call of
// the function would trap with the mismatch, which the world's tests call.
template <class R, class... Args, class F>
void define_as(cm::HostInstance& inst, std::string_view iface, std::string_view name,
               FuncType type, F body) {
  std::string function = fmt::format("{}#{}", iface, name);
  auto defined = cm::typed::define_typed<R, Args...>(
      inst, std::string(name), type,
      [function, body = std::move(body)](Args... args) { return body(function, args...); });
  if (!defined) {
    Error error = defined.error();
    inst.define_func(std::string(name), std::move(type),
                     [error](std::span<const Val>) -> Vals { return std::unexpected(error); });
  }
}

// ---- airssys:host/messaging

void add_messaging(cm::HostInstance& imports, ComponentContext& ctx, const TypeRef& error) {
  const std::string iface = versioned("messaging");
  auto& m = imports.define_instance(iface);
  m.define_type("error");
  const TypeRef unit = cm::result_of(nullptr, error);
  // Every call needs the port, as the core ABI's: without one it traps.
  define_as<std::string>(m, iface, "self-id", fn({}, t(Kind::String)),
                         [&ctx](const std::string& f) -> Result<std::string> {
                           AIRSSYS_TRY(messaging_port(&ctx, f));
                           return std::string(ctx.name());
                         });
  define_as<Outcome<Unit, CaseIndex>, std::string_view, Bytes>(
      m, iface, "send", fn({{"target", t(Kind::String)}, {"payload", bytes_type()}}, unit),
      [&ctx](const std::string& f, std::string_view target, Bytes payload) -> Typed<Unit> {
        AIRSSYS_TRY(messaging_port(&ctx, f));
        return outcome(message_send(ctx, target, payload_of(payload)), f);
      });
  define_as<Outcome<uint64_t, CaseIndex>, std::string_view, Bytes, uint32_t>(
      m, iface, "request",
      fn({{"target", t(Kind::String)}, {"payload", bytes_type()}, {"timeout-ms", t(Kind::U32)}},
         cm::result_of(t(Kind::U64), error)),
      [&ctx](const std::string& f, std::string_view target, Bytes payload,
             uint32_t timeout_ms) -> Typed<uint64_t> {
        AIRSSYS_TRY(messaging_port(&ctx, f));
        return outcome<uint64_t>(message_request(ctx, target, payload_of(payload), timeout_ms), f,
                                 [](uint64_t id) { return id; });
      });
  define_as<Outcome<Unit, CaseIndex>, uint64_t, Bytes>(
      m, iface, "reply", fn({{"correlation-id", t(Kind::U64)}, {"payload", bytes_type()}}, unit),
      [&ctx](const std::string& f, uint64_t id, Bytes payload) -> Typed<Unit> {
        AIRSSYS_TRY(messaging_port(&ctx, f));
        // An id past the core ABI's i64 awaits no reply either.
        return outcome(message_reply(ctx, static_cast<int64_t>(id), payload_of(payload)), f);
      });
  define_as<Outcome<uint32_t, CaseIndex>, std::string_view, Bytes>(
      m, iface, "publish",
      fn({{"topic", t(Kind::String)}, {"payload", bytes_type()}},
         cm::result_of(t(Kind::U32), error)),
      [&ctx](const std::string& f, std::string_view topic, Bytes payload) -> Typed<uint32_t> {
        AIRSSYS_TRY(messaging_port(&ctx, f));
        return outcome<uint32_t>(message_publish(ctx, topic, payload_of(payload)), f,
                                 [](uint32_t n) { return n; });
      });
  define_as<Outcome<Unit, CaseIndex>, std::string_view>(
      m, iface, "subscribe", fn({{"filter", t(Kind::String)}}, unit),
      [&ctx](const std::string& f, std::string_view filter) -> Typed<Unit> {
        AIRSSYS_TRY(messaging_port(&ctx, f));
        return outcome(topic_subscribe(ctx, filter), f);
      });
  define_as<Outcome<Unit, CaseIndex>, std::string_view>(
      m, iface, "unsubscribe", fn({{"filter", t(Kind::String)}}, unit),
      [&ctx](const std::string& f, std::string_view filter) -> Typed<Unit> {
        AIRSSYS_TRY(messaging_port(&ctx, f));
        return outcome(topic_unsubscribe(ctx, filter), f);
      });
}

// ---- airssys:host/kv

void add_kv(cm::HostInstance& imports, ComponentContext& ctx, const TypeRef& error) {
  const std::string iface = versioned("kv");
  auto& kv = imports.define_instance(iface);
  kv.define_type("error");
  const TypeRef key = t(Kind::String);
  using Value = std::optional<Bytes>;
  define_as<Outcome<Value, CaseIndex>, std::string_view>(
      kv, iface, "get", fn({{"key", key}}, cm::result_of(cm::option_of(bytes_type()), error)),
      [&ctx](const std::string& f, std::string_view k) -> Typed<Value> {
        // Room for any value, so that one read (one check, one audit record)
        // answers: one buffer per thread, which the result is lowered from
        // before the function returns.
        thread_local std::unique_ptr<uint8_t[]> buffer;
        if (!buffer) buffer.reset(new uint8_t[kMaxKvValueBytes]);
        auto size = kv_read(ctx, k, {buffer.get(), kMaxKvValueBytes});
        return outcome<Value>(size, f, [&](const std::optional<uint64_t>& s) -> Value {
          if (!s) return std::nullopt;
          return Bytes(buffer.get(), *s);
        });
      });
  define_as<Outcome<Unit, CaseIndex>, std::string_view, Bytes>(
      kv, iface, "set", fn({{"key", key}, {"value", bytes_type()}}, cm::result_of(nullptr, error)),
      [&ctx](const std::string& f, std::string_view k, Bytes value) -> Typed<Unit> {
        return outcome(kv_write(ctx, k, value), f);
      });
  define_as<Outcome<bool, CaseIndex>, std::string_view>(
      kv, iface, "delete", fn({{"key", key}}, cm::result_of(t(Kind::Bool), error)),
      [&ctx](const std::string& f, std::string_view k) -> Typed<bool> {
        return outcome<bool>(kv_remove(ctx, k), f, [](bool b) { return b; });
      });
  define_as<Outcome<bool, CaseIndex>, std::string_view>(
      kv, iface, "exists", fn({{"key", key}}, cm::result_of(t(Kind::Bool), error)),
      [&ctx](const std::string& f, std::string_view k) -> Typed<bool> {
        return outcome<bool>(kv_contains(ctx, k), f, [](bool b) { return b; });
      });
  using Keys = std::vector<std::string>;
  define_as<Outcome<Keys, CaseIndex>, std::string_view, std::string_view, uint32_t>(
      kv, iface, "list",
      fn({{"prefix", key}, {"after", key}, {"limit", t(Kind::U32)}},
         cm::result_of(cm::list_of(t(Kind::String)), error)),
      [&ctx](const std::string& f, std::string_view prefix, std::string_view after,
             uint32_t limit) -> Typed<Keys> {
        Keys keys;
        auto listed = kv_keys(ctx, prefix, after, limit, [&](std::string_view k) {
          keys.emplace_back(k);
          return true;
        });
        return outcome<Keys>(listed, f, [&] { return std::move(keys); });
      });
  // usage has no error case: a component without a namespace or a store
  // holds nothing (the core ABI's denied and unavailable are 0 here).
  define_as<uint64_t>(kv, iface, "usage", fn({}, t(Kind::U64)),
                      [&ctx](const std::string&) -> Result<uint64_t> {
                        auto used = kv_used(ctx);
                        return used ? *used : 0;
                      });
}

// ---- airssys:host/http

TypeRef request_type() {
  return cm::record_of({{"method", t(Kind::String)},
                        {"url", t(Kind::String)},
                        {"headers", headers_type()},
                        {"body", bytes_type()},
                        {"timeout-ms", t(Kind::U32)}});
}

TypeRef response_type() {
  return cm::record_of(
      {{"status", t(Kind::U16)}, {"headers", headers_type()}, {"body", bytes_type()}});
}

// The request's (name, value) pairs as the core ABI's header lines, checked
// as those are; none when one is malformed or all are over the maximum.
std::optional<std::vector<std::string>> header_lines(const Val& pairs) {
  std::vector<std::string> lines;
  uint64_t bytes = 0;
  for (const auto& p : pairs.items) {
    const std::string& name = p.items[0].text;
    const std::string& value = p.items[1].text;
    bytes += name.size() + value.size() + 3;  // "name: value\n"
    if (bytes > kMaxHttpRequestHeaderBytes || !is_valid_header(name, value)) return std::nullopt;
    lines.push_back(fmt::format("{}: {}", name, value));
  }
  return lines;
}

// The response's header lines as (name, value) pairs.
Val header_pairs(std::string_view lines) {
  Val out{Kind::List, 0, {}, {}};
  while (!lines.empty()) {
    const size_t nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    lines = nl == std::string_view::npos ? std::string_view() : lines.substr(nl + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    out.items.push_back(pair(line.substr(0, colon), value));
  }
  return out;
}

void add_http(cm::HostInstance& imports, ComponentContext& ctx, const TypeRef& error) {
  const std::string iface = versioned("http");
  auto& http = imports.define_instance(iface);
  http.define_type("error");
  http.define_type("request");
  http.define_type("response");
  define(http, iface, "fetch",
         fn({{"request", request_type()}}, cm::result_of(response_type(), error)),
         [&ctx](std::span<const Val> a, const std::string& f) -> Vals {
           const Val& r = a[0];
           auto headers = header_lines(r.items[2]);
           if (!headers) return refused(AbiError::Invalid, f);
           const auto body = bytes_of(r.items[3]);
           auto fetched = http_fetch(ctx, HttpCall{text(r.items[0]), text(r.items[1]),
                                                   std::move(*headers), body,
                                                   static_cast<uint32_t>(r.items[4].bits),
                                                   kMaxHttpResponseBytes});
           return answer(fetched, f, [](const HttpAnswer& h) {
             return Val{Kind::Record,
                        0,
                        {},
                        {Val::u(Kind::U16, static_cast<uint16_t>(h.status)),
                         header_pairs(h.headers), bytes_val(h.body)}};
           });
         });
}

// ---- airssys:host/logging

void add_logging(cm::HostInstance& imports, ComponentContext& ctx, const TypeRef& error) {
  const std::string iface = versioned("logging");
  auto& logging = imports.define_instance(iface);
  logging.define_type("error");
  logging.define_type("level");
  // The enum's cases are LogLevel's, in order.
  const TypeRef level = cm::enum_of({"trace", "debug", "info", "warn", "error"});
  define_as<Outcome<Unit, CaseIndex>, cm::typed::EnumIndex, std::string_view>(
      logging, iface, "log",
      fn({{"level", level}, {"message", t(Kind::String)}}, cm::result_of(nullptr, error)),
      [&ctx](const std::string& f, cm::typed::EnumIndex level, std::string_view text) -> Typed<Unit> {
        return outcome(log_line(ctx, static_cast<LogLevel>(level.index), text), f);
      });
}

}  // namespace

void add_airssys_world(cm::HostInstance& imports, ComponentContext& context) {
  const TypeRef error = error_type();
  imports.define_instance(versioned("types")).define_type("error");
  add_messaging(imports, context, error);
  add_kv(imports, context, error);
  add_http(imports, context, error);
  add_logging(imports, context, error);
}

}  // namespace airssys::wasm::host
