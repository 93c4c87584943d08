// `airssys-wasm audit`: reads the audit log and shows the records that match
// the filters, oldest first, as a table or as JSON lines.
#include "audit_command.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>

#include "airssys/wasm/security/audit.hpp"

namespace airssys::wasm::cli {
namespace {

struct AuditFilter {
  std::string component;
  std::string result;           // granted | denied
  std::string layer;            // component, host-policy, trust, approval, quota, messaging, audit
  std::string permission;       // exact, or a prefix ending in '.' ("quota.")
  std::string since;            // a UTC time or a date; records at or after it
  std::optional<int64_t> last;  // only the last N matches
  bool json = false;
  bool summary = false;  // counts per component, permission, result and layer
};

bool matches(const security::AuditRecord& r, const AuditFilter& f,
             std::optional<security::AuditResult> result,
             std::optional<security::DecisionLayer> layer,
             std::optional<std::chrono::system_clock::time_point> since) {
  if (!f.component.empty() && r.component != f.component) return false;
  if (result && r.result != *result) return false;
  if (layer && r.layer != *layer) return false;
  if (!f.permission.empty()) {
    const bool prefix = f.permission.ends_with('.');
    if (prefix ? !r.permission.starts_with(f.permission) : r.permission != f.permission) {
      return false;
    }
  }
  if (since && r.time < *since) return false;
  return true;
}

// --since: a UTC time with or without milliseconds, or a date alone
// (its midnight, UTC).
std::optional<std::chrono::system_clock::time_point> parse_since(std::string text) {
  if (text.size() == 10) text += "T00:00:00Z";
  if (text.size() == 20 && text.back() == 'Z') text.insert(19, ".000");
  return security::parse_audit_time(text);
}

int show_audit(const HostPaths& paths, const AuditFilter& f) {
  const auto bad_filter = [](std::string message) {
    report(Error::of(ErrorCode::InvalidArgument, std::move(message)));
    return kExitUsage;
  };
  std::optional<security::AuditResult> result;
  if (!f.result.empty()) {
    result = security::parse_audit_result(f.result);
    if (!result) {
      return bad_filter(fmt::format("--result: '{}' is neither granted nor denied", f.result));
    }
  }
  std::optional<security::DecisionLayer> layer;
  if (!f.layer.empty()) {
    layer = security::parse_decision_layer(f.layer);
    if (!layer) {
      return bad_filter(fmt::format("--layer: unknown layer '{}' (component, host-policy, trust, "
                                    "approval, quota, messaging, audit)",
                                    f.layer));
    }
  }
  if (f.last && *f.last < 1) {
    return bad_filter(fmt::format("--last: {} is not a count of records (at least 1)", *f.last));
  }
  std::optional<std::chrono::system_clock::time_point> since;
  if (!f.since.empty()) {
    since = parse_since(f.since);
    if (!since) {
      return bad_filter(fmt::format("--since: '{}' is not a UTC time such as 2026-11-25T16:00:00Z "
                                    "(milliseconds optional) or a date such as 2026-11-25",
                                    f.since));
    }
  }
  auto file = audit_log_path(paths);
  if (!file) {
    report(file.error());
    return exit_code_for(file.error());
  }
  // The rotated files first, oldest first, then the current one.
  const auto files = security::audit_log_files(*file);
  // A data directory where nothing has been recorded yet has no audit log:
  // no records. A log named on the command line must exist.
  if (files.empty() && paths.audit_log.empty()) return 0;
  if (files.empty()) {
    report(
        Error::of(ErrorCode::IoError,
                  fmt::format("cannot read the audit log {}: it does not exist", file->string())));
    return kExitFailure;
  }
  std::deque<security::AuditRecord> shown;
  // (component, permission, result, layer) -> count, and one reason each.
  std::map<std::tuple<std::string, std::string, std::string, std::string>,
           std::pair<uint64_t, std::string>>
      counts;
  // A live log is read as it stands: a last line still being written is
  // left out, never taken for damage.
  auto read = security::read_audit_log(*file, [&](security::AuditRecord&& record) {
    if (!matches(record, f, result, layer, since)) return;
    if (f.summary) {
      auto& [count, reason] = counts[{record.component, record.permission,
                                      std::string(security::audit_result_name(record.result)),
                                      std::string(security::decision_layer_name(record.layer))}];
      if (count == 0) reason = record.reason;
      // A summary of repeated refusals counts as the refusals it stands for.
      count += record.repeats != 0 ? record.repeats : 1;
      return;
    }
    shown.push_back(std::move(record));
    if (f.last && shown.size() > static_cast<size_t>(*f.last)) shown.pop_front();
  });
  if (!read) {
    report(read.error());
    return kExitFailure;
  }
  // A damaged line is reported, never skipped silently.
  for (size_t i = 0; i < read->damage.size() && i < 5; ++i) {
    const auto& d = read->damage[i];
    std::fprintf(stderr, "airssys-wasm: %s:%zu: %s\n", d.file.string().c_str(), d.line,
                 d.error.c_str());
  }
  const uint64_t malformed = read->damaged;
  if (f.summary) {
    for (const auto& [key, value] : counts) {
      const auto& [component, permission, result_name, layer_name] = key;
      if (f.json) {
        nlohmann::json j = {{"component", component}, {"permission", permission},
                            {"result", result_name},  {"layer", layer_name},
                            {"count", value.first},   {"example_reason", value.second}};
        fmt::print("{}\n", j.dump());
      } else {
        fmt::print("{:>7} x  {:<20} {:<24} {:<7} {:<11} e.g. {}\n", value.first, component,
                   permission, result_name, layer_name, value.second);
      }
    }
  }
  for (const auto& r : shown) {
    if (f.json) {
      fmt::print("{}\n", security::to_json_line(r));
    } else {
      fmt::print("{}  {:<7} {:<11} {:<20} {:<24} {}  {}\n", security::format_audit_time(r.time),
                 security::audit_result_name(r.result), security::decision_layer_name(r.layer),
                 r.component, r.permission, r.resource, r.reason);
    }
  }
  if (malformed > 0) {
    std::fprintf(stderr,
                 "airssys-wasm: %llu damaged line(s) in the audit log (the first named above)\n",
                 static_cast<unsigned long long>(malformed));
    return kExitFailure;
  }
  return 0;
}

}  // namespace

void add_audit_command(CLI::App& app, int* exit_code) {
  struct State {
    HostPaths paths;
    AuditFilter filter;
  };
  auto s = std::make_shared<State>();
  auto* cmd = app.add_subcommand(
      "audit",
      "Show audit records, oldest first: every grant, denial, quota event and refusal, from the "
      "rotated files (audit.log.N, highest first) through audit.log");
  cmd->add_option("--component", s->filter.component, "Only this component")->type_name("NAME");
  cmd->add_option("--result", s->filter.result, "Only granted or denied")->type_name("RESULT");
  cmd->add_option("--layer", s->filter.layer,
                  "Only decisions of this layer: component, host-policy, trust, approval, quota, "
                  "messaging, audit")
      ->type_name("LAYER");
  cmd->add_option("--permission", s->filter.permission,
                  "Only this permission or action, or a prefix ending in '.' (e.g. quota.)")
      ->type_name("NAME");
  cmd->add_option("--since", s->filter.since,
                  "Only records at or after this UTC time (e.g. 2026-11-25T16:00:00Z, or a date: "
                  "2026-11-25)")
      ->type_name("TIME");
  cmd->add_option("--last", s->filter.last, "Only the last N matching records (N at least 1)")
      ->type_name("N");
  cmd->add_option("--config", s->paths.config,
                  "The host's configuration (host.toml): its data directory and audit log")
      ->type_name("FILE");
  cmd->add_option("--data-dir", s->paths.data_dir, "Where audit.log lives (default $AIRSSYS_HOME)")
      ->type_name("DIR");
  cmd->add_option("--audit-log", s->paths.audit_log, "Audit log (default <data-dir>/audit.log)")
      ->type_name("FILE");
  cmd->add_flag("--json", s->filter.json, "One JSON object per line, as stored");
  cmd->add_flag("--summary", s->filter.summary,
                "Count the matching records per component, permission, result and layer");
  cmd->callback([s, exit_code] { *exit_code = show_audit(s->paths, s->filter); });
}

}  // namespace airssys::wasm::cli
