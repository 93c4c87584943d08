#pragma once
// The host's private state (Host::Impl) and what its source files share. The
// host is one class spread over rooms: host.cpp (the observation members and
// shared helpers), host_builder.cpp (HostBuilder and the data directory's
// lock), host_staging.cpp (a component folder copied, checked and kept in the
// data directory), host_lifecycle.cpp (install, start, stop, upgrade,
// rollback, uninstall, approvals, shutdown), host_reload.cpp and
// host_metrics.cpp.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/component/tier.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/lattice/node.hpp"
#include "airssys/wasm/security/admission.hpp"
#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "airssys/wasm/system/host.hpp"

namespace airssys::wasm::system {

namespace fs = std::filesystem;
using security::AuditRecord;
using security::AuditResult;
using security::DecisionLayer;

// A component folder's files.
inline constexpr const char* kModuleFile = "component.wasm";
inline constexpr const char* kManifestFile = "Component.toml";
inline constexpr const char* kSignatureFile = "component.sig";

namespace detail {

[[nodiscard]] Result<std::string> read_text(const fs::path& file);
[[nodiscard]] Result<std::vector<uint8_t>> read_bytes(const fs::path& file);

// The operator's ceilings: host.toml's [ceiling] (or the builder's) and the
// policy's, the lower of the two for each quota.
[[nodiscard]] security::QuotaSpec host_quota_ceilings(const HostConfig& config,
                                                      const security::HostPolicy& policy);

// The host's default quotas: host.toml's [quota] (or the builder's), then
// the policy's [quota], then the built-in defaults; each lowered to its ceiling.
[[nodiscard]] security::QuotaLimits host_default_quotas(const HostConfig& config,
                                                        const security::HostPolicy& policy);

}  // namespace detail

// The last kLogLinesKept lines of each component, for `logs`; any thread.
class LogBook {
 public:
  void add(const host::LogLine& line);
  [[nodiscard]] std::vector<LogEntry> read(const LogQuery& query) const;
  // Ends every wait of read() at once, and those that follow.
  void end_waits();

 private:
  [[nodiscard]] std::vector<LogEntry> matching(const LogQuery& query) const;  // mutex_ held

  mutable std::mutex mutex_;
  mutable std::condition_variable added_;
  uint64_t sequence_ = 0;
  bool waits_ended_ = false;
  std::map<std::string, std::deque<LogEntry>, std::less<>> lines_;
};

struct Host::Impl {
  struct Counters {
    uint64_t handled_base = 0;  // handled by versions that are gone
    uint64_t restarts_base = 0;
    std::atomic<uint64_t> denials{0};
    std::atomic<uint64_t> host_accepted{0};
    std::atomic<uint64_t> host_refused{0};
  };

  HostConfig config;
  int lock_fd = -1;
  mutable std::mutex counters_mutex;
  std::map<std::string, std::unique_ptr<Counters>, std::less<>> counters;
  std::vector<std::string> start_order;       // guarded by counters_mutex
  std::set<std::string, std::less<>> loaded;  // running without being installed; counters_mutex
  std::function<void(const AuditRecord&, std::string_view)> user_audit;
  host::LogSink log_sink;  // into log_book, then to the builder's sink
  std::shared_ptr<LogBook> log_book = std::make_shared<LogBook>();

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
  // Engines a reload replaced (the policy's [native] changed), whose compiles
  // under way a stop still kills; guarded by native_mutex.
  std::vector<std::shared_ptr<engine::Engine>> retired_natives;
  bool compiles_stopped = false;           // guarded by native_mutex
  // Why the native engine could not be made (no C compiler, an unusable
  // cache folder): asked once, until a reload changes the policy's [native];
  // guarded by native_mutex.
  std::optional<Error> native_unavailable;
  // The lattice this host joined (HostConfig::lattice); destroyed first.
  std::unique_ptr<lattice::Node> lattice_node;
  [[nodiscard]] Result<void> join_lattice();
  std::unique_ptr<actor::ThreadPoolScheduler> scheduler;
  std::unique_ptr<component::ComponentRuntime> system;  // destroyed before the scheduler
  mutable std::mutex lifecycle;
  bool shut_down = false;  // guarded by lifecycle

  // HostShutDown once shutdown() has run; lifecycle held.
  Result<void> refuse_if_shut_down() const {
    if (shut_down) return make_error(ErrorCode::HostShutDown, "the host is shut down");
    return {};
  }

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
  std::optional<std::string> approval_key_of(const ComponentVersion& v) const;

  // The trust the configuration decides for a copy of a component.
  static Result<security::TrustDecision> decide_trust(const security::TrustConfig& config,
                                                      const fs::path& source,
                                                      const fs::path& files);

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
  Result<fs::path> source_folder(const fs::path& dir) const;

  Result<security::Manifest> manifest_of(const fs::path& folder, const fs::path& source);

  // Copies the folder's files into a fresh staging folder in the data
  // directory; every later check reads the copy, which nobody else writes.
  Result<fs::path> stage(const fs::path& source);

  // A component folder copied to staging, with the manifest read from the copy.
  struct Staged {
    fs::path source;
    fs::path staging;
    security::Manifest manifest;
  };

  // The staging folder is removed again when the manifest cannot be read.
  Result<Staged> stage_folder(const fs::path& dir);

  Result<security::Admission> admit(const fs::path& source_dir, const fs::path& files,
                                    const security::Manifest& manifest,
                                    const InstallOptions& options);

  // A WebAssembly component decodes and targets the airssys world.
  Result<void> check_world(const fs::path& module);
  // What the registry records about a staged or installed copy.
  Result<ComponentVersion> describe(const fs::path& source, const fs::path& files,
                                    const security::Manifest& manifest);

  // Moves a staged copy to its place: components/<name>/<version>-<hash>.
  Result<fs::path> keep(const fs::path& staging, const ComponentVersion& v);

  // Admits an installed version again (its copy may have been changed on disk:
  // the signature and hash checks see it) and builds its spec.
  // How a start loads the module: what a background compile made for it,
  // or, past a compile bound, the interpreter.
  struct StartMode {
    std::shared_ptr<const engine::Module> compiled;  // native, for compiled_hash
    std::string compiled_hash;
    std::optional<Error> native_refused;
  };

  Result<component::ComponentSpec> spec_for(const ComponentVersion& v,
                                            const InstallOptions& options = {},
                                            const StartMode& mode = {});

  Result<component::ComponentSpec> spec_from(const security::Admission& admission,
                                             const security::Manifest& manifest,
                                             const fs::path& files, std::string_view expected_hash,
                                             const StartMode& mode = {});

  // The tier a component runs on: `serve --tier`, its manifest, the host's.
  security::TierChoice tier_of(const security::Manifest& manifest) const;

  // The native tier's engine, made when a component first asks for it.
  Result<std::shared_ptr<engine::Engine>> native_engine();

  // Waits until the component is Ready; a failure stops it and is returned.
  Result<void> await_ready(std::string_view name);

  // Stops a running component and keeps its counts.
  void retire(std::string_view name);

  void absorb(std::string_view name, const component::ComponentStatus& st);

  bool is_running(std::string_view name) const { return system->status(name).has_value(); }

  // Admits the current version and starts it; with options.wait_for_compile
  // false, a native start that needs a compile returns once it is under way.
  Result<void> start_locked(std::string_view name, const InstallOptions& options = {},
                            StartMode mode = {});

  // Runs `next` in place of the running version, or records it when stopped.
  Result<void> switch_running(std::string_view name, const ComponentVersion& next,
                              std::optional<component::ComponentSpec> spec);

  void remove_files(const std::vector<ComponentVersion>& versions);

  // --- native compiles a start waits for (host_compile.cpp) ---------------
  // A component started on the native tier whose module is not compiled yet
  // has the registry status "compiling" while a thread of its own compiles
  // it (in a compile slot, as tier-up builds); then the start goes on,
  // admitted again, with lifecycle held.
  struct CompileJob {
    std::string name;
    InstallOptions options;
    std::string module_hash;
    std::chrono::steady_clock::time_point started;
    std::atomic<bool> cancelled{false};  // set under lifecycle
    std::atomic<bool> ended{false};      // its thread holds nothing any more
    std::thread thread;
  };
  mutable std::mutex jobs_mutex;
  std::map<std::string, std::shared_ptr<CompileJob>, std::less<>> compiling;  // jobs_mutex
  std::vector<std::shared_ptr<CompileJob>> job_threads;  // jobs_mutex; not joined yet

  // Admits `c`'s current version; when it runs on the native tier and its
  // module is not compiled, starts the compile and returns true. Lifecycle held.
  Result<bool> compile_first(const InstalledComponent& c, const InstallOptions& options);
  void run_compile_job(const std::shared_ptr<CompileJob>& job, std::vector<uint8_t> bytes,
                       std::shared_ptr<engine::Engine> native, std::string label);
  void finish_compile_job(CompileJob& job,
                          std::optional<Result<std::shared_ptr<const engine::Module>>> outcome);
  // Cancels the compile a start of `name` waits for; whether there was one.
  bool cancel_compile(std::string_view name);
  // InvalidTransition, saying it cannot be `what`, while a start of `name`
  // waits for its compile.
  Result<void> refuse_while_compiling(std::string_view name, std::string_view what) const;
  // How long the compile a start of `name` waits for has run, if any.
  std::optional<std::chrono::milliseconds> compiling_for(std::string_view name) const;
  std::vector<std::pair<std::string, std::chrono::milliseconds>> compiles() const;
  // Cancels every such compile and joins their threads. Lifecycle NOT held.
  void end_compile_jobs();
};

}  // namespace airssys::wasm::system
