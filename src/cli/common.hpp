#pragma once
// What the commands share: exit codes, where things live, and how a
// component on disk is laid out.

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "airssys/wasm/core/error.hpp"
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

// Loads Component.toml when present; nullopt for a bare module.
[[nodiscard]] Result<std::optional<security::Manifest>> load_component_manifest(
    const ComponentFiles& files);

// Options every command that touches host state shares.
struct HostPaths {
  std::string data_dir;      // approvals.db, audit.log; default $AIRSSYS_HOME
  std::string trust_config;  // default <data_dir>/trust.toml (absent: nothing trusted)
  std::string policy;        // default <data_dir>/policy.toml (absent: no rules)
  std::string audit_log;     // default <data_dir>/audit.log
};

[[nodiscard]] Result<std::filesystem::path> data_dir(const HostPaths& paths);
// The file named, else the one in the data directory, as `serve` reads them.
[[nodiscard]] Result<std::filesystem::path> trust_config_path(const HostPaths& paths);
[[nodiscard]] Result<std::filesystem::path> policy_path(const HostPaths& paths);
[[nodiscard]] Result<std::filesystem::path> audit_log_path(const HostPaths& paths);
// The audit log for a record a command makes on its own; null when its path
// cannot be found or the file cannot be opened (that is reported).
[[nodiscard]] std::unique_ptr<security::AuditLog> open_audit_log(const HostPaths& paths);

void report(const Error& error);
int exit_code_for(const Error& error);

}  // namespace airssys::wasm::cli
