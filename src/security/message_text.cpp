#include "message_text.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace airssys::wasm::security::detail {

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

std::string escape_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (is_control(c)) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out;
}

std::string quote_value(std::string_view s) {
  constexpr size_t kShown = 60;
  const bool cut = s.size() > kShown + 20;
  std::string_view shown = s;
  if (cut) {
    size_t end = kShown;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
    shown = s.substr(0, end);
  }
  std::string out = "\"" + escape_text(shown) + "\"";
  if (cut) out += fmt::format("... ({} bytes)", s.size());
  return out;
}

std::string display_key(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
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

}  // namespace airssys::wasm::security::detail
