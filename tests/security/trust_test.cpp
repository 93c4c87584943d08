#include "airssys/wasm/security/trust.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <optional>
#include <string>

#include "trust_fixtures.hpp"

namespace airssys::wasm::security {
namespace {

using testing::file_mode;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

const SignatureCheck kUnsigned = std::optional<VerifiedSignature>();

SignatureCheck signed_by(const PublicKey& key) {
  VerifiedSignature v;
  v.signer = key;
  v.key_id = key_id(key);
  return std::optional<VerifiedSignature>(v);
}

void expect_config_error(std::string_view text, std::string_view expected) {
  auto config = TrustConfig::parse(text, "/etc/airssys/trust.toml");
  ASSERT_FALSE(config) << text;
  EXPECT_EQ(config.error().code, ErrorCode::InvalidConfig) << text;
  EXPECT_NE(config.error().message.find(expected), std::string::npos)
      << "'" << config.error().message << "' lacks '" << expected << "'";
}

// Restores an environment variable when it goes out of scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(TrustConfig, AMissingFileMeansNothingTrustedAndNoDevMode) {
  TempDir dir;
  auto config = TrustConfig::load(dir / "trust.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_FALSE(config->dev_mode());
  EXPECT_TRUE(config->keys().empty());
  EXPECT_TRUE(config->paths().empty());
  auto key = generate_key_pair().value().public_key;
  auto decision = config->decide(dir.path(), signed_by(key));
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->level, TrustLevel::Unknown);
  EXPECT_TRUE(decision->warning.empty());
  EXPECT_NE(decision->reason.find("not trusted"), std::string::npos);
}

TEST(TrustConfig, ParsesKeysPathsAndDevMode) {
  auto key = generate_key_pair().value().public_key;
  std::string text =
      "dev_mode = false\n\n[[trusted_keys]]\nname = \"release-team\"\npublic_key = \"" +
      public_key_to_text(key) +
      "\"\n\n[[trusted_paths]]\npattern = \"/srv/airssys/components/**\"\n";
  auto config = TrustConfig::parse(text, "trust.toml");
  ASSERT_TRUE(config) << config.error().to_string();
  EXPECT_FALSE(config->dev_mode());
  ASSERT_EQ(config->keys().size(), 1u);
  EXPECT_EQ(config->keys()[0].name, "release-team");
  EXPECT_EQ(config->keys()[0].public_key, key);
  ASSERT_EQ(config->paths().size(), 1u);
  EXPECT_EQ(config->paths()[0].pattern, "/srv/airssys/components/**");

  auto dev = TrustConfig::parse("dev_mode = true\n", "trust.toml");
  ASSERT_TRUE(dev);
  EXPECT_TRUE(dev->dev_mode());
  EXPECT_TRUE(TrustConfig::parse("", "trust.toml").has_value());
}

TEST(TrustConfig, BadValuesFailClosedNamingFileLineKeyAndRule) {
  std::string key = public_key_to_text(generate_key_pair().value().public_key);
  expect_config_error("dev-mode = true\n", "/etc/airssys/trust.toml:1: dev-mode: unknown key");
  expect_config_error("\n\ndev_mode = \"yes\"\n", "trust.toml:3: dev_mode: must be true or false");
  expect_config_error("dev_mode = 1\n", "dev_mode: must be true or false, found an integer");
  expect_config_error("trusted_keys = \"all\"\n", "trusted_keys: must be an array of tables");
  expect_config_error("trusted_keys = [1]\n", "trusted_keys[0]: must be a table");
  expect_config_error("[[trusted_keys]]\nname = \"a\"\npublic_key = \"" + key + "\"\nweight = 2\n",
                      "trust.toml:4: trusted_keys[0].weight: unknown key");
  expect_config_error("[[trusted_keys]]\nname = \"a\"\n",
                      "trust.toml:1: trusted_keys[0].public_key: is required");
  expect_config_error("[[trusted_keys]]\nname = \"a\"\npublic_key = \"abc\"\n",
                      "trust.toml:3: trusted_keys[0].public_key: is not an Ed25519 public key");
  expect_config_error("[[trusted_keys]]\nname = 5\npublic_key = \"" + key + "\"\n",
                      "trusted_keys[0].name: must be a string, found an integer");
  expect_config_error("[[trusted_keys]]\nname = \"bad name\"\npublic_key = \"" + key + "\"\n",
                      "not a valid key name");
  expect_config_error("[[trusted_keys]]\nname = \"a\"\npublic_key = \"" + key +
                          "\"\n[[trusted_keys]]\nname = \"b\"\npublic_key = \"" + key + "\"\n",
                      "trust.toml:5: trusted_keys[1]: key id");
  expect_config_error("[[trusted_keys]]\nname = \"a\"\npublic_key = \"" + key +
                          "\"\n[[trusted_keys]]\nname = \"a\"\npublic_key = \"" +
                          public_key_to_text(generate_key_pair().value().public_key) + "\"\n",
                      "named 'a' already exists");
  expect_config_error("[[trusted_paths]]\npattern = \"srv/x\"\n",
                      "trust.toml:2: trusted_paths[0].pattern: trusted path pattern 'srv/x' is "
                      "not an absolute path");
  expect_config_error("[[trusted_paths]]\npattern = \"/srv/../etc\"\n", "'..' segment");
  expect_config_error("[[trusted_paths]]\npattern = \"/**\"\n", "starts with a wildcard");
  expect_config_error("[[trusted_paths]]\npattern = \"/*/x\"\n", "starts with a wildcard");
  expect_config_error("[[trusted_paths]]\npattern = \"/\"\n", "root directory");
  expect_config_error("[[trusted_paths]]\npattern = \"/srv/a**\"\n", "must be a whole segment");
  expect_config_error("[[trusted_paths]]\npattern = \"/srv/?\"\n", "only '*' and '**'");
  expect_config_error("[[trusted_paths]]\npattern = \"/srv//x\"\n", "empty");
  expect_config_error("[[trusted_paths]]\npattern = \"/srv/x/\"\n", "ends with '/'");
  expect_config_error("[[trusted_paths]]\npattern = \"/a\"\n[[trusted_paths]]\npattern = \"/a\"\n",
                      "already present");
  expect_config_error("[[trusted_paths]]\nglob = \"/a\"\n", "trusted_paths[0].glob: unknown key");
  expect_config_error("dev_mode = true\ndev_mode = false\n",
                      "trust.toml:2: TOML syntax error at column");
  expect_config_error("dev_mode = \n", "trust.toml:1:");
}

TEST(TrustConfig, EveryProblemIsReportedInFileOrder) {
  auto config = TrustConfig::parse(
      "dev_mode = \"yes\"\n[[trusted_keys]]\nname = \"a\"\npublic_key = \"abc\"\n"
      "[[trusted_paths]]\npattern = \"srv/x\"\nglob = 1\n",
      "trust.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, ErrorCode::InvalidConfig);
  const std::string& message = config.error().message;
  EXPECT_EQ(message,
            "trust.toml:1: dev_mode: must be true or false, found a string\n"
            "trust.toml:4: trusted_keys[0].public_key: is not an Ed25519 public key (standard "
            "base64 of 32 bytes, as printed by keygen)\n"
            "trust.toml:6: trusted_paths[0].pattern: trusted path pattern 'srv/x' is not an "
            "absolute path (it must start with '/')\n"
            "trust.toml:7: trusted_paths[0].glob: unknown key (a trusted_paths entry has only: "
            "pattern)");
  std::string deep;
  for (int i = 0; i < 200'000; ++i) deep += "a.";
  auto nested = TrustConfig::parse(deep + "a = 1\n", "trust.toml");
  ASSERT_FALSE(nested);
  EXPECT_EQ(nested.error().message,
            "trust.toml:1: more than 1000 '.' on one line: keys nested this deep are refused");
}

TEST(TrustConfig, AFileOthersMayWriteIsRefused) {
  TempDir dir;
  write_file(dir / "trust.toml", "dev_mode = false\n");
  ASSERT_EQ(::chmod((dir / "trust.toml").c_str(), 0664), 0);
  auto config = TrustConfig::load(dir / "trust.toml");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, ErrorCode::InvalidConfig);
  EXPECT_NE(config.error().message.find("chmod go-w"), std::string::npos);
  ASSERT_EQ(::chmod((dir / "trust.toml").c_str(), 0644), 0);
  EXPECT_TRUE(TrustConfig::load(dir / "trust.toml"));
}

TEST(TrustConfig, AFileAnotherUserOwnsIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  TempDir dir;
  write_file(dir / "trust.toml", "dev_mode = true\n");
  ASSERT_EQ(::chown((dir / "trust.toml").c_str(), 65534, 65534), 0);
  auto config = TrustConfig::load(dir / "trust.toml");
  ASSERT_FALSE(config);
  EXPECT_NE(config.error().message.find("belongs to another user (uid 65534)"), std::string::npos)
      << config.error().message;
  ASSERT_EQ(::chown((dir / "trust.toml").c_str(), 0, 0), 0);
  EXPECT_TRUE(TrustConfig::load(dir / "trust.toml"));
}

TEST(TrustedPaths, MatchWholeDirectoryPaths) {
  struct Case {
    std::string_view pattern;
    std::string_view dir;
    bool match;
  };
  const Case cases[] = {
      {"/srv/apps", "/srv/apps", true},
      {"/srv/apps", "/srv/apps/x", false},
      {"/srv/apps", "/srv", false},
      {"/srv/apps/**", "/srv/apps", true},
      {"/srv/apps/**", "/srv/apps/a", true},
      {"/srv/apps/**", "/srv/apps/a/b/c", true},
      {"/srv/apps/**", "/srv/appsx", false},
      {"/srv/apps/**", "/srv/appsx/a", false},
      {"/srv/apps/**", "/srv", false},
      {"/srv/apps/*", "/srv/apps/a", true},
      {"/srv/apps/*", "/srv/apps/.hidden", true},
      {"/srv/apps/*", "/srv/apps", false},
      {"/srv/apps/*", "/srv/apps/a/b", false},
      {"/srv/*/bin", "/srv/x/bin", true},
      {"/srv/*/bin", "/srv/x/y/bin", false},
      {"/srv/**/bin", "/srv/bin", true},
      {"/srv/**/bin", "/srv/x/y/bin", true},
      {"/srv/**/bin", "/srv/x/y/bin/z", false},
      {"/srv/app-*", "/srv/app-1", true},
      {"/srv/app-*", "/srv/app-", true},
      {"/srv/app-*", "/srv/app", false},
      {"/srv/*-prod", "/srv/orders-prod", true},
      {"/srv/*-prod", "/srv/orders-prod-2", false},
      {"/srv/**/x/**/y", "/srv/a/x/b/c/y", true},
      {"/srv/**/x/**/y", "/srv/x/y", true},
      {"/srv/**/x/**/y", "/srv/a/b/y", false},
      {"/srv/apps/**", "/srv/apps/../etc", false},
      {"/srv/apps/**", "srv/apps/a", false},
      {"/srv/apps/**", "/srv/apps/a/", false},
      {"/**", "/etc", false},  // an invalid pattern matches nothing
  };
  for (const auto& c : cases) {
    EXPECT_EQ(trusted_path_matches(c.pattern, c.dir), c.match) << c.pattern << " vs " << c.dir;
  }
}

TEST(TrustDecision, TrustedKeyTrustedPathAndUnknown) {
  auto trusted = generate_key_pair().value().public_key;
  auto stranger = generate_key_pair().value().public_key;
  TrustConfig config;
  ASSERT_TRUE(config.add_key("release-team", trusted));
  ASSERT_TRUE(config.add_path("/srv/local/**"));

  auto by_key = config.decide("/home/u/comp", signed_by(trusted)).value();
  EXPECT_EQ(by_key.level, TrustLevel::Trusted);
  EXPECT_NE(by_key.reason.find("release-team"), std::string::npos) << by_key.reason;
  EXPECT_NE(by_key.reason.find(key_id(trusted)), std::string::npos);
  EXPECT_TRUE(by_key.warning.empty());

  auto by_path = config.decide("/srv/local/orders", kUnsigned).value();
  EXPECT_EQ(by_path.level, TrustLevel::Trusted);
  EXPECT_NE(by_path.reason.find("/srv/local/**"), std::string::npos) << by_path.reason;

  auto stranger_under_path = config.decide("/srv/local/orders", signed_by(stranger)).value();
  EXPECT_EQ(stranger_under_path.level, TrustLevel::Trusted);

  auto unknown = config.decide("/home/u/comp", signed_by(stranger)).value();
  EXPECT_EQ(unknown.level, TrustLevel::Unknown);
  EXPECT_NE(unknown.reason.find(key_id(stranger)), std::string::npos) << unknown.reason;
  auto unsigned_unknown = config.decide("/home/u/comp", kUnsigned).value();
  EXPECT_EQ(unsigned_unknown.level, TrustLevel::Unknown);
  EXPECT_NE(unsigned_unknown.reason.find("not signed"), std::string::npos);

  auto relative = config.decide("srv/local/orders", kUnsigned);
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, ErrorCode::InvalidArgument);
  EXPECT_FALSE(config.decide("/srv/local/../../etc", kUnsigned));
}

TEST(TrustDecision, DevModeMakesEverythingDevModeLoudly) {
  auto trusted = generate_key_pair().value().public_key;
  auto config =
      TrustConfig::parse("dev_mode = true\n[[trusted_keys]]\nname = \"k\"\npublic_key = \"" +
                             public_key_to_text(trusted) + "\"\n",
                         "/home/dev/.airssys/trust.toml")
          .value();
  for (const auto& check : {kUnsigned, signed_by(trusted)}) {
    auto decision = config.decide("/home/dev/comp", check).value();
    EXPECT_EQ(decision.level, TrustLevel::DevMode);
    EXPECT_NE(decision.warning.find("DEV MODE"), std::string::npos);
    EXPECT_NE(decision.warning.find("/home/dev/.airssys/trust.toml"), std::string::npos);
    EXPECT_NE(decision.reason.find("dev_mode = true"), std::string::npos);
  }
}

TEST(TrustDecision, AFailedSignatureIsAnErrorNeverTrust) {
  auto trusted = generate_key_pair().value().public_key;
  TrustConfig config;
  ASSERT_TRUE(config.add_key("release", trusted));
  ASSERT_TRUE(config.add_path("/srv/local/**"));
  SignatureCheck failed =
      make_error(ErrorCode::SignatureInvalid, "module changed since it was signed");
  for (bool dev : {false, true}) {
    config.set_dev_mode(dev);
    auto decision = config.decide("/srv/local/orders", failed);
    ASSERT_FALSE(decision) << "dev_mode " << dev;
    EXPECT_EQ(decision.error().code, ErrorCode::SignatureInvalid);
    EXPECT_EQ(decision.error().message, "module changed since it was signed");
  }
}

TEST(TrustDecision, WorksWithRealSignatures) {
  TempDir dir;
  write_file(dir / "app.wasm", std::string("\0asm\x01\0\0\0", 8));
  write_file(dir / "Component.toml", "[component]\nname = \"app\"\nversion = \"1.0.0\"\n");
  auto keys = generate_key_pair().value();
  auto record = sign_component(dir / "app.wasm", dir / "Component.toml", keys).value();
  ASSERT_TRUE(write_signature_file(dir / "app.sig", record));
  TrustConfig config;
  ASSERT_TRUE(config.add_key("me", keys.public_key));
  auto canonical = std::filesystem::canonical(dir.path());
  auto check = [&] {
    return check_component_signature(dir / "app.wasm", dir / "Component.toml", dir / "app.sig");
  };
  EXPECT_EQ(config.decide(canonical, check()).value().level, TrustLevel::Trusted);
  write_file(dir / "Component.toml", "[component]\nname = \"app\"\nversion = \"6.6.6\"\n");
  auto tampered = config.decide(canonical, check());
  ASSERT_FALSE(tampered);
  EXPECT_EQ(tampered.error().code, ErrorCode::SignatureInvalid);
  std::filesystem::remove(dir / "app.sig");
  EXPECT_EQ(config.decide(canonical, check()).value().level, TrustLevel::Unknown);
}

TEST(TrustConfigEditing, AddRemoveAndRefuseDuplicates) {
  auto a = generate_key_pair().value().public_key;
  auto b = generate_key_pair().value().public_key;
  TrustConfig config;
  ASSERT_TRUE(config.add_key("a", a));
  EXPECT_FALSE(config.add_key("a", b));
  EXPECT_FALSE(config.add_key("other", a));
  EXPECT_FALSE(config.add_key("", b));
  EXPECT_FALSE(config.add_key("-lead", b));
  ASSERT_TRUE(config.add_key("b", b));
  ASSERT_TRUE(config.remove_key(key_id(a)));  // by key id
  ASSERT_EQ(config.keys().size(), 1u);
  EXPECT_EQ(config.keys()[0].name, "b");
  ASSERT_TRUE(config.remove_key("b"));  // by name
  auto gone = config.remove_key("b");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::NotFound);

  ASSERT_TRUE(config.add_path("/opt/x/**"));
  EXPECT_FALSE(config.add_path("/opt/x/**"));
  EXPECT_FALSE(config.add_path("relative/**"));
  ASSERT_TRUE(config.remove_path("/opt/x/**"));
  EXPECT_EQ(config.remove_path("/opt/x/**").error().code, ErrorCode::NotFound);
}

TEST(TrustConfigEditing, SaveWritesAWholeFileThatLoadsBack) {
  TempDir dir;
  auto file = dir / "nested" / "home" / "trust.toml";
  auto a = generate_key_pair().value().public_key;
  TrustConfig config;
  config.set_dev_mode(true);
  ASSERT_TRUE(config.add_key("release.team_1", a));
  ASSERT_TRUE(config.add_path("/srv/local/**"));
  ASSERT_TRUE(config.add_path("/srv/\"quoted\" dir/*"));
  ASSERT_TRUE(config.save(file)) << config.save(file).error().to_string();
  EXPECT_EQ(file_mode(file), 0644u);

  auto loaded = TrustConfig::load(file);
  ASSERT_TRUE(loaded) << loaded.error().to_string() << "\n" << read_file(file);
  EXPECT_TRUE(loaded->dev_mode());
  ASSERT_EQ(loaded->keys().size(), 1u);
  EXPECT_EQ(loaded->keys()[0].name, "release.team_1");
  EXPECT_EQ(loaded->keys()[0].public_key, a);
  ASSERT_EQ(loaded->paths().size(), 2u);
  EXPECT_EQ(loaded->paths()[1].pattern, "/srv/\"quoted\" dir/*");
  EXPECT_EQ(loaded->source(), file.string());
  EXPECT_NE(read_file(file).find(key_id(a)), std::string::npos);

  // Replace the file; nothing else is left in the directory.
  loaded->set_dev_mode(false);
  ASSERT_TRUE(loaded->remove_key("release.team_1"));
  ASSERT_TRUE(loaded->save(file));
  auto reloaded = TrustConfig::load(file).value();
  EXPECT_FALSE(reloaded.dev_mode());
  EXPECT_TRUE(reloaded.keys().empty());
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator(file.parent_path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST(TrustConfigEditing, AFailedSaveLeavesTheOldFile) {
  TempDir dir;
  auto file = dir / "trust.toml";
  write_file(file, "dev_mode = false\n");
  TrustConfig config;
  config.set_dev_mode(true);
  ASSERT_TRUE(config.add_path("/srv/a-long-enough-pattern/**"));
  // A file size limit makes the write of the temporary file fail part-way, even for root.
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old_limit;
  small.rlim_cur = 16;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  auto saved = config.save(file);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(saved);
  EXPECT_EQ(saved.error().code, ErrorCode::IoError);
  EXPECT_EQ(read_file(file), "dev_mode = false\n");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // the partial temporary file is gone
}

TEST(DefaultLocation, AirssysHomeOrHomeDotAirssys) {
  {
    ScopedEnv home("AIRSSYS_HOME", "/var/lib/airssys");
    EXPECT_EQ(default_trust_config_path().value(), "/var/lib/airssys/trust.toml");
  }
  {
    ScopedEnv airssys_home_env("AIRSSYS_HOME", nullptr);
    ScopedEnv home("HOME", "/home/ops");
    EXPECT_EQ(default_trust_config_path().value(), "/home/ops/.airssys/trust.toml");
    EXPECT_EQ(airssys_home().value(), "/home/ops/.airssys");
  }
  {
    ScopedEnv airssys_home_env("AIRSSYS_HOME", "");
    ScopedEnv home("HOME", "/home/ops");
    EXPECT_EQ(default_trust_config_path().value(), "/home/ops/.airssys/trust.toml");
  }
  {
    ScopedEnv airssys_home_env("AIRSSYS_HOME", "relative/dir");
    EXPECT_EQ(default_trust_config_path().error().code, ErrorCode::InvalidArgument);
  }
  {
    ScopedEnv airssys_home_env("AIRSSYS_HOME", nullptr);
    ScopedEnv home("HOME", nullptr);
    EXPECT_FALSE(default_trust_config_path());
  }
}

TEST(TrustLevelNames, EveryLevelHasOneNameThatParsesBack) {
  for (auto [level, name] :
       {std::pair{TrustLevel::Trusted, "trusted"}, std::pair{TrustLevel::Unknown, "unknown"},
        std::pair{TrustLevel::DevMode, "dev-mode"}}) {
    EXPECT_EQ(trust_level_name(level), name);
    EXPECT_EQ(parse_trust_level(name), level);
  }
  EXPECT_FALSE(parse_trust_level("Trusted"));
  EXPECT_FALSE(parse_trust_level("dev_mode"));
  EXPECT_FALSE(parse_trust_level(""));
}

}  // namespace
}  // namespace airssys::wasm::security
