#include <fmt/format.h>

#include "host_impl.hpp"

namespace airssys::wasm::system {

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

// Admits an installed version again (its copy may have been changed on disk:
// the signature and hash checks see it) and builds its spec.
Result<component::ComponentSpec> Host::Impl::spec_for(const ComponentVersion& v,
                                                      const InstallOptions& options,
                                                      const StartMode& mode) {
  AIRSSYS_TRY_ASSIGN(auto manifest, security::load_manifest(v.store_dir / kManifestFile));
  AIRSSYS_TRY_ASSIGN(auto admission, admit(v.source_dir, v.store_dir, manifest, options));
  return spec_from(admission, manifest, v.store_dir, v.module_hash, mode);
}

security::TierChoice Host::Impl::tier_of(const security::Manifest& manifest) const {
  return config.tier_override.value_or(manifest.runtime.tier.value_or(config.tier));
}

Result<component::ComponentSpec> Host::Impl::spec_from(const security::Admission& admission,
                                                       const security::Manifest& manifest,
                                                       const fs::path& files,
                                                       std::string_view expected_hash,
                                                       const StartMode& mode) {
  AIRSSYS_TRY_ASSIGN(auto bytes, detail::read_bytes(files / kModuleFile));
  // The bytes loaded are the bytes admitted: nothing changes in between.
  auto hash = security::to_hex(security::sha256(bytes));
  if (hash != admission.module_sha256 || (!expected_hash.empty() && hash != expected_hash)) {
    record(manifest.component.name, "lifecycle.load", files.string(), AuditResult::Denied,
           "the module changed after it was checked");
    return make_error(
        ErrorCode::SignatureInvalid,
        fmt::format("{}: the module changed after it was checked", (files / kModuleFile).string()));
  }
  auto tier = tier_of(manifest);
  if (mode.native_refused) {
    // The compile a start waited for stopped at a bound: the interpreter.
    record(manifest.component.name, "lifecycle.tier", "native", AuditResult::Denied,
           fmt::format("runs on the interp tier: {}", mode.native_refused->to_string()));
    tier = security::TierChoice::Interp;
  }
  std::shared_ptr<engine::Engine> native_for;
  if (tier != security::TierChoice::Interp) {
    auto made = native_engine();
    if (made) {
      native_for = *made;
    } else if (tier == security::TierChoice::Native) {
      return std::unexpected(made.error());
    } else if (made.error().code == ErrorCode::CallCancelled) {
      record(manifest.component.name, "lifecycle.tier", "native", AuditResult::Denied,
             fmt::format("stays on the interp tier: {}", made.error().to_string()));
    } else {
      // Auto on a host without a native tier (no C compiler): the interpreter
      // is what auto allows, so this is on record but no denial; the host
      // says why once (Host::native_tier, `serve`'s notice).
      record(manifest.component.name, "lifecycle.tier", "interp", AuditResult::Granted,
             fmt::format("runs on the interp tier: the native tier is unavailable: {}",
                         made.error().to_string()));
    }
  }
  Result<component::TieredModule> loaded{};
  if (tier == security::TierChoice::Native && native_for && mode.compiled &&
      hash == mode.compiled_hash) {
    // Compiled in the background for exactly these bytes.
    loaded->module = mode.compiled;
    loaded->engine = native_for;
  } else {
    loaded =
        component::load_tiered(tier, bytes, (files / kModuleFile).string(), engine, native_for);
  }
  if (!loaded) return std::unexpected(loaded.error());
  // What the loader could do without (an unreadable custom section) is on
  // record, once per start.
  for (const auto& warning :
       loaded->module ? loaded->module->warnings() : std::vector<std::string>{}) {
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
  spec.world = std::move(loaded->world);
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
Result<std::shared_ptr<engine::Engine>> Host::Impl::native_engine() {
  std::lock_guard lock(native_mutex);
  if (compiles_stopped) {
    return make_error(ErrorCode::CallCancelled, "the host stops: no native compile starts");
  }
  if (native) return native;
  if (native_unavailable) return std::unexpected(*native_unavailable);
  // host.toml's [native], lowered to the policy's.
  engine::NativeOptions options =
      component::with_native_bounds(config.native, policy->current().native_bounds(), true);
  options.cache_dir = config.data_dir / "cache" / "native";
  auto made = engine::Engine::native(options);
  if (!made) {
    native_unavailable = made.error();
    return std::unexpected(made.error());
  }
  native = std::move(*made);
  return native;
}

Result<void> Host::native_tier() {
  auto made = impl_->native_engine();
  if (!made) return std::unexpected(made.error());
  return {};
}

// Waits until the component is Ready; a failure stops it and is returned.
Result<void> Host::Impl::await_ready(std::string_view name) {
  auto st = system->await_settled(name, std::chrono::steady_clock::now() + config.ready_timeout);
  if (!st) return make_error(ErrorCode::ActorNotFound, fmt::format("'{}' is gone", name));
  if (st->state == component::ComponentState::Ready) return {};
  Error error = st->last_error.value_or(Error::of(
      ErrorCode::InternalError,
      fmt::format("'{}' was not ready within {} ms", name, config.ready_timeout.count())));
  retire(name);
  return std::unexpected(std::move(error));
}

// Stops a running component and keeps its counts.
void Host::Impl::retire(std::string_view name) {
  auto final_status = system->stop_component(name, config.stop_timeout);
  if (final_status) absorb(name, *final_status);
  std::lock_guard lock(counters_mutex);
  std::erase(start_order, std::string(name));
  loaded.erase(std::string(name));
}

void Host::Impl::absorb(std::string_view name, const component::ComponentStatus& st) {
  auto& c = counters_for(name);
  std::lock_guard lock(counters_mutex);
  c.handled_base += st.messages_handled;
  c.restarts_base += st.restarts;
}

Result<void> Host::Impl::start_locked(std::string_view name, const InstallOptions& options,
                                      StartMode mode) {
  AIRSSYS_TRY_ASSIGN(auto c, registry->get(name));
  if (is_running(name)) {
    return make_error(ErrorCode::InvalidTransition, fmt::format("'{}' is running already", name));
  }
  AIRSSYS_TRY(refuse_while_compiling(name, "started again"));
  auto refused = [&](const Error& e) {
    bool pending = e.code == ErrorCode::ApprovalRequired;
    (void)registry->set_status(name, pending ? "pending-approval" : "refused", e.message);
  };
  if (!options.wait_for_compile && !mode.compiled && !mode.native_refused) {
    // A native start whose module is not compiled yet returns at once; the
    // start goes on when the compile ends (host_compile.cpp).
    auto launched = compile_first(c, options);
    if (!launched) {
      refused(launched.error());
      return std::unexpected(launched.error());
    }
    if (*launched) return {};
  }
  auto spec = spec_for(c.current, options, mode);
  if (!spec) {
    refused(spec.error());
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
  record(name, "lifecycle.start", c.current.version, AuditResult::Granted,
         fmt::format("version {} ({}) started", c.current.version, c.current.module_hash),
         c.current.trust);
  return {};
}

// Runs `next` in place of the running version, or records it when stopped.
Result<void> Host::Impl::switch_running(std::string_view name, const ComponentVersion& next,
                                        std::optional<component::ComponentSpec> spec) {
  if (!is_running(name)) return {};
  if (!spec) {
    AIRSSYS_TRY_ASSIGN(spec, spec_for(next));
  }
  AIRSSYS_TRY_ASSIGN(auto old, system->upgrade(std::move(*spec), config.ready_timeout));
  absorb(name, old);
  return {};
}

Result<InstalledComponent> Host::install(const fs::path& dir, InstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  AIRSSYS_TRY(i.refuse_if_shut_down());
  AIRSSYS_TRY_ASSIGN(auto staged, i.stage_folder(dir));
  const auto& [source, staging, manifest] = staged;
  std::error_code ec;
  auto discard = [&](Error e) -> Result<InstalledComponent> {
    return discard_staged(staging, source, std::move(e));
  };
  const std::string name = manifest.component.name;
  if (i.registry->get(name)) {
    return discard(Error::of(ErrorCode::InvalidTransition,
                             fmt::format("'{}' is installed already; upgrade it instead", name)));
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
  AIRSSYS_TRY_ASSIGN(auto id, i.registry->add_version(*version));
  if (auto ok = i.registry->install(name, id); !ok) {
    (void)i.registry->drop_version(id);
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

Result<void> Host::start(std::string_view name, InstallOptions options) {
  std::lock_guard lock(impl_->lifecycle);
  AIRSSYS_TRY(impl_->refuse_if_shut_down());
  return impl_->start_locked(name, options);
}

Result<void> Host::stop(std::string_view name) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  AIRSSYS_TRY_ASSIGN(auto c, i.registry->get(name));
  bool was_running = i.is_running(name);
  if (was_running) i.retire(name);
  const bool was_compiling = i.cancel_compile(name);
  AIRSSYS_TRY(i.registry->set_desired(name, DesiredState::Stopped));
  AIRSSYS_TRY(i.registry->set_status(name, "stopped"));
  i.record(name, "lifecycle.stop", c.current.version, AuditResult::Granted,
           was_running     ? "stopped after delivering its queued messages"
           : was_compiling ? "was not running yet: its native compile is cancelled"
                           : "was not running",
           c.current.trust);
  return {};
}

Result<InstalledComponent> Host::upgrade(const fs::path& dir, InstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  AIRSSYS_TRY(i.refuse_if_shut_down());
  AIRSSYS_TRY_ASSIGN(auto staged, i.stage_folder(dir));
  const auto& [source, staging, manifest] = staged;
  std::error_code ec;
  auto discard = [&](Error e) -> Result<InstalledComponent> {
    return discard_staged(staging, source, std::move(e));
  };
  const std::string name = manifest.component.name;
  auto installed = i.registry->get(name);
  if (!installed) {
    return discard(Error::of(ErrorCode::NotFound,
                             fmt::format("'{}' is not installed; install it first", name)));
  }
  if (auto busy = i.refuse_while_compiling(name, "upgraded"); !busy) {
    return discard(busy.error());
  }
  auto version = i.describe(source, staging, manifest);
  if (!version) return discard(version.error());
  if (version->module_hash == installed->current.module_hash &&
      version->manifest == installed->current.manifest) {
    return discard(
        Error::of(ErrorCode::InvalidTransition,
                  fmt::format("'{}' {} is the current version already", name, version->version)));
  }
  // A new version is admitted like an install; one waiting for approval is
  // queued, and the upgrade is refused until it is approved.
  auto admission = i.admit(source, staging, manifest, options);
  if (!admission) return discard(admission.error());
  auto kept = i.keep(staging, *version);
  if (!kept) return discard(kept.error());
  version->store_dir = *kept;
  AIRSSYS_TRY_ASSIGN(auto id, i.registry->add_version(*version));
  std::optional<component::ComponentSpec> spec;
  if (i.is_running(name)) {
    auto built = i.spec_from(*admission, manifest, *kept, version->module_hash);
    if (!built) {
      (void)i.registry->drop_version(id);
      fs::remove_all(*kept, ec);
      return std::unexpected(built.error());
    }
    spec = std::move(*built);
  }
  if (auto ok = i.switch_running(name, *version, std::move(spec)); !ok) {
    (void)i.registry->drop_version(id);
    fs::remove_all(*kept, ec);
    i.record(name, "lifecycle.upgrade", version->version, AuditResult::Denied, ok.error().message,
             version->trust);
    return std::unexpected(ok.error());
  }
  AIRSSYS_TRY_ASSIGN(auto dropped, i.registry->switch_versions(name, id, installed->current.id));
  i.remove_files(dropped);
  i.record(name, "lifecycle.upgrade", version->version, AuditResult::Granted,
           fmt::format("{} -> {} ({})", installed->current.version, version->version,
                       version->module_hash),
           version->trust);
  return i.registry->get(name);
}

Result<InstalledComponent> Host::rollback(std::string_view name) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  AIRSSYS_TRY(i.refuse_if_shut_down());
  AIRSSYS_TRY_ASSIGN(auto c, i.registry->get(name));
  if (!c.previous) {
    return make_error(ErrorCode::InvalidTransition,
                      fmt::format("'{}' has no previous version to roll back to", name));
  }
  AIRSSYS_TRY(i.refuse_while_compiling(name, "rolled back"));
  if (auto ok = i.switch_running(name, *c.previous, std::nullopt); !ok) {
    i.record(name, "lifecycle.rollback", c.previous->version, AuditResult::Denied,
             ok.error().message, c.previous->trust);
    return std::unexpected(ok.error());
  }
  AIRSSYS_TRY(i.registry->switch_versions(name, c.previous->id, c.current.id));
  i.record(name, "lifecycle.rollback", c.previous->version, AuditResult::Granted,
           fmt::format("{} -> {}", c.current.version, c.previous->version), c.previous->trust);
  return i.registry->get(name);
}

Result<void> Host::uninstall(std::string_view name, UninstallOptions options) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  AIRSSYS_TRY_ASSIGN(auto c, i.registry->get(name));
  if (i.is_running(name)) i.retire(name);
  (void)i.cancel_compile(name);
  AIRSSYS_TRY(i.registry->remove(name));
  std::error_code ec;
  fs::remove_all(i.components_dir() / std::string(name), ec);
  uint64_t removed = 0;
  if (options.remove_state) {
    for (;;) {
      AIRSSYS_TRY_ASSIGN(auto keys, i.kv->list(name, "", "", 512));
      if (keys.empty()) break;
      for (const auto& key : keys) {
        AIRSSYS_TRY(i.kv->remove(name, key));
        ++removed;
      }
    }
  }
  i.record(name, "lifecycle.uninstall", c.current.version, AuditResult::Granted,
           options.remove_state ? fmt::format("uninstalled; its state ({} keys) removed", removed)
                                : "uninstalled; its state kept",
           c.current.trust);
  return {};
}

// approve and deny: the operator's decision on a component's pending approval.
Result<security::ApprovalEntry> Host::decide(std::string_view name, std::string_view operator_name,
                                             std::string_view reason, bool approve) {
  auto& i = *impl_;
  std::lock_guard lock(i.lifecycle);
  AIRSSYS_TRY_ASSIGN(auto c, i.registry->get(name));
  const auto key = i.approval_key_of(c.current);
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
      AIRSSYS_TRY_ASSIGN(auto manifest,
                         security::parse_manifest(c.current.manifest, "Component.toml"));
      AIRSSYS_TRY(i.approvals->request({c.current.name, c.current.version, c.current.module_hash,
                                        security::canonical_approval_terms(manifest)},
                                       security::TrustLevel::Unknown, c.current.trust_reason));
    }
    entry = approve ? i.approvals->approve(*key, operator_name, why)
                    : i.approvals->deny(*key, operator_name, why);
  }
  if (!entry) return entry;
  if (approve) {
    i.record(name, "approval.approve", *key, AuditResult::Granted,
             fmt::format("approved by {} for module {} and what its manifest asks for",
                         operator_name, c.current.module_hash),
             c.current.trust);
    if (c.status == "pending-approval") (void)i.registry->set_status(name, "installed");
  } else {
    i.record(name, "approval.deny", *key, AuditResult::Denied,
             fmt::format("denied by {}", operator_name), c.current.trust);
    if (i.is_running(name)) i.retire(name);
    (void)i.cancel_compile(name);
    (void)i.registry->set_status(name, "denied");
  }
  return entry;
}

Result<security::ApprovalEntry> Host::approve(std::string_view name, std::string_view operator_name,
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
  AIRSSYS_TRY(i.refuse_if_shut_down());
  AIRSSYS_TRY_ASSIGN(auto source, i.source_folder(dir));
  AIRSSYS_TRY_ASSIGN(auto manifest, i.manifest_of(source, source));
  const std::string name = manifest.component.name;
  if (i.registry->get(name)) {
    return make_error(ErrorCode::InvalidTransition,
                      fmt::format("'{}' is installed; start it by name", name));
  }
  AIRSSYS_TRY_ASSIGN(auto admission, i.admit(source, source, manifest, options));
  AIRSSYS_TRY_ASSIGN(auto spec, i.spec_from(admission, manifest, source, {}));
  AIRSSYS_TRY(i.system->start(std::move(spec)));
  {
    std::lock_guard c(i.counters_mutex);
    i.start_order.push_back(name);
    i.loaded.insert(name);
  }
  return i.await_ready(name);
}

void Host::stop_compiles() {
  auto& i = *impl_;
  std::lock_guard lock(i.native_mutex);
  i.compiles_stopped = true;
  if (i.native) i.native->cancel_compiles();
  for (auto& retired : i.retired_natives) retired->cancel_compiles();
}

void Host::shutdown() {
  auto& i = *impl_;
  // First, so that a lifecycle call compiling, a request waiting for its
  // reply or a follower of the logs does not hold the host up.
  end_waits();
  stop_compiles();
  // Then the starts that wait for a compile: theirs has been killed.
  i.end_compile_jobs();
  std::lock_guard lock(i.lifecycle);
  if (i.shut_down) return;
  i.shut_down = true;
  i.lattice_node.reset();  // leaves the lattice: its heartbeats stop
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
