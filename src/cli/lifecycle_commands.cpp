// The host as a service (`serve`) and the lifecycle commands that talk to it
// through its admin socket. Without a running host, the commands that only
// touch the registry (install, list, info, stop, upgrade, rollback, uninstall)
// work on the data directory directly; start, send and metrics need the host.

#include "lifecycle_commands.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airssys/wasm/security/signing.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "airssys/wasm/system/admin.hpp"
#include "airssys/wasm/system/host.hpp"
#include "common.hpp"

namespace airssys::wasm::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ClientOptions {
  std::string config;
  std::string data_dir;
  std::string socket;
  bool json = false;
};

Result<fs::path> resolve_data_dir(const std::string& given) {
  if (!given.empty()) return fs::absolute(given);
  return security::airssys_home();
}

ErrorCode code_named(std::string_view name) {
  for (uint16_t i = 0; i <= static_cast<uint16_t>(ErrorCode::InternalError); ++i) {
    auto code = static_cast<ErrorCode>(i);
    if (error_code_name(code) == name) return code;
  }
  return ErrorCode::InternalError;
}

Error error_from(const json& reply) {
  const json& e = reply.contains("error") ? reply["error"] : json::object();
  return Error::of(code_named(e.value("code", "InternalError")),
                   e.value("message", "unknown error"));
}

std::string text_or(const json& j, const char* key, std::string_view fallback = "-") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string(fallback);
  return it->is_string() ? it->get<std::string>() : it->dump();
}

void print_component_line(std::string_view verb, const json& c) {
  fmt::print("{} {} {} (trust {}, status {})\n", verb, text_or(c, "name"), text_or(c, "version"),
             text_or(c, "trust"), text_or(c, "status"));
  if (text_or(c, "status") == "pending-approval") {
    fmt::print(
        "  it needs an approval: review its capabilities with `airssys-wasm approvals "
        "list`, approve it with `airssys-wasm approvals approve {}`, then start it with "
        "`airssys-wasm start {}`\n",
        text_or(c, "approval_key", "KEY"), text_or(c, "name"));
  }
}

void print_list(const json& all) {
  fmt::print("{:<24} {:<12} {:<18} {:<9} {:<9} {}\n", "NAME", "VERSION", "STATUS", "DESIRED",
             "TRUST", "PREVIOUS");
  for (const auto& c : all) {
    fmt::print("{:<24} {:<12} {:<18} {:<9} {:<9} {}\n", text_or(c, "name"), text_or(c, "version"),
               text_or(c, "status"), text_or(c, "desired"), text_or(c, "trust"),
               text_or(c, "previous_version"));
  }
}

// One quota's amount in its unit, for people.
std::string quota_amount(const std::string& quota, uint64_t value) {
  if (quota == "storage" || quota == "memory") return format_byte_size(value);
  if (quota == "network") return format_byte_size(value) + "/s";
  if (quota == "cpu_time") return fmt::format("{:.1f} ms/s", value / 1000.0);
  if (quota == "message_rate") return fmt::format("{}/s", value);
  return std::to_string(value);
}

// The quotas of `info` and `status`: used of limit, percent and level where
// the host measured them, else the limit alone.
void print_quotas(const json& quotas, std::string_view indent) {
  for (const char* name : {"storage", "message_rate", "network", "cpu_time", "memory"}) {
    if (!quotas.contains(name)) continue;
    const json& q = quotas[name];
    const uint64_t limit = q.value("limit", uint64_t{0});
    if (!q.contains("used")) {
      fmt::print("{}{:<14} limit {}\n", indent, name, quota_amount(name, limit));
      continue;
    }
    const uint64_t used = q.value("used", uint64_t{0});
    const double percent = q.contains("percent") ? q.value("percent", 0.0)
                           : limit                 ? 100.0 * static_cast<double>(used) /
                                                         static_cast<double>(limit)
                                                   : 0.0;
    std::string level = q.value("level", std::string());
    fmt::print("{}{:<14} {:>12} of {:<12} {:>6.1f}%{}\n", indent, name, quota_amount(name, used),
               quota_amount(name, limit), percent,
               level.empty() || level == "normal" ? "" : "  " + level);
  }
}

void print_status(const json& all) {
  if (all.empty()) {
    fmt::print("no component is running\n");
    return;
  }
  for (const auto& c : all) {
    if (text_or(c, "state") == "compiling") {
      fmt::print("{} (compiling native code, {:.0f} s): starts when the compile ends\n",
                 text_or(c, "name"), c.value("compiling_ms", int64_t{0}) / 1000.0);
      continue;
    }
    fmt::print("{} ({}, {} tier): {} messages, {} restarts, CPU {:.1f} ms, throttled {} times{}{}\n",
               text_or(c, "name"), text_or(c, "state"), text_or(c, "tier", "interp"),
               c.value("messages_handled", uint64_t{0}),
               c.value("restarts", uint64_t{0}), c.value("cpu_time_us", uint64_t{0}) / 1000.0,
               c.value("throttled", uint64_t{0}),
               c.contains("health") ? ", health: " + text_or(c, "health") : "",
               c.contains("last_error") ? ", last error: " + text_or(c, "last_error") : "");
    print_quotas(c["quotas"], "  ");
  }
}

void print_info(const json& r) {
  auto line = [](std::string_view key, const std::string& value) {
    fmt::print("{:<17} {}\n", std::string(key) + ":", value);
  };
  line("name", text_or(r, "name"));
  line("version", text_or(r, "version"));
  line("previous", text_or(r, "previous_version"));
  line("status", text_or(r, "status") +
                     (r.contains("status_detail") ? " (" + text_or(r, "status_detail") + ")" : ""));
  line("desired", text_or(r, "desired"));
  line("running", r.value("running", false)
                      ? "yes, on the " + text_or(r, "tier", "interp") + " tier"
                      : "no");
  if (r.contains("health")) line("health", text_or(r, "health"));
  if (r.contains("last_error")) line("last error", text_or(r, "last_error"));
  line("module sha256", text_or(r, "module_hash"));
  line("trust", text_or(r, "trust") + " (" + text_or(r, "trust_reason") + ")");
  line("signer", text_or(r, "signer_key_id", "unsigned"));
  line("approval", text_or(r, "approval", "not needed (no capabilities)"));
  line("approval key", text_or(r, "approval_key"));
  line("installed at", text_or(r, "installed_at"));
  line("installed from", text_or(r, "source_dir"));
  line("messages", std::to_string(r.value("messages_handled", 0)));
  line("restarts", std::to_string(r.value("restarts", 0)));
  line("denials", std::to_string(r.value("denials", 0)));
  if (r.contains("throttled")) {
    line("cpu time", fmt::format("{:.1f} ms in all, throttled {} times",
                                 r.value("cpu_time_us", uint64_t{0}) / 1000.0,
                                 r.value("throttled", uint64_t{0})));
  }
  print_quotas(r["quotas"], "  ");
}

void print_reload(const json& r) {
  fmt::print("reloaded: policy {} ({} rules) from {}\n", r.value("policy_generation", 0),
             r.value("policy_rules", 0), text_or(r, "policy"));
  fmt::print("          trust: {} keys, {} paths{} from {}\n", r.value("trusted_keys", 0),
             r.value("trusted_paths", 0), r.value("dev_mode", false) ? ", dev mode" : "",
             text_or(r, "trust_config"));
  for (const auto& t : r.value("trust_changes", json::array())) {
    fmt::print("  {}: trust {} -> {} ({}){}\n", text_or(t, "name"), text_or(t, "from"),
               text_or(t, "to"), text_or(t, "reason"),
               t.value("running", false)
                   ? "; it runs: stop and start it for the new trust to apply"
                   : "; applies when it next starts");
  }
}

// The host's configuration as the command line gives it: host.toml when
// named (it says where everything is), --data-dir over its data directory,
// every file's path resolved.
Result<system::HostConfig> client_config(const ClientOptions& o) {
  system::HostConfig config;
  if (!o.config.empty()) {
    AIRSSYS_TRY_ASSIGN(config, system::HostConfig::load(o.config));
  }
  if (!o.data_dir.empty() || config.data_dir.empty()) {
    AIRSSYS_TRY_ASSIGN(config.data_dir, resolve_data_dir(o.data_dir));
  }
  config.data_dir = fs::absolute(config.data_dir);
  config.resolve_paths();
  return config;
}

// Sends the request to the running host, or handles it on the data directory
// (with the host's configuration, when given) when no host runs and the
// command allows it.
int client_command(const ClientOptions& o, const json& request, bool offline_ok,
                   const std::function<void(const json&)>& print,
                   int (*exit_for)(const Error&) = exit_code_for) {
  auto loaded = client_config(o);
  if (!loaded) {
    report(loaded.error());
    return kExitUsage;
  }
  system::HostConfig& config = *loaded;
  const fs::path* dir = &config.data_dir;
  fs::path socket = !o.socket.empty() ? fs::path(o.socket) : config.admin_socket;
  json reply;
  auto client = system::AdminClient::connect(socket);
  if (client) {
    auto answer = client->call(request);
    if (!answer) {
      report(answer.error());
      return kExitFailure;
    }
    reply = std::move(*answer);
  } else if (client.error().code == ErrorCode::NotFound && offline_ok) {
    config.workers = 1;
    auto host = system::HostBuilder(config).restore(false).build();
    if (!host) {
      report(host.error());
      return host.error().code == ErrorCode::InvalidTransition ? kExitFailure : kExitUsage;
    }
    reply = system::handle_admin_request(**host, request,
                                         fmt::format("offline (uid {})", ::geteuid()));
  } else if (client.error().code == ErrorCode::NotFound) {
    report(Error::of(ErrorCode::NotFound,
                     fmt::format("no host is running for {} ({}); start one with 'airssys-wasm "
                                 "serve'",
                                 dir->string(), client.error().message)));
    return kExitFailure;
  } else {
    report(client.error());
    return kExitFailure;
  }
  if (!reply.value("ok", false)) {
    Error e = error_from(reply);
    report(e);
    return exit_for(e);
  }
  if (o.json) {
    fmt::print("{}\n", reply["result"].dump(2));
  } else if (print) {
    print(reply["result"]);
  }
  return 0;
}

std::atomic<bool> g_serving{false};

// A duration: a number with a unit (ms, s, m, h, d); a bare number is
// milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  const uint64_t n = std::stoull(std::string(text.substr(0, digits)));
  const std::string_view unit = text.substr(digits);
  uint64_t scale = 0;
  if (unit.empty() || unit == "ms") scale = 1;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (unit == "d") scale = 86'400'000;
  if (scale == 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(n * scale));
}

// --since of `logs`: a duration back from now, or a UTC time (as `audit
// --since`: with or without milliseconds, or a date alone).
std::optional<std::string> since_time(std::string text) {
  if (auto ago = parse_duration(text)) {
    return security::format_audit_time(std::chrono::system_clock::now() - *ago);
  }
  if (text.size() == 10) text += "T00:00:00Z";
  if (text.size() == 20 && text.back() == 'Z') text.insert(19, ".000");
  auto at = security::parse_audit_time(text);
  if (!at) return std::nullopt;
  return security::format_audit_time(*at);
}

void print_log_lines(const json& lines, bool as_json) {
  for (const auto& l : lines) {
    if (as_json) {
      fmt::print("{}\n", l.dump());
    } else if (text_or(l, "source") == "log") {
      fmt::print("{} {:<5} {}\n", text_or(l, "time"), text_or(l, "level"), text_or(l, "text", ""));
    } else {
      fmt::print("{} {:<5} {}\n", text_or(l, "time"), text_or(l, "source"),
                 text_or(l, "text", ""));
    }
  }
  std::fflush(stdout);
}

// `logs`: the lines the host keeps of a component; with `follow`, then each
// new one as it comes, until interrupted or the host stops.
int show_logs(const ClientOptions& o, const std::string& name, const std::string& since,
              bool follow) {
  json request = {{"command", "logs"}, {"name", name}};
  if (!since.empty()) {
    auto at = since_time(since);
    if (!at) {
      report_usage(fmt::format("--since: '{}' is neither a duration (30s, 10m, 2h, 1d) nor a "
                               "UTC time such as 2026-11-25T16:00:00Z",
                               since));
      return kExitUsage;
    }
    request["since"] = *at;
  }
  ClientOptions quiet = o;
  quiet.json = false;  // each line is printed here, as JSON Lines with --json
  uint64_t last = 0;
  for (;;) {
    json result;
    int code = client_command(quiet, request, false, [&result](const json& r) { result = r; });
    if (code != 0) return code;
    print_log_lines(result.value("lines", json::array()), o.json);
    last = std::max(last, result.value("last", uint64_t{0}));
    if (!follow) return 0;
    // Then wait for what comes next, a while per request.
    request["after"] = last;
    request["wait_ms"] = 10'000;
  }
}

int serve(const std::string& config_file, const std::string& data_dir, size_t workers,
          const std::string& tier) {
  system::HostConfig config;
  // Native code wherever it can be had, unless host.toml or --tier say otherwise.
  config.tier = security::TierChoice::Auto;
  if (!config_file.empty()) {
    auto loaded = system::HostConfig::load(config_file);
    if (!loaded) {
      report(loaded.error());
      return kExitUsage;
    }
    config = std::move(*loaded);
  }
  if (!data_dir.empty()) config.data_dir = fs::absolute(data_dir);
  if (config.data_dir.empty()) {
    auto home = security::airssys_home();
    if (!home) {
      report(home.error());
      return kExitUsage;
    }
    config.data_dir = *home;
  }
  if (workers) config.workers = workers;
  if (!tier.empty()) config.tier_override = security::parse_tier_choice(tier);

  // SIGTERM, SIGINT and SIGHUP are taken by this thread alone, with sigwait;
  // every thread the host starts inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto log = [](const std::string& text) {
    std::string line = "airssys-wasm serve: " + text + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
  auto host = system::HostBuilder(config)
                  .on_supervisor_event([log](const actor::SupervisorEvent& e) {
                    log("supervisor: " + e.to_string());
                  })
                  .on_audit([log](const security::AuditRecord& r, std::string_view) {
                    if (r.result == security::AuditResult::Denied) {
                      log(fmt::format("denied: {} {} {} ({})", r.component, r.permission,
                                      r.resource, r.reason));
                    }
                  })
                  .build();
  if (!host) {
    report(host.error());
    return host.error().category() == ErrorCategory::Usage ? kExitUsage : kExitFailure;
  }
  auto server = system::AdminServer::start(**host, (*host)->config().admin_socket);
  if (!server) {
    report(server.error());
    return kExitUsage;
  }
  if ((*host)->config().tier_override.value_or((*host)->config().tier) !=
      security::TierChoice::Interp) {
    if (auto native = (*host)->native_tier(); !native) log(native_tier_notice(native.error()));
  }
  if (auto lattice = (*host)->lattice()) {
    log(fmt::format("joined lattice {} as host {} over {}", lattice->lattice, lattice->host,
                    lattice->server));
  }
  for (const auto& name : (*host)->running()) log("running " + name);
  log(fmt::format("serving {} on {} (pid {})", (*host)->config().data_dir.string(),
                  (*server)->path().string(), ::getpid()));
  int received = 0;
  for (;;) {
    if (sigwait(&signals, &received) != 0) continue;
    if (received != SIGHUP) break;
    // SIGHUP: read trust.toml and policy.toml again; a refused file changes nothing.
    auto reloaded = (*host)->reload(fmt::format("SIGHUP (uid {})", ::geteuid()));
    if (!reloaded) {
      log("SIGHUP: reload refused, the configuration in force is unchanged: " +
          reloaded.error().message);
      continue;
    }
    log(fmt::format("SIGHUP: reloaded policy {} ({} rules) and trust ({} keys, {} paths)",
                    reloaded->policy_generation, reloaded->policy_rules, reloaded->trusted_keys,
                    reloaded->trusted_paths));
    for (const auto& t : reloaded->trust_changes) {
      log(fmt::format("{}: trust {} -> {} ({}); applies when it next starts", t.name,
                      security::trust_level_name(t.from), security::trust_level_name(t.to),
                      t.reason));
    }
  }
  log(fmt::format("{}: stopping components", received == SIGTERM ? "SIGTERM" : "SIGINT"));
  // A request that is compiling, waiting for a reply or following the logs
  // ends at once, so the server stops in time.
  (*host)->end_waits();
  (*host)->stop_compiles();
  (*server)->stop();
  (*host)->shutdown();
  log("stopped; audit log and state flushed");
  return 0;
}

// What `start` says once the host took it. A start that waits for a native
// compile is followed until the component runs or fails, when asked
// (--wait) or on a terminal (with a progress line); otherwise it says that
// the component starts when its compile ends.
int report_start(const ClientOptions& o, const std::string& name, bool wait, json started) {
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  if (text_or(started, "status") != "compiling" || !(wait || terminal)) {
    if (o.json) {
      fmt::print("{}\n", started.dump(2));
    } else if (text_or(started, "status") == "compiling") {
      fmt::print("compiling {} for the native tier; it starts when the compile ends "
                 "('airssys-wasm status {}' shows it)\n",
                 name, name);
    } else {
      fmt::print("started {}\n", name);
    }
    return 0;
  }
  ClientOptions quiet = o;
  quiet.json = false;
  while (text_or(started, "status") == "compiling") {
    if (terminal && !o.json) {
      fmt::print("\rcompiling {} for the native tier: {:.0f} s", name,
                 started.value("compiling_ms", int64_t{0}) / 1000.0);
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    json info;
    int code = client_command(quiet, {{"command", "info"}, {"name", name}}, false,
                              [&info](const json& r) { info = r; });
    if (code != 0) return code;
    started = std::move(info);
  }
  if (terminal && !o.json) fmt::print("\r\033[K");
  if (o.json) fmt::print("{}\n", started.dump(2));
  if (started.value("running", false)) {
    if (!o.json) fmt::print("started {}\n", name);
    return 0;
  }
  report(Error::of(
      ErrorCode::ActorStopped,
      fmt::format(
          "'{}' did not start (status {}{})", name, text_or(started, "status"),
          started.contains("status_detail") ? ": " + text_or(started, "status_detail") : "")));
  return kExitFailure;
}

// `lattice key`: this host's [[host]] line, its key made when missing.
int print_lattice_key(const ClientOptions& o) {
  auto loaded = client_config(o);
  if (!loaded) {
    report(loaded.error());
    return kExitUsage;
  }
  const lattice::LatticeConfig lattice = loaded->lattice.value_or(lattice::LatticeConfig{});
  const fs::path key_file = loaded->lattice ? lattice.key_file
                                            : loaded->data_dir / lattice.key_file;
  const std::string host_name = loaded->lattice ? lattice.host : lattice::default_host_name();
  if (!fs::exists(key_file)) {
    if (auto made = create_private_directory(key_file.parent_path()); !made) {
      report(made.error());
      return exit_code_for(made.error());
    }
    auto fresh = security::generate_key_pair();
    if (fresh) {
      if (auto written = security::write_secret_key_file(key_file, *fresh); !written) {
        report(written.error());
        return exit_code_for(written.error());
      }
    }
  }
  auto keys = security::read_secret_key_file(key_file);
  if (!keys) {
    report(keys.error());
    return exit_code_for(keys.error());
  }
  fmt::print("[[host]]\nname = \"{}\"\nkey = \"{}\"\n", host_name,
             security::public_key_to_text(keys->public_key));
  return 0;
}

void add_client_options(CLI::App* cmd, ClientOptions* o, bool json = true) {
  cmd->add_option("--config", o->config,
                  "The host's configuration (host.toml): its data directory, socket and, "
                  "without a running host, its trust configuration and policy")
      ->type_name("FILE");
  cmd->add_option("--data-dir", o->data_dir, "The host's data directory (default $AIRSSYS_HOME)")
      ->type_name("DIR");
  cmd->add_option("--socket", o->socket, "The host's admin socket (default <data-dir>/admin.sock)")
      ->type_name("FILE");
  if (json) cmd->add_flag("--json", o->json, "Machine-readable output");
}

}  // namespace

void add_lifecycle_commands(CLI::App& app, int* exit_code) {
  struct State {
    ClientOptions client;
    std::string config, data_dir, dir, name, text;
    size_t workers = 0;
    std::string tier;
    bool approve = false;
    bool remove_state = false;
    bool wait = false;
    bool follow = false;
    std::string timeout, since;
  };
  auto s = std::make_shared<State>();

  auto* serve_cmd = app.add_subcommand(
      "serve", "Run the host as a service: restore the installed components, serve the admin "
               "socket, read trust.toml and policy.toml again on SIGHUP, stop cleanly on "
               "SIGTERM");
  serve_cmd->add_option("--config", s->config, "Host configuration (host.toml)")
      ->type_name("FILE");
  serve_cmd->add_option("--data-dir", s->data_dir,
                        "Data directory (overrides the configuration; default $AIRSSYS_HOME)")
      ->type_name("DIR");
  serve_cmd->add_option("--workers", s->workers, "Worker threads (default: one per core)");
  serve_cmd->add_option("--tier", s->tier,
                        "Execution tier for every component, over manifests and host.toml: "
                        "interp, native or auto (default: each manifest's [runtime] tier, else "
                        "host.toml's tier, else auto)")
      ->check(CLI::IsMember({"interp", "native", "auto"}))
      ->type_name("TIER");
  serve_cmd->callback(
      [s, exit_code] { *exit_code = serve(s->config, s->data_dir, s->workers, s->tier); });

  auto* install_cmd = app.add_subcommand(
      "install", "Install a component folder into the registry (signature verified, trust "
                 "decided, approval queued when unknown)");
  install_cmd->add_option("dir", s->dir, "Folder with component.wasm, Component.toml and "
                                         "optionally component.sig")
      ->required();
  install_cmd->add_flag("--approve", s->approve,
                        "Approve exactly this module and capability set, on the record");
  add_client_options(install_cmd, &s->client);
  install_cmd->callback([s, exit_code] {
    json request = {{"command", "install"}, {"dir", fs::absolute(s->dir).string()},
                    {"approve", s->approve}};
    *exit_code = client_command(s->client, request, true,
                                [](const json& c) { print_component_line("installed", c); });
  });

  auto* list_cmd = app.add_subcommand("list", "List the installed components");
  add_client_options(list_cmd, &s->client);
  list_cmd->callback([s, exit_code] {
    *exit_code = client_command(s->client, {{"command", "list"}}, true, print_list);
  });

  auto* info_cmd = app.add_subcommand(
      "info", "Show a component: versions, trust, approval, status, quota usage");
  info_cmd->add_option("name", s->name, "The component")->required();
  add_client_options(info_cmd, &s->client);
  info_cmd->callback([s, exit_code] {
    *exit_code =
        client_command(s->client, {{"command", "info"}, {"name", s->name}}, true, print_info);
  });

  auto* start_cmd = app.add_subcommand("start", "Start an installed component (needs the host)");
  start_cmd->add_option("name", s->name, "The component")->required();
  start_cmd->add_flag("--approve", s->approve,
                      "Approve exactly this module and capability set, on the record, if its "
                      "approval is pending");
  add_client_options(start_cmd, &s->client);
  start_cmd->add_flag("--wait", s->wait,
                      "When the component's module must first be compiled for the native tier, "
                      "wait until it runs (on a terminal this is the default, with progress)");
  start_cmd->callback([s, exit_code] {
    json request = {{"command", "start"}, {"name", s->name}, {"approve", s->approve}};
    json started;
    *exit_code = client_command(s->client, request, false,
                                [&started](const json& r) { started = r; });
    if (*exit_code != 0) return;
    *exit_code = report_start(s->client, s->name, s->wait, started);
  });

  auto* stop_cmd = app.add_subcommand(
      "stop", "Stop a component after it delivers its queued messages; it stays stopped");
  stop_cmd->add_option("name", s->name, "The component")->required();
  add_client_options(stop_cmd, &s->client);
  stop_cmd->callback([s, exit_code] {
    *exit_code = client_command(s->client, {{"command", "stop"}, {"name", s->name}}, true,
                                [s](const json&) { fmt::print("stopped {}\n", s->name); });
  });

  auto* upgrade_cmd = app.add_subcommand(
      "upgrade", "Install a new version of a component; a running one switches to it without "
                 "losing a message");
  upgrade_cmd->add_option("dir", s->dir, "Folder with the new version")->required();
  upgrade_cmd->add_flag("--approve", s->approve,
                        "Approve exactly this module and capability set, on the record");
  add_client_options(upgrade_cmd, &s->client);
  upgrade_cmd->callback([s, exit_code] {
    json request = {{"command", "upgrade"}, {"dir", fs::absolute(s->dir).string()},
                    {"approve", s->approve}};
    *exit_code = client_command(s->client, request, true,
                                [](const json& c) { print_component_line("upgraded to", c); });
  });

  auto* rollback_cmd = app.add_subcommand(
      "rollback", "Switch a component back to its previous version");
  rollback_cmd->add_option("name", s->name, "The component")->required();
  add_client_options(rollback_cmd, &s->client);
  rollback_cmd->callback([s, exit_code] {
    *exit_code = client_command(s->client, {{"command", "rollback"}, {"name", s->name}}, true,
                                [](const json& c) { print_component_line("rolled back to", c); });
  });

  auto* uninstall_cmd = app.add_subcommand(
      "uninstall", "Stop and remove a component; its key-value state is kept unless asked");
  uninstall_cmd->add_option("name", s->name, "The component")->required();
  uninstall_cmd->add_flag("--remove-state", s->remove_state,
                          "Also delete the component's key-value state");
  add_client_options(uninstall_cmd, &s->client);
  uninstall_cmd->callback([s, exit_code] {
    json request = {{"command", "uninstall"}, {"name", s->name},
                    {"remove_state", s->remove_state}};
    *exit_code = client_command(s->client, request, true, [s](const json&) {
      fmt::print("uninstalled {}{}\n", s->name,
                 s->remove_state ? "; its state is removed" : "; its state is kept");
    });
  });

  auto* send_cmd = app.add_subcommand("send", "Send a text message from the host to a component");
  send_cmd->add_option("name", s->name, "The component")->required();
  send_cmd->add_option("text", s->text, "The message")->required();
  add_client_options(send_cmd, &s->client, false);
  send_cmd->callback([s, exit_code] {
    json request = {{"command", "send"}, {"name", s->name}, {"text", s->text}};
    *exit_code = client_command(s->client, request, false, nullptr);
  });

  auto* request_cmd = app.add_subcommand(
      "request", "Send a request from the host to a running component and print its reply "
                 "(the component answers with `reply`; it must admit messaging.receive = "
                 "[\"host\"])");
  request_cmd->add_option("name", s->name, "The component")->required();
  request_cmd->add_option("payload", s->text, "The request's payload (text)")->required();
  request_cmd->add_option("--timeout", s->timeout,
                          "How long to wait for the reply: a number with ms, s, m or h "
                          "(default 30s, at most 10m)")
      ->type_name("DURATION");
  add_client_options(request_cmd, &s->client);
  request_cmd->callback([s, exit_code] {
    json request = {{"command", "request"}, {"name", s->name}, {"payload", s->text}};
    if (!s->timeout.empty()) {
      auto timeout = parse_duration(s->timeout);
      if (!timeout || timeout->count() == 0 || *timeout > system::kMaxRequestTimeout) {
        report_usage(fmt::format("--timeout: '{}' is not a duration from 1ms to 10m (such as "
                                 "500ms, 5s, 2m)",
                                 s->timeout));
        *exit_code = kExitUsage;
        return;
      }
      request["timeout_ms"] = timeout->count();
    }
    *exit_code = client_command(s->client, request, false, [](const json& r) {
      std::string reply = text_or(r, "reply", "");
      fmt::print("{}{}", reply, reply.empty() || reply.back() != '\n' ? "\n" : "");
    });
  });

  auto* logs_cmd = app.add_subcommand(
      "logs", "Show a component's log lines (what it logged with airssys.log, and its stdout "
              "and stderr), the last 1000 the running host keeps of it");
  logs_cmd->add_option("name", s->name, "The component")->required();
  logs_cmd->add_flag("--follow,-f", s->follow,
                     "Then show each new line as it comes, until interrupted");
  logs_cmd->add_option("--since", s->since,
                       "Only lines from this long ago (30s, 10m, 2h, 1d) or from this UTC "
                       "time (2026-11-25T16:00:00Z, or a date) on")
      ->type_name("DURATION|TIME");
  add_client_options(logs_cmd, &s->client);
  logs_cmd->callback([s, exit_code] {
    *exit_code = show_logs(s->client, s->name, s->since, s->follow);
  });

  auto* status_cmd = app.add_subcommand(
      "status", "Show the running components with their quota usage (used, limit, percent, "
                "warning at 80%, critical at 95%), and those whose start waits for a native "
                "compile");
  status_cmd->add_option("name", s->name, "Only this component");
  add_client_options(status_cmd, &s->client);
  status_cmd->callback([s, exit_code] {
    json request = {{"command", "status"}};
    if (!s->name.empty()) request["name"] = s->name;
    *exit_code = client_command(s->client, request, false, print_status);
  });

  auto* reload_cmd = app.add_subcommand(
      "reload", "Make the running host read trust.toml and policy.toml again (as SIGHUP to "
                "serve does); a refused file changes nothing");
  add_client_options(reload_cmd, &s->client);
  reload_cmd->callback([s, exit_code] {
    // A refused trust.toml or policy.toml is the operator's configuration: 2.
    *exit_code = client_command(s->client, {{"command", "reload"}}, false, print_reload,
                                [](const Error& e) {
                                  return e.code == ErrorCode::InvalidConfig ? kExitUsage
                                                                            : exit_code_for(e);
                                });
  });

  auto* lattice_cmd = app.add_subcommand(
      "lattice", "The lattice of hosts this host joined (host.toml [lattice]): hosts | key");
  lattice_cmd->require_subcommand(1);
  auto* lattice_hosts = lattice_cmd->add_subcommand(
      "hosts", "The hosts this host hears on its lattice: live or not, boot, labels, when last "
               "heard (needs the host)");
  add_client_options(lattice_hosts, &s->client);
  lattice_hosts->callback([s, exit_code] {
    *exit_code = client_command(s->client, {{"command", "lattice"}}, false, [](const json& r) {
      fmt::print("lattice {} as host {} ({}{})\n", text_or(r, "lattice"), text_or(r, "host"),
                 r.value("connected", false) ? "connected to " : "disconnected",
                 r.value("connected", false) ? text_or(r, "server") : std::string());
      const json hosts = r.value("hosts", json::array());
      for (const auto& h : hosts) {
        std::string labels;
        const json given = h.value("labels", json::object());
        for (const auto& [k, v] : given.items()) {
          labels += fmt::format("{}{}={}", labels.empty() ? "" : ",", k, v.get<std::string>());
        }
        fmt::print("{:<24} {:<8} heard {} ms ago{}\n", text_or(h, "name"),
                   h.value("live", false) ? "live" : "gone", h.value("last_heard_ms", 0),
                   labels.empty() ? "" : "  " + labels);
      }
    });
  });
  auto* lattice_key = lattice_cmd->add_subcommand(
      "key", "Print this host's line for the lattice's host list (lattice-hosts.toml), making "
             "its key (<data-dir>/host.key, or [lattice] key_file) on first use");
  add_client_options(lattice_key, &s->client, false);
  lattice_key->callback([s, exit_code] { *exit_code = print_lattice_key(s->client); });

  auto* metrics_cmd = app.add_subcommand(
      "metrics", "Print the running host's metrics in Prometheus text format");
  add_client_options(metrics_cmd, &s->client, false);
  metrics_cmd->callback([s, exit_code] {
    *exit_code = client_command(s->client, {{"command", "metrics"}}, false,
                                [](const json& text) { fmt::print("{}", text.get<std::string>()); });
  });
}

}  // namespace airssys::wasm::cli
