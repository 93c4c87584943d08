#include "common.hpp"

#include <sys/stat.h>

#include "airssys/wasm/security/trust.hpp"

namespace airssys::wasm::cli {

namespace fs = std::filesystem;

Result<ComponentFiles> locate_component(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) {
    return make_error(ErrorCode::IoError, fmt::format("{}: no such file or directory", path));
  }
  ComponentFiles files;
  if (fs::is_directory(p, ec)) {
    files.dir = fs::canonical(p, ec);
    files.module = files.dir / "component.wasm";
    if (!fs::is_regular_file(files.module, ec)) {
      return make_error(ErrorCode::NotFound,
                        fmt::format("{}: the directory holds no component.wasm", path));
    }
    files.manifest = files.dir / "Component.toml";
    files.signature = files.dir / "component.sig";
    files.has_manifest = fs::is_regular_file(files.manifest, ec);
    return files;
  }
  files.module = fs::canonical(p, ec);
  files.dir = files.module.parent_path();
  files.signature = files.dir / (files.module.stem().string() + ".sig");
  return files;
}

Result<std::optional<security::Manifest>> load_component_manifest(const ComponentFiles& files) {
  if (!files.has_manifest) return std::optional<security::Manifest>{};
  auto manifest = security::load_manifest(files.manifest);
  if (!manifest) return std::unexpected(manifest.error());
  return std::optional<security::Manifest>(std::move(*manifest));
}

Result<fs::path> data_dir(const HostPaths& paths) {
  fs::path dir;
  if (!paths.data_dir.empty()) {
    dir = paths.data_dir;
  } else {
    auto home = security::airssys_home();
    if (!home) return std::unexpected(home.error());
    dir = *home;
  }
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot create the data directory {}: {}", dir.string(),
                                    ec.message()));
    }
    ::chmod(dir.c_str(), 0700);
  }
  return dir;
}

namespace {
Result<fs::path> data_dir_file(const std::string& named, const HostPaths& paths,
                               const char* file) {
  if (!named.empty()) return fs::path(named);
  if (!paths.data_dir.empty()) return fs::absolute(paths.data_dir) / file;
  auto home = security::airssys_home();
  if (!home) return std::unexpected(home.error());
  return *home / file;
}
}  // namespace

Result<fs::path> trust_config_path(const HostPaths& paths) {
  return data_dir_file(paths.trust_config, paths, "trust.toml");
}

Result<fs::path> policy_path(const HostPaths& paths) {
  return data_dir_file(paths.policy, paths, "policy.toml");
}

Result<fs::path> audit_log_path(const HostPaths& paths) {
  if (!paths.audit_log.empty()) return fs::path(paths.audit_log);
  auto dir = data_dir(paths);
  if (!dir) return std::unexpected(dir.error());
  return *dir / "audit.log";
}

std::unique_ptr<security::AuditLog> open_audit_log(const HostPaths& paths) {
  auto path = audit_log_path(paths);
  if (!path) return nullptr;
  auto log = security::AuditLog::open(*path);
  if (!log) {
    report(log.error());
    return nullptr;
  }
  return std::move(*log);
}

void report(const Error& error) { fmt::print(stderr, "airssys-wasm: {}\n", error.to_string()); }

int exit_code_for(const Error& error) {
  // A manifest over the operator's quota ceilings is refused at admission.
  if (error.code == ErrorCode::QuotaExceeded) return kExitRefused;
  switch (error.category()) {
    case ErrorCategory::Io:
    case ErrorCategory::Decode:
    case ErrorCategory::Validate:
    case ErrorCategory::Usage: return kExitLoadFailed;
    case ErrorCategory::Link: return kExitLinkFailed;
    case ErrorCategory::Trust:
    case ErrorCategory::Capability: return kExitRefused;
    case ErrorCategory::Trap: return kExitTrapped;
    // The actor runtime (no such or a stopped component), a quota, a bug:
    // the request failed, nothing trapped.
    default: return kExitFailure;
  }
}

}  // namespace airssys::wasm::cli
