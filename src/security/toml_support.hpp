#pragma once
// What the security layer's TOML readers share (private to the layer).

#include <functional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "airssys/wasm/security/manifest.hpp"

namespace airssys::wasm::security::detail {

// The 1-based line a node or key starts on.
[[nodiscard]] inline int line_of(const toml::source_region& region) {
  return static_cast<int>(region.begin.line);
}

// "a string", "an array", ... for messages that say what was found.
[[nodiscard]] inline std::string_view toml_type_name(const toml::node& node) {
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

// Reads a [quota] table (storage, message_rate, network_bandwidth, cpu_time,
// memory, with their units) into `quota`; every problem goes to `add` as
// (line, "quota.key", rule). Shared by Component.toml and policy.toml; a
// policy's [ceiling] has the same keys and names its problems "ceiling.key".
using QuotaProblemFn = std::function<void(int line, std::string key, std::string rule)>;
void read_quota_table(const toml::table& table, QuotaSpec& quota, const QuotaProblemFn& add,
                      std::string_view table_name = "quota");

}  // namespace airssys::wasm::security::detail
