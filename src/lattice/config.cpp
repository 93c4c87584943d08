#include <unistd.h>

#include <algorithm>
#include <climits>

#include <fmt/format.h>

#include "lattice_toml.hpp"

namespace airssys::wasm::lattice {

bool valid_lattice_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
         });
}

namespace detail {

namespace {

constexpr std::string_view kKnown =
    "servers, name, host, labels, key_file, hosts_file, user, password_file, nkey, "
    "nkey_seed_file, tls_ca, tls_cert, tls_key, connect_timeout_ms, heartbeat_ms, "
    "missed_heartbeats, max_clock_skew_ms";

}  // namespace

}  // namespace detail

std::string default_host_name() {
  char buffer[HOST_NAME_MAX + 1] = {0};
  if (::gethostname(buffer, sizeof buffer - 1) != 0 || !*buffer) return "host";
  std::string name(buffer);
  for (char& c : name) {
    if (!valid_lattice_name(std::string_view(&c, 1))) c = '-';
  }
  return name.substr(0, 64);
}

namespace detail {

void read_lattice_table(const toml::table& table, LatticeConfig& config,
                        security::detail::TomlReader& reader) {
  auto fail = [&](const toml::node& node, std::string_view key, std::string rule) {
    reader.add(node, fmt::format("lattice.{}", key), std::move(rule));
  };
  auto text = [&](const toml::node& node, std::string_view key) -> std::optional<std::string> {
    const auto* s = node.as_string();
    if (!s || s->get().empty()) {
      fail(node, key, "must be a string that is not empty");
      return std::nullopt;
    }
    return s->get();
  };
  auto millis = [&](const toml::node& node, std::string_view key, int64_t min,
                    int64_t max) -> std::optional<std::chrono::milliseconds> {
    const auto v = node.value<int64_t>();
    if (!node.is_integer() || !v || *v < min || *v > max) {
      fail(node, key, fmt::format("must be an integer between {} and {} (milliseconds)", min, max));
      return std::nullopt;
    }
    return std::chrono::milliseconds(*v);
  };
  bool servers_seen = false;
  for (const auto& [k, node] : table) {
    const std::string_view key = k.str();
    if (key == "servers") {
      servers_seen = true;
      const auto* array = node.as_array();
      if (!array || array->empty()) {
        fail(node, key, "must be an array of server URLs such as [\"nats://127.0.0.1:4222\"]");
        continue;
      }
      for (const auto& entry : *array) {
        const auto* s = entry.as_string();
        if (!s || !(s->get().starts_with("nats://") || s->get().starts_with("tls://")) ||
            s->get().find_first_of(" \t\r\n,") != std::string::npos) {
          fail(entry, key, "each must be a URL nats://HOST:PORT or tls://HOST:PORT");
        } else {
          config.servers.push_back(s->get());
        }
      }
    } else if (key == "name" || key == "host") {
      auto v = text(node, key);
      if (v && !valid_lattice_name(*v)) {
        fail(node, key, "must be 1 to 64 letters, digits, '_' or '-'");
      } else if (v) {
        (key == "name" ? config.name : config.host) = *v;
      }
    } else if (key == "labels") {
      const auto* labels = node.as_table();
      if (!labels) {
        fail(node, key, "must be a table of strings ([lattice.labels])");
        continue;
      }
      for (const auto& [lk, lv] : *labels) {
        const auto* s = lv.as_string();
        if (!s || !valid_lattice_name(lk.str())) {
          fail(lv, fmt::format("labels.{}", lk.str()),
               "a label's name is 1 to 64 letters, digits, '_' or '-', and its value a string");
        } else {
          config.labels[std::string(lk.str())] = s->get();
        }
      }
    } else if (key == "key_file" || key == "hosts_file" || key == "password_file" ||
               key == "nkey_seed_file" || key == "tls_ca" || key == "tls_cert" ||
               key == "tls_key") {
      auto v = text(node, key);
      if (!v) continue;
      if (key == "key_file") config.key_file = *v;
      if (key == "hosts_file") config.hosts_file = *v;
      if (key == "password_file") config.password_file = *v;
      if (key == "nkey_seed_file") config.nkey_seed_file = *v;
      if (key == "tls_ca") config.tls_ca = *v;
      if (key == "tls_cert") config.tls_cert = *v;
      if (key == "tls_key") config.tls_key = *v;
    } else if (key == "user" || key == "nkey") {
      if (auto v = text(node, key)) (key == "user" ? config.user : config.nkey) = *v;
    } else if (key == "connect_timeout_ms") {
      if (auto v = millis(node, key, 100, 600'000)) config.connect_timeout = *v;
    } else if (key == "heartbeat_ms") {
      if (auto v = millis(node, key, 50, 60'000)) config.heartbeat = *v;
    } else if (key == "max_clock_skew_ms") {
      if (auto v = millis(node, key, 1'000, 3'600'000)) config.max_clock_skew = *v;
    } else if (key == "missed_heartbeats") {
      const auto v = node.value<int64_t>();
      if (!node.is_integer() || !v || *v < 1 || *v > 100) {
        fail(node, key, "must be an integer between 1 and 100");
      } else {
        config.missed_heartbeats = static_cast<uint32_t>(*v);
      }
    } else {
      fail(node, key, fmt::format("unknown key (known: {})", kKnown));
    }
  }
  if (!servers_seen) {
    reader.add(table, "lattice.servers",
               "is required: the NATS servers of the lattice, such as [\"nats://127.0.0.1:4222\"]");
  }
  if (config.nkey.empty() != config.nkey_seed_file.empty()) {
    reader.add(table, "lattice.nkey", "and nkey_seed_file go together");
  }
  if (!config.tls_cert.empty() && config.tls_key.empty()) {
    reader.add(table, "lattice.tls_key", "is required with tls_cert");
  }
  if (config.host.empty()) config.host = default_host_name();
}

}  // namespace detail
}  // namespace airssys::wasm::lattice
