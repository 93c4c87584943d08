#pragma once
// host.toml's [lattice]: which NATS servers, which lattice, this host's name
// and labels, its key and the list of admitted hosts, the credentials the
// servers ask for, and the timings (docs/lattice.md).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace airssys::wasm::lattice {

struct LatticeConfig {
  std::vector<std::string> servers;  // nats://HOST:PORT or tls://HOST:PORT, at least one
  std::string name = "default";      // the lattice: the prefix of its subjects
  std::string host;                  // this host's name (default: the machine's host name)
  std::map<std::string, std::string> labels;
  // Relative paths are in the data directory (HostConfig::resolve_paths).
  std::filesystem::path key_file = "host.key";              // this host's Ed25519 key
  std::filesystem::path hosts_file = "lattice-hosts.toml";  // the admitted hosts
  std::string user;
  std::filesystem::path password_file;  // the password, alone in a file of mode 0600
  std::string nkey;                     // an NKey's public key ...
  std::filesystem::path nkey_seed_file; // ... and the file of its seed
  std::filesystem::path tls_ca;
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds heartbeat{1'000};
  uint32_t missed_heartbeats = 3;
  std::chrono::milliseconds max_clock_skew{30'000};

  bool operator==(const LatticeConfig&) const = default;
};

// A name of the lattice or of a host: 1 to 64 of [A-Za-z0-9_-].
[[nodiscard]] bool valid_lattice_name(std::string_view name);
// The machine's host name made such a name ('.' and others become '-').
[[nodiscard]] std::string default_host_name();

}  // namespace airssys::wasm::lattice
