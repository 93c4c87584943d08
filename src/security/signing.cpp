#include "airssys/wasm/security/signing.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "safe_file.hpp"

namespace airssys::wasm::security {
namespace {

using nlohmann::json;

constexpr std::string_view kSignatureDomain{"airssys-wasm signature v1\0", 26};
constexpr std::string_view kSignatureFormat = "airssys-wasm-signature";
constexpr std::string_view kSecretKeyFormat = "airssys-wasm-secret-key";
constexpr std::string_view kPublicKeyFormat = "airssys-wasm-public-key";
constexpr std::string_view kAlgorithm = "ed25519";
constexpr std::string_view kHash = "sha256";
constexpr int kKeyFileVersion = 1;
constexpr size_t kMaxSmallFile = 64 * 1024;

static_assert(kPublicKeyBytes == crypto_sign_PUBLICKEYBYTES);
static_assert(kSecretSeedBytes == crypto_sign_SEEDBYTES);
static_assert(kSignatureBytes == crypto_sign_BYTES);
static_assert(kSha256Bytes == crypto_hash_sha256_BYTES);

template <size_t N>
std::string to_base64(const std::array<uint8_t, N>& bytes) {
  std::string out(sodium_base64_ENCODED_LEN(N, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), N, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Canonical standard base64 of exactly N bytes, nothing else accepted.
template <size_t N>
bool from_base64(std::string_view text, std::array<uint8_t, N>& out) {
  size_t length = 0;
  if (sodium_base642bin(out.data(), N, text.data(), text.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      length != N) {
    return false;
  }
  std::string again = to_base64(out);
  bool canonical = again == text;
  detail::wipe(again);
  return canonical;
}

// Both halves of the libsodium secret key, wiped when destroyed.
struct ExpandedKey {
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  PublicKey public_key{};
  ~ExpandedKey() { sodium_memzero(secret.data(), secret.size()); }
};

void expand(const SecretKey& seed, ExpandedKey& out) {
  crypto_sign_seed_keypair(out.public_key.data(), out.secret.data(), seed.seed().data());
}

std::string describe_json_type(const json& value) {
  return value.type_name();
}

// Parses a JSON object whose fields are exactly `fields`; `what` names the file
// kind in messages.
Result<json> parse_json_object(std::string_view text, std::string_view source,
                               std::string_view what, std::string_view expected_format,
                               int expected_version, std::initializer_list<std::string_view> fields,
                               ErrorCode code) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    return make_error(
        code, fmt::format("{}: not a valid {} (malformed JSON at byte {})", source, what, e.byte));
  } catch (const json::exception& e) {
    // Valid JSON syntax the library still refuses, such as a number out of range.
    return make_error(code, fmt::format("{}: not a valid {} ({})", source, what, e.what()));
  }
  if (!doc.is_object()) {
    return make_error(code, fmt::format("{}: not a valid {} (expected a JSON object, found {})",
                                        source, what, describe_json_type(doc)));
  }
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() ||
      format->get_ref<const std::string&>() != expected_format) {
    return make_error(code, fmt::format("{}: unknown format, not an {} (field 'format' must be "
                                        "\"{}\")",
                                        source, what, expected_format));
  }
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer()) {
    return make_error(code,
                      fmt::format("{}: field 'version' is missing or not an integer", source));
  }
  if (version->get<int64_t>() != expected_version) {
    return make_error(code, fmt::format("{}: unsupported {} format version {} (this host reads "
                                        "version {})",
                                        source, what, version->get<int64_t>(), expected_version));
  }
  for (const auto& [key, value] : doc.items()) {
    if (std::find(fields.begin(), fields.end(), key) == fields.end()) {
      return make_error(code, fmt::format("{}: unknown field '{}' in {}", source, key, what));
    }
  }
  for (std::string_view field : fields) {
    if (!doc.contains(field)) {
      return make_error(code, fmt::format("{}: field '{}' is missing", source, field));
    }
  }
  return doc;
}

Result<std::string> string_field(const json& doc, std::string_view field, std::string_view source,
                                 ErrorCode code) {
  const json& value = doc.at(std::string(field));
  if (!value.is_string()) {
    return make_error(code, fmt::format("{}: field '{}' must be a string, found {}", source, field,
                                        describe_json_type(value)));
  }
  return value.get<std::string>();
}

Result<void> expect_text(const json& doc, std::string_view field, std::string_view expected,
                         std::string_view source, ErrorCode code) {
  AIRSSYS_TRY_ASSIGN(auto text, string_field(doc, field, source, code));
  if (text != expected) {
    return make_error(code, fmt::format("{}: unsupported {} '{}' (only '{}' is known)", source,
                                        field, text, expected));
  }
  return {};
}

template <size_t N>
Result<std::array<uint8_t, N>> base64_field(const json& doc, std::string_view field,
                                            std::string_view source, ErrorCode code) {
  // Bound in place, not moved: the text is wiped where it lies.
  AIRSSYS_TRY_ASSIGN(auto&& text, string_field(doc, field, source, code));
  std::array<uint8_t, N> out{};
  bool ok = from_base64(text, out);
  detail::wipe(text);
  if (!ok) {
    return make_error(
        code, fmt::format("{}: field '{}' is not standard base64 of {} bytes", source, field, N));
  }
  return out;
}

Result<Sha256Digest> digest_field(const json& doc, std::string_view field, std::string_view source,
                                  ErrorCode code) {
  AIRSSYS_TRY_ASSIGN(auto text, string_field(doc, field, source, code));
  auto digest = parse_sha256_hex(text);
  if (!digest) {
    return make_error(
        code, fmt::format("{}: field '{}' is not a SHA-256 digest (64 hex digits)", source, field));
  }
  return *digest;
}

Result<void> check_key_id(const json& doc, const PublicKey& key, std::string_view source,
                          ErrorCode code) {
  AIRSSYS_TRY_ASSIGN(auto recorded, string_field(doc, "key_id", source, code));
  if (recorded != key_id(key)) {
    return make_error(code, fmt::format("{}: key_id '{}' does not belong to the public key "
                                        "recorded beside it (expected '{}')",
                                        source, recorded, key_id(key)));
  }
  return {};
}

}  // namespace

Result<void> crypto_init() {
  // sodium_init() picks implementations and seeds the generator; a magic static
  // makes the one call thread-safe.
  static const int status = sodium_init();
  if (status < 0) return make_error(ErrorCode::InternalError, "libsodium failed to initialise");
  return {};
}

Sha256Digest sha256(std::span<const uint8_t> bytes) {
  (void)crypto_init();  // SHA-256 needs no runtime state; initialised for uniformity
  Sha256Digest out{};
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

Sha256Digest sha256(std::string_view bytes) {
  return sha256(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Result<Sha256Digest> sha256_file(const std::filesystem::path& file) {
  AIRSSYS_TRY(crypto_init());
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot read '{}': {}", file.string(), std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(ErrorCode::IoError,
                      fmt::format("cannot read '{}': not a regular file", file.string()));
  }
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::array<uint8_t, 64 * 1024> buffer;
  while (true) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return make_error(ErrorCode::IoError,
                        fmt::format("cannot read '{}': {}", file.string(), std::strerror(err)));
    }
    if (n == 0) break;
    crypto_hash_sha256_update(&state, buffer.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  Sha256Digest out{};
  crypto_hash_sha256_final(&state, out.data());
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xF];
  }
  return out;
}

std::optional<Sha256Digest> parse_sha256_hex(std::string_view text) {
  if (text.size() != kSha256Bytes * 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Sha256Digest out{};
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(text[2 * i]);
    int lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string public_key_to_text(const PublicKey& key) {
  return to_base64(key);
}

Result<PublicKey> parse_public_key(std::string_view text) {
  AIRSSYS_TRY(crypto_init());
  PublicKey key{};
  if (!from_base64(text, key)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("'{}' is not an Ed25519 public key (expected standard base64 of "
                                  "32 bytes, 44 characters)",
                                  text));
  }
  return key;
}

std::string key_id(const PublicKey& key) {
  Sha256Digest digest = sha256(std::span<const uint8_t>(key));
  return to_hex(std::span<const uint8_t>(digest).first(8));
}

SecretKey::SecretKey() = default;

SecretKey::SecretKey(std::span<const uint8_t, kSecretSeedBytes> seed) {
  std::copy(seed.begin(), seed.end(), seed_.begin());
}

SecretKey::SecretKey(const SecretKey& other) : seed_(other.seed_) {}

SecretKey& SecretKey::operator=(const SecretKey& other) {
  seed_ = other.seed_;
  return *this;
}

SecretKey::~SecretKey() {
  sodium_memzero(seed_.data(), seed_.size());
}

Result<KeyPair> generate_key_pair() {
  AIRSSYS_TRY(crypto_init());
  std::array<uint8_t, kSecretSeedBytes> seed{};
  randombytes_buf(seed.data(), seed.size());
  SecretKey secret(seed);
  sodium_memzero(seed.data(), seed.size());
  return key_pair_from_seed(secret);
}

Result<KeyPair> key_pair_from_seed(const SecretKey& secret) {
  AIRSSYS_TRY(crypto_init());
  ExpandedKey expanded;
  expand(secret, expanded);
  return KeyPair{expanded.public_key, secret};
}

Result<void> write_secret_key_file(const std::filesystem::path& file, const KeyPair& keys,
                                   bool overwrite) {
  AIRSSYS_TRY_ASSIGN(auto derived, key_pair_from_seed(keys.secret_key));
  if (derived.public_key != keys.public_key) {
    return make_error(ErrorCode::InvalidArgument,
                      "the public key does not belong to the secret key; not writing the key file");
  }
  std::array<uint8_t, kSecretSeedBytes> seed{};
  std::copy(keys.secret_key.seed().begin(), keys.secret_key.seed().end(), seed.begin());
  std::string seed_text = to_base64(seed);
  sodium_memzero(seed.data(), seed.size());
  // Formatted by hand so that no library keeps a copy of the secret.
  std::string contents = fmt::format(
      "{{\n  \"format\": \"{}\",\n  \"version\": {},\n  \"algorithm\": \"{}\",\n"
      "  \"key_id\": \"{}\",\n  \"public_key\": \"{}\",\n  \"secret_key\": \"{}\"\n}}\n",
      kSecretKeyFormat, kKeyFileVersion, kAlgorithm, key_id(keys.public_key),
      public_key_to_text(keys.public_key), seed_text);
  detail::wipe(seed_text);
  auto written = detail::write_file_atomically(file, contents, 0600, overwrite, "secret key file");
  detail::wipe(contents);
  return written;
}

Result<KeyPair> read_secret_key_file(const std::filesystem::path& file) {
  AIRSSYS_TRY(crypto_init());
  // Bound in place, not moved: the text is wiped where it lies.
  AIRSSYS_TRY_ASSIGN(auto&& text,
                     detail::read_small_file(file, kMaxSmallFile, detail::FileAccessRule::Private,
                                             "secret key file"));
  std::string source = file.string();
  constexpr auto code = ErrorCode::InvalidArgument;
  auto doc = parse_json_object(
      text, source, "airssys-wasm secret key file", kSecretKeyFormat, kKeyFileVersion,
      {"format", "version", "algorithm", "key_id", "public_key", "secret_key"}, code);
  detail::wipe(text);
  if (!doc) return std::unexpected(doc.error());
  AIRSSYS_TRY(expect_text(*doc, "algorithm", kAlgorithm, source, code));
  AIRSSYS_TRY_ASSIGN(auto public_key,
                     base64_field<kPublicKeyBytes>(*doc, "public_key", source, code));
  AIRSSYS_TRY(check_key_id(*doc, public_key, source, code));
  auto seed = base64_field<kSecretSeedBytes>(*doc, "secret_key", source, code);
  if (auto& field = doc->at("secret_key"); field.is_string()) {
    detail::wipe(field.get_ref<std::string&>());
  }
  if (!seed) return std::unexpected(seed.error());
  SecretKey secret(*seed);
  sodium_memzero(seed->data(), seed->size());
  auto keys = key_pair_from_seed(secret);
  if (!keys) return std::unexpected(keys.error());
  if (keys->public_key != public_key) {
    return make_error(code, fmt::format("{}: the public key does not belong to the secret key "
                                        "(the file is damaged)",
                                        source));
  }
  return keys;
}

Result<void> write_public_key_file(const std::filesystem::path& file, const PublicKey& key,
                                   bool overwrite) {
  nlohmann::ordered_json doc = {{"format", kPublicKeyFormat},
                                {"version", kKeyFileVersion},
                                {"algorithm", kAlgorithm},
                                {"key_id", key_id(key)},
                                {"public_key", public_key_to_text(key)}};
  return detail::write_file_atomically(file, doc.dump(2) + "\n", 0644, overwrite,
                                       "public key file");
}

Result<PublicKey> read_public_key_file(const std::filesystem::path& file) {
  AIRSSYS_TRY(crypto_init());
  AIRSSYS_TRY_ASSIGN(
      auto text,
      detail::read_small_file(file, kMaxSmallFile, detail::FileAccessRule::Any, "public key file"));
  std::string source = file.string();
  constexpr auto code = ErrorCode::InvalidArgument;
  AIRSSYS_TRY_ASSIGN(
      auto doc, parse_json_object(
                    text, source, "airssys-wasm public key file", kPublicKeyFormat, kKeyFileVersion,
                    {"format", "version", "algorithm", "key_id", "public_key"}, code));
  AIRSSYS_TRY(expect_text(doc, "algorithm", kAlgorithm, source, code));
  AIRSSYS_TRY_ASSIGN(auto public_key,
                     base64_field<kPublicKeyBytes>(doc, "public_key", source, code));
  AIRSSYS_TRY(check_key_id(doc, public_key, source, code));
  return public_key;
}

std::string signed_message(const Sha256Digest& module_sha256, const Sha256Digest& manifest_sha256) {
  std::string message(kSignatureDomain);
  message.append(reinterpret_cast<const char*>(module_sha256.data()), module_sha256.size());
  message.append(reinterpret_cast<const char*>(manifest_sha256.data()), manifest_sha256.size());
  return message;
}

std::filesystem::path signature_path_for(const std::filesystem::path& module) {
  std::filesystem::path out = module;
  out.replace_extension(".sig");
  return out;
}

Result<SignatureRecord> sign_component(const std::filesystem::path& module,
                                       const std::filesystem::path& manifest, const KeyPair& keys) {
  AIRSSYS_TRY(crypto_init());
  ExpandedKey expanded;
  expand(keys.secret_key, expanded);
  if (expanded.public_key != keys.public_key) {
    return make_error(ErrorCode::InvalidArgument,
                      "the public key does not belong to the secret key; refusing to sign");
  }
  AIRSSYS_TRY_ASSIGN(auto module_digest, sha256_file(module));
  AIRSSYS_TRY_ASSIGN(auto manifest_digest, sha256_file(manifest));
  SignatureRecord record;
  record.public_key = keys.public_key;
  record.key_id = key_id(keys.public_key);
  record.module_sha256 = module_digest;
  record.manifest_sha256 = manifest_digest;
  std::string message = signed_message(record.module_sha256, record.manifest_sha256);
  crypto_sign_detached(record.signature.data(), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       expanded.secret.data());
  return record;
}

std::string signature_to_json(const SignatureRecord& record) {
  nlohmann::ordered_json doc = {{"format", kSignatureFormat},
                                {"version", record.version},
                                {"algorithm", kAlgorithm},
                                {"hash", kHash},
                                {"key_id", record.key_id},
                                {"public_key", public_key_to_text(record.public_key)},
                                {"module_sha256", to_hex(record.module_sha256)},
                                {"manifest_sha256", to_hex(record.manifest_sha256)},
                                {"signature", to_base64(record.signature)}};
  return doc.dump(2) + "\n";
}

Result<SignatureRecord> parse_signature_json(std::string_view text, std::string_view source) {
  AIRSSYS_TRY(crypto_init());
  constexpr auto code = ErrorCode::SignatureInvalid;
  AIRSSYS_TRY_ASSIGN(
      auto doc, parse_json_object(text, source, "airssys-wasm signature file", kSignatureFormat,
                                  kSignatureFormatVersion,
                                  {"format", "version", "algorithm", "hash", "key_id", "public_key",
                                   "module_sha256", "manifest_sha256", "signature"},
                                  code));
  AIRSSYS_TRY(expect_text(doc, "algorithm", kAlgorithm, source, code));
  AIRSSYS_TRY(expect_text(doc, "hash", kHash, source, code));
  SignatureRecord record;
  AIRSSYS_TRY_ASSIGN(auto public_key,
                     base64_field<kPublicKeyBytes>(doc, "public_key", source, code));
  record.public_key = public_key;
  AIRSSYS_TRY(check_key_id(doc, record.public_key, source, code));
  record.key_id = key_id(record.public_key);
  AIRSSYS_TRY_ASSIGN(auto module_digest, digest_field(doc, "module_sha256", source, code));
  record.module_sha256 = module_digest;
  AIRSSYS_TRY_ASSIGN(auto manifest_digest, digest_field(doc, "manifest_sha256", source, code));
  record.manifest_sha256 = manifest_digest;
  AIRSSYS_TRY_ASSIGN(auto signature, base64_field<kSignatureBytes>(doc, "signature", source, code));
  record.signature = signature;
  return record;
}

Result<void> write_signature_file(const std::filesystem::path& file,
                                  const SignatureRecord& record) {
  return detail::write_file_atomically(file, signature_to_json(record), 0644, true,
                                       "signature file");
}

Result<SignatureRecord> read_signature_file(const std::filesystem::path& file) {
  auto text =
      detail::read_small_file(file, kMaxSmallFile, detail::FileAccessRule::Any, "signature file");
  if (!text && text.error().code == ErrorCode::NotFound) {
    return make_error(
        ErrorCode::SignatureMissing,
        fmt::format("no signature file '{}': the component is not signed", file.string()));
  }
  if (!text) return std::unexpected(text.error());
  return parse_signature_json(*text, file.string());
}

Result<VerifiedSignature> verify_component(const std::filesystem::path& module,
                                           const std::filesystem::path& manifest,
                                           const std::filesystem::path& signature) {
  AIRSSYS_TRY(crypto_init());
  AIRSSYS_TRY_ASSIGN(auto record, read_signature_file(signature));
  AIRSSYS_TRY_ASSIGN(auto module_digest, sha256_file(module));
  AIRSSYS_TRY_ASSIGN(auto manifest_digest, sha256_file(manifest));

  // The signature is checked first, so that a digest mismatch below is known to
  // be a change to the file and not to the signature file.
  std::string message = signed_message(record.module_sha256, record.manifest_sha256);
  if (crypto_sign_verify_detached(record.signature.data(),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(), record.public_key.data()) != 0) {
    return make_error(ErrorCode::SignatureInvalid,
                      fmt::format("bad signature in '{}': it does not verify with the key it "
                                  "names (key id {}); the signature file was altered or the "
                                  "signature was made with another key",
                                  signature.string(), record.key_id));
  }
  if (module_digest != record.module_sha256) {
    return make_error(ErrorCode::SignatureInvalid,
                      fmt::format("module '{}' changed since it was signed: its SHA-256 is {}, the "
                                  "signature in '{}' covers {} (or the signature belongs to "
                                  "another component)",
                                  module.string(), to_hex(module_digest), signature.string(),
                                  to_hex(record.module_sha256)));
  }
  if (manifest_digest != record.manifest_sha256) {
    return make_error(ErrorCode::SignatureInvalid,
                      fmt::format("manifest '{}' changed since it was signed: its SHA-256 is {}, "
                                  "the signature in '{}' covers {} (or the signature belongs to "
                                  "another component)",
                                  manifest.string(), to_hex(manifest_digest), signature.string(),
                                  to_hex(record.manifest_sha256)));
  }
  return VerifiedSignature{record.public_key, record.key_id, record.module_sha256,
                           record.manifest_sha256};
}

SignatureCheck check_component_signature(const std::filesystem::path& module,
                                         const std::filesystem::path& manifest,
                                         const std::filesystem::path& signature) {
  auto verified = verify_component(module, manifest, signature);
  if (verified) return std::optional<VerifiedSignature>(std::move(*verified));
  if (verified.error().code == ErrorCode::SignatureMissing) {
    return std::optional<VerifiedSignature>();
  }
  return std::unexpected(std::move(verified).error());
}

}  // namespace airssys::wasm::security
