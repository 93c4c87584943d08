#pragma once
// Component.toml: what a component is, which capabilities it asks for, its
// quotas and its free-form configuration. Validation fails closed and reports
// every problem it finds; docs/component-toml.md describes every rule.
//
// Example:
//   auto manifest = load_manifest("Component.toml");
//   if (!manifest) return fail(manifest.error().message);  // one problem per line
//   for (const auto& pattern : manifest->patterns(Permission::FsRead)) ...

#include <array>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

// Larger manifests are refused before parsing.
inline constexpr size_t kMaxManifestBytes = 1024 * 1024;

// The sender of the host's own messages (`up --send`, `send`, Host::send):
// reserved, no component may take the name, so `messaging.receive =
// ["host"]` names the host and nothing else.
inline constexpr std::string_view kHostSenderName = "host";

struct ComponentInfo {
  std::string name;     // ^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$
  std::string version;  // SemVer 2.0.0
  std::optional<std::string> description;
  std::optional<std::string> author;
  std::optional<std::string> license;  // SPDX license expression

  bool operator==(const ComponentInfo&) const = default;
};

// Only the quotas the manifest sets; the host's defaults fill the rest.
struct QuotaSpec {
  std::optional<uint64_t> storage_bytes;
  std::optional<uint64_t> message_rate;  // messages per second
  std::optional<uint64_t> network_bytes_per_second;
  std::optional<uint64_t> cpu_ms_per_second;
  std::optional<uint64_t> memory_bytes;

  bool operator==(const QuotaSpec&) const = default;
};

// Upper bounds beyond which a quota value is refused as absurd.
inline constexpr uint64_t kMaxStorageQuota = 1024ull * 1024 * 1024 * 1024 * 1024;  // 1024 TB
inline constexpr uint64_t kMaxMessageRate = 1'000'000;
inline constexpr uint64_t kMaxNetworkBandwidth = 1024ull * 1024 * 1024 * 1024;  // 1 TB/s
inline constexpr uint64_t kMaxCpuMsPerSecond = 64'000;                  // 64 cores, fully busy
inline constexpr uint64_t kMinMemoryQuota = 64 * 1024;                  // one WebAssembly page
inline constexpr uint64_t kMaxMemoryQuota = 4ull * 1024 * 1024 * 1024;  // wasm32 address space

// Which engine tier runs a component: the interpreter, native code compiled
// ahead of time, or the interpreter at once and native code as soon as a
// background compile has finished (tier-up between two messages).
enum class TierChoice : uint8_t { Interp, Native, Auto };
[[nodiscard]] const char* tier_choice_name(TierChoice tier);
// "interp", "native" or "auto"; nothing for anything else.
[[nodiscard]] std::optional<TierChoice> parse_tier_choice(std::string_view text);

// [runtime]: how the component would like to be run; the operator's command
// line or host configuration may say otherwise.
struct RuntimeSpec {
  std::optional<TierChoice> tier;

  bool operator==(const RuntimeSpec&) const = default;
};

struct Manifest {
  std::string file;  // as given to the parser, used in messages
  ComponentInfo component;
  RuntimeSpec runtime;
  // Indexed by Permission; an absent permission is an empty list.
  std::array<std::vector<std::string>, kPermissionCount> capabilities;
  QuotaSpec quota;
  nlohmann::json config = nlohmann::json::object();

  [[nodiscard]] const std::vector<std::string>& patterns(Permission permission) const {
    return capabilities[static_cast<size_t>(permission)];
  }
  [[nodiscard]] bool requests_capabilities() const;
};

struct ManifestProblem {
  std::string file;
  int line = 0;     // 1-based; 0 when the problem has no place in the file
  std::string key;  // "capabilities.filesystem.read[1]"; empty for syntax errors
  std::string rule;

  // `Component.toml:12: capabilities.filesystem.read[1]: "../etc" is not an absolute path`
  [[nodiscard]] std::string to_string() const;
  bool operator==(const ManifestProblem&) const = default;
};

struct ManifestCheck {
  Manifest manifest;                      // meaningful only when problems is empty
  std::vector<ManifestProblem> problems;  // in file order
};

// Parses and validates; never throws.
[[nodiscard]] ManifestCheck check_manifest(std::string_view text, std::string_view file_name);

// The manifest, or InvalidManifest with every problem, one per line of the message.
[[nodiscard]] Result<Manifest> parse_manifest(std::string_view text, std::string_view file_name);

// Reads and parses a file: IoError when it cannot be read, InvalidManifest when
// it is not a valid manifest. Messages name the path as given.
[[nodiscard]] Result<Manifest> load_manifest(const std::filesystem::path& path);

// The requested capabilities as sorted lines "permission pattern\n": the same
// requests always give the same text, whatever their order in the file.
[[nodiscard]] std::string canonical_capabilities(const Manifest& manifest);

// Everything an approval covers, as canonical text: the capability lines of
// canonical_capabilities(), then one line per quota the manifest sets
// ("quota memory 4294967296 B"), its [runtime] tier ("runtime tier native")
// and its [config] with [config.env] ("config {...}", compact JSON with
// sorted keys). A manifest that sets none of these gives exactly
// canonical_capabilities(). No line of one kind can read as another.
[[nodiscard]] std::string canonical_approval_terms(const Manifest& manifest);

// The component's WASI environment from `[config.env]` ("NAME=value", sorted
// by name); empty without that table. Validation has checked every entry.
[[nodiscard]] std::vector<std::string> manifest_environment(const Manifest& manifest);

// The rules of the manifest, for callers that take versions elsewhere (a
// component name is tested by is_valid_component_name, in pattern.hpp).
[[nodiscard]] bool is_semver(std::string_view version);
// [A-Za-z_][A-Za-z0-9_]*, 1-256 bytes: a `[config.env]` key.
[[nodiscard]] bool is_environment_name(std::string_view name);

}  // namespace airssys::wasm::security
