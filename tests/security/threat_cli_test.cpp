// The threat suite, part two: attacks on what decides whether a component
// runs at all (signatures, trust, dev mode, approvals), through the real
// airssys-wasm binary with a private AIRSSYS_HOME. The hostile component is
// files.wasm (tests/components/files.c) told to write a marker file into the
// directory its manifest grants: the marker exists exactly when it ran.
// Each scenario asserts the refusal (exit code and typed error), the record
// in the real audit log, that the component never ran, and a control run
// that shows the same component does run once legitimately admitted.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "airssys/wasm/security/audit.hpp"
#include "../support/hostile_modules.hpp"
#include "../support/home.hpp"
#include "subprocess.hpp"

namespace airssys::wasm::threat {
namespace {

namespace fs = std::filesystem;
using security::AuditRecord;
using security::AuditResult;
using testing::ProcessResult;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ThreatCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp.emplace("threat-cli");
    root = tmp->path();
    home = root / "home";
    fs::create_directories(home);
    ::chmod(home.c_str(), 0700);
    fs::create_directories(root / "box");
    fs::create_directories(root / "keys");
    scoped_home.emplace(home);
  }
  void TearDown() override {
    scoped_home.reset();
    tmp.reset();
  }

  static ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), AIRSSYS_CLI);
    auto r = testing::run_process(args);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.signal, 0) << r.err;
    return r;
  }

  std::string manifest(const std::string& write_grant) const {
    return "[component]\nname = \"intruder\"\nversion = \"1.0.0\"\n\n[capabilities]\n"
           "filesystem.write = [\"" +
           write_grant + "\"]\n";
  }

  // root/<name>: files.wasm and a manifest granting writes beneath root/box.
  fs::path component(const std::string& name) const {
    fs::path dir = root / name;
    fs::create_directories(dir);
    fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "files.wasm", dir / "component.wasm");
    write_file(dir / "Component.toml", manifest((root / "box").string() + "/**"));
    return dir;
  }

  // Runs the component, which writes root/box/<marker> if it runs at all.
  ProcessResult attack(const fs::path& dir, const std::string& marker,
                       std::vector<std::string> before = {}) {
    std::vector<std::string> args = {"run"};
    args.insert(args.end(), before.begin(), before.end());
    args.insert(args.end(), {dir.string(), "--", "write", (root / "box" / marker).string(), "owned"});
    return cli(args);
  }
  bool ran(const std::string& marker) const { return fs::exists(root / "box" / marker); }

  std::string keygen(const std::string& name) const {
    auto r = cli({"keygen", "--json", "--out", (root / "keys" / name).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out).value("key_id", "");
  }
  void trust_key(const std::string& name) const {
    auto r = cli({"trust", "add-key", name, (root / "keys" / (name + ".pub")).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  void sign(const fs::path& dir, const std::string& key) const {
    auto r = cli({"sign", "--key", (root / "keys" / (key + ".key")).string(), dir.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::vector<AuditRecord> audit(const std::string& permission, AuditResult result) const {
    std::vector<AuditRecord> out;
    std::istringstream in(read_file(home / "audit.log"));
    for (std::string line; std::getline(in, line);) {
      auto r = security::parse_audit_line(line);
      EXPECT_TRUE(r.has_value()) << line;
      if (r && r->permission == permission && r->result == result) out.push_back(*r);
    }
    return out;
  }

  fs::path root;
  fs::path home;
  std::optional<airssys::wasm::test::TempDir> tmp;
  std::optional<airssys::wasm::test::ScopedHome> scoped_home;
};

constexpr int kTrustExit = 6;

TEST_F(ThreatCli, T34_AForgedSignatureClaimingATrustedKeyIsRefused) {
  keygen("alice");
  keygen("mallory");
  trust_key("alice");
  // The control: signed by alice, trusted, it runs without an approval.
  auto genuine = component("genuine");
  sign(genuine, "alice");
  auto r = attack(genuine, "control");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(ran("control"));
  // Mallory signs, then claims alice's key in the signature file.
  auto forged = component("forged");
  sign(forged, "mallory");
  auto sig = nlohmann::json::parse(read_file(forged / "component.sig"));
  auto alice = nlohmann::json::parse(read_file(root / "keys/alice.pub"));
  sig["key_id"] = alice["key_id"];
  sig["public_key"] = alice["public_key"];
  write_file(forged / "component.sig", sig.dump(2));
  // Alice's real signature on another component, copied over.
  auto copied = component("copied");
  fs::copy_file(genuine / "component.sig", copied / "component.sig");
  write_file(copied / "Component.toml",
             manifest((root / "box").string() + "/**") + "# copied signature\n");
  for (const auto& dir : {forged, copied}) {
    SCOPED_TRACE(dir);
    r = attack(dir, "forged");
    EXPECT_EQ(r.exit_code, kTrustExit);
    EXPECT_TRUE(contains(r.err, "SignatureInvalid")) << r.err;
    EXPECT_FALSE(ran("forged"));
    r = attack(dir, "forged", {"--approve"});  // not even the operator's --approve
    EXPECT_EQ(r.exit_code, kTrustExit);
    EXPECT_FALSE(ran("forged"));
  }
  auto denied = audit("trust.signature", AuditResult::Denied);
  ASSERT_EQ(denied.size(), 4u);
  EXPECT_EQ(denied[0].layer, security::DecisionLayer::Trust);
  EXPECT_EQ(denied[0].resource, forged.string());
}

TEST_F(ThreatCli, T35_AModuleChangedOrUnsignedAfterSigningIsNotTrusted) {
  keygen("alice");
  trust_key("alice");
  auto dir = component("signed");
  sign(dir, "alice");
  // Another module in place of the signed one.
  auto swapped = root / "swapped";
  fs::copy(dir, swapped, fs::copy_options::recursive);
  fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "exit_code.wasm",
                swapped / "component.wasm", fs::copy_options::overwrite_existing);
  auto r = attack(swapped, "swapped");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "changed since it was signed")) << r.err;
  // One byte appended to the signed module (a valid module plus trailing junk).
  auto appended = root / "appended";
  fs::copy(dir, appended, fs::copy_options::recursive);
  std::ofstream(appended / "component.wasm", std::ios::binary | std::ios::app) << '\0';
  r = attack(appended, "appended");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "SignatureInvalid")) << r.err;
  // The signature removed: the component is merely unknown and needs an approval.
  auto unsigned_dir = root / "unsigned";
  fs::copy(dir, unsigned_dir, fs::copy_options::recursive);
  fs::remove(unsigned_dir / "component.sig");
  r = attack(unsigned_dir, "unsigned");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  EXPECT_FALSE(ran("swapped") || ran("appended") || ran("unsigned"));
  EXPECT_EQ(audit("trust.signature", AuditResult::Denied).size(), 2u);
  EXPECT_FALSE(audit("approval.check", AuditResult::Denied).empty());
  // The untouched original still runs.
  r = attack(dir, "control");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(ran("control"));
}

TEST_F(ThreatCli, T36_AManifestWidenedAfterSigningIsRefused) {
  keygen("alice");
  trust_key("alice");
  auto dir = component("signed");
  sign(dir, "alice");
  write_file(dir / "Component.toml", manifest("/**"));  // every path on the machine
  auto r = attack(dir, "widened");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "SignatureInvalid")) << r.err;
  EXPECT_TRUE(contains(r.err, "changed since it was signed")) << r.err;
  EXPECT_FALSE(ran("widened"));
  auto denied = audit("trust.signature", AuditResult::Denied);
  ASSERT_EQ(denied.size(), 1u);
  EXPECT_TRUE(contains(denied[0].reason, "Component.toml")) << denied[0].reason;
}

TEST_F(ThreatCli, T37_DevModeStaysOffUnlessTheOperatorSwitchesItOn) {
  // A component cannot switch dev mode on: not from its manifest...
  auto dir = component("intruder");
  auto asks = root / "asks";
  fs::copy(dir, asks, fs::copy_options::recursive);
  write_file(asks / "Component.toml",
             "[component]\nname = \"intruder\"\nversion = \"1.0.0\"\ndev_mode = true\n\n"
             "[trust]\ndev_mode = true\n\n[capabilities]\nfilesystem.write = [\"" +
                 (root / "box").string() + "/**\"]\n");
  auto r = attack(asks, "manifest");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "InvalidManifest")) << r.err;
  EXPECT_FALSE(contains(r.err, "DEV MODE")) << r.err;
  EXPECT_FALSE(audit("manifest.load", AuditResult::Denied).empty());
  // ...nor with a trust.toml of its own beside it, nor from the environment.
  write_file(dir / "trust.toml", "dev_mode = true\n");
  setenv("AIRSSYS_DEV_MODE", "1", 1);
  setenv("AIRSSYS_DEV", "1", 1);
  r = attack(dir, "environment");
  unsetenv("AIRSSYS_DEV_MODE");
  unsetenv("AIRSSYS_DEV");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  EXPECT_FALSE(contains(r.err, "DEV MODE")) << r.err;
  EXPECT_FALSE(ran("manifest") || ran("environment"));
  EXPECT_TRUE(audit("trust.dev-mode", AuditResult::Granted).empty());
  // Only the operator's switch turns it on, and then loudly.
  r = cli({"trust", "dev-mode", "on"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = attack(dir, "control");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "DEV MODE")) << r.err;
  EXPECT_TRUE(ran("control"));
}

TEST_F(ThreatCli, T38_AnApprovalCoversExactlyOneModuleAndCapabilitySet) {
  auto dir = component("intruder");
  auto r = attack(dir, "unapproved");
  ASSERT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  static const std::regex kApprove(R"(approvals approve ([0-9a-f]{64}))");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, kApprove)) << r.err;
  const std::string key = m[1].str();
  // Approving a key that was never requested is an error, not a blank cheque.
  EXPECT_NE(cli({"approvals", "approve", std::string(64, 'a')}).exit_code, 0);
  ASSERT_EQ(cli({"approvals", "approve", key}).exit_code, 0);
  r = attack(dir, "control");  // the control: approved, it runs
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(ran("control"));
  // The same name and manifest with another module is another request.
  auto swapped = root / "swapped";
  fs::copy(dir, swapped, fs::copy_options::recursive);
  fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "exit_code.wasm",
                swapped / "component.wasm", fs::copy_options::overwrite_existing);
  r = attack(swapped, "swapped");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  // The same module asking for more is another request too.
  write_file(dir / "Component.toml", manifest("/**"));
  r = attack(dir, "widened");
  EXPECT_EQ(r.exit_code, kTrustExit);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  ASSERT_TRUE(std::regex_search(r.err, m, kApprove)) << r.err;
  EXPECT_NE(m[1].str(), key);
  EXPECT_FALSE(ran("unapproved") || ran("swapped") || ran("widened"));
  EXPECT_GE(audit("approval.check", AuditResult::Denied).size(), 3u);
}

// A manifest cannot raise its own quotas past the operator: above the
// default it waits for an approval (no capability asked or not), and above a
// ceiling it is refused whoever approves, in dev mode too. grow.wasm
// allocates until refused and prints how much it got: it prints nothing when
// it never ran.
TEST_F(ThreatCli, T50_AManifestCannotRaiseItsOwnQuotasPastTheOperator) {
  write_file(home / "policy.toml", "[quota]\nmemory = \"8MB\"\n");
  fs::path dir = root / "hog";
  fs::create_directories(dir);
  fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "grow.wasm", dir / "component.wasm");
  const std::string head = "[component]\nname = \"hog\"\nversion = \"1.0.0\"\n\n[quota]\n";
  write_file(dir / "Component.toml", head + "memory = \"64MB\"\n");
  auto r = cli({"run", dir.string()});
  EXPECT_EQ(r.exit_code, kTrustExit) << r.err;
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(audit("approval.check", AuditResult::Denied).size(), 1u);

  write_file(home / "policy.toml", "[quota]\nmemory = \"8MB\"\n\n[ceiling]\nmemory = \"16MB\"\n");
  r = cli({"run", "--approve", dir.string()});
  EXPECT_EQ(r.exit_code, kTrustExit) << r.err;
  EXPECT_TRUE(contains(r.err, "QuotaExceeded")) << r.err;
  EXPECT_TRUE(contains(r.err, "quota.memory asks for 64 MiB, the ceiling is 16 MiB")) << r.err;
  EXPECT_EQ(r.out, "");
  ASSERT_EQ(cli({"trust", "dev-mode", "on"}).exit_code, 0);
  r = cli({"run", dir.string()});
  EXPECT_EQ(r.exit_code, kTrustExit) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(audit("quota.ceiling", AuditResult::Denied).size(), 2u);
  ASSERT_EQ(cli({"trust", "dev-mode", "off"}).exit_code, 0);

  // The control: within the default, it runs, with exactly the default.
  write_file(dir / "Component.toml", head + "memory = \"8MB\"\n");
  r = cli({"run", dir.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "allocated 7 MiB before malloc failed\n");
}

// The host's own messages carry the sender "host": no component may take
// that name, so none can pose as the host to a component that admits it.
TEST_F(ThreatCli, T51_NoComponentCanPoseAsTheHost) {
  auto dir = component("impostor");
  write_file(dir / "Component.toml",
             "[component]\nname = \"host\"\nversion = \"1.0.0\"\n\n[capabilities]\n"
             "messaging.send = [\"*\"]\n");
  auto r = cli({"run", "--approve", dir.string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, "\"host\" is reserved")) << r.err;
  EXPECT_EQ(audit("manifest.load", AuditResult::Denied).size(), 1u);
}

// T45: a module built to exhaust the native tier's C compiler (one function
// of 9000 straight-line stores, past the default function bound; one
// br_table of 40000 targets, past the default br_table bound), asking for the
// native tier itself. Nothing reaches a compiler: the component runs on the
// interpreter, on record, and no native code is cached.
TEST_F(ThreatCli, T45_AModuleBuiltToExhaustTheCompilerRunsOnTheInterpreter) {
  namespace hostile = airssys::wasm::testing;
  std::vector<uint8_t> files;
  {
    std::ifstream in(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "files.wasm", std::ios::binary);
    files.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_FALSE(files.empty());
  struct Case {
    std::string name;
    std::vector<uint8_t> body;
    std::string bound;
  };
  std::vector<Case> cases{{"stores", hostile::stores_body(9000), "max_function_size"},
                          {"brtable", hostile::br_table_body(40000), "max_br_table_targets"}};
  for (const auto& c : cases) {
    for (const char* tier : {"native", "auto"}) {
      SCOPED_TRACE(c.name + " " + tier);
      auto dir = component(c.name);
      auto bytes = hostile::with_exported_function(files, "bomb", c.body);
      std::ofstream(dir / "component.wasm", std::ios::binary | std::ios::trunc)
          .write(reinterpret_cast<const char*>(bytes.data()),
                 static_cast<std::streamsize>(bytes.size()));
      const std::string marker = c.name + "-" + tier;
      auto r = attack(dir, marker, {"--tier", tier, "--approve"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      EXPECT_TRUE(ran(marker)) << r.err;
      EXPECT_TRUE(contains(r.err, "runs on the interp tier")) << r.err;
      EXPECT_TRUE(contains(r.err, c.bound)) << r.err;
      bool recorded = false;
      for (const auto& record : audit("lifecycle.tier", AuditResult::Denied)) {
        recorded |= contains(record.reason, "CompileLimit") && contains(record.reason, c.bound);
      }
      EXPECT_TRUE(recorded);
      fs::remove_all(dir);
    }
  }
  // Nothing was compiled into the cache.
  size_t objects = 0;
  if (fs::exists(home / "cache" / "native")) {
    for (const auto& e : fs::directory_iterator(home / "cache" / "native")) {
      objects += e.path().extension() == ".so";
    }
  }
  EXPECT_EQ(objects, 0u);
}

}  // namespace
}  // namespace airssys::wasm::threat
