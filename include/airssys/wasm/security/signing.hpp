#pragma once
// Ed25519 signing of components. A signature covers the SHA-256 of the module
// (`.wasm`) and the SHA-256 of its manifest (`Component.toml`), so changing
// either breaks it. The file formats are described in docs/signing.md.
//
// Example:
//   auto keys = generate_key_pair();
//   auto record = sign_component("app.wasm", "Component.toml", *keys);
//   write_signature_file(signature_path_for("app.wasm"), *record);
//   auto signer = verify_component("app.wasm", "Component.toml", "app.sig");

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "airssys/wasm/core/error.hpp"

namespace airssys::wasm::security {

inline constexpr size_t kSha256Bytes = 32;
inline constexpr size_t kPublicKeyBytes = 32;
inline constexpr size_t kSecretSeedBytes = 32;
inline constexpr size_t kSignatureBytes = 64;

using Sha256Digest = std::array<uint8_t, kSha256Bytes>;
using PublicKey = std::array<uint8_t, kPublicKeyBytes>;
using SignatureBytes = std::array<uint8_t, kSignatureBytes>;

// Initialises libsodium once per process; every function below calls it.
[[nodiscard]] Result<void> crypto_init();

[[nodiscard]] Sha256Digest sha256(std::span<const uint8_t> bytes);
[[nodiscard]] Sha256Digest sha256(std::string_view bytes);
// Streams the file; IoError when it is missing or unreadable.
[[nodiscard]] Result<Sha256Digest> sha256_file(const std::filesystem::path& file);

// Lowercase hex.
[[nodiscard]] std::string to_hex(std::span<const uint8_t> bytes);
// Exactly 64 hex digits (either case).
[[nodiscard]] std::optional<Sha256Digest> parse_sha256_hex(std::string_view text);

// Public keys as text: standard base64 of the 32 key bytes (44 characters).
[[nodiscard]] std::string public_key_to_text(const PublicKey& key);
[[nodiscard]] Result<PublicKey> parse_public_key(std::string_view text);
// A short fingerprint: the first 8 bytes of SHA-256 of the key, as 16 hex digits.
[[nodiscard]] std::string key_id(const PublicKey& key);

// The 32-byte Ed25519 seed (RFC 8032 private key), wiped when destroyed.
class SecretKey {
 public:
  SecretKey();
  explicit SecretKey(std::span<const uint8_t, kSecretSeedBytes> seed);
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);
  ~SecretKey();

  [[nodiscard]] std::span<const uint8_t, kSecretSeedBytes> seed() const { return seed_; }

 private:
  std::array<uint8_t, kSecretSeedBytes> seed_{};
};

struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key;
};

[[nodiscard]] Result<KeyPair> generate_key_pair();
// Derives the public half; the pair is consistent by construction.
[[nodiscard]] Result<KeyPair> key_pair_from_seed(const SecretKey& secret);

// The secret key file is created with mode 0600 and never replaces an existing
// file unless `overwrite`; a reader refuses one that group or others can read.
[[nodiscard]] Result<void> write_secret_key_file(const std::filesystem::path& file,
                                                 const KeyPair& keys, bool overwrite = false);
[[nodiscard]] Result<KeyPair> read_secret_key_file(const std::filesystem::path& file);
[[nodiscard]] Result<void> write_public_key_file(const std::filesystem::path& file,
                                                 const PublicKey& key, bool overwrite = false);
[[nodiscard]] Result<PublicKey> read_public_key_file(const std::filesystem::path& file);

inline constexpr int kSignatureFormatVersion = 1;

// The contents of a signature file.
struct SignatureRecord {
  int version = kSignatureFormatVersion;
  PublicKey public_key{};
  std::string key_id;
  Sha256Digest module_sha256{};
  Sha256Digest manifest_sha256{};
  SignatureBytes signature{};
};

// The exact bytes that are signed: "airssys-wasm signature v1\0", then the
// 32-byte module digest, then the 32-byte manifest digest.
[[nodiscard]] std::string signed_message(const Sha256Digest& module_sha256,
                                         const Sha256Digest& manifest_sha256);

// "dir/app.wasm" -> "dir/app.sig".
[[nodiscard]] std::filesystem::path signature_path_for(const std::filesystem::path& module);

[[nodiscard]] Result<SignatureRecord> sign_component(const std::filesystem::path& module,
                                                     const std::filesystem::path& manifest,
                                                     const KeyPair& keys);

[[nodiscard]] std::string signature_to_json(const SignatureRecord& record);
// Strict: unknown or missing fields, a wrong type, a bad encoding or an
// unsupported version or algorithm fail with SignatureInvalid.
[[nodiscard]] Result<SignatureRecord> parse_signature_json(std::string_view text,
                                                           std::string_view source_name);
[[nodiscard]] Result<void> write_signature_file(const std::filesystem::path& file,
                                                const SignatureRecord& record);
// SignatureMissing when the file does not exist.
[[nodiscard]] Result<SignatureRecord> read_signature_file(const std::filesystem::path& file);

// Who signed a component whose signature verified.
struct VerifiedSignature {
  PublicKey signer{};
  std::string key_id;
  Sha256Digest module_sha256{};
  Sha256Digest manifest_sha256{};
};

// Fails closed: SignatureMissing without a signature file; SignatureInvalid
// for a bad signature, a changed module, a changed manifest or a malformed
// signature file; IoError when the module or manifest cannot be read.
[[nodiscard]] Result<VerifiedSignature> verify_component(const std::filesystem::path& module,
                                                         const std::filesystem::path& manifest,
                                                         const std::filesystem::path& signature);

// What a trust decision needs: the verified signer, none for an unsigned
// component (no signature file), or the error of a signature that failed.
using SignatureCheck = Result<std::optional<VerifiedSignature>>;
[[nodiscard]] SignatureCheck check_component_signature(const std::filesystem::path& module,
                                                       const std::filesystem::path& manifest,
                                                       const std::filesystem::path& signature);

}  // namespace airssys::wasm::security
