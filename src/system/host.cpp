#include "airssys/wasm/system/host.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "airssys/wasm/security/trust.hpp"

namespace airssys::wasm::system {

namespace fs = std::filesystem;
using security::AuditRecord;
using security::AuditResult;
using security::DecisionLayer;

namespace {

constexpr const char* kModuleFile = "component.wasm";
constexpr const char* kManifestFile = "Component.toml";
constexpr const char* kSignatureFile = "component.sig";

Result<std::string> read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorCode::IoError, fmt::format("{}: cannot read", file.string()));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<std::vector<uint8_t>> read_bytes(const fs::path& file) {
  auto text = read_text(file);
  if (!text) return std::unexpected(text.error());
  return std::vector<uint8_t>(text->begin(), text->end());
}

// The operator's ceilings: host.toml's [ceiling] (or the builder's) and the
// policy's, the lower of the two for each quota.
security::QuotaSpec host_quota_ceilings(const HostConfig& config,
                                        const security::HostPolicy& policy) {
  return security::tighter_ceilings(config.ceiling, policy.quota_ceilings());
}

// The host's default quotas: host.toml's [quota] (or the builder's), then
// the policy's [quota], then the built-in defaults; each lowered to its ceiling.
security::QuotaLimits host_default_quotas(const HostConfig& config,
                                          const security::HostPolicy& policy) {
  return security::clamp_to_ceilings(
      security::effective_quotas(config.quota,
                                 security::effective_quotas(policy.quota_defaults(), {})),
      host_quota_ceilings(config, policy));
}

std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

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

// --- HostBuilder ---------------------------------------------------------------

HostBuilder& HostBuilder::data_dir(fs::path dir) {
  config_.data_dir = std::move(dir);
  return *this;
}
HostBuilder& HostBuilder::trust_config(fs::path file) {
  config_.trust_config = std::move(file);
  return *this;
}
HostBuilder& HostBuilder::policy(fs::path file) {
  config_.policy = std::move(file);
  return *this;
}
HostBuilder& HostBuilder::audit_log(fs::path file) {
  config_.audit_log = std::move(file);
  return *this;
}
HostBuilder& HostBuilder::audit_rotation(uint64_t bytes, uint32_t keep) {
  config_.audit_rotate_bytes = bytes;
  config_.audit_keep = keep;
  return *this;
}
HostBuilder& HostBuilder::workers(size_t count) {
  config_.workers = count;
  return *this;
}
HostBuilder& HostBuilder::tier(security::TierChoice tier, bool over_manifests) {
  if (over_manifests) {
    config_.tier_override = tier;
  } else {
    config_.tier = tier;
  }
  return *this;
}
HostBuilder& HostBuilder::default_quotas(security::QuotaLimits quotas) {
  config_.default_quotas = quotas;
  config_.quota = security::QuotaSpec{quotas.storage_bytes, quotas.messages_per_second,
                                      quotas.network_bytes_per_second, quotas.cpu_ms_per_second,
                                      quotas.memory_bytes};
  return *this;
}
HostBuilder& HostBuilder::quota_ceilings(security::QuotaSpec ceilings) {
  config_.ceiling = ceilings;
  return *this;
}
HostBuilder& HostBuilder::state_durability(storage::Durability durability) {
  config_.state_durability = durability;
  return *this;
}
HostBuilder& HostBuilder::ready_timeout(std::chrono::milliseconds timeout) {
  config_.ready_timeout = timeout;
  return *this;
}
HostBuilder& HostBuilder::on_audit(
    std::function<void(const security::AuditRecord&, std::string_view)> f) {
  on_audit_ = std::move(f);
  return *this;
}
HostBuilder& HostBuilder::on_log(host::LogSink sink) {
  on_log_ = std::move(sink);
  return *this;
}
HostBuilder& HostBuilder::on_supervisor_event(actor::SupervisorEventHandler handler) {
  on_supervisor_event_ = std::move(handler);
  return *this;
}
HostBuilder& HostBuilder::restore(bool restore_running) {
  restore_ = restore_running;
  return *this;
}

// --- Host::Impl ------------------------------------------------------------------

struct Host::Impl {
  struct Counters {
    uint64_t handled_base = 0;   // handled by versions that are gone
    uint64_t restarts_base = 0;
    std::atomic<uint64_t> denials{0};
    std::atomic<uint64_t> host_accepted{0};
    std::atomic<uint64_t> host_refused{0};
  };

  HostConfig config;
  int lock_fd = -1;
  mutable std::mutex counters_mutex;
  std::map<std::string, std::unique_ptr<Counters>, std::less<>> counters;
  std::vector<std::string> start_order;  // guarded by counters_mutex
  std::set<std::string, std::less<>> loaded;  // running without being installed; counters_mutex
  std::function<void(const AuditRecord&, std::string_view)> user_audit;
  host::LogSink log_sink;

  security::TrustConfig trust;  // guarded by lifecycle once built
  std::unique_ptr<security::PolicySlot> policy;
  mutable std::mutex defaults_mutex;
  security::QuotaLimits quota_defaults;  // guarded by defaults_mutex
  security::QuotaSpec quota_ceilings;    // guarded by defaults_mutex
  std::unique_ptr<security::AuditLog> audit;
  mutable std::mutex approvals_mutex;
  std::optional<security::ApprovalStore> approvals;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<storage::KeyValueStore> kv;
  std::shared_ptr<engine::Engine> engine;
  std::mutex native_mutex;
  std::shared_ptr<engine::Engine> native;  // guarded by native_mutex
  bool compiles_stopped = false;           // guarded by native_mutex
  std::unique_ptr<actor::ThreadPoolScheduler> scheduler;
  std::unique_ptr<component::ComponentSystem> system;  // destroyed before the scheduler
  mutable std::mutex lifecycle;
  bool shut_down = false;  // guarded by lifecycle

  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  Counters& counters_for(std::string_view name) {
    std::lock_guard lock(counters_mutex);
    auto it = counters.find(name);
    if (it == counters.end()) {
      it = counters.emplace(std::string(name), std::make_unique<Counters>()).first;
    }
    return *it->second;
  }

  security::QuotaLimits default_quotas() const {
    std::lock_guard lock(defaults_mutex);
    return quota_defaults;
  }

  security::QuotaSpec ceilings() const {
    std::lock_guard lock(defaults_mutex);
    return quota_ceilings;
  }

  // The approval key of an installed version, from its manifest and module,
  // when it needs an approval under the host's current defaults: the key the
  // next admission asks for (a key recorded at install may be older).
  std::optional<std::string> approval_key_of(const ComponentVersion& v) const {
    auto manifest = security::parse_manifest(v.manifest, "Component.toml");
    if (!manifest || !security::needs_approval(*manifest, default_quotas())) return std::nullopt;
    return security::ApprovalStore::key_for(v.name, v.module_hash,
                                            security::canonical_approval_terms(*manifest));
  }

  // The trust the configuration decides for a copy of a component.
  static Result<security::TrustDecision> decide_trust(const security::TrustConfig& config,
                                                      const fs::path& source,
                                                      const fs::path& files) {
    auto signature = security::check_component_signature(
        files / kModuleFile, files / kManifestFile, files / kSignatureFile);
    return config.decide(source, signature);
  }

  void record(std::string_view component, std::string_view permission, std::string_view resource,
              AuditResult result, std::string reason,
              std::optional<security::TrustLevel> trust_level = std::nullopt) {
    AuditRecord r;
    r.component = std::string(component);
    r.permission = std::string(permission);
    r.resource = std::string(resource);
    r.result = result;
    r.reason = std::move(reason);
    r.trust = trust_level;
    r.layer = DecisionLayer::Component;
    audit->record(std::move(r));
  }

  fs::path components_dir() const { return config.data_dir / "components"; }

  // The component's files as given: a folder with component.wasm and Component.toml.
  Result<fs::path> source_folder(const fs::path& dir) const {
    std::error_code ec;
    auto source = fs::canonical(dir, ec);
    if (ec || !fs::is_directory(source, ec)) {
      return make_error(ErrorCode::IoError,
                        fmt::format("{}: not a component folder", dir.string()));
    }
    for (const char* required : {kModuleFile, kManifestFile}) {
      if (!fs::is_regular_file(source / required, ec)) {
        return make_error(ErrorCode::NotFound,
                          fmt::format("{}: the folder holds no {}", dir.string(), required));
      }
    }
    return source;
  }

  Result<security::Manifest> manifest_of(const fs::path& folder, const fs::path& source) {
    auto manifest = security::load_manifest(folder / kManifestFile);
    if (!manifest) {
      record(source.filename().string(), "lifecycle.install", source.string(),
             AuditResult::Denied, manifest.error().message);
      return std::unexpected(manifest.error());
    }
    return manifest;
  }

  // Copies the folder's files into a fresh staging folder in the data
  // directory; every later check reads the copy, which nobody else writes.
  Result<fs::path> stage(const fs::path& source) {
    std::error_code ec;
    auto staging = components_dir() / (".staging-" + random_suffix());
    fs::create_directories(staging, ec);
    if (ec) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create {}: {}", staging.string(),
                                                        ec.message()));
    }
    for (const char* file : {kModuleFile, kManifestFile, kSignatureFile}) {
      if (!fs::exists(source / file, ec)) continue;
      fs::copy_file(source / file, staging / file, ec);
      if (ec) {
        fs::remove_all(staging, ec);
        return make_error(ErrorCode::IoError, fmt::format("cannot copy {}: {}",
                                                          (source / file).string(),
                                                          ec.message()));
      }
    }
    return staging;
  }

  // A component folder copied to staging, with the manifest read from the copy.
  struct Staged {
    fs::path source;
    fs::path staging;
    security::Manifest manifest;
  };

  // The staging folder is removed again when the manifest cannot be read.
  Result<Staged> stage_folder(const fs::path& dir) {
    auto source = source_folder(dir);
    if (!source) return std::unexpected(source.error());
    auto staging = stage(*source);
    if (!staging) return std::unexpected(staging.error());
    auto manifest = manifest_of(*staging, *source);
    if (!manifest) {
      std::error_code ec;
      fs::remove_all(*staging, ec);
      return std::unexpected(manifest.error());
    }
    return Staged{std::move(*source), std::move(*staging), std::move(*manifest)};
  }

  Result<security::Admission> admit(const fs::path& source_dir, const fs::path& files,
                                    const security::Manifest& manifest,
                                    const InstallOptions& options) {
    security::AdmissionRequest r;
    r.component_dir = source_dir;
    r.module = files / kModuleFile;
    r.manifest = manifest;
    r.manifest_file = files / kManifestFile;
    r.signature_file = files / kSignatureFile;
    r.trust = &trust;
    r.audit = audit.get();
    r.default_quotas = default_quotas();
    r.quota_ceilings = ceilings();
    r.approve = options.approve;
    r.operator_name = options.operator_name;
    r.approve_options = " --data-dir " + security::shell_word(config.data_dir.string());
    std::lock_guard lock(approvals_mutex);
    r.approvals = &*approvals;
    return security::admit(r);
  }

  // What the registry records about a staged or installed copy.
  Result<ComponentVersion> describe(const fs::path& source, const fs::path& files,
                                    const security::Manifest& manifest) {
    ComponentVersion v;
    v.name = manifest.component.name;
    v.version = manifest.component.version;
    auto hash = security::sha256_file(files / kModuleFile);
    if (!hash) return std::unexpected(hash.error());
    v.module_hash = security::to_hex(*hash);
    auto text = read_text(files / kManifestFile);
    if (!text) return std::unexpected(text.error());
    v.manifest = std::move(*text);
    std::error_code ec;
    if (fs::exists(files / kSignatureFile, ec)) {
      auto sig = read_text(files / kSignatureFile);
      if (!sig) return std::unexpected(sig.error());
      v.signature = std::move(*sig);
    }
    auto signature = security::check_component_signature(
        files / kModuleFile, files / kManifestFile, files / kSignatureFile);
    if (signature && *signature) v.signer_key_id = (*signature)->key_id;
    auto decision = trust.decide(source, signature);
    if (decision) {
      v.trust = decision->level;
      v.trust_reason = decision->reason;
    }
    if (security::needs_approval(manifest, default_quotas())) {
      v.approval_key = security::ApprovalStore::key_for(
          v.name, v.module_hash, security::canonical_approval_terms(manifest));
    }
    v.source_dir = source;
    v.installed_at = std::chrono::system_clock::now();
    return v;
  }

  // Moves a staged copy to its place: components/<name>/<version>-<hash>.
  Result<fs::path> keep(const fs::path& staging, const ComponentVersion& v) {
    std::error_code ec;
    auto base = components_dir() / v.name;
    fs::create_directories(base, ec);
    auto target = base / fmt::format("{}-{}", v.version, v.module_hash.substr(0, 12));
    while (fs::exists(target, ec)) target += "-" + random_suffix();
    fs::rename(staging, target, ec);
    if (ec) {
      return make_error(ErrorCode::IoError, fmt::format("cannot move {} to {}: {}",
                                                        staging.string(), target.string(),
                                                        ec.message()));
    }
    return target;
  }

  // Admits an installed version again (its copy may have been changed on disk:
  // the signature and hash checks see it) and builds its spec.
  Result<component::ComponentSpec> spec_for(const ComponentVersion& v,
                                            const InstallOptions& options = {}) {
    auto manifest = security::load_manifest(v.store_dir / kManifestFile);
    if (!manifest) return std::unexpected(manifest.error());
    auto admission = admit(v.source_dir, v.store_dir, *manifest, options);
    if (!admission) return std::unexpected(admission.error());
    return spec_from(*admission, *manifest, v.store_dir, v.module_hash);
  }

  Result<component::ComponentSpec> spec_from(const security::Admission& admission,
                                             const security::Manifest& manifest,
                                             const fs::path& files,
                                             std::string_view expected_hash) {
    auto bytes = read_bytes(files / kModuleFile);
    if (!bytes) return std::unexpected(bytes.error());
    // The bytes loaded are the bytes admitted: nothing changes in between.
    auto hash = security::to_hex(security::sha256(*bytes));
    if (hash != admission.module_sha256 || (!expected_hash.empty() && hash != expected_hash)) {
      record(manifest.component.name, "lifecycle.load", files.string(), AuditResult::Denied,
             "the module changed after it was checked");
      return make_error(ErrorCode::SignatureInvalid,
                        fmt::format("{}: the module changed after it was checked",
                                    (files / kModuleFile).string()));
    }
    const auto tier = config.tier_override.value_or(manifest.runtime.tier.value_or(config.tier));
    std::shared_ptr<engine::Engine> native_for;
    if (tier != security::TierChoice::Interp) {
      auto made = native_engine();
      if (made) {
        native_for = *made;
      } else if (tier == security::TierChoice::Native) {
        return std::unexpected(made.error());
      } else {
        record(manifest.component.name, "lifecycle.tier", "native", AuditResult::Denied,
               fmt::format("stays on the interp tier: {}", made.error().to_string()));
      }
    }
    auto loaded = component::load_tiered(tier, *bytes, (files / kModuleFile).string(), engine,
                                         native_for);
    if (!loaded) return std::unexpected(loaded.error());
    // What the loader could do without (an unreadable custom section) is on
    // record, once per start.
    for (const auto& warning : loaded->module->warnings()) {
      record(manifest.component.name, "lifecycle.load", (files / kModuleFile).string(),
             AuditResult::Granted, "loaded with a warning: " + warning);
    }
    if (loaded->native_refused) {
      record(manifest.component.name, "lifecycle.tier", "native", AuditResult::Denied,
             fmt::format("runs on the interp tier: {}", loaded->native_refused->to_string()));
    }
    component::ComponentSpec spec;
    spec.name = admission.context->component_id();
    spec.module = std::move(loaded->module);
    spec.engine = std::move(loaded->engine);
    spec.tier_up = std::move(loaded->tier_up);
    spec.security = admission.context;
    spec.signer_key_id = admission.signer_key_id;
    spec.config_json = manifest.config.dump();
    spec.env = security::manifest_environment(manifest);
    spec.log_sink = log_sink;
    return spec;
  }

  // The native tier's engine, made when a component first asks for it.
  Result<std::shared_ptr<engine::Engine>> native_engine() {
    std::lock_guard lock(native_mutex);
    if (compiles_stopped) {
      return make_error(ErrorCode::CallCancelled, "the host stops: no native compile starts");
    }
    if (native) return native;
    engine::NativeOptions options = config.native;
    options.cache_dir = config.data_dir / "cache" / "native";
    auto made = engine::Engine::native(options);
    if (!made) return std::unexpected(made.error());
    native = std::move(*made);
    return native;
  }

  // Waits until the component is Ready; a failure stops it and is returned.
  Result<void> await_ready(std::string_view name) {
    auto st = system->await_settled(name, std::chrono::steady_clock::now() + config.ready_timeout);
    if (!st) return make_error(ErrorCode::ActorNotFound, fmt::format("'{}' is gone", name));
    if (st->state == component::ComponentState::Ready) return {};
    Error error = st->last_error.value_or(
        Error{ErrorCode::InternalError,
              fmt::format("'{}' was not ready within {} ms", name, config.ready_timeout.count()),
              {},
              0});
    retire(name);
    return std::unexpected(std::move(error));
  }

  // Stops a running component and keeps its counts.
  void retire(std::string_view name) {
    auto final_status = system->stop_component(name, config.stop_timeout);
    if (final_status) absorb(name, *final_status);
    std::lock_guard lock(counters_mutex);
    std::erase(start_order, std::string(name));
    loaded.erase(std::string(name));
  }

  void absorb(std::string_view name, const component::ComponentStatus& st) {
    auto& c = counters_for(name);
    std::lock_guard lock(counters_mutex);
    c.handled_base += st.messages_handled;
    c.restarts_base += st.restarts;
  }

  bool is_running(std::string_view name) const { return system->status(name).has_value(); }

  Result<void> start_locked(std::string_view name, const InstallOptions& options = {}) {
    auto c = registry->get(name);
    if (!c) return std::unexpected(c.error());
    if (is_running(name)) {
      return make_error(ErrorCode::InvalidTransition, fmt::format("'{}' is running already", name));
    }
    auto spec = spec_for(c->current, options);
    if (!spec) {
      bool pending = spec.error().code == ErrorCode::ApprovalRequired;
      (void)registry->set_status(name, pending ? "pending-approval" : "refused",
                                 spec.error().message);
      return std::unexpected(spec.error());
    }
    // On probation until Ready: a version that fails to start is not
    // restarted, so it costs the other components' supervisor nothing.
    const actor::RestartPolicy policy = spec->restart;
    spec->restart = actor::RestartPolicy::Temporary;
    if (auto ok = system->start(std::move(*spec)); !ok) {
      (void)registry->set_status(name, "failed", ok.error().message);
      return ok;
    }
    {
      std::lock_guard lock(counters_mutex);
      start_order.emplace_back(name);
    }
    if (auto ready = await_ready(name); !ready) {
      (void)registry->set_status(name, "failed", ready.error().message);
      return ready;
    }
    (void)system->supervisor()->set_restart_policy(name, policy);
    AIRSSYS_TRY(registry->set_desired(name, DesiredState::Running));
    AIRSSYS_TRY(registry->set_status(name, "running"));
    record(name, "lifecycle.start", c->current.version, AuditResult::Granted,
           fmt::format("version {} ({}) started", c->current.version, c->current.module_hash),
           c->current.trust);
    return {};
  }

  // Runs `next` in place of the running version, or records it when stopped.
  Result<void> switch_running(std::string_view name, const ComponentVersion& next,
                              std::optional<component::ComponentSpec> spec) {
    if (!is_running(name)) return {};
    if (!spec) {
      auto built = spec_for(next);
      if (!built) return std::unexpected(built.error());
      spec = std::move(*built);
    }
    auto old = system->upgrade(std::move(*spec), config.ready_timeout);
    if (!old) return std::unexpected(old.error());
    absorb(name, *old);
    return {};
  }

  void remove_files(const std::vector<ComponentVersion>& versions) {
    std::error_code ec;
    for (const auto& v : versions) {
      if (v.store_dir.parent_path().parent_path() == components_dir()) {
        fs::remove_all(v.store_dir, ec);
      }
    }
  }
};

// --- HostConfig --------------------------------------------------------------------
// (load and parse: config.cpp)

// --- Host ------------------------------------------------------------------------------

namespace {

// This process's command line, as `ps` shows it, for the holder record.
std::string own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  constexpr size_t kMax = 200;
  if (raw.size() > kMax) raw = raw.substr(0, kMax) + "...";
  return raw.empty() ? "?" : raw;
}

// Takes host.lock. A short-lived holder (a CLI command reading the data
// directory offline) is waited for, up to config.lock_wait; past that, the
// refusal names the holder, which each holder writes into the lock file.
Result<void> lock_data_dir(int fd, const HostConfig& config) {
  const auto deadline = std::chrono::steady_clock::now() + config.lock_wait;
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot lock {}: {}", (config.data_dir / "host.lock").string(),
                                    std::strerror(errno)));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string holder(512, '\0');
      ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
      holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) {
        holder.pop_back();
      }
      return make_error(
          ErrorCode::InvalidTransition,
          fmt::format("another process is using the data directory {} (waited {} ms): {}",
                      config.data_dir.string(), config.lock_wait.count(),
                      holder.empty() ? "it did not say which" : holder));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string holder =
      fmt::format("pid {}: {}\n", static_cast<long>(::getpid()), own_command_line());
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, holder.data(), holder.size(), 0);
  return {};
}

}  // namespace

Result<std::unique_ptr<Host>> HostBuilder::build() {
  auto impl = std::make_unique<Host::Impl>();
  impl->config = config_;
  auto& config = impl->config;
  if (config.data_dir.empty()) {
    auto home = security::airssys_home();
    if (!home) return std::unexpected(home.error());
    config.data_dir = *home;
  }
  std::error_code ec;
  config.data_dir = fs::absolute(config.data_dir, ec);
  if (!fs::exists(config.data_dir, ec)) {
    fs::create_directories(config.data_dir, ec);
    if (ec) {
      return make_error(ErrorCode::IoError, fmt::format("cannot create the data directory {}: {}",
                                                        config.data_dir.string(), ec.message()));
    }
    ::chmod(config.data_dir.c_str(), 0700);
  }
  config.resolve_paths();

  // One host per data directory: the registry, the state and the socket are its own.
  auto lock_path = config.data_dir / "host.lock";
  impl->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (impl->lock_fd < 0) {
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot open {}: {}", lock_path.string(), std::strerror(errno)));
  }
  if (auto locked = lock_data_dir(impl->lock_fd, config); !locked) {
    return std::unexpected(locked.error());
  }

  auto trust = security::TrustConfig::load(config.trust_config);
  if (!trust) return std::unexpected(trust.error());
  impl->trust = std::move(*trust);
  auto policy = security::HostPolicy::load(config.policy, /*missing_ok=*/true);
  if (!policy) return std::unexpected(policy.error());
  config.default_quotas = host_default_quotas(config, *policy);
  impl->quota_defaults = config.default_quotas;
  impl->quota_ceilings = host_quota_ceilings(config, *policy);
  impl->policy = std::make_unique<security::PolicySlot>(std::move(*policy));

  Host::Impl* raw = impl.get();
  impl->user_audit = on_audit_;
  security::AuditLogOptions audit_options;
  audit_options.rotate_bytes = config.audit_rotate_bytes;
  audit_options.keep = config.audit_keep;
  audit_options.subscriber = [raw](const AuditRecord& r, std::string_view line) {
    // A summary of repeated refusals counts every refusal it stands for; the
    // log's own records (an overflow naming a component) are no denials.
    if (r.result == AuditResult::Denied && !r.component.empty() &&
        r.layer != DecisionLayer::Audit) {
      raw->counters_for(r.component)
          .denials.fetch_add(r.repeats != 0 ? r.repeats : 1, std::memory_order_relaxed);
    }
    if (raw->user_audit) raw->user_audit(r, line);
  };
  auto audit = security::AuditLog::open(config.audit_log, std::move(audit_options));
  if (!audit) return std::unexpected(audit.error());
  impl->audit = std::move(*audit);

  auto approvals = security::ApprovalStore::open(config.data_dir / "approvals.db");
  if (!approvals) return std::unexpected(approvals.error());
  impl->approvals.emplace(std::move(*approvals));
  auto registry = Registry::open(config.data_dir / kRegistryFileName);
  if (!registry) return std::unexpected(registry.error());
  impl->registry = std::move(*registry);
  auto kv = storage::KeyValueStore::open(
      {.data_dir = config.data_dir, .durability = config.state_durability});
  if (!kv) return std::unexpected(kv.error());
  impl->kv = std::move(*kv);

  impl->log_sink = on_log_ ? on_log_ : [](const host::LogLine& line) {
    std::string text = line.source == "log"
                           ? fmt::format("[{}] {}: {}\n", line.component,
                                         host::log_level_name(line.level), line.text)
                           : fmt::format("[{}] {}\n", line.component, line.text);
    std::fwrite(text.data(), 1, text.size(), stderr);
  };
  impl->engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
  impl->scheduler =
      std::make_unique<actor::ThreadPoolScheduler>(actor::ThreadPoolOptions{config.workers});
  component::ComponentSystemOptions options;
  options.engine = impl->engine;
  options.audit = impl->audit.get();
  options.policy = impl->policy.get();
  options.kv = impl->kv.get();
  options.supervisor.on_event = on_supervisor_event_;
  impl->system = std::make_unique<component::ComponentSystem>(*impl->scheduler, options);

  std::unique_ptr<Host> host(new Host(std::move(impl)));
  if (restore_) {
    auto& i = *host->impl_;
    std::lock_guard lock(i.lifecycle);
    auto all = i.registry->list();
    if (!all) return std::unexpected(all.error());
    for (const auto& c : *all) {
      if (c.desired != DesiredState::Running) continue;
      if (auto ok = i.start_locked(c.name); !ok) {
        i.record(c.name, "lifecycle.restore", c.current.version, AuditResult::Denied,
                 ok.error().message, c.current.trust);
      }
    }
  }
  return host;
}

Host::Host(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Host::~Host() { shutdown(); }

const HostConfig& Host::config() const { return impl_->config; }
security::QuotaLimits Host::default_quotas() const { return impl_->default_quotas(); }

Result<ReloadReport> Host::reload(std::string_view operator_name) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  // The audit log first, so that this reload's record goes to the file now
  // at its path (moved away by a log rotation tool, or removed).
  i.audit->reopen();
  const std::string files =
      fmt::format("{}, {}", i.config.trust_config.string(), i.config.policy.string());
  auto audit = [&](AuditResult result, std::string reason) {
    AuditRecord r;
    r.permission = "host.reload";
    r.resource = files;
    r.result = result;
    r.reason = fmt::format("by {}: {}", operator_name, reason);
    r.layer = DecisionLayer::HostPolicy;
    i.audit->record(std::move(r));
  };
  auto refuse = [&](Error e) -> Result<ReloadReport> {
    audit(AuditResult::Denied, "nothing changed: " + e.message);
    return std::unexpected(std::move(e));
  };
  if (i.shut_down) return refuse(Error{ErrorCode::SchedulerStopped, "the host is shut down", {}, 0});
  // Both files are read and checked before either is put in force.
  auto trust = security::TrustConfig::load(i.config.trust_config);
  if (!trust) return refuse(trust.error());
  auto policy = security::HostPolicy::load(i.config.policy, /*missing_ok=*/true);
  if (!policy) return refuse(policy.error());

  ReloadReport report;
  report.trust_config = i.config.trust_config;
  report.policy = i.config.policy;
  report.policy_rules = policy->rules().size();
  report.trusted_keys = trust->keys().size();
  report.trusted_paths = trust->paths().size();
  report.dev_mode = trust->dev_mode();
  report.default_quotas = host_default_quotas(i.config, *policy);
  report.quota_ceilings = host_quota_ceilings(i.config, *policy);
  if (auto all = i.registry->list()) {
    for (const auto& c : *all) {
      auto decision = Impl::decide_trust(*trust, c.current.source_dir, c.current.store_dir);
      if (decision && decision->level == c.current.trust) continue;
      report.trust_changes.push_back(
          {c.name, c.current.trust, decision ? decision->level : security::TrustLevel::Unknown,
           decision ? decision->reason : decision.error().message, i.is_running(c.name)});
    }
  }

  i.trust = std::move(*trust);
  {
    std::lock_guard defaults(i.defaults_mutex);
    i.quota_defaults = report.default_quotas;
    i.quota_ceilings = report.quota_ceilings;
  }
  i.policy->replace(std::move(*policy));
  report.policy_generation = i.policy->generation();

  std::string changes;
  for (const auto& t : report.trust_changes) {
    changes += fmt::format("; {}: trust {} -> {}{}", t.name, security::trust_level_name(t.from),
                           security::trust_level_name(t.to),
                           t.running ? " (running: applies at its next start)" : "");
  }
  audit(AuditResult::Granted,
        fmt::format("policy {} ({} rules), {} trusted keys, {} trusted paths{}{}",
                    report.policy_generation, report.policy_rules, report.trusted_keys,
                    report.trusted_paths, report.dev_mode ? ", dev mode" : "", changes));
  return report;
}
security::AuditLog& Host::audit() { return *impl_->audit; }
storage::KeyValueStore& Host::state() { return *impl_->kv; }

namespace {

// Drops a staged copy after a refusal. The error names the operator's folder:
// the copy is a byte copy of it, and its name means nothing to the operator.
std::unexpected<Error> discard_staged(const fs::path& staging, const fs::path& source, Error e) {
  std::error_code ec;
  fs::remove_all(staging, ec);
  const std::string from = staging.string(), to = source.string();
  for (size_t at = 0; (at = e.message.find(from, at)) != std::string::npos; at += to.size()) {
    e.message.replace(at, from.size(), to);
  }
  return std::unexpected(std::move(e));
}

}  // namespace

Result<InstalledComponent> Host::install(const fs::path& dir, InstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  if (i.shut_down) return make_error(ErrorCode::SchedulerStopped, "the host is shut down");
  auto staged = i.stage_folder(dir);
  if (!staged) return std::unexpected(staged.error());
  const auto& [source, staging, manifest] = *staged;
  std::error_code ec;
  auto discard = [&](Error e) -> Result<InstalledComponent> {
    return discard_staged(staging, source, std::move(e));
  };
  const std::string name = manifest.component.name;
  if (i.registry->get(name)) {
    return discard(Error{ErrorCode::InvalidTransition,
                         fmt::format("'{}' is installed already; upgrade it instead", name), {}, 0});
  }
  auto admission = i.admit(source, staging, manifest, options);
  bool pending = false;
  if (!admission) {
    if (admission.error().code != ErrorCode::ApprovalRequired) return discard(admission.error());
    pending = true;
  }
  auto version = i.describe(source, staging, manifest);
  if (!version) return discard(version.error());
  auto kept = i.keep(staging, *version);
  if (!kept) return discard(kept.error());
  version->store_dir = *kept;
  auto id = i.registry->add_version(*version);
  if (!id) return std::unexpected(id.error());
  if (auto ok = i.registry->install(name, *id); !ok) {
    (void)i.registry->drop_version(*id);
    fs::remove_all(*kept, ec);
    return std::unexpected(ok.error());
  }
  AIRSSYS_TRY(i.registry->set_status(name, pending ? "pending-approval" : "installed",
                                     pending ? admission.error().message : ""));
  i.record(name, "lifecycle.install", source.string(), AuditResult::Granted,
           fmt::format("version {} ({}) installed{}", version->version, version->module_hash,
                       pending ? "; its approval is pending" : ""),
           version->trust);
  return i.registry->get(name);
}

Result<std::vector<InstalledComponent>> Host::list() const { return impl_->registry->list(); }

Result<ComponentReport> Host::info(std::string_view name) const {
  auto& i = *impl_;
  auto c = i.registry->get(name);
  if (!c) return std::unexpected(c.error());
  ComponentReport report;
  report.installed = std::move(*c);
  auto& current = report.installed.current;
  // The key the next admission asks for, under the current defaults; the
  // one recorded at install may predate them or the terms an approval covers.
  current.approval_key = i.approval_key_of(current);
  if (const auto& key = current.approval_key) {
    std::lock_guard lock(i.approvals_mutex);
    auto entry = i.approvals->get(*key);
    report.approval = entry ? entry->state : security::ApprovalState::Pending;
  }
  report.status = i.system->status(name);
  report.running = report.status && report.status->state == component::ComponentState::Ready;
  auto& counters = i.counters_for(name);
  {
    std::lock_guard lock(i.counters_mutex);
    report.messages_handled = counters.handled_base;
    report.restarts = counters.restarts_base;
  }
  if (report.status) {
    report.messages_handled += report.status->messages_handled;
    report.restarts += report.status->restarts;
  }
  report.denials = counters.denials.load();
  auto used = i.kv->usage(name);
  if (used) report.storage_used = *used;
  if (auto manifest = security::parse_manifest(current.manifest, "Component.toml")) {
    report.quotas = security::effective_quotas(manifest->quota, i.default_quotas());
  }
  return report;
}

Result<void> Host::start(std::string_view name, InstallOptions options) {
  std::lock_guard lock(impl_->lifecycle);
  if (impl_->shut_down) return make_error(ErrorCode::SchedulerStopped, "the host is shut down");
  return impl_->start_locked(name, options);
}

Result<void> Host::stop(std::string_view name) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  auto c = i.registry->get(name);
  if (!c) return std::unexpected(c.error());
  bool was_running = i.is_running(name);
  if (was_running) i.retire(name);
  AIRSSYS_TRY(i.registry->set_desired(name, DesiredState::Stopped));
  AIRSSYS_TRY(i.registry->set_status(name, "stopped"));
  i.record(name, "lifecycle.stop", c->current.version, AuditResult::Granted,
           was_running ? "stopped after delivering its queued messages" : "was not running",
           c->current.trust);
  return {};
}

Result<InstalledComponent> Host::upgrade(const fs::path& dir, InstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  if (i.shut_down) return make_error(ErrorCode::SchedulerStopped, "the host is shut down");
  auto staged = i.stage_folder(dir);
  if (!staged) return std::unexpected(staged.error());
  const auto& [source, staging, manifest] = *staged;
  std::error_code ec;
  auto discard = [&](Error e) -> Result<InstalledComponent> {
    return discard_staged(staging, source, std::move(e));
  };
  const std::string name = manifest.component.name;
  auto installed = i.registry->get(name);
  if (!installed) {
    return discard(Error{ErrorCode::NotFound,
                         fmt::format("'{}' is not installed; install it first", name), {}, 0});
  }
  auto version = i.describe(source, staging, manifest);
  if (!version) return discard(version.error());
  if (version->module_hash == installed->current.module_hash &&
      version->manifest == installed->current.manifest) {
    return discard(Error{ErrorCode::InvalidTransition,
                         fmt::format("'{}' {} is the current version already", name,
                                     version->version),
                         {},
                         0});
  }
  // A new version is admitted like an install; one waiting for approval is
  // queued, and the upgrade is refused until it is approved.
  auto admission = i.admit(source, staging, manifest, options);
  if (!admission) return discard(admission.error());
  auto kept = i.keep(staging, *version);
  if (!kept) return discard(kept.error());
  version->store_dir = *kept;
  auto id = i.registry->add_version(*version);
  if (!id) return std::unexpected(id.error());
  std::optional<component::ComponentSpec> spec;
  if (i.is_running(name)) {
    auto built = i.spec_from(*admission, manifest, *kept, version->module_hash);
    if (!built) {
      (void)i.registry->drop_version(*id);
      fs::remove_all(*kept, ec);
      return std::unexpected(built.error());
    }
    spec = std::move(*built);
  }
  if (auto ok = i.switch_running(name, *version, std::move(spec)); !ok) {
    (void)i.registry->drop_version(*id);
    fs::remove_all(*kept, ec);
    i.record(name, "lifecycle.upgrade", version->version, AuditResult::Denied, ok.error().message,
             version->trust);
    return std::unexpected(ok.error());
  }
  auto dropped = i.registry->switch_versions(name, *id, installed->current.id);
  if (!dropped) return std::unexpected(dropped.error());
  i.remove_files(*dropped);
  i.record(name, "lifecycle.upgrade", version->version, AuditResult::Granted,
           fmt::format("{} -> {} ({})", installed->current.version, version->version,
                       version->module_hash),
           version->trust);
  return i.registry->get(name);
}

Result<InstalledComponent> Host::rollback(std::string_view name) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  if (i.shut_down) return make_error(ErrorCode::SchedulerStopped, "the host is shut down");
  auto c = i.registry->get(name);
  if (!c) return std::unexpected(c.error());
  if (!c->previous) {
    return make_error(ErrorCode::InvalidTransition,
                      fmt::format("'{}' has no previous version to roll back to", name));
  }
  if (auto ok = i.switch_running(name, *c->previous, std::nullopt); !ok) {
    i.record(name, "lifecycle.rollback", c->previous->version, AuditResult::Denied,
             ok.error().message, c->previous->trust);
    return std::unexpected(ok.error());
  }
  auto dropped = i.registry->switch_versions(name, c->previous->id, c->current.id);
  if (!dropped) return std::unexpected(dropped.error());
  i.record(name, "lifecycle.rollback", c->previous->version, AuditResult::Granted,
           fmt::format("{} -> {}", c->current.version, c->previous->version), c->previous->trust);
  return i.registry->get(name);
}

Result<void> Host::uninstall(std::string_view name, UninstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  auto c = i.registry->get(name);
  if (!c) return std::unexpected(c.error());
  if (i.is_running(name)) i.retire(name);
  auto versions = i.registry->remove(name);
  if (!versions) return std::unexpected(versions.error());
  std::error_code ec;
  fs::remove_all(i.components_dir() / std::string(name), ec);
  uint64_t removed = 0;
  if (options.remove_state) {
    for (;;) {
      auto keys = i.kv->list(name, "", "", 512);
      if (!keys) return std::unexpected(keys.error());
      if (keys->empty()) break;
      for (const auto& key : *keys) {
        auto gone = i.kv->remove(name, key);
        if (!gone) return std::unexpected(gone.error());
        ++removed;
      }
    }
  }
  i.record(name, "lifecycle.uninstall", c->current.version, AuditResult::Granted,
           options.remove_state ? fmt::format("uninstalled; its state ({} keys) removed", removed)
                                : "uninstalled; its state kept",
           c->current.trust);
  return {};
}

// approve and deny: the operator's decision on a component's pending approval.
Result<security::ApprovalEntry> Host::decide(std::string_view name,
                                             std::string_view operator_name,
                                             std::string_view reason, bool approve) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  auto c = i.registry->get(name);
  if (!c) return std::unexpected(c.error());
  const auto key = i.approval_key_of(c->current);
  if (!key) {
    return make_error(ErrorCode::InvalidTransition,
                      fmt::format("'{}' asks for no capabilities and no quota above the host's "
                                  "defaults: nothing to {}",
                                  name, approve ? "approve" : "deny"));
  }
  Result<security::ApprovalEntry> entry;
  {
    std::lock_guard approvals(i.approvals_mutex);
    const std::string_view why =
        !reason.empty() ? reason
                        : (approve ? "approved through the host" : "denied through the host");
    // A version installed when it needed no approval (or under older terms)
    // is queued now, so that the operator's decision has an entry to land on.
    if (!i.approvals->get(*key)) {
      auto manifest = security::parse_manifest(c->current.manifest, "Component.toml");
      if (!manifest) return std::unexpected(manifest.error());
      auto queued = i.approvals->request(
          {c->current.name, c->current.version, c->current.module_hash,
           security::canonical_approval_terms(*manifest)},
          security::TrustLevel::Unknown, c->current.trust_reason);
      if (!queued) return std::unexpected(queued.error());
    }
    entry = approve ? i.approvals->approve(*key, operator_name, why)
                    : i.approvals->deny(*key, operator_name, why);
  }
  if (!entry) return entry;
  if (approve) {
    i.record(name, "approval.approve", *key, AuditResult::Granted,
             fmt::format("approved by {} for module {} and what its manifest asks for",
                         operator_name, c->current.module_hash),
             c->current.trust);
    if (c->status == "pending-approval") (void)i.registry->set_status(name, "installed");
  } else {
    i.record(name, "approval.deny", *key, AuditResult::Denied,
             fmt::format("denied by {}", operator_name), c->current.trust);
    if (i.is_running(name)) i.retire(name);
    (void)i.registry->set_status(name, "denied");
  }
  return entry;
}

Result<security::ApprovalEntry> Host::approve(std::string_view name,
                                              std::string_view operator_name,
                                              std::string_view reason) {
  return decide(name, operator_name, reason, true);
}

Result<security::ApprovalEntry> Host::deny(std::string_view name, std::string_view operator_name,
                                           std::string_view reason) {
  return decide(name, operator_name, reason, false);
}

Result<void> Host::load(const fs::path& dir, InstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  if (i.shut_down) return make_error(ErrorCode::SchedulerStopped, "the host is shut down");
  auto source = i.source_folder(dir);
  if (!source) return std::unexpected(source.error());
  auto manifest = i.manifest_of(*source, *source);
  if (!manifest) return std::unexpected(manifest.error());
  const std::string name = manifest->component.name;
  if (i.registry->get(name)) {
    return make_error(ErrorCode::InvalidTransition,
                      fmt::format("'{}' is installed; start it by name", name));
  }
  auto admission = i.admit(*source, *source, *manifest, options);
  if (!admission) return std::unexpected(admission.error());
  auto spec = i.spec_from(*admission, *manifest, *source, {});
  if (!spec) return std::unexpected(spec.error());
  AIRSSYS_TRY(i.system->start(std::move(*spec)));
  {
    std::lock_guard c(i.counters_mutex);
    i.start_order.push_back(name);
    i.loaded.insert(name);
  }
  return i.await_ready(name);
}

Result<void> Host::send(std::string_view name, std::vector<uint8_t> payload) {
  auto& i = *impl_;
  auto sent = i.system->send_from_host(name, std::move(payload));
  auto& c = i.counters_for(name);
  (sent ? c.host_accepted : c.host_refused).fetch_add(1, std::memory_order_relaxed);
  if (!sent && sent.error().code == ErrorCode::ActorNotFound) {
    // Installed but not running is not "no such component".
    if (auto installed = i.registry->get(name)) {
      return make_error(ErrorCode::ActorStopped,
                        fmt::format("component '{}' is installed but not running (status {}); "
                                    "start it with 'airssys-wasm start {}'",
                                    name, installed->status, name));
    }
  }
  return sent;
}

std::optional<component::ComponentStatus> Host::status(std::string_view name) const {
  return impl_->system->status(name);
}

std::vector<std::string> Host::running() const {
  std::lock_guard lock(impl_->counters_mutex);
  return impl_->start_order;
}

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
    out += fmt::format("airssys_messages_handled_total{{component=\"{}\"}} {}\n", label(n),
                       r.handled);
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
      out += fmt::format("airssys_quota_used{{component=\"{}\",quota=\"storage\"}} {}\n",
                         label(n), r.storage);
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

void Host::stop_compiles() {
  auto& i = *impl_;
  std::lock_guard lock(i.native_mutex);
  i.compiles_stopped = true;
  if (i.native) i.native->cancel_compiles();
}

void Host::shutdown() {
  auto& i = *impl_;
  // First, so that a lifecycle call compiling does not hold the host up.
  stop_compiles();
  std::lock_guard lock(i.lifecycle);
  if (i.shut_down) return;
  i.shut_down = true;
  std::vector<std::string> order;
  {
    std::lock_guard c(i.counters_mutex);
    order = i.start_order;
  }
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    bool installed = i.registry->get(*it).has_value();
    i.retire(*it);
    if (installed) (void)i.registry->set_status(*it, "stopped", "the host shut down");
  }
  i.system->stop();
  i.scheduler->shutdown();
  i.audit->flush();
}

}  // namespace airssys::wasm::system
