#pragma once
// Capability patterns. Each kind is compiled once from its text, where a bad
// pattern is refused with a message naming the rule it breaks, and is then
// matched many times: matching never allocates and never throws.
//
// A candidate that is not in the canonical form of its kind never matches any
// pattern: matchers deny, they do not repair (no path normalization, no
// trailing-dot stripping, no case folding of paths, keys or topics).

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

// Which matcher the patterns of a permission use.
enum class PatternKind : uint8_t {
  Path,           // filesystem.*
  HostPort,       // network.*
  StorageKey,     // storage.*
  ComponentName,  // messaging.send, messaging.receive
  Topic,          // messaging.publish, messaging.subscribe
};

[[nodiscard]] PatternKind pattern_kind(Permission permission) noexcept;
[[nodiscard]] std::string_view pattern_kind_name(PatternKind kind) noexcept;

// Checks pattern text of a kind without keeping the compiled form (for manifest
// validation). The error is InvalidArgument and its message names the rule.
[[nodiscard]] Result<void> validate_pattern(PatternKind kind, std::string_view text);

// Every rule the pattern text of a kind breaks, each a phrase that follows the
// quoted pattern ("is not an absolute path", "has a '..' segment"); empty when
// the pattern is valid. Text that keeps every written rule but that the
// matcher of its kind still refuses gives "is refused by the <kind> matcher:
// ...". The manifest reports these; a pattern with none compiles.
[[nodiscard]] std::vector<std::string> pattern_violations(PatternKind kind, std::string_view text);

// ---- Filesystem ------------------------------------------------------------

// True for "/" and for "/seg/seg..." without empty, "." or ".." segments,
// without a trailing '/' and without NUL bytes.
[[nodiscard]] bool is_normal_absolute_path(std::string_view path) noexcept;

// Shell-style globs over absolute paths.
// - Segments are separated by '/'. `*`, `?` and classes never match '/'.
// - `**` as a whole segment matches zero or more whole segments; `**` inside a
//   segment is refused. `/a/**` matches `/a` itself and everything below it.
// - Classes: `[abc]`, `[a-z]` (ASCII endpoints), `[!a]` and `[^a]`; a `]`
//   right after `[`, `[!` or `[^` is a member. POSIX classes (`[:alpha:]`) and
//   non-ASCII members are refused, and ranges are listed out when compiled,
//   so classes do not depend on the process locale.
// - `{a,b}` alternatives are expanded when the pattern is compiled; they nest
//   and may contain '/'. At most kMaxAlternatives expansions.
// - No escapes: '\' is an ordinary character; a literal `[`, `*`, `?` or `{`
//   is written `[[]`, `[*]`, `[?]`, `[{]`.
// - `*` also matches names that start with '.'; no pattern matches a "." or
//   ".." segment.
// - Case-sensitive, byte-wise in the C locale (in a UTF-8 locale `?` matches
//   one character). A segment longer than 255 bytes (NAME_MAX) never matches
//   a wildcard segment.
// Segments `*`, `*suffix` and `prefix*` are matched directly; every other
// wildcard segment by fnmatch(3) with FNM_PATHNAME | FNM_NOESCAPE.
// Example:
//   auto p = PathPattern::compile("/srv/app/data/**/*.json");
//   p->matches("/srv/app/data/2024/05/orders.json");  // true
//   p->matches("/srv/app/data/../secret.json");       // false: not normalized
class PathPattern {
 public:
  static constexpr size_t kMaxAlternatives = 64;

  [[nodiscard]] static Result<PathPattern> compile(std::string_view text);

  [[nodiscard]] bool matches(std::string_view path) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  friend class CapabilitySet;

  enum class SegmentKind : uint8_t {
    Literal,  // text
    Any,      // `*`
    Prefix,   // `text*`
    Suffix,   // `*text`
    Glob,     // anything else: text is a locale-independent fnmatch(3) pattern
    AnyDirs,  // `**`
  };
  struct Segment {
    SegmentKind kind;
    std::string text;
  };
  // The leading literal segments are compared as one string: "/a/b" when
  // nothing follows them, "/a/b/" (or "/") when `rest` continues the pattern.
  // `head` and `tail` hold the first and last 8 bytes of a literal of 8 or
  // more bytes: most patterns of a set are told apart by them alone.
  struct Alternative {
    std::string literal;
    uint64_t head = 0;
    uint64_t tail = 0;
    std::vector<Segment> rest;
  };

  // One brace-free alternative; the error is the rule it breaks.
  [[nodiscard]] static std::expected<Alternative, std::string> compile_alternative(
      std::string_view path);
  [[nodiscard]] static bool segment_matches(const Segment& pattern,
                                            std::string_view segment) noexcept;
  [[nodiscard]] static bool starts_with_literal(std::string_view path,
                                                const Alternative& alternative) noexcept;
  [[nodiscard]] static bool rest_matches(const std::vector<Segment>& rest, std::string_view path,
                                         size_t pos) noexcept;
  // `path` has passed is_normal_absolute_path().
  [[nodiscard]] bool matches_normal(std::string_view path) const noexcept;

  std::string text_;
  std::vector<Alternative> alternatives_;
};

// Inline: a capability check runs this for every pattern of a set.
inline bool PathPattern::starts_with_literal(std::string_view path,
                                             const Alternative& alternative) noexcept {
  const std::string& literal = alternative.literal;
  const size_t k = literal.size();
  if (path.size() < k) return false;
  if (k < 8) return std::memcmp(path.data(), literal.data(), k) == 0;
  uint64_t head;
  uint64_t tail;
  std::memcpy(&head, path.data(), 8);
  std::memcpy(&tail, path.data() + k - 8, 8);
  if (head != alternative.head || tail != alternative.tail) return false;
  return k <= 16 || std::memcmp(path.data() + 8, literal.data() + 8, k - 16) == 0;
}

inline bool PathPattern::matches_normal(std::string_view path) const noexcept {
  const size_t n = path.size();
  for (const Alternative& alternative : alternatives_) {
    const std::string& literal = alternative.literal;
    if (alternative.rest.empty()) {
      if (n == literal.size() && starts_with_literal(path, alternative)) return true;
      continue;
    }
    // `literal` ends with '/'. The rest starts after it, or matches nothing
    // when the path is the literal part itself ("/a" for "/a/**", "/" for "/**").
    size_t pos;
    if (n > literal.size() && starts_with_literal(path, alternative)) {
      pos = literal.size();
    } else if (n + 1 == literal.size() && literal.starts_with(path)) {
      pos = n;
    } else if (path == literal) {
      pos = n;
    } else {
      continue;
    }
    if (rest_matches(alternative.rest, path, pos)) return true;
  }
  return false;
}

// ---- Network ---------------------------------------------------------------

// A `host:port` candidate, parsed once and checked against many patterns.
// Hosts: a name, a dotted-quad IPv4 literal, or an IPv6 literal in brackets
// (`[::1]:443`). The port is decimal 1-65535 without leading zeros. An
// IPv4-mapped IPv6 address is the IPv4 address it maps. Refused: a trailing
// dot, empty labels, a name that the C resolver would read as a number
// (`127.1`, `0x7f.0.0.1`), zone ids, anything after the port.
struct NetworkEndpoint {
  enum class HostKind : uint8_t { Name, Ipv4, Ipv6 };

  HostKind kind = HostKind::Name;
  std::string_view name;              // Name: as given (any case)
  std::array<uint8_t, 16> address{};  // Ipv4: first 4 bytes; Ipv6: all 16
  uint16_t port = 0;

  [[nodiscard]] static std::optional<NetworkEndpoint> parse(std::string_view host_port) noexcept;
  // `host` may be an IPv6 literal with or without brackets.
  [[nodiscard]] static std::optional<NetworkEndpoint> parse(std::string_view host,
                                                            uint16_t port) noexcept;
};

// `host:port` grants. The host is an exact name (compared case-insensitively),
// `*.example.com` (any name with at least one more label in front: not
// `example.com`, not `evil-example.com`), an IPv4 literal or a bracketed IPv6
// literal (compared as addresses). The port is exact; a wildcard port is
// refused. Names are letters, digits and '-' in dot-separated labels of 1-63
// characters that neither start nor end with '-', at most 253 characters.
// Example:
//   auto p = NetworkPattern::compile("*.cdn.example.com:80");
//   p->matches("img.eu.cdn.example.com:80");  // true
//   p->matches("cdn.example.com:80");         // false
// The caller must connect to the host it checked, not to a repaired form.
class NetworkPattern {
 public:
  [[nodiscard]] static Result<NetworkPattern> compile(std::string_view text);

  [[nodiscard]] bool matches(std::string_view host_port) const noexcept;
  [[nodiscard]] bool matches(std::string_view host, uint16_t port) const noexcept;
  [[nodiscard]] bool matches(const NetworkEndpoint& endpoint) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  enum class HostKind : uint8_t { Name, Subdomains, Ipv4, Ipv6 };

  std::string text_;
  HostKind kind_ = HostKind::Name;
  std::string host_;  // Name: lower-cased; Subdomains: lower-cased ".example.com"
  std::array<uint8_t, 16> address_{};
  uint16_t port_ = 0;
};

// ---- Storage keys ----------------------------------------------------------

// True for ':'-separated keys of non-empty segments without NUL bytes.
[[nodiscard]] bool is_valid_storage_key(std::string_view key) noexcept;

// Storage key grants. Segments are separated by ':', are never empty and, in a
// pattern, are printable ASCII other than ':' and '*'. A pattern is an exact key
// or ends with the whole segment `*`, which matches one or more whole segments:
// `orders:*` matches `orders:1` and `orders:a:b`, not `orders` or `orders:`.
// `*` alone matches every valid key.
class StorageKeyPattern {
 public:
  [[nodiscard]] static Result<StorageKeyPattern> compile(std::string_view text);

  [[nodiscard]] bool matches(std::string_view key) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  friend class CapabilitySet;

  // `key` has passed is_valid_storage_key().
  [[nodiscard]] bool matches_valid(std::string_view key) const noexcept;

  std::string text_;
  std::string prefix_;  // with its trailing ':' when wildcard_; empty for `*`
  bool wildcard_ = false;
};

// ---- Component names -------------------------------------------------------

// A component name: ^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$. The one test of a
// name, wherever a name is taken (manifests, grants, contexts, the host).
[[nodiscard]] bool is_valid_component_name(std::string_view name) noexcept;
// The same rule in words, for messages.
inline constexpr std::string_view kComponentNameRule =
    "3-64 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";

// Messaging peers by component name: an exact name, `prefix*` (the prefix
// followed by one or more characters), or `*` (any valid name). Names are
// lower case; a candidate that is not a valid name never matches.
class ComponentNamePattern {
 public:
  [[nodiscard]] static Result<ComponentNamePattern> compile(std::string_view text);

  [[nodiscard]] bool matches(std::string_view name) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  friend class CapabilitySet;

  // `name` has passed is_valid_component_name().
  [[nodiscard]] bool matches_valid(std::string_view name) const noexcept;

  std::string text_;
  std::string prefix_;  // exact name, or the part before '*'
  bool wildcard_ = false;
};

// ---- Topics ----------------------------------------------------------------

// True for a concrete topic: '.'-separated, non-empty levels, no '*', '#' or
// NUL bytes.
[[nodiscard]] bool is_valid_topic(std::string_view topic) noexcept;
// True for a subscription filter: a topic whose levels may also be exactly `*`
// or, as the last level only, exactly `#`.
[[nodiscard]] bool is_valid_topic_filter(std::string_view filter) noexcept;

// Topic grants with '.'-separated levels, MQTT style: `*` matches exactly one
// level, `#` (only as the last level) matches the rest. As in MQTT (`a/#`
// matches `a`) and AMQP, `#` matches zero or more levels, so `alerts.#`
// matches `alerts` itself as well as `alerts.disk.full`. `events.*` matches
// `events.a`, not `events` nor `events.a.b`. Pattern levels are printable
// ASCII other than '.'; `*` and `#` may not appear inside a level.
class TopicPattern {
 public:
  [[nodiscard]] static Result<TopicPattern> compile(std::string_view text);

  // A concrete topic (publish, delivery).
  [[nodiscard]] bool matches(std::string_view topic) const noexcept;
  // A subscription filter: true when every topic the filter matches is matched
  // by this pattern (`alerts.#` covers `alerts.disk.*`; `alerts.*` does not
  // cover `alerts.#`; `*.#` covers `#`, since a topic is never empty).
  [[nodiscard]] bool covers(std::string_view filter) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  friend class CapabilitySet;

  enum class LevelKind : uint8_t { Literal, One, Rest };  // text, `*`, `#`
  struct Level {
    LevelKind kind;
    std::string text;
  };

  // `filter` has passed is_valid_topic_filter() (a valid topic passes it too).
  [[nodiscard]] bool covers_valid(std::string_view filter) const noexcept;

  std::string text_;
  // The leading literal levels, each followed by '.', compared as one string;
  // the levels after them. An all-literal pattern has no `rest_`.
  std::string literal_;
  std::vector<Level> rest_;
};

}  // namespace airssys::wasm::security
