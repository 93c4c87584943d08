// Longer than 900 lines: every rule of the one pattern grammar and every
// matcher, side by side as in pattern.cpp.
#include "airssys/wasm/security/pattern.hpp"

#include <fmt/format.h>
#include <fnmatch.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <clocale>
#include <string>
#include <string_view>
#include <vector>

namespace airssys::wasm::security {
namespace {

using namespace std::string_view_literals;

struct MatchCase {
  std::string_view pattern;
  std::string_view candidate;
  bool expected;
};

struct RefusalCase {
  std::string_view pattern;
  std::string_view rule;  // a part of the error message
};

// Compiles every pattern of the table and checks every candidate.
template <class Pattern>
void expect_matches(const std::vector<MatchCase>& cases) {
  for (const auto& c : cases) {
    auto pattern = Pattern::compile(c.pattern);
    ASSERT_TRUE(pattern.has_value()) << c.pattern << ": " << pattern.error().message;
    EXPECT_EQ(pattern->matches(c.candidate), c.expected)
        << "pattern \"" << c.pattern << "\" against \"" << std::string(c.candidate) << "\"";
  }
}

template <class Pattern>
void expect_refused(const std::vector<RefusalCase>& cases) {
  for (const auto& c : cases) {
    auto pattern = Pattern::compile(c.pattern);
    ASSERT_FALSE(pattern.has_value()) << "accepted \"" << std::string(c.pattern) << "\"";
    EXPECT_EQ(pattern.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(pattern.error().message.find(c.rule), std::string::npos)
        << "pattern \"" << std::string(c.pattern) << "\": " << pattern.error().message;
  }
}

// ---- Filesystem ------------------------------------------------------------

TEST(PathPattern, StarStaysInsideOneSegment) {
  expect_matches<PathPattern>({
      {"/a/*", "/a/b", true},
      {"/a/*", "/a/b/c", false},
      {"/a/*", "/ab", false},
      {"/a/*", "/a/", false},
      {"/a/*", "/a", false},
      {"/a/*", "/a/.hidden", true},
      {"/a/*", "/a/..", false},
      {"/a/*", "/a/.", false},
      {"/a*", "/abc", true},
      {"/a*", "/a/b", false},
      {"/a/*.txt", "/a/notes.txt", true},
      {"/a/*.txt", "/a/dir/notes.txt", false},
      {"/a/*.txt", "/a/notes.txt.bak", false},
      {"/a/*/c", "/a/b/c", true},
      {"/a/*/c", "/a/c", false},
      {"/a/*/c", "/a/b/b/c", false},
  });
}

TEST(PathPattern, QuestionMarkIsOneCharacterNeverSlash) {
  expect_matches<PathPattern>({
      {"/a/?", "/a/b", true},
      {"/a/?", "/a/bc", false},
      {"/a/?", "/a/", false},
      {"/a?b", "/a/b", false},
      {"/a?b", "/axb", true},
      {"/log/app.?", "/log/app.1", true},
      {"/log/app.?", "/log/app.10", false},
  });
}

TEST(PathPattern, DoubleStarSpansZeroOrMoreDirectories) {
  expect_matches<PathPattern>({
      {"/a/**", "/a", true},
      {"/a/**", "/a/b", true},
      {"/a/**", "/a/b/c", true},
      {"/a/**", "/ab", false},
      {"/a/**", "/", false},
      {"/a/**", "/b/a", false},
      {"/**", "/", true},
      {"/**", "/x/y/z", true},
      {"/**/x", "/x", true},
      {"/**/x", "/a/b/x", true},
      {"/**/x", "/a/bx", false},
      {"/**/x", "/a/x/y", false},
      {"/a/**/b/**/c", "/a/b/c", true},
      {"/a/**/b/**/c", "/a/x/b/y/z/c", true},
      {"/a/**/b/**/c", "/a/b/b/b/c", true},
      {"/a/**/b/**/c", "/a/c", false},
      {"/a/**/b/**/c", "/a/b/x", false},
      {"/a/**/**/b", "/a/b", true},
      {"/a/**/b", "/a/x/y/b", true},
      {"/srv/app/data/**/*.json", "/srv/app/data/x.json", true},
      {"/srv/app/data/**/*.json", "/srv/app/data/2024/05/orders.json", true},
      {"/srv/app/data/**/*.json", "/srv/app/data/x.yaml", false},
      {"/srv/app/data/**/*.json", "/srv/app/data/a.json/b", false},
      {"/srv/app/data/**/*.json", "/srv/app/data.json", false},
      {"/srv/app/data/**/*.json", "/srv/app/datax/y.json", false},
      {"/srv/app/data/**/*.json", "/srv/app/x.json", false},
      {"/srv/app/data/**/*.json", "/srv/app/data", false},
  });
}

TEST(PathPattern, NonNormalCandidatesNeverMatch) {
  const std::string long_name(256, 'x');
  const std::string longest_name(255, 'x');
  const std::string long_path = "/a/" + long_name;
  const std::string longest_path = "/a/" + longest_name;
  expect_matches<PathPattern>({
      {"/srv/app/data/**", "/srv/app/data/../secret", false},
      {"/srv/app/data/**", "/srv/app/data/x/../../secret", false},
      {"/srv/app/data/**", "/srv/app/data/..", false},
      {"/srv/app/data/**", "/srv/app//data/x", false},
      {"/srv/app/data/**", "//srv/app/data/x", false},
      {"/srv/app/data/**", "/srv/app/./data/x", false},
      {"/srv/app/data/**", "/srv/app/data/.", false},
      {"/srv/app/data/**", "/srv/app/data/x/", false},
      {"/srv/app/data/**", "/srv/app/data/", false},
      {"/srv/app/data/**", "srv/app/data/x", false},
      {"/srv/app/data/**", "", false},
      {"/srv/app/data/**", "/srv/app/data/x\0y"sv, false},
      {"/srv/app/data/**", "/srv/app/data\0/x"sv, false},
      {"/srv/app/data/*", "/srv/app/data/x\0"sv, false},
      {"/srv/app/data/x", "/srv/app/data/x\0"sv, false},
      {"/**", "/a/../b", false},
      {"/a/*", long_path, false},  // longer than NAME_MAX
      {"/a/*", longest_path, true},
  });
}

TEST(PathPattern, IsCaseSensitive) {
  expect_matches<PathPattern>({
      {"/srv/app/data/**/*.json", "/SRV/app/data/x.json", false},
      {"/srv/app/data/**/*.json", "/srv/app/data/x.JSON", false},
      {"/etc/Hosts", "/etc/hosts", false},
      {"/etc/Hosts", "/etc/Hosts", true},
      {"/x/[a-z]", "/x/Q", false},
      {"/x/[A-Z]", "/x/q", false},
  });
}

TEST(PathPattern, Classes) {
  expect_matches<PathPattern>({
      {"/x/[abc].txt", "/x/a.txt", true},
      {"/x/[abc].txt", "/x/d.txt", false},
      {"/x/[abc].txt", "/x/ab.txt", false},
      {"/x/[a-c]", "/x/b", true},
      {"/x/[a-c]", "/x/d", false},
      {"/x/[a-c]", "/x/-", false},
      {"/x/[0-9][0-9]", "/x/42", true},
      {"/x/[0-9][0-9]", "/x/4a", false},
      {"/x/[!a]", "/x/b", true},
      {"/x/[!a]", "/x/a", false},
      {"/x/[^a]", "/x/b", true},
      {"/x/[^a]", "/x/a", false},
      {"/x/[]]", "/x/]", true},
      {"/x/[]]", "/x/a", false},
      {"/x/[!]]", "/x/a", true},
      {"/x/[!]]", "/x/]", false},
      {"/x/[a-]", "/x/-", true},
      {"/x/[a-]", "/x/a", true},
      {"/x/[-a]", "/x/-", true},
      {"/x/[!-]", "/x/a", true},
      {"/x/[!-]", "/x/-", false},
      {"/x/[-!]", "/x/!", true},
      {"/x/[-!]", "/x/-", true},
      {"/x/[-!]", "/x/a", false},
      {"/x/[-^]", "/x/^", true},
      {"/x/[*]", "/x/*", true},
      {"/x/[*]", "/x/a", false},
      {"/x/[?]", "/x/?", true},
      {"/x/[?]", "/x/a", false},
      {"/x/[[]", "/x/[", true},
      {"/x/[{,}]", "/x/{", true},
      {"/x/[{,}]", "/x/,", true},
      {"/x/[ -!]", "/x/ ", true},
      {"/x/[!a-z]*", "/x/Zed", true},
      {"/x/[!a-z]*", "/x/zed", false},
      {"/x/a]", "/x/a]", true},
  });
}

TEST(PathPattern, BracesExpandAtCompileTime) {
  expect_matches<PathPattern>({
      {"/etc/{hosts,resolv.conf}", "/etc/hosts", true},
      {"/etc/{hosts,resolv.conf}", "/etc/resolv.conf", true},
      {"/etc/{hosts,resolv.conf}", "/etc/passwd", false},
      {"/etc/{hosts,resolv.conf}", "/etc/{hosts,resolv.conf}", false},
      {"/a/{b,c{d,e}}/f", "/a/b/f", true},
      {"/a/{b,c{d,e}}/f", "/a/cd/f", true},
      {"/a/{b,c{d,e}}/f", "/a/ce/f", true},
      {"/a/{b,c{d,e}}/f", "/a/c/f", false},
      {"/a/{b/c,d}/e", "/a/b/c/e", true},
      {"/a/{b/c,d}/e", "/a/d/e", true},
      {"/a/{b/c,d}/e", "/a/b/e", false},
      {"/a/file{,.bak}", "/a/file", true},
      {"/a/file{,.bak}", "/a/file.bak", true},
      {"/a/file{,.bak}", "/a/file.old", false},
      {"/{srv,opt}/**/*.{json,toml}", "/opt/x/y.toml", true},
      {"/{srv,opt}/**/*.{json,toml}", "/srv/y.json", true},
      {"/{srv,opt}/**/*.{json,toml}", "/usr/y.json", false},
      {"/a/[{]", "/a/{", true},
      {"/a/b,c", "/a/b,c", true},
  });
}

TEST(PathPattern, MiscellaneousLiterals) {
  expect_matches<PathPattern>({
      {"/", "/", true},
      {"/", "/a", false},
      {"/a", "/", false},
      {"/a/b", "/a/b", true},
      {"/a/b", "/a/bb", false},
      {"/a\\*", "/a\\x", true},  // no escapes: '\' is an ordinary character
      {"/a\\*", "/ax", false},
      {"/a\\*", "/a*", false},
      {"/\xc3\xa9t\xc3\xa9/*", "/\xc3\xa9t\xc3\xa9/x", true},
      {"/\xc3\xa9t\xc3\xa9/?", "/\xc3\xa9t\xc3\xa9/\xc3\xa9", false},  // C locale: one byte
      {"/a b/*", "/a b/c d", true},
  });
}

TEST(PathPattern, RefusesBadPatterns) {
  const std::string too_long = "/" + std::string(4096, 'a');
  expect_refused<PathPattern>({
      {"", "empty"},
      {"a/b", "absolute"},
      {"*/b", "absolute"},
      {"/a/", "end with '/'"},
      {"/a//b", "empty segment"},
      {"//", "end with '/'"},
      {"/a//b/c", "empty segment"},
      {"/a/../b", "'..'"},
      {"/a/./b", "'.'"},
      {"/..", "'..'"},
      {"/a/b**", "whole segment"},
      {"/a/**b", "whole segment"},
      {"/a/***", "whole segment"},
      {"/a/[abc", "'['"},
      {"/a/[a/b]", "'['"},
      {"/a/[]", "'['"},
      {"/a/[!]", "'['"},
      {"/a/[z-a]", "reversed"},
      {"/a/[[:alpha:]]", "POSIX"},
      {"/a/[[=a=]]", "POSIX"},
      {"/x/[[:]", "POSIX"},
      {"/a/[\xc3\xa9]", "ASCII"},
      {"/a/[\t]", "ASCII"},
      {"/a/{b,c", "'{' without '}'"},
      {"/a/b}", "'}' without '{'"},
      {"/a/{b}", "alternatives"},
      {"/a/{}", "alternatives"},
      {"/a/{,}", "end with '/'"},
      {"/a{/..,}/b", "expansion \"/a/../b\""},
      {"/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}", "more than 64"},
      {"/a\0b"sv, "NUL"},
      {too_long, "longer than 4096"},
  });
}

// Every pattern of up to four segments from a small alphabet against every
// path of up to four segments, compared with a plain recursive matcher.
bool reference_match(const std::vector<std::string>& pattern, size_t pi,
                     const std::vector<std::string>& path, size_t si) {
  if (pi == pattern.size()) return si == path.size();
  if (pattern[pi] == "**") {
    for (size_t k = si; k <= path.size(); ++k) {
      if (reference_match(pattern, pi + 1, path, k)) return true;
    }
    return false;
  }
  return si < path.size() &&
         fnmatch(pattern[pi].c_str(), path[si].c_str(), FNM_PATHNAME | FNM_NOESCAPE) == 0 &&
         reference_match(pattern, pi + 1, path, si + 1);
}

std::vector<std::vector<std::string>> sequences(const std::vector<std::string>& alphabet,
                                                size_t max_length) {
  std::vector<std::vector<std::string>> out = {{}};
  for (size_t begin = 0; begin < out.size(); ++begin) {
    if (out[begin].size() == max_length) continue;
    for (const auto& symbol : alphabet) {
      auto longer = out[begin];
      longer.push_back(symbol);
      out.push_back(std::move(longer));
    }
  }
  return out;
}

std::string join_path(const std::vector<std::string>& segments) {
  if (segments.empty()) return "/";
  std::string out;
  for (const auto& s : segments) out += "/" + s;
  return out;
}

TEST(PathPattern, AgreesWithAReferenceMatcher) {
  const auto patterns = sequences({"a", "*", "**", "?", "b*", "*b", "[ab]"}, 4);
  const auto paths = sequences({"a", "b", "ab", "ba"}, 4);
  size_t checked = 0;
  for (const auto& pattern_segments : patterns) {
    const std::string text = join_path(pattern_segments);
    auto pattern = PathPattern::compile(text);
    ASSERT_TRUE(pattern.has_value()) << text;
    for (const auto& path_segments : paths) {
      const std::string path = join_path(path_segments);
      ASSERT_EQ(pattern->matches(path), reference_match(pattern_segments, 0, path_segments, 0))
          << text << " against " << path;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2801u * 341u);  // (1 + 7 + ... + 7^4) patterns, (1 + 4 + ... + 4^4) paths
}

// `*`, `*suffix` and `prefix*` segments are matched without fnmatch; the
// result must be fnmatch's.
TEST(PathPattern, SimpleShapesAgreeWithFnmatch) {
  const std::vector<std::string> segments = {"*", "*.json", "data*", "*x", "x*", "a*b", "*.*"};
  const std::vector<std::string> names = {"x",         "data",   "data.json", ".json", "json",
                                          "a.json.x",  "xx",     "datax",     "dat",   ".hidden",
                                          "ab",        "a.b",    "axb",       "b",     "..a",
                                          "x.json.js", "a-json", "data-1",    "Data1", "x.X"};
  for (const auto& segment : segments) {
    auto pattern = PathPattern::compile("/d/" + segment);
    ASSERT_TRUE(pattern.has_value()) << segment;
    for (const auto& name : names) {
      const bool expected =
          fnmatch(segment.c_str(), name.c_str(), FNM_PATHNAME | FNM_NOESCAPE) == 0;
      EXPECT_EQ(pattern->matches("/d/" + name), expected) << segment << " against " << name;
    }
  }
}

// Classes are rewritten without ranges, so a UTF-8 locale changes nothing for
// them; `?` then matches one character instead of one byte.
TEST(PathPattern, ClassesDoNotDependOnTheLocale) {
  if (std::setlocale(LC_ALL, "C.UTF-8") == nullptr) GTEST_SKIP() << "no C.UTF-8 locale";
  expect_matches<PathPattern>({
      {"/x/[a-z]", "/x/q", true},
      {"/x/[a-z]", "/x/Q", false},
      {"/x/[a-z]", "/x/\xc3\xa9", false},
      {"/x/[!a-z]", "/x/Q", true},
      {"/x/*.json", "/x/\xff.json", true},
      {"/x/?", "/x/\xc3\xa9", true},
  });
  std::setlocale(LC_ALL, "C");
}

TEST(PathPattern, KeepsItsText) {
  auto p = PathPattern::compile("/srv/{a,b}/**");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->text(), "/srv/{a,b}/**");
}

TEST(NormalPath, Table) {
  for (auto [path, normal] : std::vector<std::pair<std::string_view, bool>>{
           {"/", true},
           {"/a", true},
           {"/a/b.c/..d/e..", true},
           {"/.hidden", true},
           {"", false},
           {"a", false},
           {"//", false},
           {"/a/", false},
           {"/a//b", false},
           {"/a/./b", false},
           {"/a/../b", false},
           {"/.", false},
           {"/..", false},
           {"/a\0"sv, false},
           {"\0/a"sv, false},
       }) {
    EXPECT_EQ(is_normal_absolute_path(path), normal) << std::string(path);
  }
}

// ---- Network ---------------------------------------------------------------

TEST(NetworkPattern, ExactNames) {
  expect_matches<NetworkPattern>({
      {"api.example.com:443", "api.example.com:443", true},
      {"api.example.com:443", "API.Example.COM:443", true},
      {"API.Example.com:443", "api.example.com:443", true},
      {"api.example.com:443", "api.example.com:80", false},
      {"api.example.com:443", "api.example.com.:443", false},
      {"api.example.com:443", "api.example.com", false},
      {"api.example.com:443", "api.example.com:", false},
      {"api.example.com:443", "api.example.com:0443", false},
      {"api.example.com:443", "api.example.com:443x", false},
      {"api.example.com:443", "api.example.com:443:443", false},
      {"api.example.com:443", "xapi.example.com:443", false},
      {"api.example.com:443", "api.example.com.evil.net:443", false},
      {"api.example.com:443", "example.com:443", false},
      {"api.example.com:443", ":443", false},
      {"api.example.com:443", "api.example.com:65979", false},
      {"api.example.com:443", "api.example.com\0:443"sv, false},
      {"api.example.com:443", "api.example.com:443\0"sv, false},
      {"localhost:8080", "localhost:8080", true},
      {"localhost:8080", "LOCALHOST:8080", true},
  });
}

TEST(NetworkPattern, SubdomainWildcardMatchesSubdomainsOnly) {
  expect_matches<NetworkPattern>({
      {"*.example.com:443", "a.example.com:443", true},
      {"*.example.com:443", "a.b.example.com:443", true},
      {"*.example.com:443", "A.EXAMPLE.com:443", true},
      {"*.example.com:443", "example.com:443", false},
      {"*.example.com:443", "evil-example.com:443", false},
      {"*.example.com:443", "a.example.com.evil.net:443", false},
      {"*.example.com:443", ".example.com:443", false},
      {"*.example.com:443", "..example.com:443", false},
      {"*.example.com:443", "a..example.com:443", false},
      {"*.example.com:443", "a.example.com.:443", false},
      {"*.example.com:443", "a.example.com:80", false},
      {"*.example.com:443", "-a.example.com:443", false},
      {"*.example.com:443", "a_b.example.com:443", false},
      {"*.example.com:443", "*.example.com:443", false},
      {"*.example.com:443", "a.example.co:443", false},
      {"*.cdn.example.com:80", "img.eu.cdn.example.com:80", true},
      {"*.cdn.example.com:80", "cdn.example.com:80", false},
      {"*.cdn.example.com:80", "x.example.com:80", false},
  });
}

TEST(NetworkPattern, AddressLiterals) {
  expect_matches<NetworkPattern>({
      {"10.0.0.1:8080", "10.0.0.1:8080", true},
      {"10.0.0.1:8080", "10.0.0.1:80", false},
      {"10.0.0.1:8080", "10.0.0.2:8080", false},
      {"10.0.0.1:8080", "010.0.0.1:8080", false},
      {"10.0.0.1:8080", "10.0.1:8080", false},
      {"10.0.0.1:8080", "10.0.0.1.:8080", false},
      {"10.0.0.1:8080", "0x0a.0.0.1:8080", false},
      {"10.0.0.1:8080", "167772161:8080", false},
      {"10.0.0.1:8080", "[::ffff:10.0.0.1]:8080", true},
      {"10.0.0.1:8080", "[::ffff:10.0.0.2]:8080", false},
      {"[::1]:443", "[::1]:443", true},
      {"[::1]:443", "[0:0:0:0:0:0:0:1]:443", true},
      {"[::1]:443", "[::1]:80", false},
      {"[::1]:443", "[::2]:443", false},
      {"[::1]:443", "::1:443", false},
      {"[::1]:443", "[::1%lo]:443", false},
      {"[::1]:443", "[::1]", false},
      {"[::1]:443", "[::1]:443x", false},
      {"[::1]:443", "127.0.0.1:443", false},
      {"[2001:DB8::1]:443", "[2001:db8:0::1]:443", true},
      {"[::ffff:127.0.0.1]:80", "127.0.0.1:80", true},
      {"127.0.0.1:80", "localhost:80", false},
      {"0.0.0.0:8080", "0.0.0.0:8080", true},
  });
}

TEST(NetworkPattern, HostAndPortApi) {
  auto name = NetworkPattern::compile("api.example.com:443");
  auto v6 = NetworkPattern::compile("[::1]:443");
  auto v4 = NetworkPattern::compile("10.0.0.1:53");
  ASSERT_TRUE(name && v6 && v4);
  EXPECT_TRUE(name->matches("api.example.com", 443));
  EXPECT_TRUE(name->matches("Api.Example.Com", 443));
  EXPECT_FALSE(name->matches("api.example.com", 0));
  EXPECT_FALSE(name->matches("api.example.com", 80));
  EXPECT_FALSE(name->matches("api.example.com.", 443));
  EXPECT_FALSE(name->matches("", 443));
  EXPECT_TRUE(v6->matches("::1", 443));
  EXPECT_TRUE(v6->matches("[::1]", 443));
  EXPECT_FALSE(v6->matches("[::1", 443));
  EXPECT_TRUE(v4->matches("10.0.0.1", 53));
  EXPECT_FALSE(v4->matches("10.0.0.1:53", 53));
}

TEST(NetworkEndpoint, Parses) {
  auto e = NetworkEndpoint::parse("Api.Example.com:8443");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, NetworkEndpoint::HostKind::Name);
  EXPECT_EQ(e->name, "Api.Example.com");
  EXPECT_EQ(e->port, 8443);
  e = NetworkEndpoint::parse("[::ffff:1.2.3.4]:1");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->kind, NetworkEndpoint::HostKind::Ipv4);
  EXPECT_EQ(e->address[0], 1);
  EXPECT_EQ(e->address[3], 4);
  EXPECT_EQ(e->port, 1);
  for (std::string_view bad :
       {"", ":", "a:", ":1", "a:0", "a:65536", "a:-1", "a:+1", "a:1 ", "a.:1", "a..b:1", "127.1:80",
        "1.2.3.4.5:80", "[]:80", "[::1]80", "::1:80", "[::1]:080"}) {
    EXPECT_FALSE(NetworkEndpoint::parse(bad).has_value()) << bad;
  }
  EXPECT_TRUE(NetworkEndpoint::parse("a:65535").has_value());
}

TEST(NetworkPattern, RefusesBadPatterns) {
  const std::string long_label = std::string(64, 'a') + ".com:80";
  std::string long_name;
  while (long_name.size() < 254) long_name += "abcdefghi.";
  long_name += "com:80";
  expect_refused<NetworkPattern>({
      {"", "empty"},
      {"api.example.com", "host:port"},
      {"api.example.com:*", "wildcard port"},
      {"api.example.com:", "port"},
      {"api.example.com:0", "port"},
      {"api.example.com:65536", "port"},
      {"api.example.com:08", "leading zeros"},
      {"api.example.com:http", "port"},
      {"api.example.com:443 ", "port"},
      {":443", "host is missing"},
      {"*:443", "wildcard host"},
      {"*.*.example.com:443", "first label"},
      {"a*.example.com:443", "first label"},
      {"*example.com:443", "first label"},
      {"*.:443", "empty"},
      {"api.example.com.:443", "end with '.'"},
      {"api..example.com:443", "empty label"},
      {".example.com:443", "empty label"},
      {"-api.example.com:443", "'-'"},
      {"api-.example.com:443", "'-'"},
      {"a_b.example.com:443", "letters, digits"},
      {"a b.com:443", "letters, digits"},
      {long_label, "63"},
      {long_name, "253"},
      {"::1:443", "brackets"},
      {"[::1:443", "[address]:port"},
      {"[::1]443", "[address]:port"},
      {"[zz]:443", "IPv6"},
      {"[::1%lo]:443", "IPv6"},
      {"10.0.0.01:80", "IPv4"},
      {"127.1:80", "IPv4"},
      {"1.2.3.4.5:80", "IPv4"},
      {"0x7f.0.0.1:80", "all digits"},
      {"0x7f:80", "numeric"},
      {"example.123:80", "all digits"},
      {"*.1.2:80", "all digits"},
  });
}

// ---- Storage keys ----------------------------------------------------------

TEST(StorageKeyPattern, TrailingStarIsOneOrMoreWholeSegments) {
  expect_matches<StorageKeyPattern>({
      {"orders:*", "orders:1", true},
      {"orders:*", "orders:a:b", true},
      {"orders:*", "orders:*", true},
      {"orders:*", "orders", false},
      {"orders:*", "ordersX:1", false},
      {"orders:*", "orders:", false},
      {"orders:*", "orders::1", false},
      {"orders:*", "orders:1:", false},
      {"orders:*", "orders:1::2", false},
      {"orders:*", "Orders:1", false},
      {"orders:*", "xorders:1", false},
      {"orders:*", ":orders:1", false},
      {"orders:*", "orders:\0"sv, false},
      {"orders:*", "orders:a\0b"sv, false},
      {"orders:pending:*", "orders:pending:1", true},
      {"orders:pending:*", "orders:pending", false},
      {"orders:pending:*", "orders:1", false},
      {"*", "a", true},
      {"*", "a:b:c", true},
      {"*", "", false},
      {"*", ":", false},
      {"*", "a:", false},
  });
}

TEST(StorageKeyPattern, ExactKeys) {
  expect_matches<StorageKeyPattern>({
      {"orders:pending", "orders:pending", true},
      {"orders:pending", "orders:pending:1", false},
      {"orders:pending", "orders", false},
      {"orders:pending", "orders:pendin", false},
      {"orders:pending", "orders:Pending", false},
      {"config", "config", true},
      {"config", "config:x", false},
  });
}

TEST(StorageKeyPattern, RefusesBadPatterns) {
  expect_refused<StorageKeyPattern>({
      {"", "empty"},
      {"orders:", "empty key segment"},
      {":orders", "empty key segment"},
      {"orders::x", "empty key segment"},
      {"orders:*:x", "whole last segment"},
      {"*:x", "whole last segment"},
      {"or*ders", "whole last segment"},
      {"orders:x*", "whole last segment"},
      {"orders:**", "whole last segment"},
      {"orders x", "printable"},
      {"orders:\t", "printable"},
      {"orders:\xc3\xa9", "printable"},
      {"orders:\0"sv, "NUL"},
  });
}

TEST(StorageKey, Validity) {
  EXPECT_TRUE(is_valid_storage_key("a"));
  EXPECT_TRUE(is_valid_storage_key("a:b:c"));
  EXPECT_FALSE(is_valid_storage_key(""));
  EXPECT_FALSE(is_valid_storage_key(":"));
  EXPECT_FALSE(is_valid_storage_key("a::b"));
  EXPECT_FALSE(is_valid_storage_key("a:"));
  EXPECT_FALSE(is_valid_storage_key(":a"));
  EXPECT_FALSE(is_valid_storage_key("a\0"sv));
}

// ---- Component names -------------------------------------------------------

TEST(ComponentNamePattern, ExactPrefixAndAny) {
  const std::string longest(64, 'a');
  const std::string too_long(65, 'a');
  expect_matches<ComponentNamePattern>({
      {"billing", "billing", true},
      {"billing", "billing2", false},
      {"billing", "Billing", false},
      {"billing", "bill", false},
      {"billing", "billing\0"sv, false},
      {"audit-*", "audit-log", true},
      {"audit-*", "audit-x", true},
      {"audit-*", "audit-", false},
      {"audit-*", "audit", false},
      {"audit-*", "xaudit-log", false},
      {"audit-*", "Audit-log", false},
      {"audit-*", "audit-Log", false},
      {"audit*", "auditor", true},
      {"audit*", "audit", false},
      {"*", "billing", true},
      {"*", "a-b", true},
      {"*", "ab", false},
      {"*", "-ab", false},
      {"*", "ab-", false},
      {"*", "a_b", false},
      {"*", "", false},
      {"*", longest, true},
      {"*", too_long, false},
  });
}

TEST(ComponentNamePattern, RefusesBadPatterns) {
  expect_refused<ComponentNamePattern>({
      {"", "empty"},
      {"Billing", "lower case"},
      {"BILL*", "lower case"},
      {"bill*ing", "only at the end"},
      {"**", "only at the end"},
      {"*billing", "only at the end"},
      {"bi", "not a component name"},
      {"billing-", "not a component name"},
      {"-billing*", "start with a letter"},
      {"bill_ing", "a-z, 0-9"},
      {"bill ing*", "a-z, 0-9"},
      {std::string(65, 'a'), "not a component name"},
      {std::string(64, 'a') + "*", "no room"},
  });
}

TEST(ComponentName, Validity) {
  EXPECT_TRUE(is_valid_component_name("order-validator"));
  EXPECT_TRUE(is_valid_component_name("a1b"));
  EXPECT_TRUE(is_valid_component_name("123"));
  EXPECT_FALSE(is_valid_component_name("ab"));
  EXPECT_FALSE(is_valid_component_name("-abc"));
  EXPECT_FALSE(is_valid_component_name("abc-"));
  EXPECT_FALSE(is_valid_component_name("aBc"));
  EXPECT_FALSE(is_valid_component_name(std::string(65, 'a')));
}

// ---- Topics ----------------------------------------------------------------

TEST(TopicPattern, StarIsExactlyOneLevel) {
  expect_matches<TopicPattern>({
      {"events.*", "events.a", true},
      {"events.*", "events.a.b", false},
      {"events.*", "events", false},
      {"events.*", "events.", false},
      {"events.*", "events..a", false},
      {"events.*", ".events.a", false},
      {"events.*", "Events.a", false},
      {"events.*", "events.*", false},  // a wildcard is not a topic
      {"events.*", "events.#", false},
      {"a.*.c", "a.b.c", true},
      {"a.*.c", "a.b.d", false},
      {"a.*.c", "a.b.c.d", false},
      {"a.*.c", "a.c", false},
      {"*.*", "a.b", true},
      {"*.*", "a", false},
      {"*", "a", true},
      {"*", "a.b", false},
  });
}

TEST(TopicPattern, HashIsTheRestIncludingTheParent) {
  expect_matches<TopicPattern>({
      {"alerts.#", "alerts", true},
      {"alerts.#", "alerts.disk", true},
      {"alerts.#", "alerts.disk.full", true},
      {"alerts.#", "alertsx", false},
      {"alerts.#", "alerts.", false},
      {"alerts.#", "alerts..x", false},
      {"alerts.#", "x.alerts.disk", false},
      {"alerts.#", "alerts.a\0"sv, false},
      {"#", "a", true},
      {"#", "a.b.c", true},
      {"#", "", false},
      {"a.*.#", "a", false},
      {"a.*.#", "a.b", true},
      {"a.*.#", "a.b.c.d", true},
  });
}

TEST(TopicPattern, ExactTopics) {
  expect_matches<TopicPattern>({
      {"orders.created", "orders.created", true},
      {"orders.created", "orders.created.x", false},
      {"orders.created", "orders", false},
      {"orders.created", "orders.Created", false},
      {"a+b.c", "a+b.c", true},
  });
}

TEST(TopicPattern, CoversSubscriptionFilters) {
  struct Case {
    std::string_view pattern;
    std::string_view filter;
    bool covered;
  };
  for (const auto& c : std::vector<Case>{
           {"alerts.#", "alerts.#", true},
           {"alerts.#", "alerts.disk.*", true},
           {"alerts.#", "alerts.*.#", true},
           {"alerts.#", "alerts", true},
           {"alerts.#", "#", false},
           {"alerts.*", "alerts.#", false},
           {"alerts.*", "alerts.*", true},
           {"alerts.*", "alerts.disk", true},
           {"alerts.disk", "alerts.*", false},
           {"#", "#", true},
           {"#", "*.*", true},
           {"*.#", "#", true},  // a topic is never empty: `#` matches what `*.#` does
           {"*.*.#", "#", false},
           {"*", "#", false},
           {"a.*.#", "a.#", false},
           {"a.*.#", "a.b.#", true},
           {"a.*.#", "a.*", true},
           {"a.*", "*.*", false},
           {"*.*", "a.*", true},
           {"events.*", "events.#", false},
           {"events.*", "events", false},
           {"a.b", "a.b", true},
           {"#", "a.#.b", false},  // not a filter
           {"#", "a.b#", false},
           {"#", "", false},
           {"#", "a..b", false},
       }) {
    auto p = TopicPattern::compile(c.pattern);
    ASSERT_TRUE(p.has_value()) << c.pattern;
    EXPECT_EQ(p->covers(c.filter), c.covered) << c.pattern << " covers " << c.filter;
  }
}

bool reference_topic_match(const std::vector<std::string>& pattern, size_t pi,
                           const std::vector<std::string>& topic, size_t ti) {
  if (pi == pattern.size()) return ti == topic.size();
  if (pattern[pi] == "#") return true;
  if (ti == topic.size()) return false;
  return (pattern[pi] == "*" || pattern[pi] == topic[ti]) &&
         reference_topic_match(pattern, pi + 1, topic, ti + 1);
}

std::string join_topic(const std::vector<std::string>& levels) {
  std::string out;
  for (const auto& level : levels) out += (out.empty() ? "" : ".") + level;
  return out;
}

// matches() and covers() against their definitions: a filter is covered when
// every topic it matches is matched by the pattern. Topics of up to four
// levels, with a level ('c') that no pattern names, are enough witnesses for
// patterns and filters of up to three levels.
TEST(TopicPattern, AgreesWithItsDefinition) {
  std::vector<std::vector<std::string>> patterns;
  for (auto& levels : sequences({"a", "b", "*", "#"}, 3)) {
    auto hash = std::find(levels.begin(), levels.end(), "#");
    if (!levels.empty() && (hash == levels.end() || hash + 1 == levels.end())) {
      patterns.push_back(levels);
    }
  }
  std::vector<std::vector<std::string>> topics = sequences({"a", "b", "c"}, 4);
  topics.erase(topics.begin());  // the empty topic
  for (const auto& p : patterns) {
    auto pattern = TopicPattern::compile(join_topic(p));
    ASSERT_TRUE(pattern.has_value()) << join_topic(p);
    for (const auto& t : topics) {
      ASSERT_EQ(pattern->matches(join_topic(t)), reference_topic_match(p, 0, t, 0))
          << join_topic(p) << " against " << join_topic(t);
    }
    for (const auto& f : patterns) {
      bool covered = true;
      for (const auto& t : topics) {
        if (reference_topic_match(f, 0, t, 0) && !reference_topic_match(p, 0, t, 0)) {
          covered = false;
          break;
        }
      }
      ASSERT_EQ(pattern->covers(join_topic(f)), covered)
          << join_topic(p) << " covers " << join_topic(f);
    }
  }
}

TEST(TopicPattern, RefusesBadPatterns) {
  expect_refused<TopicPattern>({
      {"", "empty"},
      {"a..b", "empty topic level"},
      {".a", "empty topic level"},
      {"a.", "empty topic level"},
      {"a.#.b", "last level"},
      {"#.a", "last level"},
      {"a.b#", "whole levels"},
      {"a*.b", "whole levels"},
      {"a.**", "whole levels"},
      {"a b", "printable"},
      {"a.\x01", "printable"},
      {"a.\0"sv, "NUL"},
  });
}

TEST(Topic, Validity) {
  EXPECT_TRUE(is_valid_topic("a.b"));
  EXPECT_FALSE(is_valid_topic("a.*"));
  EXPECT_FALSE(is_valid_topic("a.#"));
  EXPECT_FALSE(is_valid_topic("a.b#"));
  EXPECT_TRUE(is_valid_topic_filter("a.*"));
  EXPECT_TRUE(is_valid_topic_filter("a.#"));
  EXPECT_TRUE(is_valid_topic_filter("#"));
  EXPECT_FALSE(is_valid_topic_filter("#.a"));
  EXPECT_FALSE(is_valid_topic_filter("a.b*"));
  EXPECT_FALSE(is_valid_topic_filter("a..b"));
}

// ---- Kinds -----------------------------------------------------------------

TEST(PatternKind, FollowsThePermission) {
  EXPECT_EQ(pattern_kind(Permission::FsRead), PatternKind::Path);
  EXPECT_EQ(pattern_kind(Permission::FsExecute), PatternKind::Path);
  EXPECT_EQ(pattern_kind(Permission::NetConnect), PatternKind::HostPort);
  EXPECT_EQ(pattern_kind(Permission::NetListen), PatternKind::HostPort);
  EXPECT_EQ(pattern_kind(Permission::StorageDelete), PatternKind::StorageKey);
  EXPECT_EQ(pattern_kind(Permission::MsgSend), PatternKind::ComponentName);
  EXPECT_EQ(pattern_kind(Permission::MsgReceive), PatternKind::ComponentName);
  EXPECT_EQ(pattern_kind(Permission::MsgPublish), PatternKind::Topic);
  EXPECT_EQ(pattern_kind(Permission::MsgSubscribe), PatternKind::Topic);
}

TEST(PatternKind, ValidatePatternReportsTheRule) {
  EXPECT_TRUE(validate_pattern(PatternKind::Path, "/srv/**").has_value());
  EXPECT_TRUE(validate_pattern(PatternKind::HostPort, "a.com:1").has_value());
  EXPECT_TRUE(validate_pattern(PatternKind::StorageKey, "a:*").has_value());
  EXPECT_TRUE(validate_pattern(PatternKind::ComponentName, "abc").has_value());
  EXPECT_TRUE(validate_pattern(PatternKind::Topic, "a.#").has_value());
  auto bad = validate_pattern(PatternKind::HostPort, "a.com:*");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().message,
            "invalid host:port pattern \"a.com:*\": wildcard ports are not allowed: name the "
            "exact port");
  auto nul = validate_pattern(PatternKind::Path, "/a\0b"sv);
  ASSERT_FALSE(nul.has_value());
  EXPECT_NE(nul.error().message.find("\"/a\\x00b\""), std::string::npos) << nul.error().message;
}

// The rules of pattern text list every rule a pattern breaks; text that keeps
// them all is still compiled, so whatever they accept a matcher enforces.
TEST(PatternViolations, ListEveryRuleAndEndWithTheMatcher) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pattern_violations(PatternKind::Path, "/srv/**"), V{});
  EXPECT_EQ(pattern_violations(PatternKind::Path, "srv//../x/"),
            (V{"is not an absolute path", "contains '//' (an empty path segment)",
               "ends with '/' (write /dir/** for everything below a directory)",
               "has a '..' segment"}));
  EXPECT_EQ(pattern_violations(PatternKind::HostPort, "API.example.com:0443"),
            (V{"has uppercase letters in the host (write host names in lowercase)",
               "has port '0443' with a leading zero"}));
  EXPECT_EQ(pattern_violations(PatternKind::StorageKey, "orders:*:x"),
            V{"uses '*' before the last segment ('*' is allowed only as the last one)"});
  EXPECT_EQ(pattern_violations(PatternKind::Topic, "a.#.b"),
            V{"uses '#' before the last level ('#' matches the rest, so it comes last)"});
  EXPECT_EQ(pattern_violations(PatternKind::ComponentName, "ab"),
            V{fmt::format("is not a component name ({})", kComponentNameRule)});
  EXPECT_EQ(pattern_violations(PatternKind::Topic, std::string(4097, 'a')),
            V{"is longer than 4096 bytes"});
  EXPECT_EQ(pattern_violations(PatternKind::Path, "/a\tb"),
            V{"contains a control character (byte 0x09)"});
  // Every written rule kept, but no class of a path matcher runs backwards.
  EXPECT_EQ(pattern_violations(PatternKind::Path, "/x/[z-a]"),
            V{"is refused by the path matcher: invalid path pattern \"/x/[z-a]\": the range "
              "z-a is reversed"});
}

}  // namespace
}  // namespace airssys::wasm::security
