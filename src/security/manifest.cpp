#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/quota_toml.hpp"
#include "airssys/wasm/security/pattern.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "toml_support.hpp"

#include <algorithm>
#include <cmath>
#include <expected>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>

#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm::security {
namespace {

constexpr size_t kMaxPatternBytes = 4096;
constexpr size_t kMaxDescriptionChars = 500;
constexpr size_t kMaxAuthorChars = 200;
constexpr size_t kMaxLicenseBytes = 256;
constexpr size_t kMaxVersionBytes = 256;
constexpr size_t kMaxQuotaTextBytes = 64;
constexpr size_t kMaxHostBytes = 253;
constexpr size_t kMaxLabelBytes = 63;
// toml++ recurses once per nested table, and a key line with tens of thousands
// of dots exhausts the stack; every level of nesting beyond the 256 nested
// values toml++ itself allows needs a '.' on a single line.
constexpr size_t kMaxDotsPerLine = 1000;
constexpr size_t kMaxReportedProblems = 1000;

constexpr std::string_view kNameRule =
    "3-64 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";
constexpr std::string_view kUnitList = "B, KB, MB, GB, TB";

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_control(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_digit);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

size_t count_code_points(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A value as it appears in a message: quoted, control bytes escaped, long
// values cut on a character boundary.
std::string quote_value(std::string_view s) {
  constexpr size_t kShown = 60;
  bool cut = s.size() > kShown + 20;
  std::string_view shown = s;
  if (cut) {
    size_t end = kShown;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    shown = s.substr(0, end);
  }
  std::string out = "\"";
  for (char c : shown) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (is_control(c)) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  out += '"';
  if (cut) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

std::string display_key(std::string_view key) {
  bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return is_alnum(c) || c == '_' || c == '-';
  });
  return bare ? std::string(key) : quote_value(key);
}

std::string display_char(char c) {
  if (is_control(c) || static_cast<unsigned char>(c) >= 0x80) {
    return fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
  }
  return fmt::format("'{}'", c);
}

std::optional<std::string> control_character_problem(std::string_view s) {
  auto it = std::find_if(s.begin(), s.end(), is_control);
  if (it == s.end()) return std::nullopt;
  return fmt::format("contains a control character (byte 0x{:02x})",
                     static_cast<unsigned char>(*it));
}

// ---- names, versions, licenses ----

std::optional<std::string> numeric_identifier_problem(std::string_view id, std::string_view what) {
  if (id.empty()) return fmt::format("the {} is empty", what);
  if (!all_digits(id)) return fmt::format("the {} '{}' is not a number", what, id);
  if (id.size() > 1 && id[0] == '0') {
    return fmt::format("the {} '{}' has a leading zero", what, id);
  }
  return std::nullopt;
}

std::optional<std::string> dot_identifiers_problem(std::string_view part, std::string_view what,
                                                   bool numeric_without_leading_zero) {
  for (auto id : split(part, '.')) {
    if (id.empty()) return fmt::format("the {} has an empty identifier", what);
    for (char c : id) {
      if (!is_alnum(c) && c != '-') {
        return fmt::format("the {} has {}, outside [0-9A-Za-z-]", what, display_char(c));
      }
    }
    if (numeric_without_leading_zero && all_digits(id) && id.size() > 1 && id[0] == '0') {
      return fmt::format("the {} identifier '{}' has a leading zero", what, id);
    }
  }
  return std::nullopt;
}

// SemVer 2.0.0: MAJOR.MINOR.PATCH[-pre.release][+build.metadata].
std::optional<std::string> semver_problem(std::string_view version) {
  if (version.empty()) return "it is empty";
  if (version.size() > kMaxVersionBytes) {
    return fmt::format("it is longer than {} bytes", kMaxVersionBytes);
  }
  if (version[0] == 'v' || version[0] == 'V') {
    return fmt::format("it starts with '{}' (write 1.2.3, not v1.2.3)", version[0]);
  }
  std::string_view rest = version;
  if (size_t plus = rest.find('+'); plus != std::string_view::npos) {
    std::string_view build = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
    if (build.empty()) return "the build metadata after '+' is empty";
    if (auto p = dot_identifiers_problem(build, "build metadata", false)) return p;
  }
  if (size_t dash = rest.find('-'); dash != std::string_view::npos) {
    std::string_view pre = rest.substr(dash + 1);
    rest = rest.substr(0, dash);
    if (pre.empty()) return "the pre-release after '-' is empty";
    if (auto p = dot_identifiers_problem(pre, "pre-release", true)) return p;
  }
  auto core = split(rest, '.');
  if (core.size() != 3) return "it needs exactly MAJOR.MINOR.PATCH";
  static constexpr std::array<std::string_view, 3> kParts = {"major version", "minor version",
                                                             "patch version"};
  for (size_t i = 0; i < 3; ++i) {
    if (auto p = numeric_identifier_problem(core[i], kParts[i])) return p;
  }
  return std::nullopt;
}

// SPDX license expression: ids (with an optional '+'), LicenseRef-/DocumentRef-
// references, AND, OR, WITH and parentheses.
class LicenseExpression {
 public:
  explicit LicenseExpression(std::string_view text) : text_(text) {}

  std::optional<std::string> problem() {
    if (text_.size() > kMaxLicenseBytes) {
      return fmt::format("it is longer than {} bytes", kMaxLicenseBytes);
    }
    if (auto p = control_character_problem(text_)) return *p;
    tokenize();
    if (!error_.empty()) return error_;
    if (tokens_.empty()) return "it is empty";
    parse_or();
    if (error_.empty() && next_ < tokens_.size()) {
      error_ = fmt::format("unexpected '{}'", tokens_[next_]);
    }
    if (error_.empty()) return std::nullopt;
    return error_;
  }

 private:
  static bool is_operator(std::string_view t, std::string_view upper) {
    if (t == upper) return true;
    std::string lower(upper);
    for (char& c : lower) c = static_cast<char>(c - 'A' + 'a');
    return t == lower;
  }

  static bool is_idstring(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(),
                                     [](char c) { return is_alnum(c) || c == '.' || c == '-'; });
  }

  static bool is_license_id(std::string_view t) {
    if (t.starts_with("DocumentRef-")) {
      size_t colon = t.find(':');
      if (colon == std::string_view::npos) return false;
      if (!is_idstring(t.substr(12, colon - 12))) return false;
      t = t.substr(colon + 1);
      return t.starts_with("LicenseRef-") && is_idstring(t.substr(11));
    }
    if (t.starts_with("LicenseRef-")) return is_idstring(t.substr(11));
    if (t.ends_with('+')) t.remove_suffix(1);
    return is_idstring(t);
  }

  void tokenize() {
    size_t i = 0;
    while (i < text_.size()) {
      char c = text_[i];
      if (c == ' ') {
        ++i;
      } else if (c == '(' || c == ')') {
        tokens_.push_back(text_.substr(i, 1));
        ++i;
      } else {
        size_t start = i;
        while (i < text_.size() && text_[i] != ' ' && text_[i] != '(' && text_[i] != ')') ++i;
        tokens_.push_back(text_.substr(start, i - start));
      }
    }
  }

  std::optional<std::string_view> peek() const {
    if (next_ < tokens_.size()) return tokens_[next_];
    return std::nullopt;
  }

  void parse_or() {
    parse_and();
    while (error_.empty() && peek() && is_operator(*peek(), "OR")) {
      ++next_;
      parse_and();
    }
  }

  void parse_and() {
    parse_with();
    while (error_.empty() && peek() && is_operator(*peek(), "AND")) {
      ++next_;
      parse_with();
    }
  }

  void parse_with() {
    parse_primary();
    if (error_.empty() && peek() && is_operator(*peek(), "WITH")) {
      ++next_;
      auto exception = peek();
      if (!exception || !is_idstring(*exception)) {
        error_ = "WITH must be followed by an exception identifier";
        return;
      }
      ++next_;
    }
  }

  void parse_primary() {
    auto token = peek();
    if (!token) {
      error_ = "it ends where a license identifier is expected";
      return;
    }
    if (*token == "(") {
      ++next_;
      parse_or();
      if (!error_.empty()) return;
      if (!peek() || *peek() != ")") {
        error_ = "a '(' is not closed";
        return;
      }
      ++next_;
      return;
    }
    if (*token == ")" || is_operator(*token, "AND") || is_operator(*token, "OR") ||
        is_operator(*token, "WITH")) {
      error_ = fmt::format("'{}' where a license identifier is expected", *token);
      return;
    }
    if (!is_license_id(*token)) {
      error_ = fmt::format("'{}' is not a license identifier (letters, digits, '.', '-')", *token);
      return;
    }
    ++next_;
  }

  std::string_view text_;
  std::vector<std::string_view> tokens_;
  size_t next_ = 0;
  std::string error_;
};

// ---- capability patterns: each returns every rule the pattern breaks ----

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
      if (close == std::string_view::npos) {
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

Violations filesystem_violations(std::string_view pattern) {
  Violations out;
  if (pattern[0] != '/') {
    out.push_back("is not an absolute path");
  }
  if (pattern.find("//") != std::string_view::npos) {
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
    inner_globstar =
        inner_globstar || (segment != "**" && segment.find("**") != std::string_view::npos);
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
  if (host.size() > kMaxHostBytes) {
    out.push_back(fmt::format("has a host longer than {} bytes", kMaxHostBytes));
    return;
  }
  for (auto label : split(host, '.')) {
    if (label.empty()) {
      out.push_back("has an empty host label");
      return;
    }
    if (label.size() > kMaxLabelBytes) {
      out.push_back(fmt::format("has a host label longer than {} bytes", kMaxLabelBytes));
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
  } else if (port.find('*') != std::string_view::npos) {
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

Violations network_violations(std::string_view pattern) {
  Violations out;
  std::string_view host;
  std::string_view port;
  if (pattern[0] == '[') {
    size_t close = pattern.find(']');
    if (close == std::string_view::npos) {
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
    if (host.find('*') != std::string_view::npos) {
      out.push_back("has a wildcard in an IPv6 address (only host names take a leading '*.')");
    } else if (inet_pton(AF_INET6, std::string(host).c_str(), &address) != 1) {
      out.push_back(fmt::format("has {}, which is not an IPv6 address", quote_value(host)));
    }
    check_port(port, out);
    return out;
  }
  size_t colon = pattern.rfind(':');
  if (colon == std::string_view::npos) {
    out.push_back("has no port (write host:port, e.g. api.example.com:443)");
    return out;
  }
  host = pattern.substr(0, colon);
  port = pattern.substr(colon + 1);
  if (host.find(':') != std::string_view::npos) {
    out.push_back("has ':' in the host (write IPv6 addresses in brackets: [::1]:443)");
    return out;
  }
  if (host.empty()) {
    out.push_back("has an empty host");
  } else {
    std::string_view name = host;
    bool wildcard = host.starts_with("*.");
    if (wildcard) name.remove_prefix(2);
    if (name.find('*') != std::string_view::npos || host == "*") {
      out.push_back(
          "has a host wildcard that is not a leading '*.' label (write e.g. *.example.com)");
    } else if (std::all_of(name.begin(), name.end(),
                           [](char c) { return is_digit(c) || c == '.'; })) {
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

Violations storage_violations(std::string_view pattern) {
  Violations out;
  auto segments = split(pattern, ':');
  for (size_t i = 0; i < segments.size(); ++i) {
    auto segment = segments[i];
    if (segment.empty()) {
      out.push_back("has an empty segment (segments are separated by a single ':')");
      break;
    }
    if (segment == "*") {
      if (i + 1 != segments.size()) {
        out.push_back("uses '*' before the last segment ('*' is allowed only as the last one)");
        break;
      }
      continue;
    }
    if (segment.find('*') != std::string_view::npos) {
      out.push_back("uses '*' inside a segment ('*' must be the whole last segment)");
      break;
    }
    auto bad = std::find_if(segment.begin(), segment.end(),
                            [](char c) { return !is_lower_alnum(c) && c != '_' && c != '-'; });
    if (bad != segment.end()) {
      out.push_back(fmt::format("has {}, outside [a-z0-9_-]", display_char(*bad)));
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
  if (prefix.find('*') != std::string_view::npos) {
    out.push_back("uses '*' other than as a single trailing '*' (e.g. audit-*)");
    return out;
  }
  if (!wildcard) {
    if (!is_component_name(pattern)) {
      out.push_back(fmt::format("is not a component name ({})", kNameRule));
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

Violations topic_violations(std::string_view pattern) {
  Violations out;
  auto levels = split(pattern, '.');
  for (size_t i = 0; i < levels.size(); ++i) {
    auto level = levels[i];
    if (level.empty()) {
      out.push_back("has an empty level (levels are separated by a single '.')");
      break;
    }
    if (level == "*") continue;
    if (level == "#") {
      if (i + 1 != levels.size()) {
        out.push_back("uses '#' before the last level ('#' matches the rest, so it comes last)");
        break;
      }
      continue;
    }
    if (level.find_first_of("*#") != std::string_view::npos) {
      out.push_back("uses '*' or '#' inside a level (a wildcard must be a whole level)");
      break;
    }
    auto bad = std::find_if(level.begin(), level.end(),
                            [](char c) { return !is_alnum(c) && c != '_' && c != '-'; });
    if (bad != level.end()) {
      out.push_back(fmt::format("has {}, outside [a-zA-Z0-9_-]", display_char(*bad)));
      break;
    }
  }
  return out;
}

Violations own_pattern_violations(Permission permission, std::string_view pattern);

// The manifest's own rules give the precise messages; the matchers' compile
// check then guarantees that whatever the manifest accepts, the capability set
// can enforce (found by fuzzing: the two once disagreed).
Violations pattern_violations(Permission permission, std::string_view pattern) {
  Violations out = own_pattern_violations(permission, pattern);
  if (out.empty()) {
    if (auto ok = validate_pattern(pattern_kind(permission), pattern); !ok) {
      out.push_back(fmt::format("is refused by the {} matcher: {}",
                                pattern_kind_name(pattern_kind(permission)), ok.error().message));
    }
  }
  return out;
}

Violations own_pattern_violations(Permission permission, std::string_view pattern) {
  switch (permission) {
    case Permission::MsgSend:
    case Permission::MsgReceive:
      return component_name_violations(pattern);
    case Permission::MsgPublish:
    case Permission::MsgSubscribe:
      return topic_violations(pattern);
    default:
      break;
  }
  switch (resource_kind(permission)) {
    case ResourceKind::Filesystem:
      return filesystem_violations(pattern);
    case ResourceKind::Network:
      return network_violations(pattern);
    case ResourceKind::Storage:
      return storage_violations(pattern);
    case ResourceKind::Messaging:
      break;
  }
  return {};
}

// ---- quota values ----

using QuotaValue = std::expected<uint64_t, std::string>;

QuotaValue quota_size(std::string_view text, std::string_view example) {
  if (text.size() > kMaxQuotaTextBytes) {
    return std::unexpected(fmt::format("is longer than {} bytes", kMaxQuotaTextBytes));
  }
  if (auto p = control_character_problem(text)) return std::unexpected(*p);
  size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (digits > 0 && unit.empty()) {
    return std::unexpected(fmt::format("{} has no unit (write e.g. {}; units: {})",
                                       quote_value(text), example, kUnitList));
  }
  auto size = parse_byte_size(text);
  if (!size) return std::unexpected(size.error().message);
  return *size;
}

QuotaValue quota_rate(std::string_view text) {
  if (text.size() > kMaxQuotaTextBytes) {
    return std::unexpected(fmt::format("is longer than {} bytes", kMaxQuotaTextBytes));
  }
  if (!text.ends_with("/s")) {
    return std::unexpected(
        fmt::format("{} is a rate and must end in /s (e.g. 5MB/s)", quote_value(text)));
  }
  return quota_size(text.substr(0, text.size() - 2), "5MB/s");
}

QuotaValue quota_cpu_time(std::string_view text) {
  if (text.size() > kMaxQuotaTextBytes) {
    return std::unexpected(fmt::format("is longer than {} bytes", kMaxQuotaTextBytes));
  }
  if (auto p = control_character_problem(text)) return std::unexpected(*p);
  if (!text.ends_with("/s")) {
    return std::unexpected(
        fmt::format("{} is a rate and must end in /s (e.g. 500ms/s)", quote_value(text)));
  }
  std::string_view amount = text.substr(0, text.size() - 2);
  size_t digits = 0;
  while (digits < amount.size() && is_digit(amount[digits])) ++digits;
  if (digits == 0) {
    return std::unexpected(fmt::format(
        "{} is not a CPU time (write milliseconds per second, e.g. 500ms/s)", quote_value(text)));
  }
  std::string_view unit = amount.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit != "ms") {
    return std::unexpected(
        fmt::format("unknown unit {} in {} (cpu_time is written in ms/s, e.g. 500ms/s)",
                    quote_value(fmt::format("{}/s", unit)), quote_value(text)));
  }
  auto count = parse_count(amount.substr(0, digits));
  if (!count) return std::unexpected(count.error().message);
  return *count;
}

// ---- the reader ----

int line_of(const toml::source_region& region) {
  return static_cast<int>(region.begin.line);
}

using detail::toml_type_name;

// ---- the [quota] table (manifest and host policy) ----

namespace {

class QuotaTableReader {
 public:
  QuotaTableReader(QuotaSpec& quota, const detail::QuotaProblemFn& add, std::string_view table)
      : quota_(quota), add(add), table_(table) {}

  void read(const toml::table& table) {
    QuotaSpec& quota = quota_;
    for (auto&& [key, node] : table) {
      std::string_view name = key.str();
      std::string full = table_ + "." + display_key(name);
      int line = line_of(node.source());
      if (name == "message_rate") {
        const auto* integer = node.as_integer();
        if (!integer) {
          add(line, full,
              fmt::format("must be a whole number of messages per second (e.g. 500), not {}",
                          toml_type_name(node)));
        } else if (integer->get() < 0) {
          add(line, full, fmt::format("{} is negative", integer->get()));
        } else {
          quota.message_rate =
              bounded_quota(static_cast<uint64_t>(integer->get()), full, line, kMaxMessageRate,
                            [](uint64_t v) { return fmt::format("{} messages/s", v); });
        }
        continue;
      }
      auto bytes = [](uint64_t v) { return format_byte_size(v); };
      auto bytes_per_second = [](uint64_t v) { return format_byte_size(v) + "/s"; };
      auto ms_per_second = [](uint64_t v) { return fmt::format("{}ms/s", v); };
      if (name != "storage" && name != "memory" && name != "network_bandwidth" &&
          name != "cpu_time") {
        add(line_of(key.source()), full,
            "unknown key (known: storage, message_rate, network_bandwidth, cpu_time, memory)");
        continue;
      }
      const auto* text = node.as_string();
      if (!text) {
        std::string_view example = name == "network_bandwidth" ? "\"5MB/s\""
                                   : name == "cpu_time"        ? "\"500ms/s\""
                                                               : "\"128MB\"";
        add(line, full,
            fmt::format("must be a string with a unit (e.g. {}), not {}", example,
                        toml_type_name(node)));
        continue;
      }
      std::string_view value = text->get();
      if (name == "storage") {
        quota.storage_bytes =
            bounded_quota(quota_size(value, "50MB"), full, line, kMaxStorageQuota, bytes);
      } else if (name == "memory") {
        quota.memory_bytes =
            bounded_quota(quota_size(value, "128MB"), full, line, kMaxMemoryQuota, bytes);
        if (quota.memory_bytes && *quota.memory_bytes < kMinMemoryQuota) {
          add(line, full,
              fmt::format("{} is less than one 64 KB WebAssembly page", quote_value(value)));
          quota.memory_bytes.reset();
        }
      } else if (name == "network_bandwidth") {
        quota.network_bytes_per_second =
            bounded_quota(quota_rate(value), full, line, kMaxNetworkBandwidth, bytes_per_second);
      } else {
        quota.cpu_ms_per_second =
            bounded_quota(quota_cpu_time(value), full, line, kMaxCpuMsPerSecond, ms_per_second);
      }
    }
  }

  template <class Format>
  std::optional<uint64_t> bounded_quota(const QuotaValue& value, const std::string& key, int line,
                                        uint64_t limit, Format format) {
    if (!value) {
      add(line, key, value.error());
      return std::nullopt;
    }
    if (*value == 0) {
      add(line, key, "must be more than 0 (leave the key out to use the host's default)");
      return std::nullopt;
    }
    if (*value > limit) {
      add(line, key, fmt::format("{} is more than the limit of {}", format(*value), format(limit)));
      return std::nullopt;
    }
    return *value;
  }


 private:
  QuotaSpec& quota_;
  const detail::QuotaProblemFn& add;
  std::string table_;
};

}  // namespace



class ManifestReader {
 public:
  explicit ManifestReader(std::string_view file) { check_.manifest.file = std::string(file); }

  ManifestCheck run(std::string_view text) {
    if (text.size() > kMaxManifestBytes) {
      add(0, "",
          fmt::format("the file is larger than {}, the most a manifest may have",
                      format_byte_size(kMaxManifestBytes)));
      return finish();
    }
    if (!nesting_is_bounded(text)) return finish();
    toml::table root;
    try {
      root = toml::parse(text, check_.manifest.file);
    } catch (const toml::parse_error& e) {
      add(line_of(e.source()), "",
          fmt::format("TOML syntax error at column {}: {}", e.source().begin.column,
                      e.description()));
      return finish();
    }
    read_root(root);
    return finish();
  }

 private:
  void add(int line, std::string key, std::string rule) {
    check_.problems.push_back(
        ManifestProblem{check_.manifest.file, line, std::move(key), std::move(rule)});
  }

  ManifestCheck finish() {
    auto& problems = check_.problems;
    std::stable_sort(problems.begin(), problems.end(),
                     [](const auto& a, const auto& b) { return a.line < b.line; });
    if (problems.size() > kMaxReportedProblems) {
      size_t more = problems.size() - kMaxReportedProblems;
      problems.resize(kMaxReportedProblems);
      add(0, "", fmt::format("{} more problems not shown", more));
    }
    return std::move(check_);
  }

  bool nesting_is_bounded(std::string_view text) {
    int line = 1;
    size_t dots = 0;
    for (char c : text) {
      if (c == '\n') {
        ++line;
        dots = 0;
      } else if (c == '.' && ++dots > kMaxDotsPerLine) {
        add(line, "",
            fmt::format("more than {} '.' on one line: keys nested this deep are refused",
                        kMaxDotsPerLine));
        return false;
      }
    }
    return true;
  }

  void read_root(const toml::table& root) {
    bool has_component = false;
    for (auto&& [key, node] : root) {
      std::string_view name = key.str();
      int line = line_of(key.source());
      const toml::table* table = node.as_table();
      if (name == "component") has_component = true;
      if (name == "component" || name == "capabilities" || name == "quota" || name == "config" ||
          name == "runtime") {
        if (!table) {
          add(line, std::string(name), fmt::format("must be a table ([{}])", name));
          continue;
        }
      }
      if (name == "component") {
        read_component(*table);
      } else if (name == "capabilities") {
        read_capabilities(*table);
      } else if (name == "quota") {
        read_quota(*table);
      } else if (name == "config") {
        check_.manifest.config = config_json(*table, "config");
        read_config_env(*table);
      } else if (name == "runtime") {
        read_runtime(*table);
      } else {
        add(line, display_key(name),
            "unknown section or key (known: component, capabilities, quota, runtime, config)");
      }
    }
    if (!has_component) add(0, "component", "missing required section [component]");
  }

  void read_runtime(const toml::table& table) {
    for (auto&& [key, node] : table) {
      std::string full = "runtime." + display_key(key.str());
      if (key.str() != "tier") {
        add(line_of(key.source()), full, "unknown key (known: tier)");
        continue;
      }
      auto value = string_value(node, full);
      if (!value) continue;
      check_.manifest.runtime.tier = parse_tier_choice(*value);
      if (!check_.manifest.runtime.tier) {
        add(line_of(node.source()), full,
            fmt::format("\"{}\" is not a tier (known: interp, native, auto)",
                        value->substr(0, 64)));
      }
    }
  }

  // [config.env] becomes the component's WASI environment: names a POSIX
  // environment can hold, string values without NUL.
  void read_config_env(const toml::table& config) {
    const toml::node* env = config.get("env");
    if (!env) return;
    const toml::table* table = env->as_table();
    if (!table) {
      add(line_of(env->source()), "config.env",
          fmt::format("must be a table of strings (the component's environment), not {}",
                      toml_type_name(*env)));
      return;
    }
    for (auto&& [key, value] : *table) {
      std::string name(key.str());
      std::string path = "config.env." + display_key(name);
      if (!is_environment_name(name)) {
        add(line_of(key.source()), path,
            "is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 256 bytes)");
      }
      if (const auto* text = value.as_string()) {
        if (text->get().find('\0') != std::string::npos) {
          add(line_of(value.source()), path, "must not contain a NUL character");
        }
      } else {
        add(line_of(value.source()), path,
            fmt::format("must be a string, not {}", toml_type_name(value)));
      }
    }
  }

  // The string value of node, or a problem when it is something else.
  std::optional<std::string_view> string_value(const toml::node& node, const std::string& key) {
    if (auto* s = node.as_string()) return std::string_view(s->get());
    add(line_of(node.source()), key, fmt::format("must be a string, not {}", toml_type_name(node)));
    return std::nullopt;
  }

  void read_component(const toml::table& table) {
    ComponentInfo& info = check_.manifest.component;
    bool has_name = false;
    bool has_version = false;
    for (auto&& [key, node] : table) {
      std::string_view name = key.str();
      std::string full = "component." + display_key(name);
      int line = line_of(node.source());
      if (name != "name" && name != "version" && name != "description" && name != "author" &&
          name != "license") {
        add(line_of(key.source()), full,
            "unknown key (known: name, version, description, author, license)");
        continue;
      }
      auto value = string_value(node, full);
      if (name == "name") has_name = true;
      if (name == "version") has_version = true;
      if (!value) continue;
      if (name == "name") {
        if (*value == kHostSenderName) {
          add(line, full,
              fmt::format("\"{}\" is reserved: it is the sender of the host's own messages",
                          kHostSenderName));
        } else if (is_component_name(*value)) {
          info.name = std::string(*value);
        } else {
          add(line, full,
              fmt::format("{} is not a valid component name ({})", quote_value(*value), kNameRule));
        }
      } else if (name == "version") {
        if (auto p = semver_problem(*value)) {
          add(line, full,
              fmt::format("{} is not a SemVer 2.0.0 version: {}", quote_value(*value), *p));
        } else {
          info.version = std::string(*value);
        }
      } else if (name == "description") {
        info.description = free_text(*value, full, line, kMaxDescriptionChars, true);
      } else if (name == "author") {
        info.author = free_text(*value, full, line, kMaxAuthorChars, false);
      } else if (auto p = LicenseExpression(*value).problem()) {
        add(line, full,
            fmt::format("{} is not an SPDX license expression: {}", quote_value(*value), *p));
      } else {
        info.license = std::string(*value);
      }
    }
    int line = line_of(table.source());
    if (!has_name) add(line, "component.name", "missing required key");
    if (!has_version) add(line, "component.version", "missing required key");
  }

  std::optional<std::string> free_text(std::string_view value, const std::string& key, int line,
                                       size_t max_chars, bool multi_line) {
    bool ok = true;
    if (value.empty()) {
      add(line, key, "is empty (leave the key out instead)");
      ok = false;
    }
    if (size_t chars = count_code_points(value); chars > max_chars) {
      add(line, key, fmt::format("has {} characters; at most {} are allowed", chars, max_chars));
      ok = false;
    }
    auto bad = std::find_if(value.begin(), value.end(), [&](char c) {
      return is_control(c) && !(multi_line && (c == '\n' || c == '\t'));
    });
    if (bad != value.end()) {
      add(line, key,
          fmt::format("contains a control character (byte 0x{:02x})",
                      static_cast<unsigned char>(*bad)));
      ok = false;
    }
    if (!ok) return std::nullopt;
    return std::string(value);
  }

  void read_capabilities(const toml::table& table) {
    for (auto&& [key, node] : table) {
      std::string_view resource = key.str();
      std::string full = "capabilities." + display_key(resource);
      int line = line_of(key.source());
      if (resource.find('.') != std::string_view::npos && parse_permission(resource)) {
        add(line, full,
            fmt::format("quoted key: write {} without quotes, as a dotted key", resource));
        continue;
      }
      std::vector<Permission> known;
      for (auto p : kAllPermissions) {
        if (resource_kind_name(resource_kind(p)) == resource) known.push_back(p);
      }
      if (known.empty()) {
        add(line, full,
            "unknown resource (known: filesystem, network, storage, messaging; write e.g. "
            "filesystem.read = [...])");
        continue;
      }
      const toml::table* actions = node.as_table();
      if (!actions) {
        add(line, full,
            fmt::format("must be a table of permissions (write e.g. {}.{} = [...])", resource,
                        permission_action(known.front())));
        continue;
      }
      for (auto&& [action_key, value] : *actions) {
        std::string_view action = action_key.str();
        std::string permission_key = full + "." + display_key(action);
        auto permission = parse_permission(fmt::format("{}.{}", resource, action));
        if (!permission) {
          std::string names;
          for (auto p : known) {
            if (!names.empty()) names += ", ";
            names += permission_action(p);
          }
          add(line_of(action_key.source()), permission_key,
              fmt::format("unknown permission {}.{} (known for {}: {})", resource,
                          display_key(action), resource, names));
          continue;
        }
        read_patterns(*permission, permission_key, value);
      }
    }
  }

  void read_patterns(Permission permission, const std::string& key, const toml::node& node) {
    const toml::array* array = node.as_array();
    if (!array) {
      add(line_of(node.source()), key,
          fmt::format("must be an array of strings, not {}", toml_type_name(node)));
      return;
    }
    if (array->empty()) {
      add(line_of(node.source()), key, "empty array (leave the permission out to request nothing)");
      return;
    }
    auto& patterns = check_.manifest.capabilities[static_cast<size_t>(permission)];
    std::unordered_map<std::string_view, size_t> first_index;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      std::string element_key = fmt::format("{}[{}]", key, i);
      int line = line_of(element.source());
      auto value = string_value(element, element_key);
      if (!value) continue;
      if (value->empty()) {
        add(line, element_key, "empty pattern");
        continue;
      }
      if (auto [it, inserted] = first_index.emplace(*value, i); !inserted) {
        add(line, element_key,
            fmt::format("{} is a duplicate of {}[{}]", quote_value(*value), key, it->second));
        continue;
      }
      if (value->size() > kMaxPatternBytes) {
        add(line, element_key,
            fmt::format("{} is longer than {} bytes", quote_value(*value), kMaxPatternBytes));
        continue;
      }
      if (auto p = control_character_problem(*value)) {
        add(line, element_key, fmt::format("{} {}", quote_value(*value), *p));
        continue;
      }
      auto violations = pattern_violations(permission, *value);
      for (const auto& violation : violations) {
        add(line, element_key, fmt::format("{} {}", quote_value(*value), violation));
      }
      if (violations.empty()) patterns.emplace_back(*value);
    }
  }

  void read_quota(const toml::table& table) {
    detail::read_quota_table(table, check_.manifest.quota,
                             [this](int line, std::string key, std::string rule) {
                               add(line, std::move(key), std::move(rule));
                             });
  }

  nlohmann::json config_json(const toml::node& node, const std::string& key) {
    switch (node.type()) {
      case toml::node_type::table: {
        auto object = nlohmann::json::object();
        for (auto&& [k, v] : *node.as_table()) {
          object[std::string(k.str())] = config_json(v, key + "." + display_key(k.str()));
        }
        return object;
      }
      case toml::node_type::array: {
        auto array = nlohmann::json::array();
        const auto& elements = *node.as_array();
        for (size_t i = 0; i < elements.size(); ++i) {
          array.push_back(config_json(*elements.get(i), fmt::format("{}[{}]", key, i)));
        }
        return array;
      }
      case toml::node_type::string:
        return node.as_string()->get();
      case toml::node_type::integer:
        return node.as_integer()->get();
      case toml::node_type::floating_point: {
        double value = node.as_floating_point()->get();
        if (!std::isfinite(value)) {
          add(line_of(node.source()), key, "must be a finite number (JSON has no nan or inf)");
        }
        return value;
      }
      case toml::node_type::boolean:
        return node.as_boolean()->get();
      case toml::node_type::date:
      case toml::node_type::time:
      case toml::node_type::date_time: {
        std::ostringstream text;
        node.visit([&](const auto& v) { text << v; });
        return text.str();
      }
      case toml::node_type::none:
        break;
    }
    return nullptr;
  }

  ManifestCheck check_;
};

}  // namespace

bool Manifest::requests_capabilities() const {
  return std::any_of(capabilities.begin(), capabilities.end(),
                     [](const auto& patterns) { return !patterns.empty(); });
}

std::string ManifestProblem::to_string() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}", line);
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += rule;
  return out;
}

bool is_component_name(std::string_view name) {
  return name.size() >= 3 && name.size() <= 64 && is_lower_alnum(name.front()) &&
         is_lower_alnum(name.back()) && std::all_of(name.begin(), name.end(), [](char c) {
           return is_lower_alnum(c) || c == '-';
         });
}

bool is_semver(std::string_view version) {
  return !semver_problem(version);
}

ManifestCheck check_manifest(std::string_view text, std::string_view file_name) {
  try {
    return ManifestReader(file_name).run(text);
  } catch (const std::exception& e) {
    ManifestCheck failed;
    failed.manifest.file = std::string(file_name);
    failed.problems.push_back(ManifestProblem{std::string(file_name), 0, "",
                                              fmt::format("cannot be read: {}", e.what())});
    return failed;
  }
}

Result<Manifest> parse_manifest(std::string_view text, std::string_view file_name) {
  auto check = check_manifest(text, file_name);
  if (check.problems.empty()) return std::move(check.manifest);
  std::string message;
  for (const auto& problem : check.problems) {
    if (!message.empty()) message += '\n';
    message += problem.to_string();
  }
  return make_error(ErrorCode::InvalidManifest, std::move(message));
}

Result<Manifest> load_manifest(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(path, ec)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot open for reading", path.string()));
  }
  std::string text;
  text.resize(kMaxManifestBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return make_error(ErrorCode::IoError, fmt::format("{}: read failed", path.string()));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_manifest(text, path.string());
}

bool is_environment_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  if (name.front() >= '0' && name.front() <= '9') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::vector<std::string> manifest_environment(const Manifest& manifest) {
  std::vector<std::string> env;
  auto it = manifest.config.find("env");
  if (it == manifest.config.end() || !it->is_object()) return env;
  for (const auto& [name, value] : it->items()) {
    if (value.is_string()) env.push_back(name + "=" + value.get<std::string>());
  }
  return env;
}

const char* tier_choice_name(TierChoice tier) {
  switch (tier) {
    case TierChoice::Interp: return "interp";
    case TierChoice::Native: return "native";
    case TierChoice::Auto: return "auto";
  }
  return "?";
}

std::optional<TierChoice> parse_tier_choice(std::string_view text) {
  if (text == "interp") return TierChoice::Interp;
  if (text == "native") return TierChoice::Native;
  if (text == "auto") return TierChoice::Auto;
  return std::nullopt;
}

std::string canonical_capabilities(const Manifest& manifest) {
  std::vector<std::string> lines;
  for (auto permission : kAllPermissions) {
    for (const auto& pattern : manifest.patterns(permission)) {
      lines.push_back(fmt::format("{} {}", permission_name(permission), pattern));
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& line : lines) {
    out += line;
    out += '\n';
  }
  return out;
}

std::string canonical_approval_terms(const Manifest& manifest) {
  std::string out = canonical_capabilities(manifest);
  const QuotaSpec& q = manifest.quota;
  auto line = [&](std::string_view key, const std::optional<uint64_t>& value,
                  std::string_view unit) {
    if (value) out += fmt::format("quota {} {} {}\n", key, *value, unit);
  };
  // Exact numbers, not rounded sizes: two different values never read alike.
  line("storage", q.storage_bytes, "B");
  line("message_rate", q.message_rate, "/s");
  line("network_bandwidth", q.network_bytes_per_second, "B/s");
  line("cpu_time", q.cpu_ms_per_second, "ms/s");
  line("memory", q.memory_bytes, "B");
  if (manifest.runtime.tier) {
    out += fmt::format("runtime tier {}\n", tier_choice_name(*manifest.runtime.tier));
  }
  // nlohmann::json keeps object keys sorted and escapes control characters,
  // so the dump is one line and the same for the same configuration.
  if (!manifest.config.empty()) out += "config " + manifest.config.dump() + "\n";
  return out;
}

void detail::read_quota_table(const toml::table& table, QuotaSpec& quota,
                              const QuotaProblemFn& add, std::string_view table_name) {
  QuotaTableReader(quota, add, table_name).read(table);
}

Result<QuotaSpec> read_quota_table(const toml::table& table, std::string_view file,
                                   std::string_view table_name) {
  QuotaSpec quota;
  std::vector<std::string> problems;
  detail::read_quota_table(
      table, quota,
      [&](int line, std::string key, std::string rule) {
        problems.push_back(fmt::format("{}:{}: {}: {}", file, line, key, rule));
      },
      table_name);
  if (!problems.empty()) {
    std::string message;
    for (const auto& p : problems) message += (message.empty() ? "" : "\n") + p;
    return make_error(ErrorCode::InvalidConfig, std::move(message));
  }
  return quota;
}

}  // namespace airssys::wasm::security
