#pragma once
// What the commands share: exit codes, where things live, and how a
// component on disk is laid out.

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/manifest.hpp"

namespace airssys::wasm::cli {

// Exit codes of the command itself; a component that runs to its end exits
// with its own status instead.
inline constexpr int kExitFailure = 1;      // the command's own check failed (e.g. verify)
inline constexpr int kExitUsage = 2;        // bad command line
inline constexpr int kExitLoadFailed = 3;   // unreadable, malformed or invalid module or manifest
inline constexpr int kExitLinkFailed = 4;   // imports or limits refuse instantiation
inline constexpr int kExitTrapped = 5;      // the component trapped (out of fuel included)
inline constexpr int kExitRefused = 6;      // signature, trust, approval or a ceiling refused it

// Where a component lives: a directory with component.wasm, Component.toml
// and component.sig, or a bare module file with an optional <stem>.sig.
struct ComponentFiles {
  std::filesystem::path dir;
  std::filesystem::path module;
  std::filesystem::path manifest;   // may not exist
  std::filesystem::path signature;  // may not exist
  bool has_manifest = false;
};

[[nodiscard]] Result<ComponentFiles> locate_component(const std::string& path);

// Whether the file starts as a WebAssembly component (Component Model
// binary) rather than a core module.
[[nodiscard]] bool is_component_file(const std::filesystem::path& file);

// Loads Component.toml when present; nullopt for a bare module.
[[nodiscard]] Result<std::optional<security::Manifest>> load_component_manifest(
    const ComponentFiles& files);

// Options every command that touches host state shares. Where each file
// lives (docs/commands.md, "Where the files live"): named on the command line,
// else named by the host's configuration (`config`, a host.toml; a relative
// path there is relative to the data directory), else its default name in the
// data directory; the data directory is `data_dir`, else host.toml's, else
// $AIRSSYS_HOME, else ~/.airssys.
struct HostPaths {
  std::string config;        // host.toml: the data directory and files of a host
  std::string data_dir;      // approvals.db, audit.log; default $AIRSSYS_HOME
  std::string trust_config;  // default <data_dir>/trust.toml (absent: nothing trusted)
  std::string policy;        // default <data_dir>/policy.toml (absent: no rules)
  std::string audit_log;     // default <data_dir>/audit.log
};

// The data directory, created mode 0700 (every folder of it that is missing)
// when it does not exist.
[[nodiscard]] Result<std::filesystem::path> data_dir(const HostPaths& paths);
// Creates `dir` and each missing folder above it with mode 0700.
[[nodiscard]] Result<void> create_private_directory(const std::filesystem::path& dir);
// The file named, else the one in the data directory, as `serve` reads them.
[[nodiscard]] Result<std::filesystem::path> trust_config_path(const HostPaths& paths);
[[nodiscard]] Result<std::filesystem::path> policy_path(const HostPaths& paths);
[[nodiscard]] Result<std::filesystem::path> audit_log_path(const HostPaths& paths);
// The audit log for a record a command makes on its own; null when its path
// cannot be found or the file cannot be opened (that is reported).
[[nodiscard]] std::unique_ptr<security::AuditLog> open_audit_log(const HostPaths& paths);

// Shows the native compiles of `options`' engine on stderr when stderr is a
// terminal (a person waits for them): why the module compiles and where the
// cache is, then one line kept up to date with the units done and the time
// taken, then the result. On anything else (a pipe, a file, a test) nothing
// is shown.
void show_native_progress(engine::NativeOptions& options);
// The one line that says a host under auto has no native tier (no C
// compiler, an unusable cache folder) and runs its components on the
// interpreter, with what to do about it.
[[nodiscard]] std::string native_tier_notice(const Error& why);

// An error on stderr: "airssys-wasm: message", or with --json one line
// {"error": {"code": ..., "category": ..., "message": ...}}.
void report(const Error& error);
// A bad command line, in the words given (as JSON with --json).
void report_usage(const std::string& message);
void report_errors_as_json(bool on);
[[nodiscard]] bool errors_as_json();
int exit_code_for(const Error& error);

// A refusal on record, as `up` and `run` print it.
[[nodiscard]] std::string denial_line(const security::AuditRecord& record);

// Log lines and host messages, one whole line at a time, from any worker thread.
class LinePrinter {
 public:
  void line(FILE* stream, const std::string& text);
  void log(const std::string& line);
  // A denial; a run of the same one (a flood) is shown once, then counted.
  void denial(const std::string& line);
  void flush();

 private:
  void flush_repeats();

  std::mutex mutex_;
  std::string last_denial_;
  uint64_t repeats_ = 0;
};

}  // namespace airssys::wasm::cli
