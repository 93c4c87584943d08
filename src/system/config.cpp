// host.toml: the configuration of a long-running host (`airssys-wasm serve`).
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "airssys/wasm/core/units.hpp"
#include "airssys/wasm/security/quota_toml.hpp"
#include "airssys/wasm/system/host.hpp"

namespace airssys::wasm::system {

namespace fs = std::filesystem;

namespace {

struct Reader {
  std::string file;

  std::unexpected<Error> fail(const toml::node& node, std::string_view key,
                              std::string_view rule) const {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("{}:{}: {}: {}", file, node.source().begin.line, key, rule));
  }
  Result<std::string> text(const toml::node& node, std::string_view key) const {
    auto v = node.value<std::string>();
    if (!node.is_string() || !v) return fail(node, key, "must be a string");
    return *v;
  }
  Result<uint64_t> count(const toml::node& node, std::string_view key, uint64_t min,
                         uint64_t max) const {
    if (!node.is_integer()) return fail(node, key, "must be an integer");
    int64_t v = *node.value<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      return fail(node, key, fmt::format("must be between {} and {}", min, max));
    }
    return static_cast<uint64_t>(v);
  }
  // "256MB" or a number of bytes.
  Result<uint64_t> bytes(const toml::node& node, std::string_view key) const {
    if (node.is_integer()) return count(node, key, 1, UINT64_MAX >> 1);
    auto t = text(node, key);
    if (!t) return fail(node, key, "must be a size such as \"256MB\" or a number of bytes");
    auto size = parse_byte_size(*t);
    if (!size) return fail(node, key, size.error().message);
    return *size;
  }
  fs::path path(const std::string& value, const fs::path& base) const {
    fs::path p(value);
    return p.is_absolute() ? p : base / p;
  }
};

}  // namespace

Result<HostConfig> HostConfig::load(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot read the host configuration", file.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), file);
}

Result<HostConfig> HostConfig::parse(std::string_view text, const fs::path& file) {
  Reader r{file.string()};
  toml::table root;
  try {
    root = toml::parse(text, r.file);
  } catch (const toml::parse_error& e) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("{}:{}: {}", r.file, e.source().begin.line, e.description()));
  }
  std::error_code ec;
  fs::path base = fs::absolute(file, ec).parent_path();
  HostConfig config;
  for (const auto& [k, node] : root) {
    std::string key(k.str());
    if (key == "data_dir" || key == "trust_config" || key == "policy" || key == "audit_log") {
      auto v = r.text(node, key);
      if (!v) return std::unexpected(v.error());
      if (v->empty()) return r.fail(node, key, "must not be empty");
      // data_dir is relative to this file; the others stay as written, for
      // resolve_paths() to put in the data directory.
      if (key == "data_dir") config.data_dir = r.path(*v, base);
      if (key == "trust_config") config.trust_config = *v;
      if (key == "policy") config.policy = *v;
      if (key == "audit_log") config.audit_log = *v;
    } else if (key == "audit_rotate_size") {
      if (node.is_integer() && *node.value<int64_t>() == 0) {
        config.audit_rotate_bytes = 0;  // never
        continue;
      }
      auto v = r.bytes(node, key);
      if (!v) return std::unexpected(v.error());
      if (*v < security::kMinAuditRotateBytes) {
        return r.fail(node, key, "must be at least 64KB, or 0 for no rotation");
      }
      config.audit_rotate_bytes = *v;
    } else if (key == "audit_keep") {
      auto v = r.count(node, key, 1, security::kMaxAuditKeep);
      if (!v) return std::unexpected(v.error());
      config.audit_keep = static_cast<uint32_t>(*v);
    } else if (key == "workers") {
      auto v = r.count(node, key, 0, 256);  // 0: one per core
      if (!v) return std::unexpected(v.error());
      config.workers = *v;
    } else if (key == "tier") {
      auto v = r.text(node, key);
      if (!v) return std::unexpected(v.error());
      auto tier = security::parse_tier_choice(*v);
      if (!tier) return r.fail(node, key, "must be \"interp\", \"native\" or \"auto\"");
      config.tier = *tier;
    } else if (key == "state_durability") {
      auto v = r.text(node, key);
      if (!v) return std::unexpected(v.error());
      if (*v == "full") {
        config.state_durability = storage::Durability::Full;
      } else if (*v == "normal") {
        config.state_durability = storage::Durability::Normal;
      } else {
        return r.fail(node, key, "must be \"full\" or \"normal\"");
      }
    } else if (key == "ready_timeout_ms" || key == "stop_timeout_ms") {
      auto v = r.count(node, key, 1, 3'600'000);
      if (!v) return std::unexpected(v.error());
      (key == "ready_timeout_ms" ? config.ready_timeout : config.stop_timeout) =
          std::chrono::milliseconds(*v);
    } else if (key == "admin") {
      auto* table = node.as_table();
      if (!table) return r.fail(node, key, "must be a table");
      for (const auto& [ak, an] : *table) {
        std::string akey = "admin." + std::string(ak.str());
        if (ak.str() != "socket") return r.fail(an, akey, "unknown key (known: socket)");
        auto v = r.text(an, akey);
        if (!v) return std::unexpected(v.error());
        if (v->empty()) return r.fail(an, akey, "must not be empty");
        config.admin_socket = *v;
      }
    } else if (key == "native") {
      auto* table = node.as_table();
      if (!table) return r.fail(node, key, "must be a table ([native])");
      for (const auto& [nk, nn] : *table) {
        std::string nkey = "native." + std::string(nk.str());
        const std::string_view name = nk.str();
        if (name == "compile_timeout_ms") {
          auto v = r.count(nn, nkey, 1, 3'600'000);
          if (!v) return std::unexpected(v.error());
          config.native.compile_timeout = std::chrono::milliseconds(*v);
        } else if (name == "compile_memory") {
          auto v = r.bytes(nn, nkey);
          if (!v) return std::unexpected(v.error());
          if (*v < (64ull << 20)) return r.fail(nn, nkey, "must be at least 64MB");
          config.native.compile_memory_bytes = *v;
        } else if (name == "max_module_size" || name == "max_function_size") {
          auto v = r.bytes(nn, nkey);
          if (!v) return std::unexpected(v.error());
          (name == "max_module_size" ? config.native.max_module_bytes
                                     : config.native.max_function_bytes) = *v;
        } else if (name == "max_br_table_targets") {
          auto v = r.count(nn, nkey, 1, UINT32_MAX);
          if (!v) return std::unexpected(v.error());
          config.native.max_br_table_targets = *v;
        } else {
          return r.fail(nn, nkey,
                        "unknown key (known: compile_timeout_ms, compile_memory, "
                        "max_module_size, max_function_size, max_br_table_targets)");
        }
      }
    } else if (key == "quota") {
      // The same keys, units and bounds as a manifest's [quota].
      auto* table = node.as_table();
      if (!table) return r.fail(node, key, "must be a table ([quota])");
      auto spec = security::read_quota_table(*table, r.file);
      if (!spec) return std::unexpected(spec.error());
      config.quota = *spec;
    } else if (key == "ceiling") {
      // The most any manifest may ask for; policy.toml's [ceiling] holds too.
      auto* table = node.as_table();
      if (!table) return r.fail(node, key, "must be a table ([ceiling])");
      auto spec = security::read_quota_table(*table, r.file, "ceiling");
      if (!spec) return std::unexpected(spec.error());
      config.ceiling = *spec;
    } else {
      return r.fail(node, key,
                    "unknown key (known: data_dir, trust_config, policy, audit_log, "
                    "audit_rotate_size, audit_keep, workers, tier, state_durability, "
                    "ready_timeout_ms, stop_timeout_ms, [admin], [native], [quota], [ceiling])");
    }
  }
  return config;
}

void HostConfig::resolve_paths() {
  auto place = [this](fs::path& file, const char* name) {
    file = file.empty() ? data_dir / name : data_dir / file;  // an absolute file stays
  };
  place(trust_config, "trust.toml");
  place(policy, "policy.toml");
  place(audit_log, "audit.log");
  place(admin_socket, "admin.sock");
}

}  // namespace airssys::wasm::system
