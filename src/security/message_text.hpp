#pragma once
// How the security layer's readers show what they found: a value quoted with
// its control bytes escaped, a TOML key, a single character; and the small
// character tests and splits those readers share (private to the layer).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace airssys::wasm::security::detail {

[[nodiscard]] inline bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
[[nodiscard]] inline bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
[[nodiscard]] inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
[[nodiscard]] inline bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
// One or more ASCII digits and nothing else.
[[nodiscard]] bool all_digits(std::string_view s);

// "a:b:" split at ':' is {"a", "b", ""}: every part, empty ones included.
[[nodiscard]] std::vector<std::string_view> split(std::string_view text, char separator);

// UTF-8 code points (bytes that do not continue a sequence).
[[nodiscard]] size_t count_code_points(std::string_view s);

// The text with '"' and '\' escaped by a backslash and control bytes as \xNN.
[[nodiscard]] std::string escape_text(std::string_view s);

// A value as it appears in a message: quoted and escaped, a long value cut on
// a character boundary with its size after it.
[[nodiscard]] std::string quote_value(std::string_view s);

// A TOML key as written: bare when it may be, quoted otherwise.
[[nodiscard]] std::string display_key(std::string_view key);

// 'c' for a printable character, "byte 0xNN" for anything else.
[[nodiscard]] std::string display_char(char c);

// "contains a control character (byte 0xNN)" for the first one, if any.
[[nodiscard]] std::optional<std::string> control_character_problem(std::string_view s);

}  // namespace airssys::wasm::security::detail
