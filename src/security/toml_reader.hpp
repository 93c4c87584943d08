#pragma once
// The one reader of the host's TOML files (Component.toml, policy.toml,
// trust.toml, host.toml), private to the security and system layers: it
// frames a file (an optional size bound, a bound on nesting that toml++ would
// otherwise recurse through until the stack runs out, the syntax check with
// line and column), then collects every problem the file's own reader adds
// and reports them all, in file order, one per line as
// "file:line: key: rule". toml++ stays out of the public headers.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::security::detail {

// The 1-based line a node or key starts on.
[[nodiscard]] inline int line_of(const toml::source_region& region) {
  return static_cast<int>(region.begin.line);
}

// "a string", "an array", ... for messages that say what was found.
[[nodiscard]] std::string_view toml_type_name(const toml::node& node);

// One broken rule: `line` is 0 when the problem has no place in the file,
// `key` is empty for a problem of the whole file (its syntax, its size).
struct TomlProblem {
  int line = 0;
  std::string key;
  std::string rule;
};

class TomlReader {
 public:
  // A line with more dots than this is refused before parsing.
  static constexpr size_t kMaxDotsPerLine = 1000;
  // More problems than this are summed up in one last line.
  static constexpr size_t kMaxReportedProblems = 1000;

  // `file` names the file in every problem.
  explicit TomlReader(std::string file) : file_(std::move(file)) {}

  // Refuses text longer than `max_bytes` as "the file is larger than
  // <size>, the most <what> may have".
  void limit_size(size_t max_bytes, std::string_view what) {
    max_bytes_ = max_bytes;
    what_ = what;
  }

  // The document, or nothing when the file is too large, nested too deep or
  // not TOML (the problem is added).
  [[nodiscard]] std::optional<toml::table> parse(std::string_view text);

  void add(int line, std::string key, std::string rule);
  void add(const toml::node& node, std::string key, std::string rule) {
    add(line_of(node.source()), std::move(key), std::move(rule));
  }

  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] bool ok() const { return problems_.empty(); }

  // Every problem, in file order (stable by line); beyond
  // kMaxReportedProblems, one last line says how many more there were.
  [[nodiscard]] std::vector<TomlProblem> take_problems();

  // "file:line: key: rule" (no ":line" for line 0, no "key: " for an empty key).
  [[nodiscard]] static std::string format(std::string_view file, const TomlProblem& problem);

  // The value, or `code` with every problem, one per line.
  template <class T>
  [[nodiscard]] Result<T> result(T value, ErrorCode code) {
    if (ok()) return value;
    return std::unexpected(error(code));
  }
  [[nodiscard]] Error error(ErrorCode code);

 private:
  bool nesting_is_bounded(std::string_view text);

  std::string file_;
  std::optional<size_t> max_bytes_;
  std::string_view what_;
  std::vector<TomlProblem> problems_;
};

}  // namespace airssys::wasm::security::detail
