// airssys-wasm: the command-line host.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string_view>

#include <fmt/format.h>

#include "airssys/wasm/core/units.hpp"
#include "audit_command.hpp"
#include "lifecycle_commands.hpp"
#include "run.hpp"
#include "security_commands.hpp"
#include "up.hpp"

namespace {

using namespace airssys::wasm;

constexpr const char* kVersion = "0.1.0";
constexpr uint64_t kMaxLinearMemory = 4 * GiB;

int usage_error(const std::string& message) {
  if (cli::errors_as_json()) {
    cli::report_usage(message);
  } else {
    fmt::print(stderr, "airssys-wasm: {}\nRun 'airssys-wasm --help' for usage.\n", message);
  }
  return cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // With --json (before a `--` that starts a component's arguments), errors
  // are JSON as well.
  for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
    if (std::string_view(argv[i]) == "--json") cli::report_errors_as_json(true);
  }
  CLI::App app{
      "airssys-wasm runs untrusted WebAssembly components as isolated, metered actors under "
      "deny-by-default capabilities."};
  app.name("airssys-wasm");
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  app.footer(fmt::format(
      "Exit status: 0 on success, or for `run` the component's own status when it runs to its "
      "end; {} when a check or a request fails (no host running, a component that is not "
      "running); {} for a bad command line or a bad trust.toml, policy.toml or host.toml; {} "
      "when a module, manifest, key file or installed component cannot be found or loaded; {} "
      "when it cannot be instantiated; {} when it traps; {} when signature, trust or approval "
      "refuse it.\nFiles: $AIRSSYS_HOME (default ~/.airssys) holds trust.toml, policy.toml, "
      "approvals.db and audit.log (with its rotated files audit.log.N); `up` and `serve` add "
      "state.db (components' key-value state), `serve` also registry.db, components/ and "
      "admin.sock; the native tier caches compiled modules in cache/native.",
      cli::kExitFailure, cli::kExitUsage, cli::kExitLoadFailed, cli::kExitLinkFailed,
      cli::kExitTrapped, cli::kExitRefused));

  cli::RunOptions run_options;
  std::string fuel_text;
  std::string memory_text = "256MB";
  auto* run = app.add_subcommand("run", "Run a WASI command component (.wasm, .wat, or a "
                                        "directory holding component.wasm and Component.toml)");
  run->add_option("--fuel", fuel_text,
                  "Stop the component with an out-of-fuel trap after N WebAssembly instructions "
                  "(default: no limit)")
      ->type_name("N");
  run->add_option("--max-memory", memory_text,
                  "Cap on the component's linear memory; memory.grow past it returns -1 "
                  "(default 256MB, or the component's memory quota if lower: its manifest's, else "
                  "the policy's [quota]; units B, KB, MB, GB)")
      ->type_name("SIZE");
  run->add_option("--tier", run_options.tier,
                  "Execution tier: interp (the interpreter), native (compiled ahead of time to "
                  "native code, kept in <data dir>/cache/native), or auto (native code from "
                  "the cache when it is there, else the interpreter while the module compiles "
                  "into the cache for the next run; default: native code from the cache when "
                  "it is there, else the interpreter, compiling nothing)")
      ->check(CLI::IsMember({"interp", "native", "auto"}))
      ->type_name("TIER");
  run->add_flag("--approve", run_options.approve,
                "Approve exactly this module and capability set, on the record, if its "
                "approval is pending");
  run->add_option("--dir", run_options.dirs,
                  "Grant a host directory for this run and map it into the component as GUEST "
                  "(default: HOST as written; '.' gives paths relative to it): read and write "
                  "beneath it for a module without a manifest; with a Component.toml only a "
                  "directory its filesystem grants reach, which still decide each access. "
                  "Checked against the host policy and audited (repeatable)")
      ->allow_extra_args(false)
      ->type_name("HOST[::GUEST]");
  run->add_option("--env", run_options.env,
                  "Set an environment variable for the component, over its manifest's "
                  "[config.env] (repeatable); the host's own environment is never passed on")
      ->allow_extra_args(false)
      ->type_name("NAME=VALUE");
  cli::add_host_options(run, &run_options.paths);
  run->add_option("path", run_options.path, "The component to run")->required();
  run->add_option("args", run_options.args,
                  "Arguments for the component (put them after --)");

  cli::UpOptions up_options;
  std::vector<std::string> up_messages;
  std::string duration_text;
  auto* up = app.add_subcommand(
      "up", "Start every component under DIR (folders with Component.toml and component.wasm) "
            "under one supervisor, and run until interrupted or until they all stop");
  up->add_option("dir", up_options.dir, "The folder holding the component folders")->required();
  up->add_option("--send", up_messages,
                 "A first message from the host: TARGET=TEXT (repeatable)")
      ->type_name("TARGET=TEXT");
  up->add_option("--duration", duration_text, "Stop after this many milliseconds")
      ->type_name("MS");
  up->add_option("--workers", up_options.workers, "Worker threads (default: one per core)");
  up->add_option("--tier", up_options.tier,
                 "Execution tier for every component, over each manifest's [runtime] tier: "
                 "interp, native (compiled ahead of time, cached in <data dir>/cache/native), "
                 "or auto (the interpreter at once, native code from the next message on once "
                 "a background compile has finished; default: the manifest's, else host.toml's "
                 "tier, else auto)")
      ->check(CLI::IsMember({"interp", "native", "auto"}))
      ->type_name("TIER");
  up->add_flag("--approve", up_options.approve,
               "Approve each pending component's exact module and capability set, on the record");
  cli::add_host_options(up, &up_options.paths);

  int exit_code = 0;
  cli::add_security_commands(app, &exit_code);
  cli::add_audit_command(app, &exit_code);
  cli::add_lifecycle_commands(app, &exit_code);

  // A word where the command belongs that names none: say so, rather than
  // the parser's "a subcommand is required".
  const auto named = [&](std::string_view word) {
    for (const CLI::App* command : app.get_subcommands({})) {
      if (command->check_name(std::string(word))) return true;
    }
    return false;
  };
  if (argc > 1 && argv[1][0] != '-' && !named(argv[1])) {
    return usage_error(fmt::format("unknown command '{}'", argv[1]));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }

  if (run->parsed()) {
    if (!fuel_text.empty()) {
      auto fuel = parse_count(fuel_text);
      if (!fuel) return usage_error(fmt::format("--fuel: {}", fuel.error().message));
      if (*fuel == 0) return usage_error("--fuel: must be at least 1");
      run_options.fuel = *fuel;
    }
    auto memory = parse_byte_size(memory_text);
    if (!memory) return usage_error(fmt::format("--max-memory: {}", memory.error().message));
    if (*memory > kMaxLinearMemory) {
      return usage_error(fmt::format("--max-memory: {} is over the 4GB a 32-bit memory can "
                                     "address",
                                     memory_text));
    }
    if (*memory < 64 * KiB) {
      return usage_error(fmt::format("--max-memory: {} is less than one 64KB page of "
                                     "WebAssembly memory (did you mean {}MB?)",
                                     memory_text, memory_text));
    }
    run_options.max_memory = *memory;
    return cli::run_component(run_options);
  }
  if (up->parsed()) {
    for (const auto& m : up_messages) {
      auto eq = m.find('=');
      if (eq == std::string::npos || eq == 0) {
        return usage_error(fmt::format("--send: '{}' is not TARGET=TEXT", m));
      }
      up_options.messages.emplace_back(m.substr(0, eq), m.substr(eq + 1));
    }
    if (!duration_text.empty()) {
      auto ms = parse_count(duration_text);
      if (!ms) return usage_error(fmt::format("--duration: {}", ms.error().message));
      up_options.duration_ms = *ms;
    }
    return cli::up_components(up_options);
  }
  return exit_code;
}
