#include "up.hpp"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/actor/supervisor.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/component/world.hpp"
#include "airssys/wasm/storage/kv.hpp"
#include "airssys/wasm/system/host.hpp"
#include "host_setup.hpp"

namespace airssys::wasm::cli {
namespace {

namespace fs = std::filesystem;

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

bool is_component_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "Component.toml", ec) &&
         fs::is_regular_file(dir / "component.wasm", ec);
}

// The component a supervisor event is about: its actor is named after it,
// with "~N" after an upgrade.
std::string component_of(const std::string& actor_name) {
  auto tilde = actor_name.rfind('~');
  if (tilde == std::string::npos || tilde + 1 == actor_name.size()) return actor_name;
  for (size_t i = tilde + 1; i < actor_name.size(); ++i) {
    if (actor_name[i] < '0' || actor_name[i] > '9') return actor_name;
  }
  return actor_name.substr(0, tilde);
}

// What the operator sees of the supervisor: failures, restarts and giving up,
// by component name. A first start is printed as "started NAME" once the
// component is admitted and running; stops are in the final summary.
std::optional<std::string> supervisor_line(const actor::SupervisorEvent& e) {
  const std::string name = component_of(e.child);
  const std::string error = e.error ? ": " + e.error->to_string() : "";
  switch (e.kind) {
    case actor::SupervisorEventKind::ChildFailed:
      return fmt::format("supervisor: '{}' failed{}", name, error);
    case actor::SupervisorEventKind::ChildRestarted:
      return fmt::format("supervisor: restarted '{}' after {} ms (restart {} in period)", name,
                         std::chrono::duration_cast<std::chrono::milliseconds>(e.delay).count(),
                         e.restarts);
    case actor::SupervisorEventKind::ChildGaveUp:
      return fmt::format("supervisor: gave up on '{}'{}", name, error);
    case actor::SupervisorEventKind::GaveUp:
      return fmt::format("supervisor: gave up{}", error);
    default:
      return std::nullopt;
  }
}

}  // namespace

int up_components(const UpOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(options.dir, ec)) {
    report(Error::of(ErrorCode::IoError, fmt::format("{}: not a directory", options.dir)));
    return kExitLoadFailed;
  }
  // DIR is one component folder, or holds component folders.
  std::vector<fs::path> dirs;
  if (is_component_folder(options.dir)) {
    dirs.push_back(options.dir);
  } else {
    for (const auto& entry : fs::directory_iterator(options.dir, ec)) {
      if (entry.is_directory() && is_component_folder(entry.path())) dirs.push_back(entry.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  if (dirs.empty()) {
    report(Error::of(ErrorCode::NotFound,
                     fmt::format("{} is no component folder and holds no component folder "
                                 "(Component.toml and component.wasm)",
                                 options.dir)));
    return kExitLoadFailed;
  }

  auto printer = std::make_shared<LinePrinter>();
  security::AuditLogOptions audit_options;
  audit_options.subscriber = [printer](const security::AuditRecord& r, std::string_view) {
    // A component that moved to native code (auto) says so.
    if (r.permission == "lifecycle.tier" && r.resource == "native" &&
        r.result == security::AuditResult::Granted) {
      printer->log(r.reason);
      return;
    }
    if (r.result != security::AuditResult::Denied) return;
    // A component's failure is on record as lifecycle.*, but it is no denial:
    // the supervisor's line says it.
    if (r.permission.starts_with("lifecycle.")) {
      if (r.permission != "lifecycle.failed" && r.permission != "lifecycle.restart") {
        printer->log(fmt::format("{}: {}: {}", r.component, r.permission, r.reason));
      }
      return;
    }
    printer->denial(denial_line(r));
  };
  auto host = HostSetup::open(options.paths, audit_options);
  if (!host) {
    report(host.error());
    return kExitUsage;
  }

  auto dir = data_dir(options.paths);
  if (!dir) {
    report(dir.error());
    return exit_code_for(dir.error());
  }
  // host.toml (--config): the tier of components whose manifest names none
  // (auto when it says nothing) and its [native] bounds.
  std::optional<system::HostConfig> config;
  if (!options.paths.config.empty()) {
    auto loaded = system::HostConfig::load(options.paths.config);
    if (!loaded) {
      report(loaded.error());
      return kExitUsage;
    }
    config = std::move(*loaded);
  }
  std::shared_ptr<engine::Engine> engine(engine::Engine::interpreter());
  // The native engine, made when the first component asks for it; a host
  // that cannot make one (no C compiler) is asked once.
  std::shared_ptr<engine::Engine> native;
  std::optional<Error> native_unavailable;
  auto native_engine = [&]() -> Result<std::shared_ptr<engine::Engine>> {
    if (native) return native;
    if (native_unavailable) return std::unexpected(*native_unavailable);
    engine::NativeOptions native_options = component::with_native_bounds(
        config ? config->native : engine::NativeOptions{},
        (*host)->policy.current().native_bounds(), true);
    native_options.cache_dir = *dir / "cache" / "native";
    show_native_progress(native_options);
    auto made = engine::Engine::native(native_options);
    if (!made) {
      native_unavailable = made.error();
      return std::unexpected(made.error());
    }
    native = std::move(*made);
    return native;
  };
  std::vector<component::ComponentSpec> specs;
  for (const auto& dir : dirs) {
    auto admitted = admit_component(**host, dir.string(), options.approve, std::nullopt);
    if (!admitted) {
      report(admitted.error());
      const auto category = admitted.error().category();
      return category == ErrorCategory::Trust || category == ErrorCategory::Quota
                 ? kExitRefused
                 : kExitLoadFailed;
    }
    // The command line's tier, else the manifest's, else host.toml's, else
    // auto: native code once it is compiled.
    auto tier = config ? config->tier : component::TierChoice::Auto;
    bool tier_by_default = false;
    if (!options.tier.empty()) {
      tier = security::parse_tier_choice(options.tier).value_or(component::TierChoice::Interp);
    } else if (admitted->manifest && admitted->manifest->runtime.tier) {
      tier = *admitted->manifest->runtime.tier;
    } else {
      tier_by_default = true;
    }
    std::shared_ptr<engine::Engine> native_for;
    if (tier != component::TierChoice::Interp) {
      const bool asked_before = native_unavailable.has_value();
      auto made = native_engine();
      if (made) {
        native_for = *made;
      } else if (tier == component::TierChoice::Native) {
        report(made.error());
        return exit_code_for(made.error());
      } else {
        // Auto without a native tier: the interpreter, said once, on record.
        if (!asked_before) printer->log("airssys-wasm: " + native_tier_notice(made.error()));
        security::AuditRecord r;
        r.component = admitted->admission.context->component_id();
        r.permission = "lifecycle.tier";
        r.resource = "interp";
        r.result = security::AuditResult::Granted;
        r.layer = security::DecisionLayer::Component;
        r.reason = fmt::format("runs on the interp tier: the native tier is unavailable: {}",
                               made.error().to_string());
        (*host)->audit->record(std::move(r));
        tier = component::TierChoice::Interp;
      }
    }
    auto bytes = engine::read_module_file(admitted->files.module);
    if (!bytes) {
      report(bytes.error());
      return kExitLoadFailed;
    }
    auto loaded = component::load_tiered(tier, *bytes, admitted->files.module.filename().string(),
                                         engine, native_for);
    if (!loaded) {
      report(loaded.error());
      return kExitLoadFailed;
    }
    // A WASI command's _start would never run here: say so rather than
    // start it and wait for nothing.
    static const std::vector<engine::ExportInfo> kNoExports;  // a component's are its own
    for (const auto& e : loaded->module ? loaded->module->exports() : kNoExports) {
      if (e.name != "_start" || e.kind != engine::ExternKind::Func) continue;
      report(
          Error::of(ErrorCode::InvalidArgument,
                    fmt::format("{}: the module is a WASI command (it exports _start), which `up` "
                                "does not run: run it with 'airssys-wasm run {}', or build it as a "
                                "reactor that exports airssys_handle_message "
                                "(-mexec-model=reactor, see docs/abi.md)",
                                admitted->admission.context->component_id(),
                                security::shell_word(dir.string()))));
      return kExitLinkFailed;
    }
    // A component must target the airssys world (wit/host.wit): a WASI
    // command component is `run`'s, anything else would fail at its start.
    if (loaded->world) {
      auto world = component::component_world(*loaded->world);
      if (!world) {
        report(world.error());
        return kExitLinkFailed;
      }
      if (world->kind != component::WorldKind::Airssys) {
        report(Error::of(
            ErrorCode::IncompatibleImport,
            fmt::format("{}: the component {}, which `up` does not run: {}",
                        admitted->admission.context->component_id(),
                        world->kind == component::WorldKind::Command
                            ? "is a WASI command (world " + world->name + ")"
                            : std::string("exports no airssys:host/handler"),
                        world->kind == component::WorldKind::Command
                            ? fmt::format("run it with 'airssys-wasm run {}'",
                                          security::shell_word(dir.string()))
                            : std::string("build it for the world airssys:host/component@0.3.0 "
                                          "(wit/host.wit, docs/wit.md)"))));
        return kExitLinkFailed;
      }
    }
    for (const auto& warning : loaded->module ? loaded->module->warnings()
                                              : std::vector<std::string>{}) {
      printer->log(fmt::format("{}: warning: {}", admitted->admission.context->component_id(),
                               warning));
    }
    if (loaded->native_refused) {
      const auto& component = admitted->admission.context->component_id();
      const std::string why =
          fmt::format("runs on the interp tier: {}", loaded->native_refused->to_string());
      security::AuditRecord r;
      r.component = component;
      r.permission = "lifecycle.tier";
      r.resource = "native";
      r.result = security::AuditResult::Denied;
      r.layer = security::DecisionLayer::Component;
      r.reason = why;
      (*host)->audit->record(std::move(r));  // printed by the subscriber, as a denial
    }
    component::ComponentSpec spec;
    spec.name = admitted->admission.context->component_id();
    spec.module = std::move(loaded->module);
    spec.world = std::move(loaded->world);
    spec.engine = std::move(loaded->engine);
    spec.tier_up = std::move(loaded->tier_up);
    if (tier != component::TierChoice::Interp && !tier_by_default) {
      printer->log(fmt::format("{}: tier {}", spec.name, security::tier_choice_name(tier)));
    }
    spec.security = admitted->admission.context;
    spec.signer_key_id = admitted->admission.signer_key_id;
    if (admitted->manifest) {
      spec.config_json = admitted->manifest->config.dump();
      spec.env = security::manifest_environment(*admitted->manifest);
    }
    // stdout, stderr and airssys.log arrive line by line, rate-limited per component.
    spec.log_sink = [printer](const host::LogLine& line) {
      if (line.source == "stdout") {
        printer->line(stdout, fmt::format("[{}] {}", line.component, line.text));
      } else if (line.source == "stderr") {
        printer->line(stderr, fmt::format("[{}] {}", line.component, line.text));
      } else {
        printer->line(stderr, fmt::format("[{}] {}: {}", line.component,
                                          host::log_level_name(line.level), line.text));
      }
    };
    specs.push_back(std::move(spec));
  }

  // Each component's key-value state, in the data directory: it outlives
  // this run, like the audit log and the approvals.
  auto kv = storage::KeyValueStore::open({.data_dir = *dir});
  if (!kv) {
    report(kv.error());
    return exit_code_for(kv.error());
  }

  actor::ThreadPoolScheduler scheduler(actor::ThreadPoolOptions{options.workers});
  std::atomic<bool> gave_up{false};
  component::ComponentRuntimeOptions system_options;
  system_options.engine = engine;
  system_options.audit = (*host)->audit.get();
  system_options.policy = &(*host)->policy;
  system_options.kv = kv->get();
  system_options.supervisor.on_event = [printer, &gave_up](const actor::SupervisorEvent& e) {
    if (e.kind == actor::SupervisorEventKind::GaveUp ||
        e.kind == actor::SupervisorEventKind::ChildGaveUp) {
      gave_up.store(true);
    }
    if (auto line = supervisor_line(e)) printer->log(*line);
  };
  component::ComponentRuntime system(scheduler, system_options);
  std::vector<std::string> names;
  for (auto& spec : specs) {
    std::string name = spec.name;
    if (auto ok = system.start(std::move(spec)); !ok) {
      report(ok.error());
      return kExitLinkFailed;
    }
    printer->log(fmt::format("started {}", name));
    names.push_back(std::move(name));
  }
  // The host's messages go out once every component has initialized (or
  // failed, or 10 s passed): a subscription made in airssys_init is then in
  // place before the first message that publishes to it.
  const auto ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& name : names) (void)system.await_settled(name, ready_deadline);
  for (const auto& [target, text] : options.messages) {
    if (auto ok = system.send_from_host(target, std::vector<uint8_t>(text.begin(), text.end()));
        !ok) {
      report(ok.error());
    }
  }

  g_interrupted.store(false);
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  auto deadline = options.duration_ms
                      ? std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(options.duration_ms)
                      : std::chrono::steady_clock::time_point::max();
  while (!g_interrupted.load() && !gave_up.load() && std::chrono::steady_clock::now() < deadline) {
    bool any_running = false;
    for (const auto& name : system.names()) {
      auto status = system.status(name);
      if (status && status->state != component::ComponentState::Terminated) any_running = true;
    }
    if (!any_running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  printer->log(g_interrupted.load() ? "interrupted: stopping components"
                                    : "stopping components");
  system.stop();
  scheduler.shutdown();
  (*host)->audit->flush();
  for (const auto& name : system.names()) {
    auto status = system.status(name);
    printer->log(fmt::format("{}: {}, {} messages handled, {} restarts{}{}", name,
                             component::component_state_name(status->state),
                             status->messages_handled, status->restarts,
                             status->tier == engine::Tier::Native ? ", native tier" : "",
                             status->last_error ? ", last error: " + status->last_error->message
                                                : ""));
  }
  return gave_up.load() ? kExitTrapped : 0;
}

}  // namespace airssys::wasm::cli
