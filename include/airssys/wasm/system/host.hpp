#pragma once
// The host: the composition root that embeds everything below it. A Host owns
// a data directory (registry, approvals, key-value state, audit log), a trust
// configuration and host policy, a scheduler with its workers, and one
// ComponentRuntime. Components are installed into the registry (signature
// verified, trust decided, queued for approval when unknown), started,
// stopped, upgraded without losing a message, rolled back and uninstalled;
// or loaded straight from a folder without being installed.
//
// Example:
//   auto host = HostBuilder()
//                   .data_dir("/var/lib/myapp/plugins")
//                   .workers(2)
//                   .on_audit([](const security::AuditRecord& r, std::string_view line) {
//                     std::puts(std::string(line).c_str());
//                   })
//                   .build();
//   if (!host) return fail(host.error());
//   auto installed = (*host)->install("plugins/greeter", {.approve = true});
//   (*host)->start("greeter");
//   (*host)->send("greeter", bytes("hello"));
//
// Threading: every member may be called from any thread. Lifecycle calls
// (install, start, stop, upgrade, rollback, uninstall, approve, load) run one
// at a time; send() and status() never wait for them. The callbacks (on_audit,
// on_log, on_supervisor_event) must not call lifecycle members or shutdown():
// those wait for the components, whose threads run the callbacks.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "airssys/wasm/component/runtime.hpp"
#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/lattice/config.hpp"
#include "airssys/wasm/security/approval.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/storage/kv.hpp"
#include "airssys/wasm/system/registry.hpp"

namespace airssys::wasm::system {

// Everything a host is configured with; a host.toml file holds the same
// (see HostConfig::load and docs/commands.md, `serve`).
struct HostConfig {
  std::filesystem::path data_dir;      // required: registry, approvals, state, audit, components
  std::filesystem::path trust_config;  // empty: <data_dir>/trust.toml (absent: nothing trusted)
  std::filesystem::path policy;        // empty: <data_dir>/policy.toml (absent: no rules)
  std::filesystem::path audit_log;     // empty: <data_dir>/audit.log
  // The audit log becomes audit.log.1 at this size (0: never), and at most
  // audit_keep such files are kept (security::AuditLogOptions).
  uint64_t audit_rotate_bytes = security::kDefaultAuditRotateBytes;
  uint32_t audit_keep = security::kDefaultAuditKeep;
  std::filesystem::path admin_socket;  // empty: <data_dir>/admin.sock (used by `serve`)
  size_t workers = 0;                  // 0: one per core
  // The engine tier of components whose manifest names none ([runtime]
  // tier; host.toml `tier`), and one that overrides every manifest
  // (`serve --tier`). Native code is cached in <data_dir>/cache/native.
  // The interpreter here; a host.toml without `tier` gives auto (parse()),
  // and so does `serve` without a host.toml. Under auto, a host without a
  // usable native tier (no C compiler) runs everything on the interpreter
  // (Host::native_tier says why).
  security::TierChoice tier = security::TierChoice::Interp;
  std::optional<security::TierChoice> tier_override;
  // The host's default quotas, for what a component's manifest does not set:
  // `quota` (host.toml's [quota], or HostBuilder::default_quotas) first, then
  // the policy's [quota], then the built-in defaults. The host resolves
  // `default_quotas` from them when it is built.
  security::QuotaSpec quota;
  security::QuotaLimits default_quotas;
  // The most a manifest may ask for (host.toml's [ceiling], or
  // HostBuilder::quota_ceilings); the policy's [ceiling] holds too, and the
  // lower of the two wins. A manifest above a ceiling is refused, and the
  // defaults are lowered to the ceilings.
  security::QuotaSpec ceiling;
  storage::Durability state_durability = storage::Durability::Full;
  std::chrono::milliseconds ready_timeout{10'000};  // a started version must be Ready in time
  std::chrono::milliseconds stop_timeout{10'000};   // draining a stopped version's mailbox
  // How long build() waits for the data directory's lock (host.lock) while
  // another process holds it, such as a CLI command reading it offline.
  std::chrono::milliseconds lock_wait{5'000};
  // The native compile's bounds (host.toml [native]): its time and memory,
  // and what may be sent to the compilers. cache_dir is <data_dir>/cache/native.
  engine::NativeOptions native;
  // host.toml's [lattice]: the host joins it when it is built (its key and
  // host list found in the data directory unless named elsewhere). None:
  // one machine, nothing of the lattice loaded.
  std::optional<lattice::LatticeConfig> lattice;

  // Reads a host.toml. A relative data_dir is relative to the file's folder;
  // the other paths are kept as written and resolve_paths() puts a relative
  // one in the data directory (docs/commands.md, "Where the files live").
  // InvalidConfig with "file:line: key: rule" for unknown keys or bad values.
  [[nodiscard]] static Result<HostConfig> load(const std::filesystem::path& file);
  [[nodiscard]] static Result<HostConfig> parse(std::string_view text,
                                                const std::filesystem::path& file);
  // Every file of the host in its data directory (which must be set): an
  // empty trust_config, policy, audit_log or admin_socket becomes its default
  // name there (trust.toml, policy.toml, audit.log, admin.sock), a relative
  // one is taken relative to it; an absolute one stays.
  void resolve_paths();
};

struct InstallOptions {
  // Approve exactly this module hash and capability set, on the record, when
  // its approval would otherwise wait in the queue.
  bool approve = false;
  std::string operator_name = "operator";
  // start: when false, a component on the native tier whose module is not
  // compiled yet is not waited for: start() returns once its compile is
  // under way (status "compiling", ComponentReport::compiling_for), and the
  // component starts when the compile ends; a failure then is on the
  // registry's status and in the audit log. The admin endpoint's `start`,
  // and the host's restore at build(), do not wait.
  bool wait_for_compile = true;
};

struct UninstallOptions {
  bool remove_state = false;  // also delete the component's key-value state
};

// What `info` reports: the registry's record and the live view.
struct ComponentReport {
  InstalledComponent installed;
  std::optional<security::ApprovalState> approval;  // when the manifest asks for capabilities
  bool running = false;
  std::optional<component::ComponentStatus> status;  // while running
  uint64_t messages_handled = 0;  // since the host started, over every version
  uint64_t restarts = 0;          // since the host started, over every version
  uint64_t denials = 0;           // audited denials since the host started
  uint64_t storage_used = 0;      // key-value bytes held
  security::QuotaLimits quotas;   // the limits of the current version
  // While a start waits for its native compile: how long it has run.
  std::optional<std::chrono::milliseconds> compiling_for;
};

// What `reload` put in force.
struct ReloadReport {
  std::filesystem::path trust_config;
  std::filesystem::path policy;
  size_t policy_rules = 0;
  uint64_t policy_generation = 0;  // 1 after the first reload, and so on
  size_t trusted_keys = 0;
  size_t trusted_paths = 0;
  bool dev_mode = false;
  security::QuotaLimits default_quotas;  // for components started from now on
  security::QuotaSpec quota_ceilings;     // host.toml's and the policy's, the lower
  // Installed components whose trust the new configuration decides
  // differently from their record; each start admits again, so a stop and
  // start (or a restart of the host) applies it to a running one.
  struct TrustChange {
    std::string name;
    security::TrustLevel from = security::TrustLevel::Unknown;
    security::TrustLevel to = security::TrustLevel::Unknown;
    std::string reason;  // the new decision's reason, or why none could be made
    bool running = false;
  };
  std::vector<TrustChange> trust_changes;
};

// A line a component logged (airssys.log, or a line of its stdout or
// stderr), as the host keeps it: the last kLogLinesKept of each component,
// in memory, whether it still runs or not.
inline constexpr size_t kLogLinesKept = 1000;

struct LogEntry {
  uint64_t sequence = 0;  // from 1, in the order the host received the lines
  std::chrono::system_clock::time_point time;
  std::string component;
  host::LogLevel level = host::LogLevel::Info;
  std::string source;  // "log", "stdout" or "stderr"
  std::string text;
};

struct LogQuery {
  std::string component;
  uint64_t after = 0;  // only lines with a greater sequence
  std::optional<std::chrono::system_clock::time_point> since;  // only lines at or after it
  // When no line matches yet: wait this long for one (0: answer at once).
  std::chrono::milliseconds wait{0};
  size_t limit = kLogLinesKept;  // the last `limit` lines that match
};

class Host;

class HostBuilder {
 public:
  HostBuilder() = default;
  explicit HostBuilder(HostConfig config) : config_(std::move(config)) {}

  HostBuilder& data_dir(std::filesystem::path dir);
  HostBuilder& trust_config(std::filesystem::path file);
  HostBuilder& policy(std::filesystem::path file);
  HostBuilder& audit_log(std::filesystem::path file);
  // Rotate the audit log at `bytes` (0: never), keeping `keep` old files.
  HostBuilder& audit_rotation(uint64_t bytes, uint32_t keep);
  HostBuilder& workers(size_t count);
  // The tier of components whose manifest names none; with `over_manifests`,
  // of every component.
  HostBuilder& tier(security::TierChoice tier, bool over_manifests = false);
  HostBuilder& default_quotas(security::QuotaLimits quotas);
  HostBuilder& quota_ceilings(security::QuotaSpec ceilings);
  HostBuilder& state_durability(storage::Durability durability);
  HostBuilder& ready_timeout(std::chrono::milliseconds timeout);
  // Every audit record and its JSON line, on the audit writer's thread.
  HostBuilder& on_audit(std::function<void(const security::AuditRecord&, std::string_view)> f);
  // Components' stdout, stderr and airssys.log lines (default: stderr, tagged).
  HostBuilder& on_log(host::LogSink sink);
  // Supervisor events: starts, restarts, give-ups.
  HostBuilder& on_supervisor_event(actor::SupervisorEventHandler handler);
  // Start every installed component the operator left running (default true).
  HostBuilder& restore(bool restore_running);

  // Opens the data directory (created 0700 when missing; refused when another
  // host holds it), the stores and the scheduler, then restores components.
  [[nodiscard]] Result<std::unique_ptr<Host>> build();

 private:
  friend class Host;
  HostConfig config_;
  std::function<void(const security::AuditRecord&, std::string_view)> on_audit_;
  host::LogSink on_log_;
  actor::SupervisorEventHandler on_supervisor_event_;
  bool restore_ = true;
};

class Host {
 public:
  ~Host();  // shutdown()
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // --- the registry -------------------------------------------------------
  // Copies the component folder (component.wasm, Component.toml, optional
  // component.sig) into the data directory, verifies the signature of the
  // copy, decides its trust and records the approval request. A component
  // whose approval is pending is installed (status "pending-approval") but
  // will not start until approved. Refused (typed error, audited): a bad or
  // tampered signature, a denied approval, an invalid manifest.
  [[nodiscard]] Result<InstalledComponent> install(const std::filesystem::path& dir,
                                                   InstallOptions options = {});
  [[nodiscard]] Result<std::vector<InstalledComponent>> list() const;
  [[nodiscard]] Result<ComponentReport> info(std::string_view name) const;
  // Admits the installed copy again (signature, trust, approval) and starts it.
  [[nodiscard]] Result<void> start(std::string_view name, InstallOptions options = {});
  // Drains and stops it; it stays installed and stays stopped after a restart.
  [[nodiscard]] Result<void> stop(std::string_view name);
  // Installs the folder as the component's new current version; the one it
  // replaces becomes the rollback target. When the component runs, the new
  // version starts beside the old one and messages switch to it at once; none
  // is lost. A refused or failing new version leaves the old one running.
  [[nodiscard]] Result<InstalledComponent> upgrade(const std::filesystem::path& dir,
                                                   InstallOptions options = {});
  // Swaps the current and the previous version, the same way as upgrade.
  [[nodiscard]] Result<InstalledComponent> rollback(std::string_view name);
  [[nodiscard]] Result<void> uninstall(std::string_view name, UninstallOptions options = {});
  // Approves (or denies) the pending approval of the current version.
  [[nodiscard]] Result<security::ApprovalEntry> approve(std::string_view name,
                                                        std::string_view operator_name,
                                                        std::string_view reason = {});
  [[nodiscard]] Result<security::ApprovalEntry> deny(std::string_view name,
                                                     std::string_view operator_name,
                                                     std::string_view reason = {});

  // Reads the trust configuration and the host policy again (with the checks
  // made when the host was built) and puts both in force together: host
  // calls are decided by the new policy from their next decision on, and
  // installs, starts and upgrades decide trust by the new configuration and
  // take their default quotas from it (a running component keeps the quotas
  // it started with). When either file is refused, neither changes and the
  // error says why. Audited as host.reload, granted or denied. The audit
  // log is opened again first, whatever the outcome (a log rotation tool
  // moves the file away and sends SIGHUP).
  [[nodiscard]] Result<ReloadReport> reload(std::string_view operator_name = "operator");

  // Runs a component folder without installing it (admission as install).
  [[nodiscard]] Result<void> load(const std::filesystem::path& dir, InstallOptions options = {});

  // --- traffic and observation ---------------------------------------------
  // A message from the host (sender "host"). MailboxFull is back-pressure:
  // nothing was enqueued, send it again later.
  [[nodiscard]] Result<void> send(std::string_view name, std::vector<uint8_t> payload);
  // A request from the host (sender "host"): waits for the component's reply
  // and returns it; ReplyTimeout when none comes within `timeout`;
  // CapabilityDenied (audited) when its messaging.receive does not admit
  // "host"; ActorStopped when it is installed but not running.
  [[nodiscard]] Result<std::vector<uint8_t>> request(std::string_view name,
                                                     std::vector<uint8_t> payload,
                                                     std::chrono::milliseconds timeout);
  // The log lines kept of a component (LogEntry), oldest first.
  [[nodiscard]] std::vector<LogEntry> logs(const LogQuery& query) const;
  // Ends every request() and logs() that waits, and those that follow, at
  // once (a request with HostShutDown, logs with what it has): the first
  // step of stopping the host (shutdown() takes it; `serve` takes it before
  // it stops its admin endpoint).
  void end_waits();
  [[nodiscard]] std::optional<component::ComponentStatus> status(std::string_view name) const;
  [[nodiscard]] std::vector<std::string> running() const;
  // Whether this host has a native tier: makes the native engine when no
  // component has yet (the C compiler and the cache folder checked), else
  // the reason it has none, such as no C compiler. Components under auto
  // then run on the interpreter; those that ask for native fail to start.
  [[nodiscard]] Result<void> native_tier();
  // Components whose start waits for a native compile, with how long it has run.
  [[nodiscard]] std::vector<std::pair<std::string, std::chrono::milliseconds>> compiling() const;
  // The lattice this host has joined, and the hosts it hears; nothing
  // without [lattice].
  struct LatticeView {
    std::string lattice;
    std::string host;
    uint64_t boot = 0;
    bool connected = false;
    std::string server;
    struct Peer {
      std::string name;
      bool live = false;
      uint64_t boot = 0;
      std::map<std::string, std::string> labels;
      std::chrono::milliseconds last_heard{0};
    };
    std::vector<Peer> hosts;
  };
  [[nodiscard]] std::optional<LatticeView> lattice() const;
  // Prometheus text exposition format 0.0.4.
  [[nodiscard]] std::string metrics() const;

  // As built; the default quotas in force after a reload are default_quotas().
  [[nodiscard]] const HostConfig& config() const;
  [[nodiscard]] security::QuotaLimits default_quotas() const;
  [[nodiscard]] security::AuditLog& audit();
  [[nodiscard]] storage::KeyValueStore& state();

  // Stops the components (last started first, each draining its mailbox),
  // then the scheduler, and flushes the audit log. The registry keeps what
  // the operator asked for, so the next host starts the same components.
  // Idempotent. Native compiles are stopped first (stop_compiles).
  void shutdown();
  // Kills every native compile in progress (its whole process group) and
  // refuses those that follow: a start that was compiling fails with
  // CallCancelled at once. The first step of stopping the host.
  void stop_compiles();

  struct Impl;

 private:
  friend class HostBuilder;
  explicit Host(std::unique_ptr<Impl> impl);
  [[nodiscard]] Result<security::ApprovalEntry> decide(std::string_view name,
                                                       std::string_view operator_name,
                                                       std::string_view reason, bool approve);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airssys::wasm::system
