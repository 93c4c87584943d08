#pragma once
// The [quota] table as every configuration file writes it: Component.toml,
// policy.toml and host.toml share its keys (storage, message_rate,
// network_bandwidth, cpu_time, memory), units and bounds (docs/quotas.md).
// Private to the security and system layers: it takes toml++ types.

#include <string_view>

#include "airssys/wasm/security/manifest.hpp"
#include "toml_reader.hpp"

namespace airssys::wasm::security::detail {

// Reads the table into `quota`; every problem goes to `reader` as
// "quota.key: rule" ("ceiling.key" with table_name "ceiling": a [ceiling]
// table has the same keys, units and bounds).
void read_quota_table(const toml::table& table, QuotaSpec& quota, TomlReader& reader,
                      std::string_view table_name = "quota");

}  // namespace airssys::wasm::security::detail
