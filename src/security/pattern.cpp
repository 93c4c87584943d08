// Capability patterns: the matchers of the five kinds and the rules of their
// text. Longer than 900 lines because it is the one grammar of patterns: the
// rules a person's pattern must keep (pattern_violations) and the matchers
// that must enforce whatever those rules accept are read and changed together.
#include "airssys/wasm/security/pattern.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <netinet/in.h>

#include <algorithm>
#include <bitset>
#include <cstring>
#include <iterator>
#include <limits>

#include "message_text.hpp"

namespace airssys::wasm::security {
namespace {

constexpr size_t npos = std::string_view::npos;
// A pattern is text a person wrote; anything longer is a mistake, and a bound
// keeps brace expansion and error messages small.
constexpr size_t kMaxPatternLength = 4096;
constexpr size_t kNameMax = 255;  // longest file name on Linux file systems
constexpr size_t kMaxHostLength = 253;
constexpr size_t kMaxLabelLength = 63;

// The reason a pattern is refused, for a person.
template <class T>
using Checked = std::expected<T, std::string>;

std::unexpected<Error> refuse(PatternKind kind, std::string_view text, std::string_view rule) {
  return make_error(
      ErrorCode::InvalidArgument,
      fmt::format("invalid {} pattern \"{}\": {}", pattern_kind_name(kind), detail::escape_text(text), rule));
}

// Checks what every pattern kind refuses; the rule, if any.
std::optional<std::string_view> common_refusal(std::string_view text) {
  if (text.empty()) return "the pattern is empty";
  if (text.size() > kMaxPatternLength) return "the pattern is longer than 4096 bytes";
  if (text.find('\0') != npos) return "the pattern contains a NUL byte";
  return std::nullopt;
}

bool is_printable_ascii(char c) {
  return c > 0x20 && c < 0x7f;
}

using detail::is_digit;

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != lower[i]) return false;
  }
  return true;
}

// ---- Filesystem ------------------------------------------------------------

// The ']' closing the class opened at `open`, or npos (also when a '/' comes
// first: a class never spans segments).
size_t class_end(std::string_view s, size_t open) {
  size_t i = open + 1;
  if (i < s.size() && (s[i] == '!' || s[i] == '^')) ++i;
  if (i < s.size() && s[i] == ']') ++i;
  for (; i < s.size(); ++i) {
    if (s[i] == ']') return i;
    if (s[i] == '/') return npos;
  }
  return npos;
}

constexpr std::string_view kUnclosedClass = "'[' without a closing ']' in the same segment";

Checked<void> expand_braces(const std::string& text, std::vector<std::string>& out) {
  size_t open = npos;
  for (size_t i = 0; i < text.size() && open == npos; ++i) {
    switch (text[i]) {
      case '[':
        i = class_end(text, i);
        if (i == npos) return std::unexpected(std::string(kUnclosedClass));
        break;
      case '}':
        return std::unexpected("'}' without '{'");
      case '{':
        open = i;
        break;
      default:
        break;
    }
  }
  if (open == npos) {
    if (out.size() == PathPattern::kMaxAlternatives) {
      return std::unexpected(
          fmt::format("'{{...}}' expands to more than {} paths", PathPattern::kMaxAlternatives));
    }
    out.push_back(text);
    return {};
  }
  std::vector<size_t> bounds{open};  // the '{', each top-level ',', the '}'
  size_t depth = 0;
  for (size_t i = open + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '[') {
      i = class_end(text, i);
      if (i == npos) return std::unexpected(std::string(kUnclosedClass));
    } else if (c == '{') {
      ++depth;
    } else if (c == '}' && depth > 0) {
      --depth;
    } else if (c == '}') {
      bounds.push_back(i);
      break;
    } else if (c == ',' && depth == 0) {
      bounds.push_back(i);
    }
  }
  if (bounds.size() == 1 || text[bounds.back()] != '}') {
    return std::unexpected("'{' without '}'");
  }
  if (bounds.size() == 2) {
    return std::unexpected("a '{...}' group needs alternatives separated by ','");
  }
  const std::string_view whole(text);
  const std::string_view prefix = whole.substr(0, open);
  const std::string_view suffix = whole.substr(bounds.back() + 1);
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    const std::string_view alternative = whole.substr(bounds[k] + 1, bounds[k + 1] - bounds[k] - 1);
    std::string expanded;
    expanded.reserve(prefix.size() + alternative.size() + suffix.size());
    expanded.append(prefix).append(alternative).append(suffix);
    if (auto r = expand_braces(expanded, out); !r) return r;
  }
  return {};
}

// A class as fnmatch(3) reads it in every locale: members listed one by one,
// no ranges (their meaning follows LC_COLLATE), ']' first, '-' last or first,
// '[' never followed by ':', '=' or '.', and '!' or '^' first only to negate.
std::string canonical_class(const std::bitset<128>& members, bool negate) {
  std::string out = negate ? "[!" : "[";
  const size_t body = out.size();
  if (members[']']) out += ']';
  for (int c = 0x20; c < 0x7f; ++c) {
    if (members[c] && std::string_view("]-[!^").find(static_cast<char>(c)) == npos) {
      out += static_cast<char>(c);
    }
  }
  if (members['[']) out += '[';
  // A non-negated class always holds the character that opened it, which is
  // not '!' or '^'; when nothing else went first, that character is '-'.
  const bool dash_first = out.size() == body && members['-'];
  if (dash_first) out += '-';
  if (members['!']) out += '!';
  if (members['^']) out += '^';
  if (members['-'] && !dash_first) out += '-';
  out += ']';
  return out;
}

Checked<std::string> canonical_glob(std::string_view segment) {
  std::string out;
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '[') {
      out += segment[i];
      continue;
    }
    const size_t end = class_end(segment, i);
    if (end == npos) return std::unexpected(std::string(kUnclosedClass));
    size_t j = i + 1;
    const bool negate = segment[j] == '!' || segment[j] == '^';
    if (negate) ++j;
    std::bitset<128> members;
    while (j < end) {
      const char c = segment[j];
      if (!is_printable_ascii(c) && c != ' ') {
        return std::unexpected("a class may contain only printable ASCII characters");
      }
      if (c == '[' && j + 1 < end && std::string_view(":=.").find(segment[j + 1]) != npos) {
        return std::unexpected("POSIX classes such as [:alpha:] are not supported");
      }
      if (j + 2 < end && segment[j + 1] == '-') {
        const char hi = segment[j + 2];
        if (!is_printable_ascii(hi) && hi != ' ') {
          return std::unexpected("a class may contain only printable ASCII characters");
        }
        if (hi < c) {
          return std::unexpected(fmt::format("the range {}-{} is reversed", c, hi));
        }
        for (int m = c; m <= hi; ++m) members.set(static_cast<size_t>(m));
        j += 3;
      } else {
        members.set(static_cast<size_t>(c));
        ++j;
      }
    }
    out += canonical_class(members, negate);
    i = end;
  }
  return out;
}

bool glob_segment_matches(const std::string& glob, std::string_view segment) noexcept {
  if (segment.size() > kNameMax) return false;
  char buffer[kNameMax + 1];
  std::memcpy(buffer, segment.data(), segment.size());
  buffer[segment.size()] = '\0';
  return fnmatch(glob.c_str(), buffer, FNM_PATHNAME | FNM_NOESCAPE) == 0;
}

}  // namespace

std::expected<PathPattern::Alternative, std::string> PathPattern::compile_alternative(
    std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return std::unexpected("a path pattern is absolute: it starts with '/'");
  }
  std::vector<Segment> segments;
  if (path.size() > 1 && path.back() == '/') {
    return std::unexpected("a path pattern does not end with '/' (use /dir/** for a tree)");
  }
  size_t pos = 1;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == npos) end = path.size();
    const std::string_view segment = path.substr(pos, end - pos);
    pos = end + 1;
    if (segment.empty()) return std::unexpected("empty segment ('//')");
    if (segment == "." || segment == "..") {
      return std::unexpected("'.' and '..' segments are not allowed");
    }
    if (segment == "**") {
      if (segments.empty() || segments.back().kind != SegmentKind::AnyDirs) {
        segments.push_back({SegmentKind::AnyDirs, {}});
      }
      continue;
    }
    if (segment.find("**") != npos) return std::unexpected("'**' must be a whole segment");
    if (segment.find_first_of("*?[") == npos) {
      segments.push_back({SegmentKind::Literal, std::string(segment)});
      continue;
    }
    // The common shapes skip fnmatch; their meaning is the same.
    const size_t star = segment.find('*');
    if (segment.find_first_of("?[") == npos && segment.find('*', star + 1) == npos) {
      if (segment.size() == 1) {
        segments.push_back({SegmentKind::Any, {}});
      } else if (star == 0) {
        segments.push_back({SegmentKind::Suffix, std::string(segment.substr(1))});
      } else if (star + 1 == segment.size()) {
        segments.push_back({SegmentKind::Prefix, std::string(segment.substr(0, star))});
      } else {
        segments.push_back({SegmentKind::Glob, std::string(segment)});
      }
      continue;
    }
    AIRSSYS_TRY_ASSIGN(auto glob, canonical_glob(segment));
    segments.push_back({SegmentKind::Glob, std::move(glob)});
  }
  Alternative alternative;
  size_t literal_count = 0;
  while (literal_count < segments.size() && segments[literal_count].kind == SegmentKind::Literal) {
    ++literal_count;
  }
  alternative.literal = "/";
  for (size_t i = 0; i < literal_count; ++i) {
    alternative.literal += segments[i].text;
    if (i + 1 < segments.size()) alternative.literal += '/';
  }
  alternative.rest.assign(std::make_move_iterator(segments.begin() + literal_count),
                          std::make_move_iterator(segments.end()));
  const std::string& literal = alternative.literal;
  if (literal.size() >= 8) {
    std::memcpy(&alternative.head, literal.data(), 8);
    std::memcpy(&alternative.tail, literal.data() + literal.size() - 8, 8);
  }
  return alternative;
}

bool PathPattern::segment_matches(const Segment& pattern, std::string_view segment) noexcept {
  if (pattern.kind == SegmentKind::Literal) return pattern.text == segment;
  if (segment.size() > kNameMax) return false;
  switch (pattern.kind) {
    case SegmentKind::Any:
      return true;
    case SegmentKind::Prefix:
      return segment.starts_with(pattern.text);
    case SegmentKind::Suffix:
      return segment.ends_with(pattern.text);
    case SegmentKind::Glob:
      return glob_segment_matches(pattern.text, segment);
    default:
      return false;
  }
}

namespace {

bool is_normal_segment(const char* segment, size_t size) noexcept {
  if (size == 0) return false;
  return !(segment[0] == '.' && (size == 1 || (size == 2 && segment[1] == '.')));
}

}  // namespace

bool is_normal_absolute_path(std::string_view path) noexcept {
  const size_t n = path.size();
  if (n == 0 || path[0] != '/') return false;
  if (n == 1) return true;
  const char* p = path.data();
  size_t start = 1;
  for (size_t i = 1; i < n; ++i) {
    if (p[i] == '/') {
      if (!is_normal_segment(p + start, i - start)) return false;
      start = i + 1;
    } else if (p[i] == '\0') {
      return false;
    }
  }
  return is_normal_segment(p + start, n - start);  // also refuses a trailing '/'
}

Result<PathPattern> PathPattern::compile(std::string_view text) {
  if (auto rule = common_refusal(text)) return refuse(PatternKind::Path, text, *rule);
  std::vector<std::string> expanded;
  if (auto r = expand_braces(std::string(text), expanded); !r) {
    return refuse(PatternKind::Path, text, r.error());
  }
  PathPattern pattern;
  pattern.text_ = std::string(text);
  for (const auto& alternative : expanded) {
    auto segments = compile_alternative(alternative);
    if (!segments) {
      const std::string rule = expanded.size() == 1
                                   ? segments.error()
                                   : fmt::format("in its expansion \"{}\": {}",
                                                 detail::escape_text(alternative), segments.error());
      return refuse(PatternKind::Path, text, rule);
    }
    pattern.alternatives_.push_back(std::move(*segments));
  }
  return pattern;
}

bool PathPattern::matches(std::string_view path) const noexcept {
  return is_normal_absolute_path(path) && matches_normal(path);
}

// Wildcard matching over whole segments from `pos` (path.size(): none left).
// On a mismatch the most recent `**` takes one more segment and matching
// resumes after it. Every other pattern segment consumes exactly one path
// segment, so remembering only the last `**` is enough (as for `*` in string
// wildcards).
bool PathPattern::rest_matches(const std::vector<Segment>& rest, std::string_view path,
                               size_t pos) noexcept {
  const size_t n = path.size();
  auto segment_end = [&](size_t from) {
    while (from < n && path[from] != '/') ++from;
    return from;
  };
  const size_t m = rest.size();
  size_t pi = 0;
  size_t star_pi = npos;
  size_t star_pos = 0;
  while (pos < n) {
    if (pi < m && rest[pi].kind == SegmentKind::AnyDirs) {
      star_pi = pi++;
      star_pos = pos;
      continue;
    }
    const size_t end = segment_end(pos);
    if (pi < m && segment_matches(rest[pi], path.substr(pos, end - pos))) {
      ++pi;
      pos = end + 1;
      continue;
    }
    if (star_pi == npos) return false;
    pi = star_pi + 1;
    star_pos = segment_end(star_pos) + 1;
    pos = star_pos;
  }
  while (pi < m && rest[pi].kind == SegmentKind::AnyDirs) ++pi;
  return pi == m;
}

// ---- Network ---------------------------------------------------------------

namespace {

std::optional<uint16_t> parse_port(std::string_view text) noexcept {
  if (text.empty() || text.size() > 5 || text.front() == '0') return std::nullopt;
  uint32_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > std::numeric_limits<uint16_t>::max()) return std::nullopt;
  return static_cast<uint16_t>(value);
}

// inet_pton on text that is not NUL-terminated.
bool parse_address(int family, std::string_view text, void* out) noexcept {
  char buffer[INET6_ADDRSTRLEN];
  if (text.size() >= sizeof buffer) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return inet_pton(family, buffer, out) == 1;
}

bool looks_like_ipv4(std::string_view host) noexcept {
  return !host.empty() && host.find_first_not_of("0123456789.") == npos;
}

// The rule a host name breaks, if any. Names are letters, digits and '-', in
// labels of 1-63 characters that do not start or end with '-'; the last label
// is not all digits.
std::optional<std::string_view> name_refusal(std::string_view name) noexcept {
  if (name.empty()) return "the host name is empty";
  if (name.size() > kMaxHostLength) return "the host name is longer than 253 characters";
  if (name.back() == '.') return "a host name does not end with '.'";
  size_t start = 0;
  bool all_digits = true;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      const std::string_view label = name.substr(start, i - start);
      if (label.empty()) return "empty label in the host name ('..' or a leading '.')";
      if (label.size() > kMaxLabelLength) return "a label of the host name exceeds 63 characters";
      if (label.front() == '-' || label.back() == '-') {
        return "a label of the host name starts or ends with '-'";
      }
      start = i + 1;
      if (i < name.size()) all_digits = true;
      continue;
    }
    const char c = ascii_lower(name[i]);
    if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-')) {
      return "a host name may contain only letters, digits, '-' and '.'";
    }
    if (!is_digit(c)) all_digits = false;
  }
  if (all_digits) return "the last label of a host name is not all digits";
  return std::nullopt;
}

// A pattern host that the C resolver would read as a number (inet_aton: octal,
// hexadecimal, fewer than four parts) is refused: write the dotted quad.
bool reads_as_number(std::string_view name) {
  const std::string text(name);
  in_addr ignored{};
  return inet_aton(text.c_str(), &ignored) != 0;
}

bool is_ipv4_mapped(const std::array<uint8_t, 16>& a) noexcept {
  static constexpr std::array<uint8_t, 12> kPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::equal(kPrefix.begin(), kPrefix.end(), a.begin());
}

// Parses an IPv6 literal (without brackets) into `endpoint`, folding an
// IPv4-mapped address to IPv4.
bool parse_ipv6(std::string_view text, NetworkEndpoint& endpoint) noexcept {
  if (!parse_address(AF_INET6, text, endpoint.address.data())) return false;
  endpoint.kind = NetworkEndpoint::HostKind::Ipv6;
  if (is_ipv4_mapped(endpoint.address)) {
    std::memmove(endpoint.address.data(), endpoint.address.data() + 12, 4);
    std::fill(endpoint.address.begin() + 4, endpoint.address.end(), 0);
    endpoint.kind = NetworkEndpoint::HostKind::Ipv4;
  }
  return true;
}

struct HostPortText {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
};

// Splits "host:port" or "[v6]:port"; nullopt when the shape is wrong.
std::optional<HostPortText> split_host_port(std::string_view text) noexcept {
  HostPortText out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == npos) return std::nullopt;
    out.host = text.substr(1, close - 1);
    out.bracketed = true;
    rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return std::nullopt;
    out.port = rest.substr(1);
    return out;
  }
  const size_t colon = text.rfind(':');
  if (colon == npos) return std::nullopt;
  out.host = text.substr(0, colon);
  out.port = text.substr(colon + 1);
  return out;
}

}  // namespace

std::optional<NetworkEndpoint> NetworkEndpoint::parse(std::string_view host_port) noexcept {
  auto parts = split_host_port(host_port);
  if (!parts) return std::nullopt;
  auto port = parse_port(parts->port);
  if (!port) return std::nullopt;
  if (parts->bracketed) {
    NetworkEndpoint endpoint;
    endpoint.port = *port;
    if (!parse_ipv6(parts->host, endpoint)) return std::nullopt;
    return endpoint;
  }
  if (parts->host.find(':') != npos) return std::nullopt;  // IPv6 without brackets
  return parse(parts->host, *port);
}

std::optional<NetworkEndpoint> NetworkEndpoint::parse(std::string_view host,
                                                      uint16_t port) noexcept {
  if (port == 0 || host.empty()) return std::nullopt;
  NetworkEndpoint endpoint;
  endpoint.port = port;
  if (host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return std::nullopt;
    host = host.substr(1, host.size() - 2);
    if (!parse_ipv6(host, endpoint)) return std::nullopt;
    return endpoint;
  }
  if (host.find(':') != npos) {
    if (!parse_ipv6(host, endpoint)) return std::nullopt;
    return endpoint;
  }
  if (looks_like_ipv4(host)) {
    if (!parse_address(AF_INET, host, endpoint.address.data())) return std::nullopt;
    endpoint.kind = HostKind::Ipv4;
    return endpoint;
  }
  if (name_refusal(host)) return std::nullopt;
  endpoint.kind = HostKind::Name;
  endpoint.name = host;
  return endpoint;
}

Result<NetworkPattern> NetworkPattern::compile(std::string_view text) {
  constexpr auto kKind = PatternKind::HostPort;
  if (auto rule = common_refusal(text)) return refuse(kKind, text, *rule);
  auto parts = split_host_port(text);
  if (!parts) {
    if (!text.empty() && text.front() == '[') {
      return refuse(kKind, text, "an IPv6 literal is written [address]:port");
    }
    return refuse(kKind, text, "a network pattern is host:port");
  }
  if (parts->port == "*") {
    return refuse(kKind, text, "wildcard ports are not allowed: name the exact port");
  }
  auto port = parse_port(parts->port);
  if (!port) {
    return refuse(kKind, text,
                  "the port is a decimal number from 1 to 65535 without leading zeros");
  }
  NetworkPattern pattern;
  pattern.text_ = std::string(text);
  pattern.port_ = *port;
  const std::string_view host = parts->host;
  if (host.empty()) return refuse(kKind, text, "the host is missing");
  if (parts->bracketed) {
    NetworkEndpoint endpoint;
    if (!parse_ipv6(host, endpoint)) return refuse(kKind, text, "not a valid IPv6 address");
    pattern.kind_ =
        endpoint.kind == NetworkEndpoint::HostKind::Ipv4 ? HostKind::Ipv4 : HostKind::Ipv6;
    pattern.address_ = endpoint.address;
    return pattern;
  }
  if (host.find(':') != npos) {
    return refuse(kKind, text, "an IPv6 address is written in brackets, as in [::1]:443");
  }
  std::string_view name = host;
  if (host.starts_with("*.")) {
    name = host.substr(2);
    pattern.kind_ = HostKind::Subdomains;
  } else if (host == "*") {
    return refuse(kKind, text, "a wildcard host names a domain, as in *.example.com");
  }
  if (name.find('*') != npos) {
    return refuse(kKind, text, "'*' is allowed only as the whole first label: *.example.com");
  }
  if (pattern.kind_ == HostKind::Name && looks_like_ipv4(name)) {
    if (!parse_address(AF_INET, name, pattern.address_.data())) {
      return refuse(kKind, text, "not a valid IPv4 address (four decimal parts, as in 10.0.0.1)");
    }
    pattern.kind_ = HostKind::Ipv4;
    return pattern;
  }
  if (auto rule = name_refusal(name)) return refuse(kKind, text, *rule);
  if (reads_as_number(name)) {
    return refuse(kKind, text,
                  "the host reads as a numeric address: write IPv4 as four decimal parts");
  }
  std::string lower;
  if (pattern.kind_ == HostKind::Subdomains) lower += '.';
  for (char c : name) lower += ascii_lower(c);
  pattern.host_ = std::move(lower);
  return pattern;
}

bool NetworkPattern::matches(std::string_view host_port) const noexcept {
  auto endpoint = NetworkEndpoint::parse(host_port);
  return endpoint && matches(*endpoint);
}

bool NetworkPattern::matches(std::string_view host, uint16_t port) const noexcept {
  auto endpoint = NetworkEndpoint::parse(host, port);
  return endpoint && matches(*endpoint);
}

bool NetworkPattern::matches(const NetworkEndpoint& endpoint) const noexcept {
  if (endpoint.port != port_) return false;
  using EndpointKind = NetworkEndpoint::HostKind;
  switch (kind_) {
    case HostKind::Name:
      return endpoint.kind == EndpointKind::Name && iequals(endpoint.name, host_);
    case HostKind::Subdomains:
      // host_ starts with '.', so what precedes it is a non-empty run of the
      // endpoint's (already validated) labels.
      return endpoint.kind == EndpointKind::Name && endpoint.name.size() > host_.size() &&
             iequals(endpoint.name.substr(endpoint.name.size() - host_.size()), host_);
    case HostKind::Ipv4:
      return endpoint.kind == EndpointKind::Ipv4 &&
             std::equal(address_.begin(), address_.begin() + 4, endpoint.address.begin());
    case HostKind::Ipv6:
      return endpoint.kind == EndpointKind::Ipv6 && address_ == endpoint.address;
  }
  return false;
}

// ---- Storage keys ----------------------------------------------------------

bool is_valid_storage_key(std::string_view key) noexcept {
  if (key.empty() || key.front() == ':' || key.back() == ':') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '\0') return false;
    if (key[i] == ':' && key[i + 1] == ':') return false;
  }
  return true;
}

Result<StorageKeyPattern> StorageKeyPattern::compile(std::string_view text) {
  constexpr auto kKind = PatternKind::StorageKey;
  if (auto rule = common_refusal(text)) return refuse(kKind, text, *rule);
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != ':') {
      if (!is_printable_ascii(text[i])) {
        return refuse(kKind, text,
                      "key segments contain only printable ASCII characters, without spaces");
      }
      continue;
    }
    const std::string_view segment = text.substr(start, i - start);
    if (segment.empty()) return refuse(kKind, text, "empty key segment");
    const bool last = i == text.size();
    if (segment.find('*') != npos && (segment != "*" || !last)) {
      return refuse(kKind, text, "'*' is allowed only as the whole last segment, as in orders:*");
    }
    start = i + 1;
  }
  StorageKeyPattern pattern;
  pattern.text_ = std::string(text);
  pattern.wildcard_ = text.back() == '*';
  pattern.prefix_ = std::string(pattern.wildcard_ ? text.substr(0, text.size() - 1) : text);
  return pattern;
}

bool StorageKeyPattern::matches(std::string_view key) const noexcept {
  return is_valid_storage_key(key) && matches_valid(key);
}

namespace {

// An exact pattern, or a prefix followed by '*' that matches one or more
// characters more (storage keys, component names).
bool prefix_matches(const std::string& prefix, bool wildcard, std::string_view candidate) noexcept {
  if (wildcard) return candidate.size() > prefix.size() && candidate.starts_with(prefix);
  return candidate == prefix;
}

}  // namespace

bool StorageKeyPattern::matches_valid(std::string_view key) const noexcept {
  // A valid key has no empty segment, so whatever follows the prefix (which
  // ends with ':') is one or more whole segments.
  return prefix_matches(prefix_, wildcard_, key);
}

// ---- Component names -------------------------------------------------------

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-';
}

}  // namespace

bool is_valid_component_name(std::string_view name) noexcept {
  if (name.size() < 3 || name.size() > 64) return false;
  if (name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), is_name_char);
}

Result<ComponentNamePattern> ComponentNamePattern::compile(std::string_view text) {
  constexpr auto kKind = PatternKind::ComponentName;
  if (auto rule = common_refusal(text)) return refuse(kKind, text, *rule);
  ComponentNamePattern pattern;
  pattern.text_ = std::string(text);
  pattern.wildcard_ = text.back() == '*';
  const std::string_view prefix = pattern.wildcard_ ? text.substr(0, text.size() - 1) : text;
  if (prefix.find('*') != npos) {
    return refuse(kKind, text, "'*' is allowed only at the end, as in audit-*");
  }
  if (std::any_of(prefix.begin(), prefix.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return refuse(kKind, text, "component names are lower case");
  }
  if (!std::all_of(prefix.begin(), prefix.end(), is_name_char)) {
    return refuse(kKind, text, "component names contain only a-z, 0-9 and '-'");
  }
  if (!prefix.empty() && prefix.front() == '-') {
    return refuse(kKind, text, "component names start with a letter or a digit");
  }
  if (pattern.wildcard_ && prefix.size() >= 64) {
    return refuse(kKind, text, "the prefix leaves no room in a name of at most 64 characters");
  }
  if (!pattern.wildcard_ && !is_valid_component_name(prefix)) {
    return refuse(kKind, text,
                  fmt::format("not a component name: {}", kComponentNameRule));
  }
  pattern.prefix_ = std::string(prefix);
  return pattern;
}

bool ComponentNamePattern::matches(std::string_view name) const noexcept {
  return is_valid_component_name(name) && matches_valid(name);
}

bool ComponentNamePattern::matches_valid(std::string_view name) const noexcept {
  return prefix_matches(prefix_, wildcard_, name);
}

// ---- Topics ----------------------------------------------------------------

namespace {

constexpr size_t kTopicEnd = npos;

// The level that starts at `pos` and where the next one starts (kTopicEnd
// after the last level).
std::pair<std::string_view, size_t> topic_level(std::string_view topic, size_t pos) noexcept {
  const size_t dot = topic.find('.', pos);
  if (dot == npos) return {topic.substr(pos), kTopicEnd};
  return {topic.substr(pos, dot - pos), dot + 1};
}

bool is_valid_topic_text(std::string_view topic, bool wildcards) noexcept {
  if (topic.empty()) return false;
  size_t start = 0;
  bool special = false;  // the current level holds '*' or '#'
  for (size_t i = 0; i <= topic.size(); ++i) {
    const char c = i < topic.size() ? topic[i] : '.';
    if (c == '.') {
      if (i == start) return false;
      if (special) {
        if (!wildcards || i - start != 1) return false;
        if (topic[start] == '#' && i != topic.size()) return false;
      }
      start = i + 1;
      special = false;
    } else if (c == '*' || c == '#') {
      special = true;
    } else if (c == '\0') {
      return false;
    }
  }
  return true;
}

}  // namespace

bool is_valid_topic(std::string_view topic) noexcept {
  return is_valid_topic_text(topic, false);
}

bool is_valid_topic_filter(std::string_view filter) noexcept {
  return is_valid_topic_text(filter, true);
}

Result<TopicPattern> TopicPattern::compile(std::string_view text) {
  constexpr auto kKind = PatternKind::Topic;
  if (auto rule = common_refusal(text)) return refuse(kKind, text, *rule);
  size_t pos = 0;
  while (pos != kTopicEnd) {
    auto [level, next] = topic_level(text, pos);
    if (level.empty()) return refuse(kKind, text, "empty topic level");
    if (!std::all_of(level.begin(), level.end(), is_printable_ascii)) {
      return refuse(kKind, text, "topic levels contain only printable ASCII characters");
    }
    if (level == "#" && next != kTopicEnd) {
      return refuse(kKind, text, "'#' is allowed only as the last level");
    }
    if (level != "*" && level != "#" && level.find_first_of("*#") != npos) {
      return refuse(kKind, text, "'*' and '#' must be whole levels, as in orders.*.created");
    }
    pos = next;
  }
  TopicPattern pattern;
  pattern.text_ = std::string(text);
  bool in_literal = true;
  pos = 0;
  while (pos != kTopicEnd) {
    auto [level, next] = topic_level(text, pos);
    const LevelKind kind = level == "*"   ? LevelKind::One
                           : level == "#" ? LevelKind::Rest
                                          : LevelKind::Literal;
    in_literal = in_literal && kind == LevelKind::Literal;
    if (in_literal) {
      pattern.literal_.append(level);
      if (next != kTopicEnd) pattern.literal_ += '.';
    } else {
      pattern.rest_.push_back({kind, std::string(level)});
    }
    pos = next;
  }
  return pattern;
}

bool TopicPattern::matches(std::string_view topic) const noexcept {
  return is_valid_topic(topic) && covers_valid(topic);
}

bool TopicPattern::covers(std::string_view filter) const noexcept {
  return is_valid_topic_filter(filter) && covers_valid(filter);
}

bool TopicPattern::covers_valid(std::string_view filter) const noexcept {
  // A topic has at least one level, so the filter `#` matches what `*.#` does.
  if (filter == "#") filter = "*.#";
  if (rest_.empty()) return filter == literal_;
  // `literal_` is empty or ends with '.'. The rest starts after it, or sees no
  // level when the filter is the literal part itself ("alerts" for "alerts.#").
  const size_t n = filter.size();
  size_t pos;
  if (literal_.empty()) {
    pos = 0;
  } else if (n > literal_.size() && filter.starts_with(literal_)) {
    pos = literal_.size();
  } else if (n + 1 == literal_.size() && literal_.starts_with(filter)) {
    pos = kTopicEnd;
  } else {
    return false;
  }
  for (const Level& p : rest_) {
    if (p.kind == LevelKind::Rest) return true;  // zero or more levels, a '#' included
    if (pos == kTopicEnd) return false;
    size_t end = pos;
    while (end < n && filter[end] != '.') ++end;
    const std::string_view f = filter.substr(pos, end - pos);
    if (f == "#") return false;  // the filter reaches any depth here; the pattern does not
    if (p.kind == LevelKind::Literal && f != p.text) return false;  // never covers a '*'
    pos = end == n ? kTopicEnd : end + 1;
  }
  return pos == kTopicEnd;
}

// ---- Kinds -----------------------------------------------------------------

PatternKind pattern_kind(Permission permission) noexcept {
  switch (permission) {
    case Permission::FsRead:
    case Permission::FsWrite:
    case Permission::FsExecute:
      return PatternKind::Path;
    case Permission::NetConnect:
    case Permission::NetBind:
    case Permission::NetListen:
      return PatternKind::HostPort;
    case Permission::StorageRead:
    case Permission::StorageWrite:
    case Permission::StorageDelete:
      return PatternKind::StorageKey;
    case Permission::MsgSend:
    case Permission::MsgReceive:
      return PatternKind::ComponentName;
    case Permission::MsgPublish:
    case Permission::MsgSubscribe:
      return PatternKind::Topic;
  }
  return PatternKind::Path;
}

std::string_view pattern_kind_name(PatternKind kind) noexcept {
  switch (kind) {
    case PatternKind::Path:
      return "path";
    case PatternKind::HostPort:
      return "host:port";
    case PatternKind::StorageKey:
      return "storage key";
    case PatternKind::ComponentName:
      return "component name";
    case PatternKind::Topic:
      return "topic";
  }
  return "?";
}

Result<void> validate_pattern(PatternKind kind, std::string_view text) {
  auto check = [](const auto& compiled) -> Result<void> {
    if (!compiled) return std::unexpected(compiled.error());
    return {};
  };
  switch (kind) {
    case PatternKind::Path:
      return check(PathPattern::compile(text));
    case PatternKind::HostPort:
      return check(NetworkPattern::compile(text));
    case PatternKind::StorageKey:
      return check(StorageKeyPattern::compile(text));
    case PatternKind::ComponentName:
      return check(ComponentNamePattern::compile(text));
    case PatternKind::Topic:
      return check(TopicPattern::compile(text));
  }
  return make_error(ErrorCode::InternalError, "unknown pattern kind");
}

// ---- The rules of pattern text -----------------------------------------------
//
// What a person may write as a pattern of each kind, as phrases that follow
// the quoted pattern ("is not an absolute path"). Each kind reports every rule
// its text breaks; the matchers' own refusal above comes after, for text that
// passes these rules but that no matcher of its kind could enforce (found by
// fuzzing: the two once disagreed).

namespace {

using detail::all_digits;
using detail::display_char;
using detail::is_alnum;
using detail::is_lower_alnum;
using detail::quote_value;
using detail::split;
using Violations = std::vector<std::string>;

// Checks '[...]' and '{...}' balance; a backslash escapes the next character.
void check_glob_brackets(std::string_view segment, Violations& out) {
  int brace_depth = 0;
  for (size_t i = 0; i < segment.size(); ++i) {
    char c = segment[i];
    if (c == '\\') {
      ++i;
    } else if (c == '[') {
      size_t j = i + 1;
      if (j < segment.size() && (segment[j] == '!' || segment[j] == '^')) ++j;
      if (j < segment.size() && segment[j] == ']') ++j;
      size_t close = segment.find(']', j);
      if (close == npos) {
        out.push_back("has a '[' without a closing ']' in the same path segment");
        return;
      }
      i = close;
    } else if (c == '{') {
      ++brace_depth;
    } else if (c == '}') {
      if (--brace_depth < 0) {
        out.push_back("has a '}' without an opening '{'");
        return;
      }
    }
  }
  if (brace_depth > 0) out.push_back("has a '{' without a closing '}'");
}

Violations path_violations(std::string_view pattern) {
  Violations out;
  if (pattern[0] != '/') {
    out.push_back("is not an absolute path");
  }
  if (pattern.find("//") != npos) {
    out.push_back("contains '//' (an empty path segment)");
  }
  if (pattern.size() > 1 && pattern.back() == '/') {
    out.push_back("ends with '/' (write /dir/** for everything below a directory)");
  }
  auto segments = split(pattern, '/');
  bool dot = false;
  bool dot_dot = false;
  bool inner_globstar = false;
  for (auto segment : segments) {
    dot = dot || segment == ".";
    dot_dot = dot_dot || segment == "..";
    inner_globstar = inner_globstar || (segment != "**" && segment.find("**") != npos);
  }
  if (dot_dot) out.push_back("has a '..' segment");
  if (dot) out.push_back("has a '.' segment");
  if (inner_globstar) out.push_back("uses '**' inside a segment ('**' must be a whole segment)");
  size_t before = out.size();
  for (auto segment : segments) {
    check_glob_brackets(segment, out);
    if (out.size() != before) break;
  }
  return out;
}

std::optional<std::string> ipv4_problem(std::string_view host) {
  auto parts = split(host, '.');
  if (parts.size() != 4) return "is not an IPv4 address (it needs four numbers)";
  for (auto part : parts) {
    if (!all_digits(part) || part.size() > 3 || (part.size() > 1 && part[0] == '0')) {
      return fmt::format("is not an IPv4 address ('{}' is not a number 0-255)", part);
    }
    if (std::stoi(std::string(part)) > 255) {
      return fmt::format("is not an IPv4 address ({} is above 255)", part);
    }
  }
  return std::nullopt;
}

void check_dns_name(std::string_view host, Violations& out) {
  if (host.size() > kMaxHostLength) {
    out.push_back(fmt::format("has a host longer than {} bytes", kMaxHostLength));
    return;
  }
  for (auto label : split(host, '.')) {
    if (label.empty()) {
      out.push_back("has an empty host label");
      return;
    }
    if (label.size() > kMaxLabelLength) {
      out.push_back(fmt::format("has a host label longer than {} bytes", kMaxLabelLength));
      return;
    }
    for (char c : label) {
      if (c >= 'A' && c <= 'Z') {
        out.push_back("has uppercase letters in the host (write host names in lowercase)");
        return;
      }
      if (!is_lower_alnum(c) && c != '-') {
        out.push_back(fmt::format("has {} in the host, outside [a-z0-9-]", display_char(c)));
        return;
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      out.push_back("has a host label that starts or ends with '-'");
      return;
    }
  }
}

void check_port(std::string_view port, Violations& out) {
  if (port.empty()) {
    out.push_back("has an empty port (write host:port)");
  } else if (port.find('*') != npos) {
    out.push_back("has a wildcard port (ports are exact numbers 1-65535)");
  } else if (!all_digits(port)) {
    out.push_back(fmt::format("has port {}, which is not a number", quote_value(port)));
  } else if (port.size() > 1 && port[0] == '0') {
    out.push_back(fmt::format("has port '{}' with a leading zero", port));
  } else if (port.size() > 5 || std::stoul(std::string(port)) > 65535 || port == "0") {
    out.push_back(fmt::format("has port {} outside 1-65535",
                              port.size() > 5 ? quote_value(port) : std::string(port)));
  }
}

Violations host_port_violations(std::string_view pattern) {
  Violations out;
  std::string_view host;
  std::string_view port;
  if (pattern[0] == '[') {
    size_t close = pattern.find(']');
    if (close == npos) {
      out.push_back("has a '[' without ']' (write IPv6 addresses as [::1]:443)");
      return out;
    }
    host = pattern.substr(1, close - 1);
    std::string_view rest = pattern.substr(close + 1);
    if (rest.empty() || rest[0] != ':') {
      out.push_back("has no port after the IPv6 address (write [::1]:443)");
      return out;
    }
    port = rest.substr(1);
    in6_addr address;
    if (host.find('*') != npos) {
      out.push_back("has a wildcard in an IPv6 address (only host names take a leading '*.')");
    } else if (inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
      out.push_back(fmt::format("has {}, which is not an IPv6 address", quote_value(host)));
    }
    check_port(port, out);
    return out;
  }
  size_t colon = pattern.rfind(':');
  if (colon == npos) {
    out.push_back("has no port (write host:port, e.g. api.example.com:443)");
    return out;
  }
  host = pattern.substr(0, colon);
  port = pattern.substr(colon + 1);
  if (host.find(':') != npos) {
    out.push_back("has ':' in the host (write IPv6 addresses in brackets: [::1]:443)");
    return out;
  }
  if (host.empty()) {
    out.push_back("has an empty host");
  } else {
    std::string_view name = host;
    bool wildcard = host.starts_with("*.");
    if (wildcard) name.remove_prefix(2);
    if (name.find('*') != npos || host == "*") {
      out.push_back(
          "has a host wildcard that is not a leading '*.' label (write e.g. *.example.com)");
    } else if (std::all_of(name.begin(), name.end(),
                           [](char c) { return detail::is_digit(c) || c == '.'; })) {
      if (wildcard) {
        out.push_back("has a wildcard on an IP address (only host names take a leading '*.')");
      } else if (auto p = ipv4_problem(name)) {
        out.push_back(fmt::format("has host '{}', which {}", name, *p));
      }
    } else {
      check_dns_name(name, out);
    }
  }
  check_port(port, out);
  return out;
}

// Storage keys and topics are both separated parts with whole-part
// wildcards; they differ in the separator, the wildcards and the characters.
struct SeparatedGrammar {
  char separator;
  std::string_view empty_part;    // the rule an empty part breaks
  std::string_view any_part;      // a wildcard allowed as any whole part ("" for none)
  std::string_view last_part;     // a wildcard allowed only as the last whole part
  std::string_view last_too_early;
  std::string_view wildcards;     // the characters of both wildcards
  std::string_view inside_part;   // the rule a wildcard inside a part breaks
  bool (*allowed)(char);
  std::string_view allowed_set;
};

bool storage_char(char c) {
  return is_lower_alnum(c) || c == '_' || c == '-';
}
bool topic_char(char c) {
  return is_alnum(c) || c == '_' || c == '-';
}

constexpr SeparatedGrammar kStorageGrammar{
    ':',
    "has an empty segment (segments are separated by a single ':')",
    "",
    "*",
    "uses '*' before the last segment ('*' is allowed only as the last one)",
    "*",
    "uses '*' inside a segment ('*' must be the whole last segment)",
    storage_char,
    "[a-z0-9_-]"};

constexpr SeparatedGrammar kTopicGrammar{
    '.',
    "has an empty level (levels are separated by a single '.')",
    "*",
    "#",
    "uses '#' before the last level ('#' matches the rest, so it comes last)",
    "*#",
    "uses '*' or '#' inside a level (a wildcard must be a whole level)",
    topic_char,
    "[a-zA-Z0-9_-]"};

Violations separated_violations(std::string_view pattern, const SeparatedGrammar& grammar) {
  Violations out;
  auto parts = split(pattern, grammar.separator);
  for (size_t i = 0; i < parts.size(); ++i) {
    auto part = parts[i];
    if (part.empty()) {
      out.emplace_back(grammar.empty_part);
      break;
    }
    if (!grammar.any_part.empty() && part == grammar.any_part) continue;
    if (part == grammar.last_part) {
      if (i + 1 != parts.size()) {
        out.emplace_back(grammar.last_too_early);
        break;
      }
      continue;
    }
    if (part.find_first_of(grammar.wildcards) != npos) {
      out.emplace_back(grammar.inside_part);
      break;
    }
    auto bad = std::find_if_not(part.begin(), part.end(), grammar.allowed);
    if (bad != part.end()) {
      out.push_back(fmt::format("has {}, outside {}", display_char(*bad), grammar.allowed_set));
      break;
    }
  }
  return out;
}

Violations component_name_violations(std::string_view pattern) {
  Violations out;
  if (pattern == "*") return out;
  std::string_view prefix = pattern;
  bool wildcard = prefix.ends_with('*');
  if (wildcard) prefix.remove_suffix(1);
  if (prefix.find('*') != npos) {
    out.push_back("uses '*' other than as a single trailing '*' (e.g. audit-*)");
    return out;
  }
  if (!wildcard) {
    if (!is_valid_component_name(pattern)) {
      out.push_back(fmt::format("is not a component name ({})", kComponentNameRule));
    }
    return out;
  }
  bool valid = prefix.size() <= 63 && is_lower_alnum(prefix.front()) &&
               std::all_of(prefix.begin(), prefix.end(),
                           [](char c) { return is_lower_alnum(c) || c == '-'; });
  if (!valid) {
    out.push_back(
        "is not a component-name prefix followed by '*' (the prefix has at most 63 characters "
        "of a-z, 0-9 and '-', starting with a letter or digit)");
  }
  return out;
}

Violations rule_violations(PatternKind kind, std::string_view pattern) {
  switch (kind) {
    case PatternKind::Path:
      return path_violations(pattern);
    case PatternKind::HostPort:
      return host_port_violations(pattern);
    case PatternKind::StorageKey:
      return separated_violations(pattern, kStorageGrammar);
    case PatternKind::ComponentName:
      return component_name_violations(pattern);
    case PatternKind::Topic:
      return separated_violations(pattern, kTopicGrammar);
  }
  return {};
}

}  // namespace

std::vector<std::string> pattern_violations(PatternKind kind, std::string_view text) {
  if (text.empty()) return {"is empty"};
  if (text.size() > kMaxPatternLength) {
    return {fmt::format("is longer than {} bytes", kMaxPatternLength)};
  }
  if (auto problem = detail::control_character_problem(text)) return {*problem};
  Violations out = rule_violations(kind, text);
  if (out.empty()) {
    if (auto ok = validate_pattern(kind, text); !ok) {
      out.push_back(fmt::format("is refused by the {} matcher: {}", pattern_kind_name(kind),
                                ok.error().message));
    }
  }
  return out;
}

}  // namespace airssys::wasm::security
