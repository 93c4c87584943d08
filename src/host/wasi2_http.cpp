// WASI 0.2 wasi:http/types and wasi:http/outgoing-handler: the HTTP client of
// components, sent by the very function the airssys HTTP call uses
// (http_exchange in http.cpp), so a request of a component passes the same
// network.connect grant, host policy, redirect checks, timeouts, size limits
// and network quota, audited the same way. Headers, requests and options
// are values the host holds; a request's body is a buffer its output-stream
// fills, a response's body a buffer its input-stream reads (wasi2.cpp). The
// request goes out once its body is finished (or at once without a body):
// inside `handle`, or inside the future's `get` or `subscribe` when the body
// was finished after `handle`. Its future is then ready.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "airssys/wasm/host/http.hpp"
#include "airssys_calls.hpp"
#include "wasi2_internal.hpp"

namespace airssys::wasm::host::wasi2 {
namespace {

using cm::FuncType;
using cm::Val;

using FieldList = std::vector<std::pair<std::string, std::vector<uint8_t>>>;

// The cases of wasi:http/types error-code, in the order of the variant.
enum HttpCode : uint64_t {
  kDnsError = 1,
  kConnectionRefused = 6,
  kConnectionTimeout = 8,
  kConnectionReadTimeout = 9,
  kTlsProtocolError = 12,
  kTlsCertificateError = 13,
  kRequestDenied = 15,
  kRequestBodySize = 17,
  kRequestMethodInvalid = 18,
  kRequestUriInvalid = 19,
  kRequestHeaderSectionSize = 21,
  kResponseIncomplete = 25,
  kResponseBodySize = 28,
  kResponseTimeout = 33,
  kProtocolError = 35,
  kInternalError = 38,
};

// header-error cases
constexpr uint64_t kInvalidSyntax = 0;
constexpr uint64_t kForbidden = 1;
constexpr uint64_t kImmutable = 2;

constexpr const char* kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                    "CONNECT", "OPTIONS", "TRACE", "PATCH"};
constexpr uint64_t kMethodOther = 9;
constexpr uint64_t kSchemeHttp = 0;
constexpr uint64_t kSchemeHttps = 1;
constexpr uint64_t kSchemeOther = 2;

struct Fields {
  std::shared_ptr<FieldList> list;
  bool immutable = false;
};

struct Timeouts {
  std::optional<uint64_t> connect, first_byte, between_bytes;  // ns
};

struct OutgoingRequest {
  Val method = Val{Kind::Variant, 0, {}, {}};  // get
  std::optional<Val> scheme;
  std::optional<std::string> path;
  std::optional<std::string> authority;
  std::shared_ptr<FieldList> headers;
  std::shared_ptr<BodySink> body;  // once body() gave it
};

// A request handed to `handle`, until its answer is taken.
struct Pending {
  std::string method, url;
  std::vector<std::string> headers;
  std::shared_ptr<BodySink> body;          // none: no body
  std::optional<uint64_t> content_length;  // the length the request's headers declare
  Timeouts timeouts;
  bool done = false;
  std::optional<HttpAnswer> answer;
  Val error;  // an error-code when done without an answer
  bool taken = false;
};

struct OutgoingBody {
  std::shared_ptr<BodySink> sink;
  bool stream_given = false;
};

struct IncomingResponse {
  uint16_t status = 0;
  std::shared_ptr<FieldList> headers;
  std::shared_ptr<const std::vector<uint8_t>> body;
  bool consumed = false;
};

struct IncomingBody {
  std::shared_ptr<const std::vector<uint8_t>> body;
  bool stream_given = false;
};

struct OutgoingResponse {
  uint16_t status = 200;
  std::shared_ptr<FieldList> headers;
  std::shared_ptr<BodySink> body;
};

struct Http {
  explicit Http(std::shared_ptr<State> s) : io(std::move(s)) {}
  std::shared_ptr<State> io;
  const cm::ResourceType* fields = nullptr;
  const cm::ResourceType* request = nullptr;
  const cm::ResourceType* options = nullptr;
  const cm::ResourceType* out_body = nullptr;
  const cm::ResourceType* future_response = nullptr;
  const cm::ResourceType* response = nullptr;
  const cm::ResourceType* in_body = nullptr;
  const cm::ResourceType* future_trailers = nullptr;
  const cm::ResourceType* incoming_request = nullptr;
  const cm::ResourceType* outgoing_response = nullptr;
  const cm::ResourceType* response_outparam = nullptr;
  Table<Fields> field_sets;
  Table<OutgoingRequest> requests;
  Table<Timeouts> option_sets;
  Table<OutgoingBody> out_bodies;
  Table<std::shared_ptr<Pending>> futures;
  Table<IncomingResponse> responses;
  Table<IncomingBody> in_bodies;
  Table<bool> trailers;  // whether its get() was answered
  Table<OutgoingResponse> out_responses;
};

Error trap(std::string message) {
  return Error{ErrorCode::TrapHost, std::move(message), {}, 0};
}
Result<std::vector<Val>> one(Val v) {
  return std::vector<Val>{std::move(v)};
}
FuncType fn(std::vector<cm::Field> params, TypeRef result) {
  return FuncType{std::move(params), std::move(result)};
}
Val variant(uint64_t index, std::vector<Val> payload = {}) {
  return Val{Kind::Variant, index, {}, std::move(payload)};
}
Val code(uint64_t index) {
  return variant(index);
}
Val code(uint64_t index, Val payload) {
  return variant(index, {std::move(payload)});
}
Val unit_ok() {
  return ok();
}
Val unit_err() {
  return Val{Kind::Result, 1, {}, {}};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- types of wasi:http/types (WASI 0.2.0) -----------------------------------------

TypeRef method_type() {
  std::vector<cm::Case> cases;
  for (const char* m :
       {"get", "head", "post", "put", "delete", "connect", "options", "trace", "patch"}) {
    cases.push_back({m, nullptr});
  }
  cases.push_back({"other", t(Kind::String)});
  return cm::variant_of(std::move(cases));
}

TypeRef scheme_type() {
  return cm::variant_of({{"HTTP", nullptr}, {"HTTPS", nullptr}, {"other", t(Kind::String)}});
}

TypeRef error_code_type() {
  const TypeRef ostr = cm::option_of(t(Kind::String));
  const TypeRef ou32 = cm::option_of(t(Kind::U32));
  const TypeRef ou64 = cm::option_of(t(Kind::U64));
  const TypeRef dns = cm::record_of({{"rcode", ostr}, {"info-code", cm::option_of(t(Kind::U16))}});
  const TypeRef tls =
      cm::record_of({{"alert-id", cm::option_of(t(Kind::U8))}, {"alert-message", ostr}});
  const TypeRef field_size = cm::record_of({{"field-name", ostr}, {"field-size", ou32}});
  return cm::variant_of({
      {"DNS-timeout", nullptr},
      {"DNS-error", dns},
      {"destination-not-found", nullptr},
      {"destination-unavailable", nullptr},
      {"destination-IP-prohibited", nullptr},
      {"destination-IP-unroutable", nullptr},
      {"connection-refused", nullptr},
      {"connection-terminated", nullptr},
      {"connection-timeout", nullptr},
      {"connection-read-timeout", nullptr},
      {"connection-write-timeout", nullptr},
      {"connection-limit-reached", nullptr},
      {"TLS-protocol-error", nullptr},
      {"TLS-certificate-error", nullptr},
      {"TLS-alert-received", tls},
      {"HTTP-request-denied", nullptr},
      {"HTTP-request-length-required", nullptr},
      {"HTTP-request-body-size", ou64},
      {"HTTP-request-method-invalid", nullptr},
      {"HTTP-request-URI-invalid", nullptr},
      {"HTTP-request-URI-too-long", nullptr},
      {"HTTP-request-header-section-size", ou32},
      {"HTTP-request-header-size", cm::option_of(field_size)},
      {"HTTP-request-trailer-section-size", ou32},
      {"HTTP-request-trailer-size", field_size},
      {"HTTP-response-incomplete", nullptr},
      {"HTTP-response-header-section-size", ou32},
      {"HTTP-response-header-size", field_size},
      {"HTTP-response-body-size", ou64},
      {"HTTP-response-trailer-section-size", ou32},
      {"HTTP-response-trailer-size", field_size},
      {"HTTP-response-transfer-coding", ostr},
      {"HTTP-response-content-coding", ostr},
      {"HTTP-response-timeout", nullptr},
      {"HTTP-upgrade-failed", nullptr},
      {"HTTP-protocol-error", nullptr},
      {"loop-detected", nullptr},
      {"configuration-error", nullptr},
      {"internal-error", ostr},
  });
}

TypeRef header_error_type() {
  return cm::variant_of(
      {{"invalid-syntax", nullptr}, {"forbidden", nullptr}, {"immutable", nullptr}});
}

TypeRef entries_type() {
  return cm::list_of(cm::tuple_of({t(Kind::String), bytes_type()}));
}

// ---- fields -----------------------------------------------------------------------------

bool is_token(std::string_view name) {
  if (name.empty()) return false;
  return std::ranges::all_of(name, [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
  });
}

bool is_field_value(std::span<const uint8_t> value) {
  return std::ranges::none_of(value,
                              [](uint8_t c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

bool is_content_length(std::string_view name) {
  return lower(name) == "content-length";
}

// None when the field may be set, else the header-error case: the syntax of
// the name and value, then the headers the host writes itself (as the
// airssys HTTP function refuses them: is_valid_header). Content-Length is
// the exception: toolchains set it; the host checks it against the body and
// writes its own.
std::optional<uint64_t> field_refusal(std::string_view name, std::span<const uint8_t> value) {
  if (!is_token(name) || !is_field_value(value)) return kInvalidSyntax;
  if (is_content_length(name)) {
    const bool digits = !value.empty() && value.size() <= 19 &&
                        std::ranges::all_of(value, [](uint8_t c) { return c >= '0' && c <= '9'; });
    return digits ? std::nullopt : std::optional<uint64_t>(kInvalidSyntax);
  }
  const std::string text(value.begin(), value.end());
  if (!is_valid_header(name, text)) return kForbidden;
  return std::nullopt;
}

std::vector<uint8_t> bytes_of(const Val& list) {
  std::vector<uint8_t> out(list.items.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(list.items[i].bits);
  return out;
}

Val entries_val(const FieldList& list) {
  Val out{Kind::List, 0, {}, {}};
  for (const auto& [name, value] : list) {
    out.items.push_back(
        Val{Kind::Tuple, 0, {}, {Val::string(name), bytes_val(value.data(), value.size())}});
  }
  return out;
}

// "Name: value" lines of a response head, each ended by '\n'.
std::shared_ptr<FieldList> parse_head(std::string_view text) {
  auto list = std::make_shared<FieldList>();
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    list->emplace_back(lower(line.substr(0, colon)),
                       std::vector<uint8_t>(value.begin(), value.end()));
  }
  return list;
}

Result<uint32_t> new_fields(Http& h, std::shared_ptr<FieldList> list, bool immutable) {
  return h.field_sets.add({std::move(list), immutable}, "fields");
}

void add_fields(cm::HostInstance& types, const std::shared_ptr<Http>& h) {
  const TypeRef self = cm::borrow_of(h->fields->id);
  const TypeRef own_fields = cm::own_of(h->fields->id);
  const TypeRef header_result = cm::result_of(nullptr, header_error_type());
  auto find = [h](const Val& v) -> Result<Fields*> {
    Fields* f = h->field_sets.find(static_cast<uint32_t>(v.bits));
    if (!f) return std::unexpected(trap("a fields resource the host did not issue"));
    return f;
  };
  auto header_error = [](uint64_t c) { return err(variant(c)); };

  types.define_func("[constructor]fields", fn({}, own_fields),
                    [h](std::span<const Val>) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto rep,
                                         new_fields(*h, std::make_shared<FieldList>(), false));
                      return one(own(rep));
                    });
  types.define_func(
      "[static]fields.from-list",
      fn({{"entries", entries_type()}}, cm::result_of(own_fields, header_error_type())),
      [h, header_error](std::span<const Val> a) -> Result<std::vector<Val>> {
        auto list = std::make_shared<FieldList>();
        for (const Val& entry : a[0].items) {
          auto value = bytes_of(entry.items[1]);
          if (auto refusal = field_refusal(entry.items[0].text, value)) {
            return one(header_error(*refusal));
          }
          list->emplace_back(entry.items[0].text, std::move(value));
        }
        AIRSSYS_TRY_ASSIGN(auto rep, new_fields(*h, std::move(list), false));
        return one(ok({own(rep)}));
      });
  types.define_func("[method]fields.get",
                    fn({{"self", self}, {"name", t(Kind::String)}}, cm::list_of(bytes_type())),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
                      const std::string name = lower(a[1].text);
                      Val out{Kind::List, 0, {}, {}};
                      for (const auto& [n, value] : *f->list) {
                        if (lower(n) == name)
                          out.items.push_back(bytes_val(value.data(), value.size()));
                      }
                      return one(std::move(out));
                    });
  types.define_func("[method]fields.has",
                    fn({{"self", self}, {"name", t(Kind::String)}}, t(Kind::Bool)),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
                      const std::string name = lower(a[1].text);
                      return one(Val::boolean(std::ranges::any_of(
                          *f->list, [&](const auto& e) { return lower(e.first) == name; })));
                    });
  types.define_func(
      "[method]fields.set",
      fn({{"self", self}, {"name", t(Kind::String)}, {"value", cm::list_of(bytes_type())}},
         header_result),
      [find, header_error](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
        if (f->immutable) return one(header_error(kImmutable));
        std::vector<std::vector<uint8_t>> values;
        for (const Val& v : a[2].items) {
          values.push_back(bytes_of(v));
          if (auto refusal = field_refusal(a[1].text, values.back())) {
            return one(header_error(*refusal));
          }
        }
        if (values.empty() && !is_token(a[1].text)) return one(header_error(kInvalidSyntax));
        const std::string name = lower(a[1].text);
        std::erase_if(*f->list, [&](const auto& e) { return lower(e.first) == name; });
        for (auto& v : values) f->list->emplace_back(a[1].text, std::move(v));
        return one(unit_ok());
      });
  types.define_func(
      "[method]fields.delete", fn({{"self", self}, {"name", t(Kind::String)}}, header_result),
      [find, header_error](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
        if (f->immutable) return one(header_error(kImmutable));
        if (!is_token(a[1].text)) return one(header_error(kInvalidSyntax));
        const std::string name = lower(a[1].text);
        std::erase_if(*f->list, [&](const auto& e) { return lower(e.first) == name; });
        return one(unit_ok());
      });
  types.define_func(
      "[method]fields.append",
      fn({{"self", self}, {"name", t(Kind::String)}, {"value", bytes_type()}}, header_result),
      [find, header_error](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
        if (f->immutable) return one(header_error(kImmutable));
        auto value = bytes_of(a[2]);
        if (auto refusal = field_refusal(a[1].text, value)) return one(header_error(*refusal));
        f->list->emplace_back(a[1].text, std::move(value));
        return one(unit_ok());
      });
  types.define_func("[method]fields.entries", fn({{"self", self}}, entries_type()),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
                      return one(entries_val(*f->list));
                    });
  // A clone is mutable, whatever the original is.
  types.define_func("[method]fields.clone", fn({{"self", self}}, own_fields),
                    [h, find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto f, find(a[0]));
                      AIRSSYS_TRY_ASSIGN(
                          auto rep, new_fields(*h, std::make_shared<FieldList>(*f->list), false));
                      return one(own(rep));
                    });
}

// ---- outgoing-request, request-options, outgoing-body -------------------------------------

bool is_authority(std::string_view s) {
  if (s.empty()) return false;
  return std::ranges::none_of(s, [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c >= 0x7f || std::string_view("/?#@\\").find(ch) != std::string_view::npos;
  });
}

bool is_path_with_query(std::string_view s) {
  if (!s.starts_with('/')) return false;
  return std::ranges::none_of(s, [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c >= 0x7f || ch == '#';
  });
}

bool is_method_token(std::string_view m) {
  return !m.empty() && m.size() <= 16 &&
         std::ranges::all_of(m, [](char c) { return c >= 'A' && c <= 'Z'; });
}

void add_outgoing(cm::HostInstance& types, const std::shared_ptr<Http>& h) {
  const TypeRef self = cm::borrow_of(h->request->id);
  const TypeRef unit = cm::result_of(nullptr, nullptr);
  const TypeRef ostr = cm::option_of(t(Kind::String));
  auto find = [h](const Val& v) -> Result<OutgoingRequest*> {
    OutgoingRequest* r = h->requests.find(static_cast<uint32_t>(v.bits));
    if (!r) return std::unexpected(trap("an outgoing-request the host did not issue"));
    return r;
  };

  // The request takes the headers over: the fields handle is the request's now.
  types.define_func("[constructor]outgoing-request",
                    fn({{"headers", cm::own_of(h->fields->id)}}, cm::own_of(h->request->id)),
                    [h](std::span<const Val> a) -> Result<std::vector<Val>> {
                      const auto rep = static_cast<uint32_t>(a[0].bits);
                      Fields* f = h->field_sets.find(rep);
                      if (!f)
                        return std::unexpected(trap("a fields resource the host did not issue"));
                      OutgoingRequest r;
                      r.headers = f->list;
                      h->field_sets.items.erase(rep);
                      AIRSSYS_TRY_ASSIGN(auto id,
                                         h->requests.add(std::move(r), "outgoing-request"));
                      return one(own(id));
                    });
  types.define_func(
      "[method]outgoing-request.body",
      fn({{"self", self}}, cm::result_of(cm::own_of(h->out_body->id), nullptr)),
      [h, find](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
        if (r->body) return one(unit_err());
        r->body = std::make_shared<BodySink>();
        r->body->limit = kMaxHttpRequestBodyBytes;
        AIRSSYS_TRY_ASSIGN(auto id, h->out_bodies.add({r->body, false}, "outgoing-body"));
        return one(ok({own(id)}));
      });
  types.define_func("[method]outgoing-request.method", fn({{"self", self}}, method_type()),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      return one(r->method);
                    });
  types.define_func("[method]outgoing-request.set-method",
                    fn({{"self", self}, {"method", method_type()}}, unit),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      if (a[1].bits == kMethodOther && !is_token(a[1].items[0].text)) {
                        return one(unit_err());
                      }
                      r->method = a[1];
                      return one(unit_ok());
                    });
  // An optional string of the request: its getter, and its setter, which
  // takes only what `valid` accepts.
  auto string_property = [&](const std::string& name,
                             std::optional<std::string> OutgoingRequest::*member,
                             bool (*valid)(std::string_view)) {
    types.define_func("[method]outgoing-request." + name, fn({{"self", self}}, ostr),
                      [find, member](std::span<const Val> a) -> Result<std::vector<Val>> {
                        AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                        const auto& value = r->*member;
                        return one(value ? some(Val::string(*value)) : none());
                      });
    types.define_func("[method]outgoing-request.set-" + name,
                      fn({{"self", self}, {name, ostr}}, unit),
                      [find, member, valid](std::span<const Val> a) -> Result<std::vector<Val>> {
                        AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                        if (a[1].bits == 0) {
                          (r->*member).reset();
                          return one(unit_ok());
                        }
                        if (!valid(a[1].items[0].text)) return one(unit_err());
                        r->*member = a[1].items[0].text;
                        return one(unit_ok());
                      });
  };
  string_property("path-with-query", &OutgoingRequest::path, is_path_with_query);
  types.define_func("[method]outgoing-request.scheme",
                    fn({{"self", self}}, cm::option_of(scheme_type())),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      return one(r->scheme ? some(*r->scheme) : none());
                    });
  // Only http and https are ever sent; another scheme is refused here.
  types.define_func("[method]outgoing-request.set-scheme",
                    fn({{"self", self}, {"scheme", cm::option_of(scheme_type())}}, unit),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      if (a[1].bits == 0) {
                        r->scheme.reset();
                        return one(unit_ok());
                      }
                      const Val& scheme = a[1].items[0];
                      if (scheme.bits == kSchemeOther) {
                        const std::string s = lower(scheme.items[0].text);
                        if (s != "http" && s != "https") return one(unit_err());
                        r->scheme = variant(s == "http" ? kSchemeHttp : kSchemeHttps);
                      } else {
                        r->scheme = scheme;
                      }
                      return one(unit_ok());
                    });
  string_property("authority", &OutgoingRequest::authority, is_authority);
  // The headers of a request are immutable: they are set before it is made.
  types.define_func("[method]outgoing-request.headers",
                    fn({{"self", self}}, cm::own_of(h->fields->id)),
                    [h, find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      AIRSSYS_TRY_ASSIGN(auto rep, new_fields(*h, r->headers, true));
                      return one(own(rep));
                    });

  // request-options: durations in nanoseconds.
  const TypeRef oduration = cm::option_of(t(Kind::U64));
  const TypeRef options_self = cm::borrow_of(h->options->id);
  types.define_func("[constructor]request-options", fn({}, cm::own_of(h->options->id)),
                    [h](std::span<const Val>) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto rep, h->option_sets.add({}, "request-options"));
                      return one(own(rep));
                    });
  using Member = std::optional<uint64_t> Timeouts::*;
  for (auto [name, member] : {std::pair<const char*, Member>{"connect-timeout", &Timeouts::connect},
                              {"first-byte-timeout", &Timeouts::first_byte},
                              {"between-bytes-timeout", &Timeouts::between_bytes}}) {
    auto find_options = [h](const Val& v) -> Result<Timeouts*> {
      Timeouts* o = h->option_sets.find(static_cast<uint32_t>(v.bits));
      if (!o) return std::unexpected(trap("a request-options the host did not issue"));
      return o;
    };
    types.define_func(fmt::format("[method]request-options.{}", name),
                      fn({{"self", options_self}}, oduration),
                      [find_options, member](std::span<const Val> a) -> Result<std::vector<Val>> {
                        AIRSSYS_TRY_ASSIGN(auto o, find_options(a[0]));
                        const auto& v = o->*member;
                        return one(v ? some(u64v(*v)) : none());
                      });
    types.define_func(fmt::format("[method]request-options.set-{}", name),
                      fn({{"self", options_self}, {"duration", oduration}}, unit),
                      [find_options, member](std::span<const Val> a) -> Result<std::vector<Val>> {
                        AIRSSYS_TRY_ASSIGN(auto o, find_options(a[0]));
                        o->*member = a[1].bits == 0 ? std::nullopt
                                                    : std::optional<uint64_t>(a[1].items[0].bits);
                        return one(unit_ok());
                      });
  }

  // outgoing-body: one output-stream, then finish.
  const TypeRef body_self = cm::borrow_of(h->out_body->id);
  types.define_func(
      "[method]outgoing-body.write",
      fn({{"self", body_self}}, cm::result_of(cm::own_of(h->io->output_stream->id), nullptr)),
      [h](std::span<const Val> a) -> Result<std::vector<Val>> {
        OutgoingBody* b = h->out_bodies.find(static_cast<uint32_t>(a[0].bits));
        if (!b) return std::unexpected(trap("an outgoing-body the host did not issue"));
        if (b->stream_given) return one(unit_err());
        OutputStream out;
        out.kind = StreamKind::Body;
        out.body = b->sink;
        AIRSSYS_TRY_ASSIGN(auto rep, h->io->outputs.add(std::move(out), "stream"));
        b->stream_given = true;
        return one(ok({own(rep)}));
      });
  types.define_func("[static]outgoing-body.finish",
                    fn({{"this", cm::own_of(h->out_body->id)},
                        {"trailers", cm::option_of(cm::own_of(h->fields->id))}},
                       cm::result_of(nullptr, error_code_type())),
                    [h](std::span<const Val> a) -> Result<std::vector<Val>> {
                      const auto rep = static_cast<uint32_t>(a[0].bits);
                      OutgoingBody* b = h->out_bodies.find(rep);
                      if (!b)
                        return std::unexpected(trap("an outgoing-body the host did not issue"));
                      auto sink = b->sink;
                      h->out_bodies.items.erase(rep);
                      sink->finished = true;
                      if (a[1].bits == 1) {
                        const auto trailers = static_cast<uint32_t>(a[1].items[0].bits);
                        const Fields* f = h->field_sets.find(trailers);
                        const bool empty = f && f->list->empty();
                        h->field_sets.items.erase(trailers);
                        if (!empty) {
                          // A request goes out with a Content-Length: it has no trailer section.
                          sink->over = true;
                          return one(err(code(kInternalError,
                                              some(Val::string("request trailers are not sent")))));
                        }
                      }
                      if (sink->over) {
                        return one(err(code(kRequestBodySize, some(u64v(sink->bytes.size())))));
                      }
                      return one(unit_ok());
                    });
}

// ---- sending -------------------------------------------------------------------------------

uint32_t to_ms(const std::optional<uint64_t>& ns) {
  if (!ns) return 0;
  const uint64_t ms = (*ns + 999'999) / 1'000'000;
  return static_cast<uint32_t>(std::clamp<uint64_t>(ms, 1, UINT32_MAX));
}

Val error_of(HttpFailure failure, const std::string& text, const Pending& p) {
  const uint64_t body_size = p.body ? p.body->bytes.size() : 0;
  switch (failure) {
    case HttpFailure::Denied:
      return code(kRequestDenied);
    case HttpFailure::Invalid:
      return code(kRequestUriInvalid);
    case HttpFailure::RequestTooLarge:
    case HttpFailure::RequestQuota:
      return code(kRequestBodySize, some(u64v(body_size)));
    case HttpFailure::ResponseTooLarge:
    case HttpFailure::ResponseQuota:
      return code(kResponseBodySize, none());
    case HttpFailure::DnsError:
      return code(kDnsError, Val{Kind::Record, 0, {}, {none(), none()}});
    case HttpFailure::ConnectionRefused:
      return code(kConnectionRefused);
    case HttpFailure::ConnectTimeout:
      return code(kConnectionTimeout);
    case HttpFailure::FirstByteTimeout:
    case HttpFailure::BetweenBytesTimeout:
      return code(kConnectionReadTimeout);
    case HttpFailure::Timeout:
      return code(kResponseTimeout);
    case HttpFailure::TlsCertificate:
      return code(kTlsCertificateError);
    case HttpFailure::TlsError:
      return code(kTlsProtocolError);
    case HttpFailure::Incomplete:
      return code(kResponseIncomplete);
    case HttpFailure::ProtocolError:
      return code(kProtocolError);
    case HttpFailure::Unavailable:
      break;
  }
  return code(kInternalError, some(Val::string(text.empty() ? "the request failed" : text)));
}

// Sends the request once its body is complete; a body dropped unfinished or
// written past its limit ends it with an error instead.
void try_send(State& io, Pending& p) {
  if (p.done || (p.body && !p.body->finished)) return;
  p.done = true;
  const uint64_t body_size = p.body ? p.body->bytes.size() : 0;
  if ((p.body && p.body->over) || (p.content_length && *p.content_length != body_size)) {
    p.error = code(kRequestBodySize, some(u64v(body_size)));
    return;
  }
  const std::vector<uint8_t> empty;
  const std::vector<uint8_t>& body = p.body ? p.body->bytes : empty;
  HttpCall call;
  call.method = p.method;
  call.url = p.url;
  call.headers = p.headers;
  call.body = body;
  call.keep = kMaxHttpResponseBytes;
  call.connect_timeout_ms = to_ms(p.timeouts.connect);
  call.first_byte_timeout_ms = to_ms(p.timeouts.first_byte);
  call.between_bytes_timeout_ms = to_ms(p.timeouts.between_bytes);
  auto answer = http_exchange(io.ctx, std::move(call));
  if (answer) {
    p.answer = std::move(*answer);
  } else {
    p.error = error_of(answer.error().failure, answer.error().text, p);
  }
}

void add_responses(cm::HostInstance& types, const std::shared_ptr<Http>& h) {
  const TypeRef error_code = error_code_type();
  const TypeRef own_pollable = cm::own_of(h->io->pollable->id);
  auto ready_pollable = [h]() -> Result<std::vector<Val>> {
    AIRSSYS_TRY_ASSIGN(auto rep, h->io->pollables.add({0}, "pollable"));
    return one(own(rep));
  };
  auto find_future = [h](const Val& v) -> Result<Pending*> {
    auto* p = h->futures.find(static_cast<uint32_t>(v.bits));
    if (!p) return std::unexpected(trap("a future-incoming-response the host did not issue"));
    return p->get();
  };
  const TypeRef future_self = cm::borrow_of(h->future_response->id);
  // Ready when its request went out; before its body is finished, the
  // pollable is ready and get() answers none, as nothing more can happen.
  types.define_func(
      "[method]future-incoming-response.subscribe", fn({{"self", future_self}}, own_pollable),
      [h, find_future, ready_pollable](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto p, find_future(a[0]));
        try_send(*h->io, *p);
        return ready_pollable();
      });
  types.define_func(
      "[method]future-incoming-response.get",
      fn({{"self", future_self}},
         cm::option_of(
             cm::result_of(cm::result_of(cm::own_of(h->response->id), error_code), nullptr))),
      [h, find_future](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto p, find_future(a[0]));
        try_send(*h->io, *p);
        if (!p->done) return one(none());
        if (p->taken) return one(some(unit_err()));
        p->taken = true;
        if (!p->answer) return one(some(ok({err(std::move(p->error))})));
        IncomingResponse r;
        r.status = static_cast<uint16_t>(p->answer->status);
        r.headers = parse_head(p->answer->headers);
        r.body = std::make_shared<const std::vector<uint8_t>>(std::move(p->answer->body));
        p->answer.reset();
        AIRSSYS_TRY_ASSIGN(auto rep, h->responses.add(std::move(r), "incoming-response"));
        return one(some(ok({ok({own(rep)})})));
      });

  const TypeRef response_self = cm::borrow_of(h->response->id);
  auto find_response = [h](const Val& v) -> Result<IncomingResponse*> {
    auto* r = h->responses.find(static_cast<uint32_t>(v.bits));
    if (!r) return std::unexpected(trap("an incoming-response the host did not issue"));
    return r;
  };
  types.define_func("[method]incoming-response.status", fn({{"self", response_self}}, t(Kind::U16)),
                    [find_response](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find_response(a[0]));
                      return one(Val::u(Kind::U16, r->status));
                    });
  types.define_func("[method]incoming-response.headers",
                    fn({{"self", response_self}}, cm::own_of(h->fields->id)),
                    [h, find_response](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find_response(a[0]));
                      AIRSSYS_TRY_ASSIGN(auto rep, new_fields(*h, r->headers, true));
                      return one(own(rep));
                    });
  types.define_func(
      "[method]incoming-response.consume",
      fn({{"self", response_self}}, cm::result_of(cm::own_of(h->in_body->id), nullptr)),
      [h, find_response](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto r, find_response(a[0]));
        if (r->consumed) return one(unit_err());
        AIRSSYS_TRY_ASSIGN(auto rep, h->in_bodies.add({r->body, false}, "incoming-body"));
        r->consumed = true;
        return one(ok({own(rep)}));
      });

  const TypeRef in_body_self = cm::borrow_of(h->in_body->id);
  types.define_func(
      "[method]incoming-body.stream",
      fn({{"self", in_body_self}}, cm::result_of(cm::own_of(h->io->input_stream->id), nullptr)),
      [h](std::span<const Val> a) -> Result<std::vector<Val>> {
        IncomingBody* b = h->in_bodies.find(static_cast<uint32_t>(a[0].bits));
        if (!b) return std::unexpected(trap("an incoming-body the host did not issue"));
        if (b->stream_given) return one(unit_err());
        InputStream in;
        in.kind = StreamKind::Body;
        in.body = b->body;
        AIRSSYS_TRY_ASSIGN(auto rep, h->io->inputs.add(std::move(in), "stream"));
        b->stream_given = true;
        return one(ok({own(rep)}));
      });
  types.define_func("[static]incoming-body.finish",
                    fn({{"this", cm::own_of(h->in_body->id)}}, cm::own_of(h->future_trailers->id)),
                    [h](std::span<const Val> a) -> Result<std::vector<Val>> {
                      const auto rep = static_cast<uint32_t>(a[0].bits);
                      if (!h->in_bodies.find(rep)) {
                        return std::unexpected(trap("an incoming-body the host did not issue"));
                      }
                      h->in_bodies.items.erase(rep);
                      AIRSSYS_TRY_ASSIGN(auto id, h->trailers.add(false, "future-trailers"));
                      return one(own(id));
                    });
  // The host reads no trailers: the future answers "none" at once.
  const TypeRef trailers_self = cm::borrow_of(h->future_trailers->id);
  types.define_func("[method]future-trailers.subscribe",
                    fn({{"self", trailers_self}}, own_pollable),
                    [h, ready_pollable](std::span<const Val> a) -> Result<std::vector<Val>> {
                      if (!h->trailers.find(static_cast<uint32_t>(a[0].bits))) {
                        return std::unexpected(trap("a future-trailers the host did not issue"));
                      }
                      return ready_pollable();
                    });
  types.define_func(
      "[method]future-trailers.get",
      fn({{"self", trailers_self}},
         cm::option_of(cm::result_of(
             cm::result_of(cm::option_of(cm::own_of(h->fields->id)), error_code), nullptr))),
      [h](std::span<const Val> a) -> Result<std::vector<Val>> {
        bool* answered = h->trailers.find(static_cast<uint32_t>(a[0].bits));
        if (!answered) return std::unexpected(trap("a future-trailers the host did not issue"));
        if (*answered) return one(some(unit_err()));
        *answered = true;
        return one(some(ok({ok({none()})})));
      });
  // No stream error of the host carries an HTTP error code.
  types.define_func("http-error-code",
                    fn({{"err", cm::borrow_of(h->io->error->id)}}, cm::option_of(error_code)),
                    [h](std::span<const Val> a) -> Result<std::vector<Val>> {
                      if (!h->io->errors.find(static_cast<uint32_t>(a[0].bits))) {
                        return std::unexpected(trap("an error the host did not issue"));
                      }
                      return one(none());
                    });
}

// The server side: the host serves no wasi:http/incoming-handler, so it never
// issues an incoming-request or a response-outparam, and every call on one is
// a call on a handle the host did not issue. A component may still build an
// outgoing-response (toolchains that bind both sides import these functions);
// nothing sends one.
void add_server_side(cm::HostInstance& types, const std::shared_ptr<Http>& h) {
  const TypeRef request_self = cm::borrow_of(h->incoming_request->id);
  auto not_issued = [](std::span<const Val>) -> Result<std::vector<Val>> {
    return std::unexpected(
        trap("an incoming-request the host did not issue (it serves no "
             "wasi:http/incoming-handler)"));
  };
  const TypeRef ostr = cm::option_of(t(Kind::String));
  types.define_func("[method]incoming-request.method", fn({{"self", request_self}}, method_type()),
                    not_issued);
  types.define_func("[method]incoming-request.path-with-query", fn({{"self", request_self}}, ostr),
                    not_issued);
  types.define_func("[method]incoming-request.scheme",
                    fn({{"self", request_self}}, cm::option_of(scheme_type())), not_issued);
  types.define_func("[method]incoming-request.authority", fn({{"self", request_self}}, ostr),
                    not_issued);
  types.define_func("[method]incoming-request.headers",
                    fn({{"self", request_self}}, cm::own_of(h->fields->id)), not_issued);
  types.define_func(
      "[method]incoming-request.consume",
      fn({{"self", request_self}}, cm::result_of(cm::own_of(h->in_body->id), nullptr)), not_issued);
  types.define_func(
      "[static]response-outparam.set",
      fn({{"param", cm::own_of(h->response_outparam->id)},
          {"response", cm::result_of(cm::own_of(h->outgoing_response->id), error_code_type())}},
         nullptr),
      [](std::span<const Val>) -> Result<std::vector<Val>> {
        return std::unexpected(
            trap("a response-outparam the host did not issue (it serves no "
                 "wasi:http/incoming-handler)"));
      });

  const TypeRef self = cm::borrow_of(h->outgoing_response->id);
  auto find = [h](const Val& v) -> Result<OutgoingResponse*> {
    OutgoingResponse* r = h->out_responses.find(static_cast<uint32_t>(v.bits));
    if (!r) return std::unexpected(trap("an outgoing-response the host did not issue"));
    return r;
  };
  types.define_func(
      "[constructor]outgoing-response",
      fn({{"headers", cm::own_of(h->fields->id)}}, cm::own_of(h->outgoing_response->id)),
      [h](std::span<const Val> a) -> Result<std::vector<Val>> {
        const auto rep = static_cast<uint32_t>(a[0].bits);
        Fields* f = h->field_sets.find(rep);
        if (!f) return std::unexpected(trap("a fields resource the host did not issue"));
        OutgoingResponse r;
        r.headers = f->list;
        h->field_sets.items.erase(rep);
        AIRSSYS_TRY_ASSIGN(auto id, h->out_responses.add(std::move(r), "outgoing-response"));
        return one(own(id));
      });
  types.define_func("[method]outgoing-response.status-code", fn({{"self", self}}, t(Kind::U16)),
                    [find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      return one(Val::u(Kind::U16, r->status));
                    });
  types.define_func(
      "[method]outgoing-response.set-status-code",
      fn({{"self", self}, {"status-code", t(Kind::U16)}}, cm::result_of(nullptr, nullptr)),
      [find](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
        if (a[1].bits < 100 || a[1].bits > 999) return one(unit_err());
        r->status = static_cast<uint16_t>(a[1].bits);
        return one(unit_ok());
      });
  types.define_func("[method]outgoing-response.headers",
                    fn({{"self", self}}, cm::own_of(h->fields->id)),
                    [h, find](std::span<const Val> a) -> Result<std::vector<Val>> {
                      AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
                      AIRSSYS_TRY_ASSIGN(auto rep, new_fields(*h, r->headers, true));
                      return one(own(rep));
                    });
  types.define_func(
      "[method]outgoing-response.body",
      fn({{"self", self}}, cm::result_of(cm::own_of(h->out_body->id), nullptr)),
      [h, find](std::span<const Val> a) -> Result<std::vector<Val>> {
        AIRSSYS_TRY_ASSIGN(auto r, find(a[0]));
        if (r->body) return one(unit_err());
        r->body = std::make_shared<BodySink>();
        r->body->limit = kMaxHttpRequestBodyBytes;
        AIRSSYS_TRY_ASSIGN(auto id, h->out_bodies.add({r->body, false}, "outgoing-body"));
        return one(ok({own(id)}));
      });
}

// The request as http_exchange takes it, or the error-code that refuses it.
std::optional<Val> prepare(const OutgoingRequest& r, Pending& p) {
  const Val& m = r.method;
  p.method = m.bits == kMethodOther ? m.items[0].text : kMethods[m.bits];
  if (!is_method_token(p.method)) return code(kRequestMethodInvalid);
  if (!r.authority) return code(kRequestUriInvalid);
  const bool http = r.scheme && r.scheme->bits == kSchemeHttp;
  p.url = fmt::format("{}://{}{}", http ? "http" : "https", *r.authority, r.path.value_or("/"));
  if (p.url.size() > kMaxHttpUrlBytes) return code(kRequestUriInvalid);
  uint64_t section = 0;
  for (const auto& [name, value] : *r.headers) {
    if (is_content_length(name)) {
      const uint64_t declared = std::stoull(std::string(value.begin(), value.end()));
      // Two that disagree match no body.
      p.content_length = p.content_length && *p.content_length != declared ? UINT64_MAX : declared;
      continue;
    }
    p.headers.push_back(fmt::format("{}: {}", name, std::string(value.begin(), value.end())));
    section += p.headers.back().size() + 2;
  }
  if (section > kMaxHttpRequestHeaderBytes) {
    return code(kRequestHeaderSectionSize, some(u32v(kMaxHttpRequestHeaderBytes)));
  }
  p.body = r.body;
  return std::nullopt;
}

void add_handler(cm::HostInstance& imports, const std::shared_ptr<Http>& h) {
  auto& handler = imports.define_instance(versioned("wasi:http/outgoing-handler"));
  handler.define_type("outgoing-request", h->request);
  handler.define_type("request-options", h->options);
  handler.define_type("future-incoming-response", h->future_response);
  handler.define_type("error-code");
  handler.define_func(
      "handle",
      fn({{"request", cm::own_of(h->request->id)},
          {"options", cm::option_of(cm::own_of(h->options->id))}},
         cm::result_of(cm::own_of(h->future_response->id), error_code_type())),
      [h](std::span<const Val> a) -> Result<std::vector<Val>> {
        const auto request_rep = static_cast<uint32_t>(a[0].bits);
        OutgoingRequest* r = h->requests.find(request_rep);
        if (!r) return std::unexpected(trap("an outgoing-request the host did not issue"));
        auto p = std::make_shared<Pending>();
        if (a[1].bits == 1) {
          const auto options_rep = static_cast<uint32_t>(a[1].items[0].bits);
          const Timeouts* o = h->option_sets.find(options_rep);
          if (!o) return std::unexpected(trap("a request-options the host did not issue"));
          p->timeouts = *o;
          h->option_sets.items.erase(options_rep);
        }
        auto refused = prepare(*r, *p);
        h->requests.items.erase(request_rep);
        if (refused) return one(err(std::move(*refused)));
        try_send(*h->io, *p);
        AIRSSYS_TRY_ASSIGN(auto rep, h->futures.add(std::move(p), "future-incoming-response"));
        return one(ok({own(rep)}));
      });
}

}  // namespace

void add_http(cm::HostInstance& imports, const std::shared_ptr<State>& state) {
  auto h = std::make_shared<Http>(state);
  auto& types = imports.define_instance(versioned("wasi:http/types"));
  // Each destructor forgets the resource; the tables live as long as any of them.
  auto forget = [h](auto member) {
    return [h, member](uint32_t rep) -> Result<void> {
      ((*h).*member).items.erase(rep);
      return {};
    };
  };
  h->fields = &types.define_resource("fields", forget(&Http::field_sets));
  h->request = &types.define_resource("outgoing-request", forget(&Http::requests));
  h->options = &types.define_resource("request-options", forget(&Http::option_sets));
  // An outgoing-body dropped without finish: its request is not sent.
  h->out_body = &types.define_resource("outgoing-body", [h](uint32_t rep) -> Result<void> {
    if (OutgoingBody* b = h->out_bodies.find(rep)) {
      b->sink->over = true;
      b->sink->finished = true;
    }
    h->out_bodies.items.erase(rep);
    return {};
  });
  h->future_response = &types.define_resource("future-incoming-response", forget(&Http::futures));
  h->response = &types.define_resource("incoming-response", forget(&Http::responses));
  h->in_body = &types.define_resource("incoming-body", forget(&Http::in_bodies));
  h->future_trailers = &types.define_resource("future-trailers", forget(&Http::trailers));
  h->incoming_request = &types.define_resource("incoming-request");
  h->outgoing_response = &types.define_resource("outgoing-response", forget(&Http::out_responses));
  h->response_outparam = &types.define_resource("response-outparam");
  types.define_type("headers", h->fields);
  types.define_type("trailers", h->fields);
  types.define_type("input-stream", state->input_stream);
  types.define_type("output-stream", state->output_stream);
  types.define_type("io-error", state->error);
  types.define_type("pollable", state->pollable);
  for (const char* name : {"duration", "method", "scheme", "error-code", "DNS-error-payload",
                           "TLS-alert-received-payload", "field-size-payload", "header-error",
                           "field-name", "field-key", "field-value", "status-code"}) {
    types.define_type(name);
  }
  add_fields(types, h);
  add_outgoing(types, h);
  add_responses(types, h);
  add_server_side(types, h);
  add_handler(imports, h);
}

}  // namespace airssys::wasm::host::wasi2
