// Kebab-case labels, extern names and strong uniqueness.

#include "names.hpp"

#include <fmt/format.h>

namespace airssys::wasm::cm {
namespace {

bool lower(char c) { return c >= 'a' && c <= 'z'; }
bool upper(char c) { return c >= 'A' && c <= 'Z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// `words` of an interface name: first-word ('-' word)*, lowercase only.
bool is_words(std::string_view s) {
  if (s.empty() || !lower(s[0])) return false;
  bool after_dash = false;
  for (char c : s) {
    if (c == '-') {
      if (after_dash) return false;
      after_dash = true;
      continue;
    }
    if (!lower(c) && !digit(c)) return false;
    after_dash = false;
  }
  return !after_dash;
}

bool is_number(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!digit(c)) return false;
  }
  return s.size() == 1 || s[0] != '0';
}

bool is_ident_list(std::string_view s, bool numeric_rule) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.size() - start : dot - start);
    if (part.empty()) return false;
    bool all_digits = true;
    for (char c : part) {
      if (!lower(c) && !upper(c) && !digit(c) && c != '-') return false;
      if (!digit(c)) all_digits = false;
    }
    if (numeric_rule && all_digits && part.size() > 1 && part[0] == '0') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

bool is_label(std::string_view s) {
  if (s.empty()) return false;
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t dash = s.find('-', start);
    std::string_view frag = s.substr(start, dash == std::string_view::npos ? s.size() - start : dash - start);
    if (frag.empty()) return false;
    bool is_lower = lower(frag[0]) || (!first && digit(frag[0]));
    bool is_upper = upper(frag[0]) || (!first && digit(frag[0]));
    if (!is_lower && !is_upper) return false;
    bool any_lower = false;
    bool any_upper = false;
    for (char c : frag) {
      if (lower(c)) {
        any_lower = true;
      } else if (upper(c)) {
        any_upper = true;
      } else if (!digit(c)) {
        return false;
      }
    }
    if (any_lower && any_upper) return false;
    first = false;
    if (dash == std::string_view::npos) return true;
    start = dash + 1;
  }
}

std::string label_key(std::string_view label) {
  std::string out(label);
  for (char& c : out) {
    if (upper(c)) c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_semver(std::string_view s) {
  size_t plus = s.find('+');
  if (plus != std::string_view::npos) {
    if (!is_ident_list(s.substr(plus + 1), false)) return false;
    s = s.substr(0, plus);
  }
  size_t dash = s.find('-');
  if (dash != std::string_view::npos) {
    if (!is_ident_list(s.substr(dash + 1), true)) return false;
    s = s.substr(0, dash);
  }
  size_t d1 = s.find('.');
  if (d1 == std::string_view::npos) return false;
  size_t d2 = s.find('.', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  return is_number(s.substr(0, d1)) && is_number(s.substr(d1 + 1, d2 - d1 - 1)) &&
         is_number(s.substr(d2 + 1));
}

std::string parse_extern_name(std::string_view name, ExternName& out) {
  out = ExternName{};
  if (name.empty()) return "empty string is not a valid extern name";
  auto annotated = [&](std::string_view prefix, ExternName::Kind kind) -> std::string {
    std::string_view rest = name.substr(prefix.size());
    out.kind = kind;
    if (kind == ExternName::Kind::Constructor) {
      if (!is_label(rest)) return fmt::format("`{}` is not in kebab case", rest);
      out.resource = rest;
      out.key = "[constructor]" + label_key(rest);
      return "";
    }
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return fmt::format("failed to find `.` character in `{}`", name);
    std::string_view res = rest.substr(0, dot);
    std::string_view fn = rest.substr(dot + 1);
    if (!is_label(res)) return fmt::format("`{}` is not in kebab case", res);
    if (!is_label(fn)) return fmt::format("`{}` is not in kebab case", fn);
    out.resource = res;
    out.label = fn;
    std::string rk = label_key(res);
    std::string fk = label_key(fn);
    out.key = rk == fk ? rk : rk + "." + fk;
    return "";
  };
  if (name.starts_with("[constructor]")) return annotated("[constructor]", ExternName::Kind::Constructor);
  if (name.starts_with("[method]")) return annotated("[method]", ExternName::Kind::Method);
  if (name.starts_with("[static]")) return annotated("[static]", ExternName::Kind::Static);
  if (name.find(':') == std::string_view::npos) {
    if (!is_label(name)) return fmt::format("`{}` is not in kebab case", name);
    out.kind = ExternName::Kind::Label;
    out.label = name;
    out.key = label_key(name);
    return "";
  }
  // namespace ':' words '/' label ('@' semver)?
  out.kind = ExternName::Kind::Interface;
  std::string_view rest = name;
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view version = rest.substr(at + 1);
    if (!is_semver(version)) return fmt::format("`{}` is not a valid semver in `{}`", version, name);
    out.version = version;
    rest = rest.substr(0, at);
  }
  size_t colon = rest.find(':');
  std::string_view ns = rest.substr(0, colon);
  if (!is_words(ns)) return fmt::format("`{}` is not in kebab case in `{}`", ns, name);
  rest = rest.substr(colon + 1);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return fmt::format("expected `/` after package name in `{}`", name);
  std::string_view pkg = rest.substr(0, slash);
  if (!is_words(pkg)) return fmt::format("`{}` is not in kebab case in `{}`", pkg, name);
  std::string_view iface = rest.substr(slash + 1);
  if (iface.find('/') != std::string_view::npos) {
    return fmt::format("trailing characters found: `{}` in `{}`", iface.substr(iface.find('/')), name);
  }
  if (!is_label(iface)) return fmt::format("`{}` is not in kebab case in `{}`", iface, name);
  out.label = iface;
  out.key = label_key(name);
  return "";
}

}  // namespace airssys::wasm::cm
