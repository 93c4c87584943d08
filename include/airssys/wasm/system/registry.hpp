#pragma once
// The registry of installed components: one SQLite database in the data
// directory (DATA_DIR/registry.db, WAL). Each component has a current version,
// at most one previous version (the rollback target), the state the operator
// asked for (running or stopped) and the last status the host reported. Each
// version records its module hash, manifest, signature, signer, trust level
// and approval key; the approval's state lives in the approval store.
//
// Thread-safe; one writer at a time across processes (SQLite's lock).
//
// Example:
//   auto registry = Registry::open(data_dir / "registry.db");
//   auto id = (*registry)->add_version(version);
//   (*registry)->install(version.name, *id);

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::system {

inline constexpr std::string_view kRegistryFileName = "registry.db";

struct ComponentVersion {
  int64_t id = 0;
  std::string name;
  std::string version;
  std::string module_hash;                   // SHA-256 of component.wasm, hex
  std::string manifest;                      // Component.toml as installed
  std::optional<std::string> signature;      // component.sig as installed (JSON)
  std::optional<std::string> signer_key_id;  // when the signature verified
  security::TrustLevel trust = security::TrustLevel::Unknown;
  std::string trust_reason;
  std::optional<std::string> approval_key;  // when the manifest asks for capabilities
  std::filesystem::path source_dir;         // where it was installed from (path trust rules)
  std::filesystem::path store_dir;          // the installed copy
  std::chrono::system_clock::time_point installed_at;
};

enum class DesiredState : uint8_t { Stopped, Running };
[[nodiscard]] const char* desired_state_name(DesiredState state);

struct InstalledComponent {
  std::string name;
  ComponentVersion current;
  std::optional<ComponentVersion> previous;
  DesiredState desired = DesiredState::Stopped;
  std::string status;  // the host's last report: installed, running, stopped, failed, ...
  std::string status_detail;
};

class Registry {
 public:
  // Creates the database when missing. IoError when it cannot be opened or is
  // not a registry of this schema.
  [[nodiscard]] static Result<std::unique_ptr<Registry>> open(const std::filesystem::path& file);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Records a version (not yet current); returns its id.
  [[nodiscard]] Result<int64_t> add_version(const ComponentVersion& version);
  // A new component whose current version is `version_id`, stopped.
  // InvalidTransition when the name is installed already.
  [[nodiscard]] Result<void> install(std::string_view name, int64_t version_id);
  // Makes `current` current and `previous` the rollback target, in one
  // transaction, and forgets every other version of the component (returned,
  // so that their files can be removed).
  [[nodiscard]] Result<std::vector<ComponentVersion>> switch_versions(
      std::string_view name, int64_t current, std::optional<int64_t> previous);
  [[nodiscard]] Result<void> set_desired(std::string_view name, DesiredState desired);
  [[nodiscard]] Result<void> set_status(std::string_view name, std::string_view status,
                                        std::string_view detail = {});
  // NotFound when the name is not installed.
  [[nodiscard]] Result<InstalledComponent> get(std::string_view name) const;
  [[nodiscard]] Result<std::vector<InstalledComponent>> list() const;
  // Removes the component and all its versions; returns the versions.
  [[nodiscard]] Result<std::vector<ComponentVersion>> remove(std::string_view name);
  // Drops a version that never became current (an abandoned upgrade).
  [[nodiscard]] Result<void> drop_version(int64_t version_id);

  [[nodiscard]] const std::filesystem::path& path() const;

  struct Impl;

 private:
  explicit Registry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace airssys::wasm::system
