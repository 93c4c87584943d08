#include "airssys/wasm/core/units.hpp"

#include <array>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace airssys::wasm {

Result<uint64_t> parse_count(std::string_view text) {
  if (text.empty()) return make_error(ErrorCode::InvalidArgument, "expected a number, got nothing");
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("'{}' is not a non-negative whole number", text));
    }
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return make_error(ErrorCode::InvalidArgument, fmt::format("'{}' is too large", text));
    }
    value = value * 10 + digit;
  }
  return value;
}

Result<uint64_t> parse_byte_size(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 10> kUnits = {{
      {"B", 1}, {"KB", KiB}, {"MB", MiB}, {"GB", GiB}, {"TB", TiB},
      {"KIB", KiB}, {"MIB", MiB}, {"GIB", GiB}, {"TIB", TiB}, {"", 1},
  }};
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}' is not a size (expected a whole number and a unit, e.g. "
                                  "64KB or 256MB)",
                                  text));
  }
  AIRSSYS_TRY_ASSIGN(auto number, parse_count(text.substr(0, digits)));
  std::string_view rest = text.substr(digits);
  if (!rest.empty() && (rest.front() == '.' || rest.front() == ',')) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}': sizes are whole numbers (write 1536KB, not 1.5MB)", text));
  }
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::string unit;
  for (char c : rest) unit += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    if (number > UINT64_MAX / scale) {
      return make_error(ErrorCode::InvalidArgument, fmt::format("size '{}' is too large", text));
    }
    return number * scale;
  }
  return make_error(ErrorCode::InvalidArgument,
                    fmt::format("unknown unit '{}' in '{}' (use B, KB, MB, GB or TB)", rest, text));
}

std::string format_byte_size(uint64_t bytes) {
  static constexpr std::array<std::pair<std::string_view, uint64_t>, 4> kUnits = {{
      {"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
  }};
  for (const auto& [name, scale] : kUnits) {
    if (bytes != 0 && bytes % scale == 0) return fmt::format("{} {}", bytes / scale, name);
  }
  return fmt::format("{} B", bytes);
}

}  // namespace airssys::wasm
