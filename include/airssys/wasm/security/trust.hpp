#pragma once
// The trust configuration (`trust.toml`) and the trust decision made from it.
// The format is described in docs/trust.md.
//
// Example:
//   auto config = TrustConfig::load(*default_trust_config_path());
//   auto signature = check_component_signature(module, manifest, signature_path_for(module));
//   auto decision = config->decide(component_dir, signature);
//   if (decision && !decision->warning.empty()) print(decision->warning);

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

// $AIRSSYS_HOME, or $HOME/.airssys when it is unset or empty. Fails when
// neither is set or the result is not an absolute path.
[[nodiscard]] Result<std::filesystem::path> airssys_home();
// airssys_home() / "trust.toml".
[[nodiscard]] Result<std::filesystem::path> default_trust_config_path();

struct TrustedKey {
  std::string name;  // ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$, unique
  PublicKey public_key{};
};

struct TrustedPath {
  // An absolute directory pattern: `*` matches within one segment, a `**`
  // segment matches any number of segments.
  std::string pattern;
};

struct TrustDecision {
  TrustLevel level = TrustLevel::Unknown;
  std::string reason;   // names the key or path rule that decided
  std::string warning;  // non-empty for DevMode: print it at every start
};

class TrustConfig {
 public:
  // Nothing trusted, dev mode off.
  TrustConfig() = default;

  // A missing file gives the defaults. Unknown keys, wrong types, bad keys or
  // patterns and a file that group or others may write fail with InvalidConfig
  // ("file:line: key: rule").
  [[nodiscard]] static Result<TrustConfig> load(const std::filesystem::path& file);
  [[nodiscard]] static Result<TrustConfig> parse(std::string_view text,
                                                 std::string_view source_name);

  // Writes the whole configuration to a temporary file and renames it over
  // `file`, creating missing parent directories. Comments are not kept.
  [[nodiscard]] Result<void> save(const std::filesystem::path& file) const;
  [[nodiscard]] std::string to_toml() const;

  [[nodiscard]] bool dev_mode() const { return dev_mode_; }
  void set_dev_mode(bool on) { dev_mode_ = on; }

  [[nodiscard]] const std::vector<TrustedKey>& keys() const { return keys_; }
  [[nodiscard]] const std::vector<TrustedPath>& paths() const { return paths_; }
  // Where the configuration was read from; empty for the defaults.
  [[nodiscard]] const std::string& source() const { return source_; }

  // InvalidArgument for a bad name, or a name or key that is already trusted.
  [[nodiscard]] Result<void> add_key(std::string_view name, const PublicKey& key);
  // By name or by key id; NotFound when nothing matches.
  [[nodiscard]] Result<void> remove_key(std::string_view name_or_key_id);
  // InvalidArgument for a pattern that breaks the rules or is already present.
  [[nodiscard]] Result<void> add_path(std::string_view pattern);
  [[nodiscard]] Result<void> remove_path(std::string_view pattern);

  // `component_dir` must be absolute and lexically normal (the caller resolves
  // symlinks). A failed signature check is returned as the error it is, in any
  // mode: it never becomes Trusted, nor a quiet Unknown.
  [[nodiscard]] Result<TrustDecision> decide(const std::filesystem::path& component_dir,
                                             const SignatureCheck& signature) const;

 private:
  bool dev_mode_ = false;
  std::vector<TrustedKey> keys_;
  std::vector<TrustedPath> paths_;
  std::string source_;
};

// The rules of a trusted path pattern; the error text says which one failed.
[[nodiscard]] Result<void> validate_trusted_path_pattern(std::string_view pattern);
// Whether an absolute, normal directory path matches a valid pattern.
[[nodiscard]] bool trusted_path_matches(std::string_view pattern, std::string_view directory);

}  // namespace airssys::wasm::security
