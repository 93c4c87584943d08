#pragma once
// The [quota] table as every configuration file writes it: Component.toml,
// policy.toml and host.toml share its keys (storage, message_rate,
// network_bandwidth, cpu_time, memory), units and bounds (docs/quotas.md).

#include <string_view>

#include <toml++/toml.h>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/manifest.hpp"

namespace airssys::wasm::security {

// The quotas the table sets; InvalidConfig listing every problem as
// "file:line: quota.key: rule" ("ceiling.key" with table_name "ceiling": a
// [ceiling] table has the same keys, units and bounds).
[[nodiscard]] Result<QuotaSpec> read_quota_table(const toml::table& table, std::string_view file,
                                                 std::string_view table_name = "quota");

}  // namespace airssys::wasm::security
