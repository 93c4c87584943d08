#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "host_impl.hpp"

namespace airssys::wasm::system {

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

Result<std::unique_ptr<Host>> HostBuilder::build() {
  auto impl = std::make_unique<Host::Impl>();
  impl->config = config_;
  auto& config = impl->config;
  if (config.data_dir.empty()) {
    AIRSSYS_TRY_ASSIGN(auto home, security::airssys_home());
    config.data_dir = home;
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
  AIRSSYS_TRY(lock_data_dir(impl->lock_fd, config));

  AIRSSYS_TRY_ASSIGN(impl->trust, security::TrustConfig::load(config.trust_config));
  AIRSSYS_TRY_ASSIGN(auto policy, security::HostPolicy::load(config.policy, /*missing_ok=*/true));
  config.default_quotas = detail::host_default_quotas(config, policy);
  impl->quota_defaults = config.default_quotas;
  impl->quota_ceilings = detail::host_quota_ceilings(config, policy);
  impl->policy = std::make_unique<security::PolicySlot>(std::move(policy));

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
  AIRSSYS_TRY_ASSIGN(impl->audit,
                     security::AuditLog::open(config.audit_log, std::move(audit_options)));

  AIRSSYS_TRY_ASSIGN(auto approvals,
                     security::ApprovalStore::open(config.data_dir / "approvals.db"));
  impl->approvals.emplace(std::move(approvals));
  AIRSSYS_TRY_ASSIGN(impl->registry, Registry::open(config.data_dir / kRegistryFileName));
  AIRSSYS_TRY_ASSIGN(auto kv,
                     storage::KeyValueStore::open(
                         {.data_dir = config.data_dir, .durability = config.state_durability}));
  impl->kv = std::move(kv);

  host::LogSink sink = on_log_ ? on_log_ : [](const host::LogLine& line) {
    std::string text = line.source == "log"
                           ? fmt::format("[{}] {}: {}\n", line.component,
                                         host::log_level_name(line.level), line.text)
                           : fmt::format("[{}] {}\n", line.component, line.text);
    std::fwrite(text.data(), 1, text.size(), stderr);
  };
  // Every line is kept for `logs` as well.
  impl->log_sink = [book = impl->log_book, sink = std::move(sink)](const host::LogLine& line) {
    book->add(line);
    sink(line);
  };
  impl->engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
  impl->scheduler =
      std::make_unique<actor::ThreadPoolScheduler>(actor::ThreadPoolOptions{config.workers});
  component::ComponentRuntimeOptions options;
  options.engine = impl->engine;
  options.audit = impl->audit.get();
  options.policy = impl->policy.get();
  options.kv = impl->kv.get();
  options.supervisor.on_event = on_supervisor_event_;
  impl->system = std::make_unique<component::ComponentRuntime>(*impl->scheduler, options);

  std::unique_ptr<Host> host(new Host(std::move(impl)));
  if (host->impl_->config.lattice) AIRSSYS_TRY(host->impl_->join_lattice());
  if (restore_) {
    auto& i = *host->impl_;
    std::lock_guard lock(i.lifecycle);
    AIRSSYS_TRY_ASSIGN(auto all, i.registry->list());
    for (const auto& c : all) {
      if (c.desired != DesiredState::Running) continue;
      if (auto ok = i.start_locked(c.name, {.wait_for_compile = false}); !ok) {
        i.record(c.name, "lifecycle.restore", c.current.version, AuditResult::Denied,
                 ok.error().message, c.current.trust);
      }
    }
  }
  return host;
}

}  // namespace airssys::wasm::system
