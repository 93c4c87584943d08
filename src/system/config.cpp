// host.toml: the configuration of a long-running host (`airssys-wasm serve`).
#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/core/units.hpp"
#include "airssys/wasm/system/host.hpp"
#include "security/native_toml.hpp"
#include "security/quota_toml.hpp"
#include "lattice/lattice_toml.hpp"
#include "security/toml_reader.hpp"

namespace airssys::wasm::system {

namespace fs = std::filesystem;

namespace {

// host.toml's values, read through the one TOML reader: a value that breaks
// its rule is a problem of the file and nothing, and reading goes on.
struct Reader {
  security::detail::TomlReader& input;

  void fail(const toml::node& node, std::string_view key, std::string_view rule) const {
    input.add(node, std::string(key), std::string(rule));
  }
  std::optional<std::string> text(const toml::node& node, std::string_view key) const {
    if (const auto* v = node.as_string()) return v->get();
    fail(node, key, "must be a string");
    return std::nullopt;
  }
  // A string that is not empty.
  std::optional<std::string> name(const toml::node& node, std::string_view key) const {
    auto v = text(node, key);
    if (v && v->empty()) {
      fail(node, key, "must not be empty");
      return std::nullopt;
    }
    return v;
  }
  std::optional<uint64_t> count(const toml::node& node, std::string_view key, uint64_t min,
                                uint64_t max) const {
    if (!node.is_integer()) {
      fail(node, key, "must be an integer");
      return std::nullopt;
    }
    int64_t v = *node.value<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      fail(node, key, fmt::format("must be between {} and {}", min, max));
      return std::nullopt;
    }
    return static_cast<uint64_t>(v);
  }
  // "256MB" or a number of bytes.
  std::optional<uint64_t> bytes(const toml::node& node, std::string_view key) const {
    if (node.is_integer()) return count(node, key, 1, UINT64_MAX >> 1);
    const auto* t = node.as_string();
    if (!t) {
      fail(node, key, "must be a size such as \"256MB\" or a number of bytes");
      return std::nullopt;
    }
    auto size = parse_byte_size(t->get());
    if (!size) {
      fail(node, key, size.error().message);
      return std::nullopt;
    }
    return *size;
  }
  // The table, or a problem "must be a table ([key])".
  const toml::table* table(const toml::node& node, std::string_view key) const {
    const auto* t = node.as_table();
    if (!t) fail(node, key, fmt::format("must be a table ([{}])", key));
    return t;
  }
};

fs::path path(const std::string& value, const fs::path& base) {
  fs::path p(value);
  return p.is_absolute() ? p : base / p;
}

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
  security::detail::TomlReader input(file.string());
  auto root = input.parse(text);
  if (!root) return std::unexpected(input.error(ErrorCode::InvalidConfig));
  const Reader r{input};
  std::error_code ec;
  fs::path base = fs::absolute(file, ec).parent_path();
  HostConfig config;
  // A host run from a host.toml (`serve`, `up --config`) gives components
  // native code wherever it can: auto unless the file says otherwise.
  config.tier = security::TierChoice::Auto;
  for (const auto& [k, node] : *root) {
    std::string key(k.str());
    if (key == "data_dir" || key == "trust_config" || key == "policy" || key == "audit_log") {
      auto v = r.name(node, key);
      if (!v) continue;
      // data_dir is relative to this file; the others stay as written, for
      // resolve_paths() to put in the data directory.
      if (key == "data_dir") config.data_dir = path(*v, base);
      if (key == "trust_config") config.trust_config = *v;
      if (key == "policy") config.policy = *v;
      if (key == "audit_log") config.audit_log = *v;
    } else if (key == "audit_rotate_size") {
      if (node.is_integer() && *node.value<int64_t>() == 0) {
        config.audit_rotate_bytes = 0;  // never
      } else if (auto v = r.bytes(node, key)) {
        if (*v < security::kMinAuditRotateBytes) {
          r.fail(node, key, "must be at least 64KB, or 0 for no rotation");
        } else {
          config.audit_rotate_bytes = *v;
        }
      }
    } else if (key == "audit_keep") {
      if (auto v = r.count(node, key, 1, security::kMaxAuditKeep)) {
        config.audit_keep = static_cast<uint32_t>(*v);
      }
    } else if (key == "workers") {
      if (auto v = r.count(node, key, 0, 256)) config.workers = *v;  // 0: one per core
    } else if (key == "tier") {
      if (auto v = r.text(node, key)) {
        if (auto tier = security::parse_tier_choice(*v)) {
          config.tier = *tier;
        } else {
          r.fail(node, key, "must be \"interp\", \"native\" or \"auto\"");
        }
      }
    } else if (key == "state_durability") {
      if (auto v = r.text(node, key)) {
        if (*v == "full") {
          config.state_durability = storage::Durability::Full;
        } else if (*v == "normal") {
          config.state_durability = storage::Durability::Normal;
        } else {
          r.fail(node, key, "must be \"full\" or \"normal\"");
        }
      }
    } else if (key == "ready_timeout_ms" || key == "stop_timeout_ms") {
      if (auto v = r.count(node, key, 1, 3'600'000)) {
        (key == "ready_timeout_ms" ? config.ready_timeout : config.stop_timeout) =
            std::chrono::milliseconds(*v);
      }
    } else if (key == "admin") {
      const auto* table = node.as_table();
      if (!table) {
        r.fail(node, key, "must be a table");
        continue;
      }
      for (const auto& [ak, an] : *table) {
        std::string akey = "admin." + std::string(ak.str());
        if (ak.str() != "socket") {
          r.fail(an, akey, "unknown key (known: socket)");
        } else if (auto v = r.name(an, akey)) {
          config.admin_socket = *v;
        }
      }
    } else if (key == "native") {
      if (const auto* table = r.table(node, key)) {
        security::NativeCompileBounds bounds;
        security::detail::read_native_table(*table, bounds, input);
        config.native = component::with_native_bounds(config.native, bounds, false);
      }
    } else if (key == "lattice") {
      if (const auto* table = r.table(node, key)) {
        lattice::LatticeConfig lattice_config;
        lattice::detail::read_lattice_table(*table, lattice_config, input);
        config.lattice = std::move(lattice_config);
      }
    } else if (key == "quota") {
      // The same keys, units and bounds as a manifest's [quota].
      if (const auto* table = r.table(node, key)) {
        security::detail::read_quota_table(*table, config.quota, input);
      }
    } else if (key == "ceiling") {
      // The most any manifest may ask for; policy.toml's [ceiling] holds too.
      if (const auto* table = r.table(node, key)) {
        security::detail::read_quota_table(*table, config.ceiling, input, "ceiling");
      }
    } else {
      r.fail(node, key,
             "unknown key (known: data_dir, trust_config, policy, audit_log, "
             "audit_rotate_size, audit_keep, workers, tier, state_durability, "
             "ready_timeout_ms, stop_timeout_ms, [admin], [native], [lattice], [quota], "
             "[ceiling])");
    }
  }
  return input.result(std::move(config), ErrorCode::InvalidConfig);
}

void HostConfig::resolve_paths() {
  auto place = [this](fs::path& file, const char* name) {
    file = file.empty() ? data_dir / name : data_dir / file;  // an absolute file stays
  };
  place(trust_config, "trust.toml");
  if (lattice) {
    // The lattice's files, relative ones in the data directory.
    for (auto* file : {&lattice->key_file, &lattice->hosts_file, &lattice->password_file,
                       &lattice->nkey_seed_file, &lattice->tls_ca, &lattice->tls_cert,
                       &lattice->tls_key}) {
      if (!file->empty()) *file = data_dir / *file;
    }
  }
  place(policy, "policy.toml");
  place(audit_log, "audit.log");
  place(admin_socket, "admin.sock");
}

}  // namespace airssys::wasm::system
