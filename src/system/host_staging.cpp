#include <fmt/format.h>

#include <random>

#include "host_impl.hpp"

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/component/world.hpp"
#include "airssys/wasm/host/world.hpp"

namespace airssys::wasm::system {

namespace {

std::string random_suffix() {
  std::random_device rd;
  return fmt::format("{:08x}", rd());
}

}  // namespace

// The trust the configuration decides for a copy of a component.
Result<security::TrustDecision> Host::Impl::decide_trust(const security::TrustConfig& config,
                                                         const fs::path& source,
                                                         const fs::path& files) {
  auto signature = security::check_component_signature(files / kModuleFile, files / kManifestFile,
                                                       files / kSignatureFile);
  return config.decide(source, signature);
}

// The component's files as given: a folder with component.wasm and Component.toml.
Result<fs::path> Host::Impl::source_folder(const fs::path& dir) const {
  std::error_code ec;
  auto source = fs::canonical(dir, ec);
  if (ec || !fs::is_directory(source, ec)) {
    return make_error(ErrorCode::IoError, fmt::format("{}: not a component folder", dir.string()));
  }
  for (const char* required : {kModuleFile, kManifestFile}) {
    if (!fs::is_regular_file(source / required, ec)) {
      return make_error(ErrorCode::NotFound,
                        fmt::format("{}: the folder holds no {}", dir.string(), required));
    }
  }
  return source;
}

Result<security::Manifest> Host::Impl::manifest_of(const fs::path& folder, const fs::path& source) {
  auto manifest = security::load_manifest(folder / kManifestFile);
  if (!manifest) {
    record(source.filename().string(), "lifecycle.install", source.string(), AuditResult::Denied,
           manifest.error().message);
    return std::unexpected(manifest.error());
  }
  return manifest;
}

// Copies the folder's files into a fresh staging folder in the data
// directory; every later check reads the copy, which nobody else writes.
Result<fs::path> Host::Impl::stage(const fs::path& source) {
  std::error_code ec;
  auto staging = components_dir() / (".staging-" + random_suffix());
  fs::create_directories(staging, ec);
  if (ec) {
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot create {}: {}", staging.string(), ec.message()));
  }
  for (const char* file : {kModuleFile, kManifestFile, kSignatureFile}) {
    if (!fs::exists(source / file, ec)) continue;
    fs::copy_file(source / file, staging / file, ec);
    if (ec) {
      fs::remove_all(staging, ec);
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot copy {}: {}", (source / file).string(), ec.message()));
    }
  }
  return staging;
}

// The staging folder is removed again when the manifest cannot be read.
Result<Host::Impl::Staged> Host::Impl::stage_folder(const fs::path& dir) {
  AIRSSYS_TRY_ASSIGN(auto source, source_folder(dir));
  AIRSSYS_TRY_ASSIGN(auto staging, stage(source));
  auto manifest = manifest_of(staging, source);
  if (!manifest) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    return std::unexpected(manifest.error());
  }
  return Staged{std::move(source), std::move(staging), std::move(*manifest)};
}

Result<security::Admission> Host::Impl::admit(const fs::path& source_dir, const fs::path& files,
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
// A WebAssembly component must decode and target a world the host runs as
// an actor (the airssys world at a version it serves); a core module is
// checked when it starts, as before.
Result<void> Host::Impl::check_world(const fs::path& module) {
  AIRSSYS_TRY_ASSIGN(auto bytes, detail::read_bytes(module));
  if (!cm::is_component(bytes)) return {};
  AIRSSYS_TRY_ASSIGN(auto decoded, cm::decode_component(bytes, module.filename().string(), *engine));
  AIRSSYS_TRY_ASSIGN(auto world, component::component_world(*decoded));
  if (world.kind == component::WorldKind::Airssys) return {};
  return make_error(ErrorCode::IncompatibleImport,
                    fmt::format("{}: the component {}; a host runs components of the world "
                                "{}/component@{} (wit/host.wit)",
                                module.string(),
                                world.kind == component::WorldKind::Command
                                    ? "is a WASI command: run it with 'airssys-wasm run'"
                                    : "does not export airssys:host/handler",
                                host::kWorldPackage, host::kWorldVersion));
}

Result<ComponentVersion> Host::Impl::describe(const fs::path& source, const fs::path& files,
                                              const security::Manifest& manifest) {
  ComponentVersion v;
  v.name = manifest.component.name;
  v.version = manifest.component.version;
  AIRSSYS_TRY_ASSIGN(auto hash, security::sha256_file(files / kModuleFile));
  v.module_hash = security::to_hex(hash);
  AIRSSYS_TRY(check_world(files / kModuleFile));
  AIRSSYS_TRY_ASSIGN(v.manifest, detail::read_text(files / kManifestFile));
  std::error_code ec;
  if (fs::exists(files / kSignatureFile, ec)) {
    AIRSSYS_TRY_ASSIGN(v.signature, detail::read_text(files / kSignatureFile));
  }
  auto signature = security::check_component_signature(files / kModuleFile, files / kManifestFile,
                                                       files / kSignatureFile);
  if (signature && *signature) v.signer_key_id = (*signature)->key_id;
  auto decision = trust.decide(source, signature);
  if (decision) {
    v.trust = decision->level;
    v.trust_reason = decision->reason;
  }
  if (security::needs_approval(manifest, default_quotas())) {
    v.approval_key = security::ApprovalStore::key_for(v.name, v.module_hash,
                                                      security::canonical_approval_terms(manifest));
  }
  v.source_dir = source;
  v.installed_at = std::chrono::system_clock::now();
  return v;
}

// Moves a staged copy to its place: components/<name>/<version>-<hash>.
Result<fs::path> Host::Impl::keep(const fs::path& staging, const ComponentVersion& v) {
  std::error_code ec;
  auto base = components_dir() / v.name;
  fs::create_directories(base, ec);
  auto target = base / fmt::format("{}-{}", v.version, v.module_hash.substr(0, 12));
  while (fs::exists(target, ec)) target += "-" + random_suffix();
  fs::rename(staging, target, ec);
  if (ec) {
    return make_error(ErrorCode::IoError, fmt::format("cannot move {} to {}: {}", staging.string(),
                                                      target.string(), ec.message()));
  }
  return target;
}

void Host::Impl::remove_files(const std::vector<ComponentVersion>& versions) {
  std::error_code ec;
  for (const auto& v : versions) {
    if (v.store_dir.parent_path().parent_path() == components_dir()) {
      fs::remove_all(v.store_dir, ec);
    }
  }
}

}  // namespace airssys::wasm::system
