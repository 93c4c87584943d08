#include "airssys/wasm/security/signing.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "trust_fixtures.hpp"

namespace airssys::wasm::security {
namespace {

using testing::file_mode;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

constexpr std::string_view kManifest =
    "[component]\nname = \"order-validator\"\nversion = \"1.2.0\"\n\n"
    "[capabilities]\nstorage.read = [\"orders:*\"]\n";

class SigningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    module_ = dir_ / "compute.wasm";
    manifest_ = dir_ / "Component.toml";
    signature_ = signature_path_for(module_);
    std::filesystem::copy_file(std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / "compute.wasm",
                               module_);
    write_file(manifest_, kManifest);
    keys_ = generate_key_pair().value();
    other_keys_ = generate_key_pair().value();
  }

  void sign_with(const KeyPair& keys) {
    auto record = sign_component(module_, manifest_, keys);
    ASSERT_TRUE(record) << record.error().to_string();
    ASSERT_TRUE(write_signature_file(signature_, *record));
  }

  Result<VerifiedSignature> verify() { return verify_component(module_, manifest_, signature_); }

  TempDir dir_;
  std::filesystem::path module_;
  std::filesystem::path manifest_;
  std::filesystem::path signature_;
  KeyPair keys_;
  KeyPair other_keys_;
};

void expect_failure(const Result<VerifiedSignature>& result, ErrorCode code,
                    std::string_view message_part) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, code) << result.error().to_string();
  EXPECT_NE(result.error().message.find(message_part), std::string::npos)
      << "'" << result.error().message << "' lacks '" << message_part << "'";
}

TEST(Sha256, MatchesTheStandardVectors) {
  EXPECT_EQ(to_hex(sha256(std::string_view("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(to_hex(sha256(std::string_view(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  auto parsed =
      parse_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, sha256(std::string_view("abc")));
  EXPECT_FALSE(parse_sha256_hex("ba78"));
  EXPECT_FALSE(
      parse_sha256_hex("ga7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

TEST(Sha256, HashesFilesAndReportsMissingOnes) {
  TempDir dir;
  write_file(dir / "abc", "abc");
  EXPECT_EQ(sha256_file(dir / "abc").value(), sha256(std::string_view("abc")));
  auto missing = sha256_file(dir / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::IoError);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  EXPECT_FALSE(sha256_file(dir.path()));  // a directory
}

TEST(Keys, GeneratedPairsAreDistinctAndHaveShortIds) {
  auto a = generate_key_pair().value();
  auto b = generate_key_pair().value();
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_EQ(key_id(a.public_key).size(), 16u);
  EXPECT_NE(key_id(a.public_key), key_id(b.public_key));
  EXPECT_EQ(key_pair_from_seed(a.secret_key).value().public_key, a.public_key);
}

TEST(Keys, PublicKeyTextRoundTripsAndIsStrict) {
  auto keys = generate_key_pair().value();
  std::string text = public_key_to_text(keys.public_key);
  EXPECT_EQ(text.size(), 44u);
  EXPECT_EQ(parse_public_key(text).value(), keys.public_key);
  std::string non_canonical = text;
  // The last character before '=' carries 2 unused bits; setting them must be refused.
  non_canonical[42] = non_canonical[42] == 'A' ? 'B' : 'A';
  bool same_bytes = parse_public_key(non_canonical).has_value() &&
                    *parse_public_key(non_canonical) == keys.public_key;
  EXPECT_FALSE(same_bytes);
  for (std::string bad : {std::string(), text.substr(0, 43), text + "=", " " + text, text + "\n",
                          std::string(44, '!'), std::string("AAAA")}) {
    auto parsed = parse_public_key(bad);
    ASSERT_FALSE(parsed) << bad;
    EXPECT_EQ(parsed.error().code, ErrorCode::InvalidArgument);
  }
}

TEST(KeyFiles, SecretKeyFileIsPrivateAndRoundTrips) {
  TempDir dir;
  auto keys = generate_key_pair().value();
  mode_t old_mask = ::umask(0);  // even a permissive umask must not widen the mode
  auto written = write_secret_key_file(dir / "signer.key", keys);
  ::umask(old_mask);
  ASSERT_TRUE(written) << written.error().to_string();
  EXPECT_EQ(file_mode(dir / "signer.key"), 0600u);
  auto read = read_secret_key_file(dir / "signer.key");
  ASSERT_TRUE(read) << read.error().to_string();
  EXPECT_EQ(read->public_key, keys.public_key);
  EXPECT_TRUE(std::ranges::equal(read->secret_key.seed(), keys.secret_key.seed()));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);  // no temporary file left behind
}

TEST(KeyFiles, SecretKeyFileReadableByOthersIsRefusedWithTheFix) {
  TempDir dir;
  auto keys = generate_key_pair().value();
  ASSERT_TRUE(write_secret_key_file(dir / "signer.key", keys));
  for (mode_t mode : {0640, 0604, 0644, 0660, 0606, 0610, 0601}) {
    ASSERT_EQ(::chmod((dir / "signer.key").c_str(), mode), 0);
    auto read = read_secret_key_file(dir / "signer.key");
    ASSERT_FALSE(read) << std::oct << mode;
    EXPECT_EQ(read.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(read.error().message.find("chmod 600"), std::string::npos) << read.error().message;
  }
  ASSERT_EQ(::chmod((dir / "signer.key").c_str(), 0400), 0);
  EXPECT_TRUE(read_secret_key_file(dir / "signer.key"));
}

TEST(KeyFiles, SecretKeyFileIsNotOverwrittenUnlessAsked) {
  TempDir dir;
  auto first = generate_key_pair().value();
  auto second = generate_key_pair().value();
  ASSERT_TRUE(write_secret_key_file(dir / "signer.key", first));
  auto again = write_secret_key_file(dir / "signer.key", second);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);
  EXPECT_EQ(read_secret_key_file(dir / "signer.key").value().public_key, first.public_key);
  ASSERT_TRUE(write_secret_key_file(dir / "signer.key", second, /*overwrite=*/true));
  EXPECT_EQ(read_secret_key_file(dir / "signer.key").value().public_key, second.public_key);
  EXPECT_EQ(file_mode(dir / "signer.key"), 0600u);
}

TEST(KeyFiles, DamagedOrMissingSecretKeyFilesAreRefused) {
  TempDir dir;
  auto missing = read_secret_key_file(dir / "none.key");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);

  auto keys = generate_key_pair().value();
  auto other = generate_key_pair().value();
  ASSERT_TRUE(write_secret_key_file(dir / "signer.key", keys));
  std::string text = read_file(dir / "signer.key");
  std::string swapped = text;
  auto at = swapped.find(public_key_to_text(keys.public_key));
  ASSERT_NE(at, std::string::npos);
  swapped.replace(at, 44, public_key_to_text(other.public_key));
  write_file(dir / "signer.key", swapped);
  auto read = read_secret_key_file(dir / "signer.key");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, ErrorCode::InvalidArgument);

  write_file(dir / "signer.key", text.substr(0, text.size() / 2));
  ASSERT_FALSE(read_secret_key_file(dir / "signer.key"));
}

TEST(KeyFiles, PublicKeyFileRoundTripsAndChecksItsKeyId) {
  TempDir dir;
  auto keys = generate_key_pair().value();
  ASSERT_TRUE(write_public_key_file(dir / "signer.pub", keys.public_key));
  EXPECT_EQ(read_public_key_file(dir / "signer.pub").value(), keys.public_key);
  std::string text = read_file(dir / "signer.pub");
  std::string id = key_id(keys.public_key);
  text.replace(text.find(id), id.size(), "0000000000000000");
  write_file(dir / "signer.pub", text);
  auto read = read_public_key_file(dir / "signer.pub");
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().message.find("key_id"), std::string::npos);
}

TEST(SignedMessage, IsDomainSeparatedAndOrdered) {
  Sha256Digest a = sha256(std::string_view("a"));
  Sha256Digest b = sha256(std::string_view("b"));
  std::string message = signed_message(a, b);
  ASSERT_EQ(message.size(), 26u + 64u);
  EXPECT_EQ(message.substr(0, 26), std::string("airssys-wasm signature v1\0", 26));
  EXPECT_NE(message, signed_message(b, a));
  EXPECT_EQ(signature_path_for("/x/app.wasm"), std::filesystem::path("/x/app.sig"));
}

TEST_F(SigningTest, ASignedComponentVerifiesAndNamesItsSigner) {
  sign_with(keys_);
  auto verified = verify();
  ASSERT_TRUE(verified) << verified.error().to_string();
  EXPECT_EQ(verified->signer, keys_.public_key);
  EXPECT_EQ(verified->key_id, key_id(keys_.public_key));
  EXPECT_EQ(verified->module_sha256, sha256_file(module_).value());
  EXPECT_EQ(verified->manifest_sha256, sha256(kManifest));
  auto check = check_component_signature(module_, manifest_, signature_);
  ASSERT_TRUE(check);
  ASSERT_TRUE(check->has_value());
  EXPECT_EQ((*check)->signer, keys_.public_key);
}

TEST_F(SigningTest, ChangingAnyByteOfTheModuleBreaksVerification) {
  sign_with(keys_);
  const std::string original = read_file(module_);
  ASSERT_GT(original.size(), 100u);
  for (size_t position : {size_t{0}, original.size() / 2, original.size() - 1}) {
    std::string changed = original;
    changed[position] = static_cast<char>(changed[position] ^ 0x01);
    write_file(module_, changed);
    expect_failure(verify(), ErrorCode::SignatureInvalid, "changed since it was signed");
    expect_failure(verify(), ErrorCode::SignatureInvalid, "module");
  }
  write_file(module_, original + "x");
  expect_failure(verify(), ErrorCode::SignatureInvalid, "module");
  write_file(module_, original.substr(0, original.size() - 1));
  expect_failure(verify(), ErrorCode::SignatureInvalid, "module");
  write_file(module_, original);
  EXPECT_TRUE(verify());
}

TEST_F(SigningTest, ChangingAnyByteOfTheManifestBreaksVerification) {
  sign_with(keys_);
  const std::string original(kManifest);
  for (size_t position : {size_t{0}, original.size() / 2, original.size() - 1}) {
    std::string changed = original;
    changed[position] = static_cast<char>(changed[position] ^ 0x20);
    write_file(manifest_, changed);
    expect_failure(verify(), ErrorCode::SignatureInvalid, "manifest");
    expect_failure(verify(), ErrorCode::SignatureInvalid, "changed since it was signed");
  }
  write_file(manifest_, original + "\n");
  expect_failure(verify(), ErrorCode::SignatureInvalid, "manifest");
  write_file(manifest_, original);
  EXPECT_TRUE(verify());
}

TEST_F(SigningTest, MissingFilesAreReportedAsSuch) {
  auto unsigned_result = verify();
  expect_failure(unsigned_result, ErrorCode::SignatureMissing, "not signed");
  auto check = check_component_signature(module_, manifest_, signature_);
  ASSERT_TRUE(check);
  EXPECT_FALSE(check->has_value());  // unsigned is not an error, just no signer

  sign_with(keys_);
  std::filesystem::rename(manifest_, dir_ / "elsewhere.toml");
  expect_failure(verify(), ErrorCode::IoError, "Component.toml");
  std::filesystem::rename(dir_ / "elsewhere.toml", manifest_);
  std::filesystem::remove(module_);
  expect_failure(verify(), ErrorCode::IoError, "compute.wasm");
}

TEST_F(SigningTest, ASignatureMadeByAnotherKeyFails) {
  // The file names keys_ as the signer, but other_keys_ made the signature.
  auto genuine = sign_component(module_, manifest_, keys_).value();
  auto forged = sign_component(module_, manifest_, other_keys_).value();
  forged.public_key = genuine.public_key;
  forged.key_id = genuine.key_id;
  ASSERT_TRUE(write_signature_file(signature_, forged));
  expect_failure(verify(), ErrorCode::SignatureInvalid, "bad signature");

  // Signed honestly by the other key: it verifies, but names that other key.
  sign_with(other_keys_);
  auto verified = verify();
  ASSERT_TRUE(verified);
  EXPECT_NE(verified->signer, keys_.public_key);
  EXPECT_EQ(verified->signer, other_keys_.public_key);
}

TEST_F(SigningTest, AKeyPairThatDoesNotBelongTogetherCannotSign) {
  KeyPair mixed{other_keys_.public_key, keys_.secret_key};
  auto record = sign_component(module_, manifest_, mixed);
  ASSERT_FALSE(record);
  EXPECT_EQ(record.error().code, ErrorCode::InvalidArgument);
}

TEST_F(SigningTest, ASwappedSignatureFileFails) {
  // A second component, signed by the same key.
  auto other_module = dir_ / "other.wasm";
  auto other_manifest = dir_ / "Other.toml";
  write_file(other_module, std::string("\0asm\x01\0\0\0", 8));
  write_file(other_manifest, "[component]\nname = \"other\"\nversion = \"0.1.0\"\n");
  auto other_record = sign_component(other_module, other_manifest, keys_).value();
  ASSERT_TRUE(write_signature_file(signature_, other_record));
  expect_failure(verify(), ErrorCode::SignatureInvalid, "another component");

  // Module and manifest exchanged against their own signature.
  sign_with(keys_);
  expect_failure(verify_component(manifest_, module_, signature_), ErrorCode::SignatureInvalid,
                 "changed");
}

TEST_F(SigningTest, AlteredSignatureFieldsFail) {
  auto record = sign_component(module_, manifest_, keys_).value();
  {
    auto changed = record;
    changed.signature[kSignatureBytes / 2] ^= 0x04;
    ASSERT_TRUE(write_signature_file(signature_, changed));
    expect_failure(verify(), ErrorCode::SignatureInvalid, "bad signature");
  }
  {
    // Recording the digest of a tampered module does not help without the key.
    std::string tampered = read_file(module_) + "payload";
    write_file(module_, tampered);
    auto changed = record;
    changed.module_sha256 = sha256(tampered);
    ASSERT_TRUE(write_signature_file(signature_, changed));
    expect_failure(verify(), ErrorCode::SignatureInvalid, "bad signature");
  }
}

TEST_F(SigningTest, TruncatedSignatureFilesFailWithAClearError) {
  sign_with(keys_);
  const std::string text = read_file(signature_);
  for (size_t length : {size_t{0}, size_t{1}, text.size() / 4, text.size() / 2, text.size() - 20,
                        text.size() - 3}) {
    write_file(signature_, text.substr(0, length));
    auto result = verify();
    ASSERT_FALSE(result) << length;
    EXPECT_EQ(result.error().code, ErrorCode::SignatureInvalid) << length;
    EXPECT_NE(result.error().message.find(signature_.string()), std::string::npos)
        << result.error().message;
  }
}

TEST_F(SigningTest, GarbledSignatureFilesFailWithAClearError) {
  sign_with(keys_);
  const std::string text = read_file(signature_);
  // Every byte position garbled in turn: none may verify.
  for (size_t position = 0; position < text.size(); ++position) {
    std::string garbled = text;
    garbled[position] = garbled[position] == '#' ? '%' : '#';
    write_file(signature_, garbled);
    auto result = verify();
    ASSERT_FALSE(result) << "position " << position;
    EXPECT_EQ(result.error().code, ErrorCode::SignatureInvalid) << position;
  }
  write_file(signature_, std::string("\x89PNG\r\n\x1a\n", 8));
  expect_failure(verify(), ErrorCode::SignatureInvalid, "malformed JSON");
}

TEST_F(SigningTest, UnknownOrMalformedFormatsFailWithSpecificMessages) {
  auto record = sign_component(module_, manifest_, keys_).value();
  const std::string good = signature_to_json(record);
  auto with = [&](std::string_view from, std::string_view to) {
    std::string text = good;
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
  };
  struct Case {
    std::string text;
    std::string_view message;
  };
  std::string sig_text = public_key_to_text(record.public_key);
  const Case cases[] = {
      {"[]", "expected a JSON object"},
      {"{}", "unknown format"},
      {with("airssys-wasm-signature", "minisign"), "unknown format"},
      {with("\"version\": 1", "\"version\": 2"),
       "unsupported airssys-wasm signature file format "
       "version 2"},
      {with("\"version\": 1", "\"version\": \"1\""), "'version'"},
      {with("\"ed25519\"", "\"rsa\""), "unsupported algorithm 'rsa'"},
      {with("\"sha256\"", "\"sha512\""), "unsupported hash 'sha512'"},
      {with("\"hash\"", "\"hashes\""), "unknown field 'hashes'"},
      {with("\"hash\": \"sha256\",", ""), "field 'hash' is missing"},
      {with(sig_text, "not base64"), "field 'public_key' is not standard base64"},
      {with(to_hex(record.module_sha256), "abc"), "'module_sha256' is not a SHA-256 digest"},
      {with(record.key_id, "0123456789abcdef"), "does not belong to the public key"},
      {with("\"signature\": \"", "\"signature\": \"AAAA"), "field 'signature' is not standard"},
  };
  for (const auto& c : cases) {
    write_file(signature_, c.text);
    expect_failure(verify(), ErrorCode::SignatureInvalid, c.message);
  }
  write_file(signature_, good);
  EXPECT_TRUE(verify());
}

}  // namespace
}  // namespace airssys::wasm::security

namespace airssys::wasm::security {
namespace {

// Found by fuzz_records: valid JSON whose number overflows a double made the
// parser throw past the signature reader, ending the host.
TEST(SignatureFile, ANumberOutOfRangeIsRefusedNotThrown) {
  const std::string text("{\"tim\":2e2222222222,,re2222r222222re\x9c\x41\0\0\0\0\0}[", 45);
  auto r = parse_signature_json(text, "hostile.sig");
  ASSERT_FALSE(r.has_value());
  auto r2 = parse_signature_json(R"({"format":"airssys-wasm-signature","version":1e999})",
                                 "hostile.sig");
  ASSERT_FALSE(r2.has_value());
  EXPECT_NE(r2.error().message.find("hostile.sig"), std::string::npos) << r2.error().message;
}

}  // namespace
}  // namespace airssys::wasm::security
