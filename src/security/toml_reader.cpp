#include "toml_reader.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm::security::detail {

std::string_view toml_type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::optional<toml::table> TomlReader::parse(std::string_view text) {
  if (max_bytes_ && text.size() > *max_bytes_) {
    add(0, "",
        fmt::format("the file is larger than {}, the most {} may have",
                    format_byte_size(*max_bytes_), what_));
    return std::nullopt;
  }
  if (!nesting_is_bounded(text)) return std::nullopt;
  try {
    return toml::parse(text, file_);
  } catch (const toml::parse_error& e) {
    add(line_of(e.source()), "",
        fmt::format("TOML syntax error at column {}: {}", e.source().begin.column,
                    e.description()));
    return std::nullopt;
  }
}

// toml++ recurses once per nested table, and a key line with tens of thousands
// of dots exhausts the stack; every level of nesting beyond the 256 nested
// values toml++ itself allows needs a '.' on a single line.
bool TomlReader::nesting_is_bounded(std::string_view text) {
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

void TomlReader::add(int line, std::string key, std::string rule) {
  problems_.push_back(TomlProblem{line, std::move(key), std::move(rule)});
}

std::vector<TomlProblem> TomlReader::take_problems() {
  std::stable_sort(problems_.begin(), problems_.end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
  if (problems_.size() > kMaxReportedProblems) {
    const size_t more = problems_.size() - kMaxReportedProblems;
    problems_.resize(kMaxReportedProblems);
    add(0, "", fmt::format("{} more problems not shown", more));
  }
  return std::move(problems_);
}

std::string TomlReader::format(std::string_view file, const TomlProblem& problem) {
  std::string out(file);
  if (problem.line > 0) out += fmt::format(":{}", problem.line);
  out += ": ";
  if (!problem.key.empty()) {
    out += problem.key;
    out += ": ";
  }
  out += problem.rule;
  return out;
}

Error TomlReader::error(ErrorCode code) {
  std::string message;
  for (const auto& problem : take_problems()) {
    if (!message.empty()) message += '\n';
    message += format(file_, problem);
  }
  return make_error(code, std::move(message)).error();
}

}  // namespace airssys::wasm::security::detail
