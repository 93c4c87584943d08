#include "common.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "airssys/wasm/system/host.hpp"

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

bool is_component_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  uint8_t head[8] = {};
  if (!in.read(reinterpret_cast<char*>(head), sizeof head)) return false;
  return cm::is_component(head);
}

Result<std::optional<security::Manifest>> load_component_manifest(const ComponentFiles& files) {
  if (!files.has_manifest) return std::optional<security::Manifest>{};
  AIRSSYS_TRY_ASSIGN(auto manifest, security::load_manifest(files.manifest));
  return std::optional<security::Manifest>(std::move(manifest));
}

Result<void> create_private_directory(const fs::path& dir) {
  std::error_code ec;
  fs::path target = fs::absolute(dir, ec);
  std::vector<fs::path> missing;
  for (fs::path p = target; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create the data directory {}: {}",
                                                        dir.string(), std::strerror(errno)));
    }
  }
  return {};
}

namespace {

// The paths with what the host's configuration says filled in where the
// command line says nothing; the data directory made absolute.
Result<HostPaths> effective_paths(const HostPaths& given) {
  HostPaths paths = given;
  std::optional<system::HostConfig> config;
  if (!paths.config.empty()) {
    AIRSSYS_TRY_ASSIGN(config, system::HostConfig::load(paths.config));
    if (paths.data_dir.empty() && !config->data_dir.empty()) {
      paths.data_dir = config->data_dir.string();
    }
  }
  if (paths.data_dir.empty()) {
    AIRSSYS_TRY_ASSIGN(auto home, security::airssys_home());
    paths.data_dir = home.string();
  }
  std::error_code ec;
  paths.data_dir = fs::absolute(paths.data_dir, ec).string();
  if (config) {
    config->data_dir = paths.data_dir;
    config->resolve_paths();
    if (paths.trust_config.empty()) paths.trust_config = config->trust_config.string();
    if (paths.policy.empty()) paths.policy = config->policy.string();
    if (paths.audit_log.empty()) paths.audit_log = config->audit_log.string();
  }
  return paths;
}

Result<fs::path> data_dir_file(const std::string HostPaths::*member, const HostPaths& given,
                               const char* file) {
  AIRSSYS_TRY_ASSIGN(auto paths, effective_paths(given));
  if (!(paths.*member).empty()) return fs::path(paths.*member);
  return fs::path(paths.data_dir) / file;
}

}  // namespace

Result<fs::path> data_dir(const HostPaths& given) {
  AIRSSYS_TRY_ASSIGN(auto paths, effective_paths(given));
  fs::path dir = paths.data_dir;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    AIRSSYS_TRY(create_private_directory(dir));
  }
  return dir;
}

Result<fs::path> trust_config_path(const HostPaths& paths) {
  return data_dir_file(&HostPaths::trust_config, paths, "trust.toml");
}

Result<fs::path> policy_path(const HostPaths& paths) {
  return data_dir_file(&HostPaths::policy, paths, "policy.toml");
}

Result<fs::path> audit_log_path(const HostPaths& paths) {
  AIRSSYS_TRY_ASSIGN(auto named, effective_paths(paths));
  if (!named.audit_log.empty()) return fs::path(named.audit_log);
  AIRSSYS_TRY_ASSIGN(auto dir, data_dir(paths));
  return dir / "audit.log";
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

namespace {
bool g_json_errors = false;
}  // namespace

void report_errors_as_json(bool on) {
  g_json_errors = on;
}
bool errors_as_json() {
  return g_json_errors;
}

namespace {

// The progress of native compiles on a terminal. Several compiles (those of
// `up`) share it: the line of one in progress is ended before another
// compile's line is written.
class NativeProgress {
 public:
  void operator()(const engine::NativeCompileEvent& e) {
    using Kind = engine::NativeCompileEvent::Kind;
    std::lock_guard lock(mutex_);
    const double seconds = static_cast<double>(e.elapsed.count()) / 1000.0;
    auto line = [&](const std::string& text, bool open) {
      if (!open_.empty() && open_ != e.module) std::fputs("\n", stderr);
      std::fprintf(stderr, "\r\033[K%s%s", text.c_str(), open ? "" : "\n");
      std::fflush(stderr);
      open_ = open ? std::string(e.module) : std::string();
    };
    switch (e.kind) {
      case Kind::Started:
        line(fmt::format("airssys-wasm: compiling {} to native code ({}; cache {})", e.module,
                         e.reason, e.cache_dir.string()),
             false);
        break;
      case Kind::Compiling:
      case Kind::UnitDone:
        line(fmt::format("airssys-wasm: compiling {}: {} units on {} jobs, {} done, {:.1f} s",
                         e.module, e.units, e.jobs, e.units_done, seconds),
             true);
        break;
      case Kind::Finished:
        line(fmt::format("airssys-wasm: compiled {} to native code in {:.1f} s ({} units)",
                         e.module, seconds, e.units),
             false);
        break;
      case Kind::Failed:
        line(fmt::format("airssys-wasm: the native compile of {} ended without code after "
                         "{:.1f} s",
                         e.module, seconds),
             false);
        break;
    }
  }

 private:
  std::mutex mutex_;
  std::string open_;  // the module whose progress line is not ended yet
};

}  // namespace

void show_native_progress(engine::NativeOptions& options) {
  if (::isatty(STDERR_FILENO) != 1) return;
  static NativeProgress progress;
  options.on_compile = [](const engine::NativeCompileEvent& e) { progress(e); };
}

std::string native_tier_notice(const Error& why) {
  return fmt::format(
      "notice: no native tier on this host ({}): components run on the interpreter. Install a C "
      "compiler (Debian: apt-get install gcc) for native code, or set tier = \"interp\" in "
      "host.toml (or --tier interp) to choose the interpreter and silence this notice",
      why.message.empty() ? std::string(error_code_message(why.code)) : why.message);
}

void report(const Error& error) {
  if (g_json_errors) {
    nlohmann::json e = {
        {"code", std::string(error_code_name(error.code))},
        {"category", std::string(error_category_name(error.category()))},
        {"message",
         error.message.empty() ? std::string(error_code_message(error.code)) : error.message}};
    if (!error.backtrace.empty()) e["backtrace"] = error.backtrace;
    fmt::print(stderr, "{}\n", nlohmann::json{{"error", e}}.dump());
    return;
  }
  fmt::print(stderr, "airssys-wasm: {}\n", error.to_string());
}

void report_usage(const std::string& message) {
  if (g_json_errors) {
    report(Error::of(ErrorCode::InvalidArgument, message));
    return;
  }
  fmt::print(stderr, "airssys-wasm: {}\n", message);
}

void LinePrinter::line(FILE* stream, const std::string& text) {
  std::lock_guard lock(mutex_);
  flush_repeats();
  fmt::print(stream, "{}\n", text);
  std::fflush(stream);
}

void LinePrinter::log(const std::string& line) {
  std::lock_guard lock(mutex_);
  flush_repeats();
  fmt::print(stderr, "{}\n", line);
}

void LinePrinter::denial(const std::string& line) {
  std::lock_guard lock(mutex_);
  if (line == last_denial_) {
    ++repeats_;
    return;
  }
  flush_repeats();
  last_denial_ = line;
  fmt::print(stderr, "{}\n", line);
}

void LinePrinter::flush() {
  std::lock_guard lock(mutex_);
  flush_repeats();
}

void LinePrinter::flush_repeats() {
  if (repeats_ > 0) {
    fmt::print(stderr, "  ... the same denial {} more time{} (all in the audit log)\n", repeats_,
               repeats_ == 1 ? "" : "s");
  }
  repeats_ = 0;
  last_denial_.clear();
}

std::string denial_line(const security::AuditRecord& r) {
  return fmt::format("denied: {} {} {} ({}: {})", r.component, r.permission, r.resource,
                     security::decision_layer_name(r.layer), r.reason);
}

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
