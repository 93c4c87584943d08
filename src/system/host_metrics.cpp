#include <fmt/format.h>

#include <map>

#include "host_impl.hpp"

namespace airssys::wasm::system {

namespace {

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string Host::metrics() const {
  auto& i = *impl_;
  std::string out;
  auto installed = i.registry->list();
  std::map<std::string, std::optional<InstalledComponent>> names;
  if (installed) {
    for (auto& c : *installed) names[c.name] = c;
  }
  for (const auto& name : running()) names.try_emplace(name);

  auto family = [&](std::string_view metric, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", metric, help, metric, type);
  };
  family("airssys_components_installed", "gauge", "Components in the registry.");
  out += fmt::format("airssys_components_installed {}\n", installed ? installed->size() : 0);
  family("airssys_component_up", "gauge", "1 while the component runs and is ready, else 0.");
  for (const auto& [name, c] : names) {
    auto st = i.system->status(name);
    bool up = st && st->state == component::ComponentState::Ready;
    out += fmt::format("airssys_component_up{{component=\"{}\",version=\"{}\"}} {}\n", label(name),
                       label(c ? c->current.version : "loaded"), up ? 1 : 0);
  }
  struct Row {
    uint64_t handled, restarts, denials, accepted, refused, storage;
    security::QuotaLimits quotas;
  };
  std::map<std::string, Row> rows;
  const security::QuotaLimits defaults = i.default_quotas();
  for (const auto& [name, c] : names) {
    auto& counters = i.counters_for(name);
    Row row{};
    {
      std::lock_guard lock(i.counters_mutex);
      row.handled = counters.handled_base;
      row.restarts = counters.restarts_base;
    }
    if (auto st = i.system->status(name)) {
      row.handled += st->messages_handled;
      row.restarts += st->restarts;
    }
    row.denials = counters.denials.load();
    row.accepted = counters.host_accepted.load();
    row.refused = counters.host_refused.load();
    auto used = i.kv->usage(name);
    row.storage = used ? *used : 0;
    row.quotas = defaults;
    if (c) {
      if (auto m = security::parse_manifest(c->current.manifest, "Component.toml")) {
        row.quotas = security::effective_quotas(m->quota, row.quotas);
      }
    }
    rows.emplace(name, row);
  }
  family("airssys_messages_handled_total", "counter",
         "Messages the component's handler completed, over every version since the host started.");
  for (const auto& [n, r] : rows) {
    out +=
        fmt::format("airssys_messages_handled_total{{component=\"{}\"}} {}\n", label(n), r.handled);
  }
  family("airssys_host_messages_total", "counter",
         "Messages the host sent to the component: accepted into its mailbox, or refused.");
  for (const auto& [n, r] : rows) {
    out += fmt::format("airssys_host_messages_total{{component=\"{}\",result=\"accepted\"}} {}\n",
                       label(n), r.accepted);
    out += fmt::format("airssys_host_messages_total{{component=\"{}\",result=\"refused\"}} {}\n",
                       label(n), r.refused);
  }
  family("airssys_denials_total", "counter",
         "Audited denials concerning the component (capability, host policy, quota, messaging, "
         "trust, approval).");
  for (const auto& [n, r] : rows) {
    out += fmt::format("airssys_denials_total{{component=\"{}\"}} {}\n", label(n), r.denials);
  }
  family("airssys_restarts_total", "counter", "Restarts of the component by its supervisor.");
  for (const auto& [n, r] : rows) {
    out += fmt::format("airssys_restarts_total{{component=\"{}\"}} {}\n", label(n), r.restarts);
  }
  // Quotas: every running component's tracker (used in the current window
  // for the rates, held now for the levels); a stopped one's storage held
  // and its limits.
  family("airssys_quota_used", "gauge",
         "Current use of a quota: storage and memory in bytes held, message_rate in messages, "
         "network in bytes and cpu_time in microseconds used in the current second.");
  for (const auto& [n, r] : rows) {
    if (auto st = i.system->status(n)) {
      for (const auto& q : st->quotas) {
        out += fmt::format("airssys_quota_used{{component=\"{}\",quota=\"{}\"}} {}\n", label(n),
                           security::quota_name(q.quota), q.used);
      }
    } else {
      out += fmt::format("airssys_quota_used{{component=\"{}\",quota=\"storage\"}} {}\n", label(n),
                         r.storage);
    }
  }
  family("airssys_quota_limit", "gauge",
         "A quota's limit: storage and memory in bytes, message_rate in messages/s, network in "
         "bytes/s, cpu_time in microseconds/s.");
  for (const auto& [n, r] : rows) {
    for (security::QuotaKind kind : security::kQuotaKinds) {
      out += fmt::format("airssys_quota_limit{{component=\"{}\",quota=\"{}\"}} {}\n", label(n),
                         security::quota_name(kind), r.quotas.limit(kind));
    }
  }
  family("airssys_quota_throttled_total", "counter",
         "Slices of the component held back because it used its CPU time of the second.");
  for (const auto& [n, r] : rows) {
    if (auto st = i.system->status(n)) {
      out += fmt::format("airssys_quota_throttled_total{{component=\"{}\"}} {}\n", label(n),
                         st->throttled);
    }
  }
  family("airssys_cpu_time_microseconds_total", "counter",
         "Metered CPU time of the component since it started, restarts included.");
  for (const auto& [n, r] : rows) {
    if (auto st = i.system->status(n)) {
      out += fmt::format("airssys_cpu_time_microseconds_total{{component=\"{}\"}} {}\n", label(n),
                         st->cpu_time_us);
    }
  }
  auto stats = i.audit->stats();
  family("airssys_audit_records_total", "counter", "Audit records accepted by the audit log.");
  out += fmt::format("airssys_audit_records_total {}\n", stats.recorded);
  family("airssys_audit_dropped_total", "counter",
         "Audit records refused because the audit queue was full, or their source held its "
         "share of it.");
  out += fmt::format("airssys_audit_dropped_total {}\n", stats.dropped);
  family("airssys_audit_coalesced_total", "counter",
         "Repeated refusals counted in summary records instead of written one by one.");
  out += fmt::format("airssys_audit_coalesced_total {}\n", stats.coalesced);
  family("airssys_audit_reopens_total", "counter",
         "Times the audit log began a new file after its file was removed or moved away.");
  out += fmt::format("airssys_audit_reopens_total {}\n", stats.reopens);
  family("airssys_audit_write_failures_total", "counter",
         "Audit records that could not be written, and failed syncs and rotations.");
  out += fmt::format("airssys_audit_write_failures_total {}\n", stats.write_failures);
  family("airssys_audit_rotations_total", "counter",
         "Times this host rotated the audit log (audit.log became audit.log.1).");
  out += fmt::format("airssys_audit_rotations_total {}\n", stats.rotations);
  return out;
}

}  // namespace airssys::wasm::system
