// The [quota] table of Component.toml, policy.toml and host.toml: its keys,
// units and bounds (docs/quotas.md).
#include "quota_toml.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <expected>

#include "airssys/wasm/core/units.hpp"
#include "message_text.hpp"

namespace airssys::wasm::security::detail {
namespace {

constexpr size_t kMaxQuotaTextBytes = 64;
constexpr std::string_view kUnitList = "B, KB, MB, GB, TB";


using QuotaValue = std::expected<uint64_t, std::string>;

QuotaValue quota_size(std::string_view text, std::string_view example) {
  if (text.size() > kMaxQuotaTextBytes) {
    return std::unexpected(fmt::format("is longer than {} bytes", kMaxQuotaTextBytes));
  }
  if (auto p = control_character_problem(text)) return std::unexpected(*p);
  size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (digits > 0 && unit.empty()) {
    return std::unexpected(fmt::format("{} has no unit (write e.g. {}; units: {})",
                                       quote_value(text), example, kUnitList));
  }
  auto size = parse_byte_size(text);
  if (!size) return std::unexpected(size.error().message);
  return *size;
}

QuotaValue quota_rate(std::string_view text) {
  if (text.size() > kMaxQuotaTextBytes) {
    return std::unexpected(fmt::format("is longer than {} bytes", kMaxQuotaTextBytes));
  }
  if (!text.ends_with("/s")) {
    return std::unexpected(
        fmt::format("{} is a rate and must end in /s (e.g. 5MB/s)", quote_value(text)));
  }
  return quota_size(text.substr(0, text.size() - 2), "5MB/s");
}

QuotaValue quota_cpu_time(std::string_view text) {
  if (text.size() > kMaxQuotaTextBytes) {
    return std::unexpected(fmt::format("is longer than {} bytes", kMaxQuotaTextBytes));
  }
  if (auto p = control_character_problem(text)) return std::unexpected(*p);
  if (!text.ends_with("/s")) {
    return std::unexpected(
        fmt::format("{} is a rate and must end in /s (e.g. 500ms/s)", quote_value(text)));
  }
  std::string_view amount = text.substr(0, text.size() - 2);
  size_t digits = 0;
  while (digits < amount.size() && is_digit(amount[digits])) ++digits;
  if (digits == 0) {
    return std::unexpected(fmt::format(
        "{} is not a CPU time (write milliseconds per second, e.g. 500ms/s)", quote_value(text)));
  }
  std::string_view unit = amount.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit != "ms") {
    return std::unexpected(
        fmt::format("unknown unit {} in {} (cpu_time is written in ms/s, e.g. 500ms/s)",
                    quote_value(fmt::format("{}/s", unit)), quote_value(text)));
  }
  auto count = parse_count(amount.substr(0, digits));
  if (!count) return std::unexpected(count.error().message);
  return *count;
}


class QuotaTableReader {
 public:
  QuotaTableReader(QuotaSpec& quota, TomlReader& reader, std::string_view table)
      : quota_(quota), reader_(reader), table_(table) {}

  void read(const toml::table& table) {
    QuotaSpec& quota = quota_;
    for (auto&& [key, node] : table) {
      std::string_view name = key.str();
      std::string full = table_ + "." + display_key(name);
      int line = line_of(node.source());
      if (name == "message_rate") {
        const auto* integer = node.as_integer();
        if (!integer) {
          add(line, full,
              fmt::format("must be a whole number of messages per second (e.g. 500), not {}",
                          toml_type_name(node)));
        } else if (integer->get() < 0) {
          add(line, full, fmt::format("{} is negative", integer->get()));
        } else {
          quota.message_rate =
              bounded_quota(static_cast<uint64_t>(integer->get()), full, line, kMaxMessageRate,
                            [](uint64_t v) { return fmt::format("{} messages/s", v); });
        }
        continue;
      }
      auto bytes = [](uint64_t v) { return format_byte_size(v); };
      auto bytes_per_second = [](uint64_t v) { return format_byte_size(v) + "/s"; };
      auto ms_per_second = [](uint64_t v) { return fmt::format("{}ms/s", v); };
      if (name != "storage" && name != "memory" && name != "network_bandwidth" &&
          name != "cpu_time") {
        add(line_of(key.source()), full,
            "unknown key (known: storage, message_rate, network_bandwidth, cpu_time, memory)");
        continue;
      }
      const auto* text = node.as_string();
      if (!text) {
        std::string_view example = name == "network_bandwidth" ? "\"5MB/s\""
                                   : name == "cpu_time"        ? "\"500ms/s\""
                                                               : "\"128MB\"";
        add(line, full,
            fmt::format("must be a string with a unit (e.g. {}), not {}", example,
                        toml_type_name(node)));
        continue;
      }
      std::string_view value = text->get();
      if (name == "storage") {
        quota.storage_bytes =
            bounded_quota(quota_size(value, "50MB"), full, line, kMaxStorageQuota, bytes);
      } else if (name == "memory") {
        quota.memory_bytes =
            bounded_quota(quota_size(value, "128MB"), full, line, kMaxMemoryQuota, bytes);
        if (quota.memory_bytes && *quota.memory_bytes < kMinMemoryQuota) {
          add(line, full,
              fmt::format("{} is less than one 64 KB WebAssembly page", quote_value(value)));
          quota.memory_bytes.reset();
        }
      } else if (name == "network_bandwidth") {
        quota.network_bytes_per_second =
            bounded_quota(quota_rate(value), full, line, kMaxNetworkBandwidth, bytes_per_second);
      } else {
        quota.cpu_ms_per_second =
            bounded_quota(quota_cpu_time(value), full, line, kMaxCpuMsPerSecond, ms_per_second);
      }
    }
  }

  template <class Format>
  std::optional<uint64_t> bounded_quota(const QuotaValue& value, const std::string& key, int line,
                                        uint64_t limit, Format format) {
    if (!value) {
      add(line, key, value.error());
      return std::nullopt;
    }
    if (*value == 0) {
      add(line, key, "must be more than 0 (leave the key out to use the host's default)");
      return std::nullopt;
    }
    if (*value > limit) {
      add(line, key, fmt::format("{} is more than the limit of {}", format(*value), format(limit)));
      return std::nullopt;
    }
    return *value;
  }

 private:
  void add(int line, std::string key, std::string rule) {
    reader_.add(line, std::move(key), std::move(rule));
  }

  QuotaSpec& quota_;
  TomlReader& reader_;
  std::string table_;
};

}  // namespace

void read_quota_table(const toml::table& table, QuotaSpec& quota, TomlReader& reader,
                      std::string_view table_name) {
  QuotaTableReader(quota, reader, table_name).read(table);
}

}  // namespace airssys::wasm::security::detail
