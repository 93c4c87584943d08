#include <fmt/format.h>

#include <algorithm>

#include "airssys/wasm/security/signing.hpp"
#include "host_impl.hpp"

namespace airssys::wasm::system {

using namespace std::chrono_literals;

Result<bool> Host::Impl::compile_first(const InstalledComponent& c, const InstallOptions& options) {
  const ComponentVersion& v = c.current;
  AIRSSYS_TRY_ASSIGN(auto manifest, security::load_manifest(v.store_dir / kManifestFile));
  if (tier_of(manifest) != security::TierChoice::Native) return false;
  // Nothing unadmitted is compiled: the same checks as the start itself.
  AIRSSYS_TRY_ASSIGN(auto admission, admit(v.source_dir, v.store_dir, manifest, options));
  auto native = native_engine();
  if (!native) return false;  // the start says why
  auto bytes = detail::read_bytes(v.store_dir / kModuleFile);
  if (!bytes) return false;
  const std::string hash = security::to_hex(security::sha256(*bytes));
  if (hash != admission.module_sha256 || hash != v.module_hash) return false;
  if (!(*native)->compiles(*bytes)) return false;

  auto job = std::make_shared<CompileJob>();
  job->name = c.name;
  job->options = options;
  job->options.approve = false;  // approved above, on the record, if asked
  job->module_hash = hash;
  job->started = std::chrono::steady_clock::now();
  AIRSSYS_TRY(registry->set_desired(c.name, DesiredState::Running));
  AIRSSYS_TRY(registry->set_status(c.name, "compiling",
                                   fmt::format("compiling {} bytes for the native tier; it "
                                               "starts when the compile ends",
                                               bytes->size())));
  record(c.name, "lifecycle.compile", v.version, AuditResult::Granted,
         fmt::format("compiling version {} ({}, {} bytes) for the native tier before it starts",
                     v.version, hash, bytes->size()),
         v.trust);
  std::lock_guard lock(jobs_mutex);
  // Threads that have ended are joined here (and all at shutdown): one ends
  // holding lifecycle, which the caller holds now, so it has let go of it.
  std::erase_if(job_threads, [](const std::shared_ptr<CompileJob>& j) {
    if (!j->ended.load()) return false;
    if (j->thread.joinable()) j->thread.join();
    return true;
  });
  compiling[c.name] = job;
  job->thread = std::thread(&Host::Impl::run_compile_job, this, job, std::move(*bytes),
                            std::move(*native), (v.store_dir / kModuleFile).string());
  job_threads.push_back(job);
  return true;
}

void Host::Impl::run_compile_job(const std::shared_ptr<CompileJob>& job, std::vector<uint8_t> bytes,
                                 std::shared_ptr<engine::Engine> native, std::string label) {
  auto build = component::NativeBuild::start(std::move(native), std::move(bytes), label);
  while (!build->wait_for(100ms)) {
    if (job->cancelled.load()) break;
  }
  std::optional<Result<std::shared_ptr<const engine::Module>>> outcome;
  if (build->finished()) outcome = build->result();
  build.reset();  // unfinished and unshared: the compile is killed

  std::lock_guard lock(lifecycle);
  finish_compile_job(*job, std::move(outcome));
  job->ended.store(true);
}

void Host::Impl::finish_compile_job(
    CompileJob& job, std::optional<Result<std::shared_ptr<const engine::Module>>> outcome) {
  {
    std::lock_guard jobs(jobs_mutex);
    // A stop, uninstall, denial, new start or shutdown that cancelled it,
    // under lifecycle, has said so and decided what follows.
    if (job.cancelled.load()) return;
    auto it = compiling.find(job.name);
    if (it != compiling.end() && it->second.get() == &job) compiling.erase(it);
  }
  if (shut_down || !outcome) return;
  const std::string& name = job.name;
  auto fail = [&](const Error& e) {
    (void)registry->set_status(name, "failed", e.message);
    auto c = registry->get(name);
    record(name, "lifecycle.start", c ? c->current.version : "", AuditResult::Denied, e.message,
           c ? std::optional(c->current.trust) : std::nullopt);
  };
  StartMode mode;
  if (*outcome) {
    mode.compiled = **outcome;
    mode.compiled_hash = job.module_hash;
  } else if (outcome->error().code == ErrorCode::CompileLimit) {
    mode.native_refused = outcome->error();
  } else if (outcome->error().code == ErrorCode::CallCancelled) {
    // The host stops (stop_compiles); the next one starts it again.
    (void)registry->set_status(name, "stopped", "the host stopped before its native compile ended");
    return;
  } else {
    fail(outcome->error());
    return;
  }
  if (auto started = start_locked(name, job.options, std::move(mode)); !started) {
    fail(started.error());
  }
}

bool Host::Impl::cancel_compile(std::string_view name) {
  std::lock_guard lock(jobs_mutex);
  auto it = compiling.find(name);
  if (it == compiling.end()) return false;
  it->second->cancelled.store(true);
  compiling.erase(it);
  return true;
}

Result<void> Host::Impl::refuse_while_compiling(std::string_view name,
                                                std::string_view what) const {
  if (!compiling_for(name)) return {};
  return make_error(ErrorCode::InvalidTransition,
                    fmt::format("'{}' cannot be {} while its start waits for its native compile; "
                                "stop it first, or wait until it runs",
                                name, what));
}

std::optional<std::chrono::milliseconds> Host::Impl::compiling_for(std::string_view name) const {
  std::lock_guard lock(jobs_mutex);
  auto it = compiling.find(name);
  if (it == compiling.end()) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               it->second->started);
}

std::vector<std::pair<std::string, std::chrono::milliseconds>> Host::Impl::compiles() const {
  std::vector<std::pair<std::string, std::chrono::milliseconds>> out;
  std::lock_guard lock(jobs_mutex);
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [name, job] : compiling) {
    out.emplace_back(name,
                     std::chrono::duration_cast<std::chrono::milliseconds>(now - job->started));
  }
  return out;
}

void Host::Impl::end_compile_jobs() {
  std::vector<std::shared_ptr<CompileJob>> all;
  {
    std::lock_guard lock(jobs_mutex);
    compiling.clear();
    all.swap(job_threads);
  }
  for (auto& job : all) job->cancelled.store(true);
  for (auto& job : all) {
    if (job->thread.joinable()) job->thread.join();
  }
}

std::vector<std::pair<std::string, std::chrono::milliseconds>> Host::compiling() const {
  return impl_->compiles();
}

}  // namespace airssys::wasm::system
