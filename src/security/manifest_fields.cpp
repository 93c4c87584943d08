#include "manifest_fields.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <vector>

#include "message_text.hpp"

namespace airssys::wasm::security::detail {
namespace {

constexpr size_t kMaxLicenseBytes = 256;
constexpr size_t kMaxVersionBytes = 256;

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

}  // namespace

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

namespace {

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

}  // namespace

std::optional<std::string> license_problem(std::string_view expression) {
  return LicenseExpression(expression).problem();
}

}  // namespace airssys::wasm::security::detail
