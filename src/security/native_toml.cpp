#include "native_toml.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>

#include "airssys/wasm/core/units.hpp"

namespace airssys::wasm::security::detail {
namespace {

constexpr uint64_t kMinCompileMemoryBytes = 64ull << 20;
constexpr uint64_t kMaxCompileTimeoutMs = 3'600'000;

std::optional<uint64_t> count(const toml::node& node, const std::string& key, uint64_t min,
                              uint64_t max, TomlReader& reader) {
  if (!node.is_integer()) {
    reader.add(node, key, "must be an integer");
    return std::nullopt;
  }
  const int64_t v = *node.value<int64_t>();
  if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
    reader.add(node, key, fmt::format("must be between {} and {}", min, max));
    return std::nullopt;
  }
  return static_cast<uint64_t>(v);
}

// "256MB" or a number of bytes.
std::optional<uint64_t> bytes(const toml::node& node, const std::string& key, TomlReader& reader) {
  if (node.is_integer()) return count(node, key, 1, UINT64_MAX >> 1, reader);
  const auto* text = node.as_string();
  if (!text) {
    reader.add(node, key, "must be a size such as \"256MB\" or a number of bytes");
    return std::nullopt;
  }
  auto size = parse_byte_size(text->get());
  if (!size) {
    reader.add(node, key, size.error().message);
    return std::nullopt;
  }
  return *size;
}

}  // namespace

void read_native_table(const toml::table& table, NativeCompileBounds& bounds, TomlReader& reader) {
  for (const auto& [k, node] : table) {
    const std::string_view name = k.str();
    const std::string key = "native." + std::string(name);
    if (name == "compile_timeout_ms") {
      if (auto v = count(node, key, 1, kMaxCompileTimeoutMs, reader)) {
        bounds.compile_timeout = std::chrono::milliseconds(*v);
      }
    } else if (name == "compile_memory") {
      if (auto v = bytes(node, key, reader)) {
        if (*v < kMinCompileMemoryBytes) {
          reader.add(node, key, "must be at least 64MB");
        } else {
          bounds.compile_memory_bytes = *v;
        }
      }
    } else if (name == "max_module_size" || name == "max_function_size") {
      if (auto v = bytes(node, key, reader)) {
        (name == "max_module_size" ? bounds.max_module_bytes : bounds.max_function_bytes) = *v;
      }
    } else if (name == "max_br_table_targets") {
      if (auto v = count(node, key, 1, UINT32_MAX, reader)) bounds.max_br_table_targets = *v;
    } else if (name == "compile_jobs") {
      if (auto v = count(node, key, 1, 256, reader)) bounds.compile_jobs = *v;
    } else if (name == "bounds_checks") {
      const auto* text = node.as_string();
      if (text && (text->get() == "guard" || text->get() == "explicit")) {
        bounds.explicit_bounds_checks = text->get() == "explicit";
      } else {
        reader.add(node, key, "must be \"guard\" or \"explicit\"");
      }
    } else {
      reader.add(node, key,
                 "unknown key (known: compile_timeout_ms, compile_memory, max_module_size, "
                 "max_function_size, max_br_table_targets, compile_jobs, bounds_checks)");
    }
  }
}

}  // namespace airssys::wasm::security::detail
