// Joining the lattice of host.toml's [lattice] (docs/design.md, "Lattice").
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "host_impl.hpp"

namespace airssys::wasm::system {

namespace {

// A file only its owner may read (a key, a password): refused otherwise.
Result<std::string> read_private_file(const fs::path& file, std::string_view what) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return make_error(ErrorCode::IoError,
                      fmt::format("{}: cannot read the lattice's {}", file.string(), what));
  }
  if ((st.st_mode & 077) != 0) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("{}: the lattice's {} may be read by others (mode {:o}); "
                                  "chmod 600 it",
                                  file.string(), what, st.st_mode & 0777));
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

}  // namespace

Result<void> Host::Impl::join_lattice() {
  const lattice::LatticeConfig& c = *config.lattice;
  // This host's key: made on the first start, then always the same.
  if (!fs::exists(c.key_file)) {
    AIRSSYS_TRY_ASSIGN(auto fresh, security::generate_key_pair());
    AIRSSYS_TRY(security::write_secret_key_file(c.key_file, fresh));
  }
  AIRSSYS_TRY_ASSIGN(auto keys, security::read_secret_key_file(c.key_file));
  auto hosts = lattice::AdmittedHosts::load(c.hosts_file);
  if (!hosts) {
    return make_error(
        hosts.error().code == ErrorCode::IoError ? ErrorCode::InvalidConfig : hosts.error().code,
        fmt::format("{}\nthe lattice's host list names every host admitted; this host's line "
                    "is:\n[[host]]\nname = \"{}\"\nkey = \"{}\"",
                    hosts.error().message, c.host,
                    security::public_key_to_text(keys.public_key)));
  }
  auto identity = lattice::HostIdentity::create(
      c.host, keys, std::move(*hosts), c.name, 0,
      lattice::ReceiverOptions{.max_clock_skew = c.max_clock_skew});
  if (!identity) {
    return make_error(identity.error().code,
                      fmt::format("{}: {}; add this host to it on every host:\n[[host]]\nname = "
                                  "\"{}\"\nkey = \"{}\"",
                                  c.hosts_file.string(), identity.error().message, c.host,
                                  security::public_key_to_text(keys.public_key)));
  }
  lattice::NodeOptions options;
  options.link.servers = c.servers;
  options.link.name = c.host;
  options.link.user = c.user;
  if (!c.password_file.empty()) {
    AIRSSYS_TRY_ASSIGN(options.link.password, read_private_file(c.password_file, "password"));
  }
  options.link.nkey_public = c.nkey;
  options.link.nkey_seed_file = c.nkey_seed_file;
  options.link.tls_ca_file = c.tls_ca;
  options.link.tls_cert_file = c.tls_cert;
  options.link.tls_key_file = c.tls_key;
  options.link.connect_timeout = c.connect_timeout;
  options.labels = c.labels;
  options.heartbeat_interval = c.heartbeat;
  options.missed_heartbeats = c.missed_heartbeats;
  Impl* self = this;
  options.on_refused = [self](std::string_view, const Error& e) {
    self->record("", "lattice.receive", "envelope", AuditResult::Denied, e.to_string());
  };
  // Nothing on this host takes messages from other hosts yet: what opens is
  // refused on record rather than dropped unseen.
  options.on_message = [self](lattice::WireEnvelope e) {
    self->record("", "lattice.deliver", e.target, AuditResult::Denied,
                 fmt::format("a {} from {}@{} reached this host, which does not deliver lattice "
                             "messages to its components yet",
                             lattice::envelope_kind_name(e.kind), e.from_component, e.from_host));
  };
  AIRSSYS_TRY_ASSIGN(lattice_node, lattice::Node::start(std::move(*identity), std::move(options)));
  record("", "lattice.join", c.name, AuditResult::Granted,
         fmt::format("joined lattice '{}' as host '{}' over {}", c.name, c.host,
                     lattice_node->link().server()));
  return {};
}

std::optional<Host::LatticeView> Host::lattice() const {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  if (!i.lattice_node) return std::nullopt;
  LatticeView view;
  view.lattice = i.lattice_node->identity().lattice();
  view.host = i.lattice_node->identity().name();
  view.boot = i.lattice_node->identity().boot();
  view.connected = i.lattice_node->link().connected();
  view.server = i.lattice_node->link().server();
  const auto now = std::chrono::steady_clock::now();
  for (const auto& p : i.lattice_node->hosts()) {
    view.hosts.push_back({.name = p.name,
                          .live = p.live,
                          .boot = p.boot,
                          .labels = p.labels,
                          .last_heard = std::chrono::duration_cast<std::chrono::milliseconds>(
                              now - p.last_heard)});
  }
  return view;
}

}  // namespace airssys::wasm::system
