// The security features end to end, through the real airssys-wasm binary:
// manifests, approvals, signing, trust, dev mode, host policy and the audit
// log. Every test builds its component directories at run time and runs the
// binary with a private AIRSSYS_HOME of its own.
// Longer than 900 lines: one binary, one private home per test, and every
// security feature of the command line; split by feature it would repeat
// the fixtures that build component directories.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "airssys/wasm/security/approval.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "../support/home.hpp"
#include "subprocess.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ProcessResult;
using testing::run_process;

// No run of the binary ever touches the real ~/.airssys, even outside a test
// fixture; each fixture below narrows this to a home of its own.
[[maybe_unused]] auto* const kPrivateHome =
    ::testing::AddGlobalTestEnvironment(new airssys::wasm::test::PrivateHome);

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// Changes exactly one byte of a file: the byte at `at` gets its lowest bit flipped.
void flip_one_byte(const fs::path& path, size_t at) {
  std::string bytes = read_file(path);
  ASSERT_LT(at, bytes.size()) << path;
  bytes[at] = static_cast<char>(bytes[at] ^ 0x01);
  write_file(path, bytes);
}

std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not in:\n" << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A record for the rotation test, named by its resource.
security::AuditRecord rotated_record(const std::string& resource) {
  security::AuditRecord r;
  r.time = std::chrono::system_clock::now();
  r.component = "tester";
  r.resource = resource;
  r.permission = "test.rotation";
  r.result = security::AuditResult::Granted;
  r.reason = "written by the test";
  r.layer = security::DecisionLayer::Component;
  return r;
}

json parse_json(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON:\n" << text;
  return j;
}

std::string sha256_hex(const fs::path& file) {
  auto digest = security::sha256_file(file);
  EXPECT_TRUE(digest.has_value()) << file;
  return digest ? security::to_hex(*digest) : std::string();
}

// exit_code.wasm exits with the status given as its first argument; this
// manifest asks for two capabilities.
constexpr const char* kProbeManifest = R"([component]
name = "exit-probe"
version = "1.2.0"
description = "Exits with the status it is given"

[capabilities]
filesystem.read = ["/srv/data/*"]
network.connect = ["api.example.com:443"]

[quota]
memory = "16MB"
storage = "50MB"
)";

constexpr const char* kProbeCapabilities =
    "filesystem.read /srv/data/*\nnetwork.connect api.example.com:443\n";

// The output of wasi_probe.wasm run with the single argument "hello".
constexpr const char* kWasiProbeOutput =
    "argc=2\nargv[0]=component.wasm\nargv[1]=hello\nenvc=0\nrealtime_ok=1 monotonic_ok=1\n"
    "random_differs=1\nopen_passwd=-1\n";

class SecurityCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.emplace("seccli");
    root_ = tmp_->path();
    home_ = root_ / "home";
    fs::create_directory(home_);
    fs::create_directory(root_ / "keys");
    ::chmod(home_.c_str(), 0700);
    scoped_home_.emplace(home_);
  }

  void TearDown() override {
    scoped_home_.reset();
    tmp_.reset();
  }

  static ProcessResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), AIRSSYS_CLI);
    auto r = run_process(args);
    EXPECT_FALSE(r.timed_out) << "airssys-wasm did not finish";
    EXPECT_EQ(r.signal, 0) << "airssys-wasm died of signal " << r.signal << "\n" << r.err;
    return r;
  }

  // root/<name>/component.wasm copied from a built test component, and
  // Component.toml when a manifest is given.
  std::string component(const std::string& name, const std::string& wasm,
                        const std::optional<std::string>& manifest = kProbeManifest) const {
    fs::path dir = root_ / name;
    fs::create_directories(dir);
    fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / wasm, dir / "component.wasm",
                  fs::copy_options::overwrite_existing);
    if (manifest) write_file(dir / "Component.toml", *manifest);
    return dir.string();
  }

  std::string copy_dir(const std::string& from, const std::string& name) const {
    fs::path to = root_ / name;
    fs::copy(from, to, fs::copy_options::recursive);
    return to.string();
  }

  // keygen --out root/keys/<name>; returns the key id.
  std::string keygen(const std::string& name) const {
    auto r = cli({"keygen", "--json", "--out", key_prefix(name)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = parse_json(r.out);
    return j.is_object() ? j.value("key_id", "") : std::string();
  }
  std::string key_prefix(const std::string& name) const { return (root_ / "keys" / name).string(); }

  // Every record of the audit log, each checked for the fields every record has.
  std::vector<json> audit_records(const fs::path& log = {}) const {
    std::vector<json> records;
    static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
    for (const auto& line : lines_of(read_file(log.empty() ? home_ / "audit.log" : log))) {
      json j = parse_json(line);
      if (j.is_discarded()) continue;
      for (const char* field :
           {"time", "component", "resource", "permission", "result", "trust", "reason", "layer"}) {
        EXPECT_TRUE(j.contains(field)) << field << " missing in " << line;
      }
      EXPECT_TRUE(j["time"].is_string() && std::regex_match(j["time"].get<std::string>(), kTime))
          << line;
      for (const char* field : {"component", "resource", "permission", "reason"}) {
        EXPECT_TRUE(j[field].is_string()) << field << " in " << line;
      }
      EXPECT_TRUE(j["result"] == "granted" || j["result"] == "denied") << line;
      EXPECT_TRUE(j["trust"].is_null() || j["trust"] == "trusted" || j["trust"] == "unknown" ||
                  j["trust"] == "dev-mode")
          << line;
      static const std::set<std::string> kLayers = {"component", "host-policy", "trust", "approval",
                                                    "quota",     "messaging",   "audit"};
      EXPECT_TRUE(j["layer"].is_string() && kLayers.count(j["layer"].get<std::string>()) == 1)
          << line;
      records.push_back(std::move(j));
    }
    return records;
  }

  std::vector<json> audit_records_for(const std::string& permission) const {
    std::vector<json> out;
    for (auto& r : audit_records()) {
      if (r["permission"] == permission) out.push_back(r);
    }
    return out;
  }

  json approvals(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {"approvals", "list", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    json j = parse_json(r.out);
    EXPECT_TRUE(j.is_array()) << r.out;
    return j;
  }

  static json approval_entry(const json& list, const std::string& key) {
    for (const auto& e : list) {
      if (e.is_object() && e.value("key", std::string()) == key) return e;
    }
    ADD_FAILURE() << "no approval entry " << key << " in " << list.dump(2);
    return json::object();
  }

  // The key a refusal tells the operator to approve.
  static std::string key_to_approve(const std::string& message) {
    static const std::regex kApprove(R"(airssys-wasm approvals approve ([0-9a-f]{64}))");
    std::smatch m;
    EXPECT_TRUE(std::regex_search(message, m, kApprove)) << message;
    return m.size() > 1 ? m[1].str() : std::string();
  }

  fs::path root_;
  fs::path home_;
  std::optional<airssys::wasm::test::TempDir> tmp_;
  std::optional<airssys::wasm::test::ScopedHome> scoped_home_;
};

// 1 -------------------------------------------------------------------------

TEST_F(SecurityCli, ValidateAcceptsAGoodManifestAndNamesEveryProblemOfABadOne) {
  auto good = component("good", "exit_code.wasm");
  auto r = cli({"validate", good});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, good + "/Component.toml: valid (exit-probe 1.2.0, 2 capability patterns)\n");
  EXPECT_EQ(r.err, "");
  r = cli({"validate", good + "/Component.toml"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, good + "/Component.toml: valid (exit-probe 1.2.0, 2 capability patterns)\n");

  r = cli({"validate", "--json", good});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = parse_json(r.out);
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["file"], good + "/Component.toml");
  EXPECT_EQ(j["problems"], json::array());
  EXPECT_EQ(j["component"], json({{"name", "exit-probe"}, {"version", "1.2.0"}}));
  EXPECT_EQ(j["capabilities"], json({{"filesystem.read", {"/srv/data/*"}},
                                     {"network.connect", {"api.example.com:443"}}}));

  auto bad = component("bad", "exit_code.wasm", R"([component]
name = "Bad_Name"
version = "1.0"

[capabilities]
filesystem.read = ["relative/path", "/srv/../etc"]
network.connect = ["api.example.com:*", "db.example.com:70000"]
storage.read = []
messaging.send = ["billing", "billing"]

[quota]
memory = "12XB"

[extra]
x = 1
)");
  const std::string file = bad + "/Component.toml";
  struct Expected {
    int line;
    std::string key;
    std::string rule;  // a part of the rule's text
  };
  const std::vector<Expected> expected = {
      {2, "component.name", "\"Bad_Name\" is not a valid component name"},
      {3, "component.version", "\"1.0\" is not a SemVer 2.0.0 version"},
      {6, "capabilities.filesystem.read[0]", "\"relative/path\" is not an absolute path"},
      {6, "capabilities.filesystem.read[1]", "\"/srv/../etc\" has a '..' segment"},
      {7, "capabilities.network.connect[0]", "\"api.example.com:*\" has a wildcard port"},
      {7, "capabilities.network.connect[1]", "port 70000 outside 1-65535"},
      {8, "capabilities.storage.read", "empty array"},
      {9, "capabilities.messaging.send[1]", "\"billing\" is a duplicate"},
      {12, "quota.memory", "unknown unit 'XB' in '12XB'"},
      {14, "extra", "unknown section or key"},
  };
  r = cli({"validate", bad});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  auto lines = lines_of(r.err);
  ASSERT_EQ(lines.size(), expected.size() + 1) << r.err;
  std::vector<std::string> rules;  // the text after "file:line: key: "
  for (size_t i = 0; i < expected.size(); ++i) {
    std::string prefix =
        file + ":" + std::to_string(expected[i].line) + ": " + expected[i].key + ": ";
    EXPECT_EQ(lines[i].rfind(prefix, 0), 0u) << "expected " << prefix << "\n got " << lines[i];
    EXPECT_TRUE(contains(lines[i], expected[i].rule)) << lines[i];
    rules.push_back(lines[i].substr(std::min(prefix.size(), lines[i].size())));
  }
  EXPECT_EQ(lines.back(), file + ": 10 problems; the component will not start");

  r = cli({"validate", "--json", bad});
  EXPECT_EQ(r.exit_code, 3);
  j = parse_json(r.out);
  EXPECT_EQ(j["valid"], false);
  EXPECT_FALSE(j.contains("component"));
  ASSERT_EQ(j["problems"].size(), expected.size()) << r.out;
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& p = j["problems"][i];
    EXPECT_EQ(p["file"], file);
    EXPECT_EQ(p["line"], expected[i].line);
    EXPECT_EQ(p["key"], expected[i].key);
    EXPECT_EQ(p["rule"], rules[i]) << "the human and JSON forms give the same rule";
  }

  // `run` refuses the component as a whole, with every problem, on the record.
  r = cli({"run", bad, "--", "42"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "InvalidManifest")) << r.err;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(contains(r.err, lines[i])) << lines[i] << "\nin:\n" << r.err;
  }
  auto refusals = audit_records_for("manifest.load");
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0]["result"], "denied");
  EXPECT_EQ(refusals[0]["resource"], bad);
  EXPECT_EQ(refusals[0]["layer"], "component");
  EXPECT_TRUE(refusals[0]["trust"].is_null());
  EXPECT_TRUE(contains(refusals[0]["reason"], file + ":14: extra: unknown section or key"))
      << refusals[0];
  EXPECT_EQ(approvals(), json::array()) << "a refused manifest never reaches the approval queue";

  r = cli({"validate", (fs::path(bad) / "missing.toml").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(contains(r.err, "cannot read " + bad + "/missing.toml: No such file or directory"))
      << r.err;
}

// A module says one thing about itself and is never read as a manifest: the
// official preview1 adapter's core module (whose name section is unreadable)
// is valid with a warning; a module cut short is a decode error.
TEST_F(SecurityCli, ValidateOfAModuleChecksTheModuleAlone) {
  const std::string adapter =
      std::string(AIRSSYS_SOURCE_DIR) + "/tests/outside/preview1-adapter.core.wasm";
  auto r = cli({"validate", adapter});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, adapter + ": valid module (")) << r.out;
  EXPECT_TRUE(contains(r.err, adapter + ": warning: name section at 0x")) << r.err;
  EXPECT_FALSE(contains(r.err, "TOML")) << r.err;
  r = cli({"validate", "--json", adapter});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = parse_json(r.out);
  EXPECT_EQ(j["kind"], "module");
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["warnings"].size(), 1u) << r.out;

  std::ifstream in(adapter, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = (root_ / "cut.wasm").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  r = cli({"validate", cut});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_TRUE(contains(r.err, "MalformedModule")) << r.err;
  EXPECT_FALSE(contains(r.err, "TOML")) << r.err;
}

// 2 -------------------------------------------------------------------------

TEST_F(SecurityCli, ABareModuleOrAManifestThatAsksForNothingRunsWithoutApproval) {
  auto bare = component("bare", "wasi_probe.wasm", std::nullopt);
  // The probe's try at /etc/passwd is a denial, printed as `up` prints it,
  // after the component's own output.
  const std::string denied_passwd =
      "denied: component filesystem.read /etc/passwd (component: permission not granted)\n";
  auto r = cli({"run", bare, "--", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kWasiProbeOutput);
  EXPECT_EQ(r.err, "to stderr\n" + denied_passwd);
  r = cli({"run", bare + "/component.wasm", "--", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kWasiProbeOutput);
  EXPECT_FALSE(fs::exists(home_ / "approvals.db")) << "no approval is even looked up";

  auto quiet = component("quiet", "wasi_probe.wasm", R"([component]
name = "quiet-probe"
version = "0.1.0"

[quota]
memory = "8MB"

[config]
greeting = "hi"
)");
  r = cli({"run", quiet, "--", "hello"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kWasiProbeOutput);
  const std::string denied_quiet =
      "denied: quiet-probe filesystem.read /etc/passwd (component: permission not granted)\n";
  EXPECT_EQ(r.err, "to stderr\n" + denied_quiet);

  r = cli({"approvals", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "no approvals\n");
  size_t passwd_refusals = 0;
  for (const auto& record : audit_records()) {
    // The probe's own open of /etc/passwd is refused by its (empty) grants and
    // audited; nothing else is refused.
    if (record["permission"] == "filesystem.read" && record["resource"] == "/etc/passwd" &&
        record["result"] == "denied" && record["layer"] == "component") {
      ++passwd_refusals;
      continue;
    }
    EXPECT_NE(record["result"], "denied") << record;
    EXPECT_NE(record["layer"], "approval") << record;
  }
  EXPECT_EQ(passwd_refusals, 3u);

  r = cli({"inspect", quiet});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "capabilities requested\n  (none)\n")) << r.out;
}

TEST_F(SecurityCli, TheOperatorsQuotaDefaultsApplyAndTheAuditCommandShowsTheRefusals) {
  write_file(home_ / "policy.toml", "[quota]\nmemory = \"2MB\"\n");
  auto hog = component("hog", "grow.wasm", std::nullopt);
  auto r = cli({"run", hog});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "allocated 1 MiB before malloc failed\n");

  r = cli({"audit", "--permission", "memory.grow", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty()) << r.out;
  for (const auto& line : lines) {
    json j = parse_json(line);
    EXPECT_EQ(j["result"], "denied") << line;
    EXPECT_EQ(j["layer"], "quota") << line;
    EXPECT_TRUE(contains(j["reason"].get<std::string>(), "memory quota exceeded")) << line;
    EXPECT_TRUE(contains(j["reason"].get<std::string>(), "limit 2097152")) << line;
  }
  r = cli({"audit", "--layer", "quota", "--result", "denied"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "denied  quota")) << r.out;
  EXPECT_TRUE(contains(r.out, "memory.grow")) << r.out;
  r = cli({"audit", "--layer", "quota", "--last", "1", "--json"});
  EXPECT_EQ(lines_of(r.out).size(), 1u) << r.out;
  r = cli({"audit", "--permission", "quota.", "--since", "2199-01-01T00:00:00Z"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");

  r = cli({"audit", "--permission", "memory.grow", "--since", "2000-01-01", "--json"});
  EXPECT_EQ(lines_of(r.out).size(), lines.size()) << r.out;
  for (const char* bad : {"yesterday", "2026-13-45T99:00:00Z", "2026-11-25 16:00"}) {
    r = cli({"audit", "--since", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_TRUE(contains(r.err, "--since: '" + std::string(bad) + "' is not a UTC time")) << r.err;
    EXPECT_EQ(r.out, "");
  }
  for (const char* bad : {"0", "-1"}) {
    r = cli({"audit", "--last", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_TRUE(contains(r.err, "--last")) << r.err;
    EXPECT_EQ(r.out, "");
  }

  r = cli({"audit", "--result", "maybe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "--result")) << r.err;
  r = cli({"audit", "--layer", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  r = cli({"audit", "--audit-log", (root_ / "missing.log").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "missing.log")) << r.err;

  // A damaged line is reported, and the command says the log is not clean.
  const size_t lines_in_log = lines_of(read_file(home_ / "audit.log")).size() + 1;
  {
    std::ofstream log(home_ / "audit.log", std::ios::app);
    log << "not json at all\n";
  }
  r = cli({"audit", "--layer", "quota"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "audit.log:" + std::to_string(lines_in_log) + ": not an audit record"))
      << r.err;
  EXPECT_FALSE(contains(r.err, "not an audit record: not an audit record")) << r.err;
  EXPECT_TRUE(contains(r.out, "memory.grow")) << r.out;

  // Rotated files are read first, highest number first.
  fs::rename(home_ / "audit.log", home_ / "audit.log.2");
  write_file(home_ / "audit.log.1", security::to_json_line(rotated_record("one")) + "\n");
  write_file(home_ / "audit.log", security::to_json_line(rotated_record("now")) + "\n");
  r = cli({"audit", "--permission", "test.rotation"});
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the damaged line, now in audit.log.2
  ASSERT_EQ(lines_of(r.out).size(), 2u) << r.out;
  EXPECT_TRUE(contains(lines_of(r.out)[0], " one ")) << r.out;
  EXPECT_TRUE(contains(lines_of(r.out)[1], " now ")) << r.out;
  r = cli({"audit", "--last", "3", "--json"});
  ASSERT_EQ(lines_of(r.out).size(), 3u) << r.out;
  EXPECT_EQ(parse_json(lines_of(r.out)[2])["resource"], "now");
  EXPECT_EQ(parse_json(lines_of(r.out)[1])["resource"], "one");
  EXPECT_TRUE(contains(r.err, "audit.log.2:" + std::to_string(lines_in_log) + ": ")) << r.err;

  // A bad [quota] in policy.toml stops the host before anything runs.
  write_file(home_ / "policy.toml", "[quota]\nmemory = \"lots\"\n");
  r = cli({"run", hog});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "quota.memory")) << r.err;
  EXPECT_EQ(r.out, "");
}

// The operator bounds what a manifest asks for: [ceiling] refuses more,
// whoever approves; a quota above [quota]'s default needs an approval even
// without capabilities; and an approval covers the quotas, [config],
// [config.env] and [runtime] tier, so a change to any of them needs a new one.
TEST_F(SecurityCli, CeilingsBoundEveryManifestAndAnApprovalCoversQuotasConfigAndTier) {
  write_file(home_ / "policy.toml", "[quota]\nmemory = \"2MB\"\n");
  const std::string base = "[component]\nname = \"hog\"\nversion = \"1.0.0\"\n\n";
  auto hog = component("hog", "grow.wasm", base + "[quota]\nmemory = \"8MB\"\n");

  // No capability, but more memory than the operator's default: it waits.
  auto r = cli({"run", hog});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "asks for quotas above the host's defaults (memory 8 MiB, over "
                              "2 MiB); its approval is pending"))
      << r.err;
  const std::string key = key_to_approve(r.err);
  auto entry = approval_entry(approvals(), key);
  EXPECT_EQ(entry["state"], "pending");
  EXPECT_EQ(entry["terms"], "quota memory 8388608 B\n");
  EXPECT_EQ(entry["capabilities"], "");
  ASSERT_EQ(cli({"approvals", "approve", key}).exit_code, 0);
  r = cli({"run", hog});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "allocated 7 MiB before malloc failed\n");
  // At or under the default, nothing to approve.
  write_file(fs::path(hog) / "Component.toml", base + "[quota]\nmemory = \"2MB\"\n");
  r = cli({"run", hog});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "allocated 1 MiB before malloc failed\n");

  // Each widening after the approval is a new request: a higher quota, a
  // [config], a [config.env], a [runtime] tier.
  std::set<std::string> keys = {key};
  for (const std::string extra :
       {"[quota]\nmemory = \"16MB\"\n",
        "[quota]\nmemory = \"8MB\"\n\n[config]\nmode = \"fast\"\n",
        "[quota]\nmemory = \"8MB\"\n\n[config.env]\nMODE = \"fast\"\n",
        "[quota]\nmemory = \"8MB\"\n\n[runtime]\ntier = \"interp\"\n"}) {
    write_file(fs::path(hog) / "Component.toml", base + extra);
    r = cli({"run", hog});
    EXPECT_EQ(r.exit_code, 6) << extra << r.err;
    EXPECT_EQ(r.out, "") << extra;
    EXPECT_TRUE(contains(r.err, "its approval is pending")) << extra << r.err;
    EXPECT_TRUE(keys.insert(key_to_approve(r.err)).second) << extra << r.err;
  }
  write_file(fs::path(hog) / "Component.toml", base + "[quota]\nmemory = \"8MB\"\n");
  EXPECT_EQ(cli({"run", hog}).exit_code, 0);  // the approved terms still run

  // A ceiling holds over an approval and over --approve: refused, with the
  // quota, the value asked and the ceiling, and audited.
  write_file(home_ / "policy.toml", "[quota]\nmemory = \"2MB\"\n\n[ceiling]\nmemory = \"4MB\"\n");
  const size_t approved_before = approvals({"--state", "approved"}).size();
  r = cli({"run", "--approve", hog});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "quota.memory asks for 8 MiB, the ceiling is 4 MiB")) << r.err;
  EXPECT_EQ(approvals({"--state", "approved"}).size(), approved_before);
  auto refusals = audit_records_for("quota.ceiling");
  ASSERT_EQ(refusals.size(), 1u);
  EXPECT_EQ(refusals[0]["component"], "hog");
  EXPECT_EQ(refusals[0]["result"], "denied");
  EXPECT_EQ(refusals[0]["layer"], "host-policy");
  EXPECT_TRUE(contains(refusals[0]["reason"], "quota.memory asks for 8 MiB, the ceiling is 4 MiB"))
      << refusals[0];
  // The defaults are lowered to a ceiling below them; a default above the
  // ceiling of the same file is a configuration error.
  write_file(home_ / "policy.toml", "[ceiling]\nmemory = \"1MB\"\nstorage = \"1MB\"\n");
  write_file(fs::path(hog) / "Component.toml", base);
  r = cli({"run", hog});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "allocated 0 MiB before malloc failed\n");
  write_file(home_ / "policy.toml", "[quota]\nmemory = \"8MB\"\n\n[ceiling]\nmemory = \"4MB\"\n");
  r = cli({"run", hog});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "policy.toml:2: quota.memory: the default is above the ceiling"))
      << r.err;
}

// Approvals recorded before they covered quotas, [config] and tier hold only
// for manifests that set none of them: any other is asked for again.
TEST_F(SecurityCli, AnApprovalOfOnlyTheCapabilitiesDoesNotCoverQuotasOrConfig) {
  const std::string manifest = std::string(kProbeManifest) + "\n[config]\nmode = \"fast\"\n";
  auto dir = component("probe", "exit_code.wasm", manifest);
  {
    auto store = security::ApprovalStore::open(home_ / "approvals.db");
    ASSERT_TRUE(store) << store.error().to_string();
    auto old = store->request({"exit-probe", "1.2.0", sha256_hex(fs::path(dir) / "component.wasm"),
                               kProbeCapabilities},
                              security::TrustLevel::Unknown, "not trusted");
    ASSERT_TRUE(old) << old.error().to_string();
    ASSERT_TRUE(store->approve(old->key, "operator", "approved before"));
  }
  auto r = cli({"run", dir, "--", "7"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_TRUE(contains(r.err, "its approval is pending")) << r.err;
  auto entry = approval_entry(approvals(), key_to_approve(r.err));
  EXPECT_EQ(entry["capabilities"], kProbeCapabilities);
  EXPECT_EQ(entry["terms"], std::string(kProbeCapabilities) +
                                "quota storage 52428800 B\nquota memory 16777216 B\n"
                                "config {\"mode\":\"fast\"}\n");
}

// 3 -------------------------------------------------------------------------

// `audit` on a live log: the writer's last line may be half written when the
// command reads it. It is left out, not reported as damage; a summary of
// repeated refusals counts as the refusals it stands for.
TEST_F(SecurityCli, TheAuditCommandReadsALiveLogWithoutCallingItsLastLineDamage) {
  auto refused = rotated_record("one");
  refused.permission = "memory.grow";
  refused.result = security::AuditResult::Denied;
  auto summary = refused;
  summary.repeats = 41;
  const std::string next = security::to_json_line(rotated_record("two"));
  write_file(home_ / "audit.log", security::to_json_line(refused) + "\n" +
                                      security::to_json_line(summary) + "\n" +
                                      next.substr(0, next.size() / 2));
  auto r = cli({"audit", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 2u) << r.out;
  EXPECT_FALSE(contains(r.err, "not an audit record")) << r.err;
  r = cli({"audit", "--summary", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(lines_of(r.out).size(), 1u) << r.out;
  EXPECT_EQ(parse_json(lines_of(r.out)[0])["count"], 42);
}

TEST_F(SecurityCli, AnUnknownComponentThatAsksForCapabilitiesWaitsForAnApproval) {
  auto dir = component("probe", "exit_code.wasm");
  const std::string module_hash = sha256_hex(dir + "/component.wasm");

  auto r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_TRUE(contains(r.err,
                       "airssys-wasm: trust error ApprovalRequired: component "
                       "'exit-probe' is unknown (not signed"))
      << r.err;
  const std::string key = key_to_approve(r.err);
  EXPECT_TRUE(contains(r.err, "Approve it with 'airssys-wasm approvals approve " + key + "'"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "run it again with --approve")) << r.err;

  // Asking again does not queue a second request.
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(key_to_approve(r.err), key);

  r = cli({"approvals", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, key +
                       "  pending       exit-probe 1.2.0\n"
                       "    filesystem.read /srv/data/*\n"
                       "    network.connect api.example.com:443\n"
                       "    quota storage 52428800 B\n"
                       "    quota memory 16777216 B\n");
  json list = approvals();
  ASSERT_EQ(list.size(), 1u) << list;
  EXPECT_EQ(list[0]["key"], key);
  EXPECT_EQ(list[0]["state"], "pending");
  EXPECT_EQ(list[0]["name"], "exit-probe");
  EXPECT_EQ(list[0]["version"], "1.2.0");
  EXPECT_EQ(list[0]["module_sha256"], module_hash);
  EXPECT_EQ(list[0]["capabilities"], kProbeCapabilities);
  EXPECT_EQ(list[0]["decided_by"], "");
  EXPECT_EQ(approvals({"--state", "pending"}), list);
  EXPECT_EQ(approvals({"--state", "approved"}), json::array());

  r = cli({"approvals", "approve", key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, key + " exit-probe 1.2.0: approved\n");
  EXPECT_EQ(r.err, "");
  json entry = approval_entry(approvals(), key);
  EXPECT_EQ(entry["state"], "approved");
  EXPECT_EQ(entry["decided_by"], "operator");
  EXPECT_EQ(entry["reason"], "approved by the operator");

  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  EXPECT_EQ(r.err, "");

  // On the record: two refusals at the approval layer, the operator's
  // approval, then the granted start.
  std::vector<json> approval_records;
  for (auto& record : audit_records()) {
    if (record["layer"] == "approval") approval_records.push_back(record);
  }
  ASSERT_EQ(approval_records.size(), 4u);
  for (int i : {0, 1}) {
    const json& denial = approval_records[i];
    EXPECT_EQ(denial["permission"], "approval.check");
    EXPECT_EQ(denial["result"], "denied");
    EXPECT_EQ(denial["component"], "exit-probe");
    EXPECT_EQ(denial["resource"], dir);
    EXPECT_EQ(denial["trust"], "unknown");
    EXPECT_TRUE(contains(denial["reason"], "its approval is pending")) << denial;
    EXPECT_TRUE(contains(denial["reason"], "airssys-wasm approvals approve " + key)) << denial;
  }
  const json& approval = approval_records[2];
  EXPECT_EQ(approval["permission"], "approval.approve");
  EXPECT_EQ(approval["result"], "granted");
  EXPECT_EQ(approval["component"], "exit-probe");
  EXPECT_EQ(approval["resource"], module_hash);
  EXPECT_TRUE(approval["trust"].is_null());
  EXPECT_EQ(approval["reason"], "approved by the operator");
  const json& start = approval_records[3];
  EXPECT_EQ(start["permission"], "approval.check");
  EXPECT_EQ(start["result"], "granted");
  EXPECT_EQ(start["trust"], "unknown");
  EXPECT_TRUE(contains(start["reason"], "approval " + key + " is approved")) << start;
}

TEST_F(SecurityCli, ExplicitDataDirAndTrustConfigKeepEverythingThereAndTheHintFollows) {
  auto dir = component("probe", "exit_code.wasm");
  const std::string data = (root_ / "state").string();
  const std::string trust = (root_ / "etc" / "trust.toml").string();
  write_file(trust, "dev_mode = false\n");
  auto r = cli({"run", "--data-dir", data, "--trust-config", trust, dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  const std::string key = key_to_approve(r.err);
  // The suggested command reaches the same approval store.
  EXPECT_TRUE(
      contains(r.err, "'airssys-wasm approvals approve " + key + " --data-dir " + data + "'"))
      << r.err;
  EXPECT_TRUE(fs::exists(fs::path(data) / "approvals.db"));
  EXPECT_TRUE(fs::exists(fs::path(data) / "audit.log"));
  EXPECT_FALSE(fs::exists(home_ / "approvals.db"));
  EXPECT_EQ(approvals(), json::array()) << "the default store holds nothing";

  r = cli({"approvals", "approve", key, "--data-dir", data});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", "--data-dir", data, "--trust-config", trust, dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  auto records = audit_records(fs::path(data) / "audit.log");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0]["result"], "denied");
  EXPECT_EQ(records[1]["permission"], "approval.approve");
  EXPECT_EQ(records[2]["result"], "granted");
  EXPECT_EQ(records[3]["permission"], "lifecycle.tier");  // the tier the run ran on
  EXPECT_FALSE(fs::exists(home_ / "audit.log"));

  // A separate audit log: the hint names it too (quoted, it has a space), and
  // the operator's commands write to it when told.
  auto other = component("other", "exit_code.wasm",
                         replace_once(kProbeManifest, "exit-probe", "other-probe"));
  const std::string log = (root_ / "audit trail.log").string();
  r = cli({"run", "--data-dir", data, "--audit-log", log, "--trust-config", trust, other});
  EXPECT_EQ(r.exit_code, 6);
  const std::string other_key = key_to_approve(r.err);
  EXPECT_TRUE(contains(r.err, "'airssys-wasm approvals approve " + other_key + " --data-dir " +
                                  data + " --audit-log \"" + log + "\"'"))
      << r.err;
  r = cli({"approvals", "deny", other_key, "--data-dir", data, "--audit-log", log});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"trust", "add-path", "/srv/apps", "--trust-config", trust, "--audit-log", log});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  records = audit_records(log);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["permission"], "approval.check");
  EXPECT_EQ(records[0]["component"], "other-probe");
  EXPECT_EQ(records[1]["permission"], "approval.deny");
  EXPECT_EQ(records[2]["permission"], "trust.add-path");
  EXPECT_EQ(records[2]["resource"], trust);
  EXPECT_EQ(audit_records(fs::path(data) / "audit.log").size(), 4u);
  EXPECT_TRUE(contains(read_file(trust), "pattern = \"/srv/apps\""));
  EXPECT_FALSE(fs::exists(home_ / "trust.toml"));

  // A trust configuration named on the command line must exist.
  r = cli({"run", "--trust-config", (root_ / "nope.toml").string(), dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, (root_ / "nope.toml").string() + ": no such trust configuration"))
      << r.err;
}

// 4 -------------------------------------------------------------------------

TEST_F(SecurityCli, ApproveAtStartCoversExactlyThisModuleAndCapabilitySet) {
  auto dir = component("probe", "exit_code.wasm");
  const std::string module_hash = sha256_hex(dir + "/component.wasm");

  auto r = cli({"run", "--approve", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  EXPECT_EQ(r.err, "");
  json list = approvals();
  ASSERT_EQ(list.size(), 1u);
  const std::string key = list[0]["key"];
  EXPECT_EQ(list[0]["state"], "approved");
  EXPECT_EQ(list[0]["decided_by"], "operator");
  EXPECT_EQ(list[0]["reason"], "approved at start (--approve)");
  EXPECT_EQ(list[0]["module_sha256"], module_hash);
  EXPECT_EQ(list[0]["capabilities"], kProbeCapabilities);
  auto approved = audit_records_for("approval.approve");
  ASSERT_EQ(approved.size(), 1u);
  EXPECT_EQ(approved[0]["result"], "granted");
  EXPECT_EQ(approved[0]["component"], "exit-probe");
  EXPECT_EQ(approved[0]["resource"], dir);
  EXPECT_EQ(approved[0]["trust"], "unknown");
  EXPECT_EQ(approved[0]["layer"], "approval");
  EXPECT_EQ(approved[0]["reason"], "approved by operator at start for module " + module_hash +
                                       " and what its manifest asks for");

  // The approval stands for later starts without --approve.
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  EXPECT_EQ(audit_records_for("approval.approve").size(), 1u);

  // One more capability is a new request.
  const std::string original = read_file(dir + "/Component.toml");
  write_file(dir + "/Component.toml",
             replace_once(original, "[quota]", "storage.read = [\"orders:*\"]\n\n[quota]"));
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  const std::string more_key = key_to_approve(r.err);
  EXPECT_NE(more_key, key);
  json more = approval_entry(approvals(), more_key);
  EXPECT_EQ(more["state"], "pending");
  EXPECT_EQ(more["capabilities"], std::string(kProbeCapabilities) + "storage.read orders:*\n");
  EXPECT_EQ(approval_entry(approvals(), key)["state"], "approved");

  // So is a narrower one: the approval covers exactly one set.
  write_file(dir + "/Component.toml",
             replace_once(original, "network.connect = [\"api.example.com:443\"]\n", ""));
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  const std::string fewer_key = key_to_approve(r.err);
  EXPECT_NE(fewer_key, key);
  EXPECT_NE(fewer_key, more_key);

  // The same set again is the same approval.
  write_file(dir + "/Component.toml", original);
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;

  // A different module is a new request too, even when it still runs the same
  // (an extra custom section at its end).
  std::string bytes = read_file(dir + "/component.wasm");
  write_file(dir + "/component.wasm", bytes + std::string("\x00\x03\x01x1", 5));
  const std::string new_hash = sha256_hex(dir + "/component.wasm");
  ASSERT_NE(new_hash, module_hash);
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  const std::string rebuilt_key = key_to_approve(r.err);
  std::set<std::string> keys = {key, more_key, fewer_key};
  EXPECT_EQ(keys.count(rebuilt_key), 0u);
  json rebuilt = approval_entry(approvals(), rebuilt_key);
  EXPECT_EQ(rebuilt["module_sha256"], new_hash);
  EXPECT_EQ(rebuilt["capabilities"], kProbeCapabilities);
  EXPECT_EQ(approvals().size(), 4u);

  r = cli({"run", "--approve", dir, "--", "7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(approval_entry(approvals(), rebuilt_key)["state"], "approved");
  EXPECT_EQ(audit_records_for("approval.approve").size(), 2u);
}

// 5 -------------------------------------------------------------------------

TEST_F(SecurityCli, ADeniedComponentStaysRefusedAndInvalidTransitionsAreErrors) {
  auto dir = component("probe", "exit_code.wasm");
  auto r = cli({"run", dir, "--", "42"});
  ASSERT_EQ(r.exit_code, 6);
  const std::string key = key_to_approve(r.err);

  r = cli({"approvals", "deny", key, "--reason", "not on this host"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, key + " exit-probe 1.2.0: denied\n");
  json entry = approval_entry(approvals(), key);
  EXPECT_EQ(entry["state"], "denied");
  EXPECT_EQ(entry["reason"], "not on this host");
  EXPECT_EQ(approvals({"--state", "denied"}).size(), 1u);
  EXPECT_EQ(approvals({"--state", "pending"}), json::array());

  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err,
            "airssys-wasm: trust error TrustDenied: component 'exit-probe' 1.2.0 was "
            "denied by operator: not on this host (key " +
                key + ")\n");
  // --approve approves a pending request; it does not overturn a denial.
  r = cli({"run", "--approve", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "TrustDenied")) << r.err;
  EXPECT_EQ(approval_entry(approvals(), key)["state"], "denied");

  auto denials = audit_records_for("approval.deny");
  ASSERT_EQ(denials.size(), 1u);
  EXPECT_EQ(denials[0]["result"], "granted");
  EXPECT_EQ(denials[0]["component"], "exit-probe");
  EXPECT_EQ(denials[0]["reason"], "not on this host");
  EXPECT_EQ(denials[0]["layer"], "approval");
  auto checks = audit_records_for("approval.check");
  ASSERT_EQ(checks.size(), 3u);
  for (const auto& check : checks) {
    EXPECT_EQ(check["result"], "denied");
    EXPECT_EQ(check["layer"], "approval");
  }
  EXPECT_TRUE(contains(checks[1]["reason"], "was denied by operator: not on this host"))
      << checks[1];

  // Invalid transitions change nothing and say why.
  r = cli({"approvals", "deny", key});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(
      r.err, "InvalidTransition: cannot deny 'exit-probe' 1.2.0 (key " + key + "): it is denied"))
      << r.err;
  const std::string unknown(64, '0');
  r = cli({"approvals", "approve", unknown});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "NotFound: no approval request has the key '" + unknown + "'"))
      << r.err;
  r = cli({"approvals", "deny", "not-a-key"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "no approval request has the key 'not-a-key'")) << r.err;

  // An explicit re-decision is allowed; approving twice is not.
  r = cli({"approvals", "approve", key, "--reason", "checked again"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  r = cli({"approvals", "approve", key});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "cannot approve 'exit-probe' 1.2.0 (key " + key +
                                  "): it is approved; only pending or denied requests can be "
                                  "approved"))
      << r.err;
  // A revocation: approved -> denied.
  r = cli({"approvals", "deny", key});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "was denied by operator: denied by the operator")) << r.err;

  // Bad command lines.
  r = cli({"approvals", "approve"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "airssys-wasm: usage: airssys-wasm approvals approve KEY\n");
  r = cli({"approvals", "revoke", key});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "unknown approvals action 'revoke'")) << r.err;
  r = cli({"approvals", "list", "--state", "maybe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "unknown state 'maybe'")) << r.err;
  EXPECT_EQ(audit_records_for("approval.approve").size(), 1u);
  EXPECT_EQ(audit_records_for("approval.deny").size(), 2u);
}

// 6 -------------------------------------------------------------------------

TEST_F(SecurityCli, SignaturesCatchAChangedByteInTheModuleOrTheManifest) {
  auto r = cli({"keygen", "--out", key_prefix("alice")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::smatch m;
  static const std::regex kKeygen(R"(secret key  (\S+) \(mode 0600: keep it private\)\n)"
                                  R"(public key  (\S+)\nkey id      ([0-9a-f]{16})\n)");
  ASSERT_TRUE(std::regex_match(r.out, m, kKeygen)) << r.out;
  EXPECT_EQ(m[1].str(), key_prefix("alice") + ".key");
  EXPECT_EQ(m[2].str(), key_prefix("alice") + ".pub");
  const std::string alice = m[3].str();
  struct stat st {};
  ASSERT_EQ(::stat((key_prefix("alice") + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  json pub = parse_json(read_file(key_prefix("alice") + ".pub"));
  EXPECT_EQ(pub["format"], "airssys-wasm-public-key");
  EXPECT_EQ(pub["key_id"], alice);
  EXPECT_FALSE(pub.contains("secret_key"));
  json secret = parse_json(read_file(key_prefix("alice") + ".key"));
  EXPECT_EQ(secret["format"], "airssys-wasm-secret-key");
  EXPECT_EQ(secret["public_key"], pub["public_key"]);

  // keygen never overwrites a key unless asked.
  const std::string secret_text = read_file(key_prefix("alice") + ".key");
  r = cli({"keygen", "--out", key_prefix("alice")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(contains(r.err, "already exists; refusing to overwrite it")) << r.err;
  EXPECT_EQ(read_file(key_prefix("alice") + ".key"), secret_text);
  const std::string bob = keygen("bob");
  ASSERT_EQ(bob.size(), 16u);
  EXPECT_NE(bob, alice);
  r = cli({"keygen", "--json", "--force", "--out", key_prefix("bob")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(parse_json(r.out)["key_id"], bob) << "--force made a new key";
  const std::string new_bob = parse_json(r.out)["key_id"];

  auto dir = component("probe", "exit_code.wasm");
  r = cli({"verify", dir});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "SignatureMissing")) << r.err;
  EXPECT_TRUE(contains(r.err, "the component is not signed")) << r.err;

  r = cli({"sign", "--key", key_prefix("alice") + ".key", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("signed " + dir + "/component.sig with key " + alice + "\n", 0), 0u)
      << r.out;
  EXPECT_TRUE(contains(r.out, "module   sha256 " + sha256_hex(dir + "/component.wasm"))) << r.out;
  EXPECT_TRUE(contains(r.out, "manifest sha256 " + sha256_hex(dir + "/Component.toml"))) << r.out;
  json signature = parse_json(read_file(dir + "/component.sig"));
  EXPECT_EQ(signature["key_id"], alice);
  EXPECT_EQ(signature["module_sha256"], sha256_hex(dir + "/component.wasm"));

  r = cli({"verify", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_EQ(out[0], "verified: signed by key " + alice);
  EXPECT_EQ(
      out[1].rfind("trust:    unknown (signed by key id " + alice + ", which is not trusted", 0),
      0u)
      << out[1];
  r = cli({"verify", "--json", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json verified = parse_json(r.out);
  EXPECT_EQ(verified["verified"], true);
  EXPECT_EQ(verified["key_id"], alice);
  EXPECT_EQ(verified["trust"], "unknown");
  EXPECT_EQ(verified["module_sha256"], sha256_hex(dir + "/component.wasm"));

  struct Tampered {
    std::string dir;
    std::string error;  // a part of the message
  };
  std::vector<Tampered> cases;

  // One byte of the module (in the middle of its code).
  auto module_changed = copy_dir(dir, "module-changed");
  flip_one_byte(module_changed + "/component.wasm", 0x200);
  cases.push_back({module_changed,
                   "module '" + module_changed + "/component.wasm' changed since it was signed"});
  // One byte of the manifest: version 1.2.0 -> 1.2.1.
  auto manifest_changed = copy_dir(dir, "manifest-changed");
  std::string manifest = read_file(manifest_changed + "/Component.toml");
  flip_one_byte(manifest_changed + "/Component.toml", manifest.find("1.2.0") + 4);
  ASSERT_TRUE(contains(read_file(manifest_changed + "/Component.toml"), "version = \"1.2.1\""));
  cases.push_back({manifest_changed, "manifest '" + manifest_changed +
                                         "/Component.toml' changed since it was signed"});
  // Bob's signature of another component, copied over.
  auto other = component("other", "exit_code.wasm",
                         replace_once(kProbeManifest, "/srv/data/*", "/srv/other/*"));
  r = cli({"sign", "--key", key_prefix("bob") + ".key", other});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto copied = copy_dir(dir, "copied-signature");
  fs::copy_file(other + "/component.sig", copied + "/component.sig",
                fs::copy_options::overwrite_existing);
  cases.push_back({copied, "changed since it was signed"});
  // Alice's signature claimed for Bob's key.
  auto forged = copy_dir(dir, "forged-signer");
  json bob_pub = parse_json(read_file(key_prefix("bob") + ".pub"));
  json forged_signature = signature;
  forged_signature["key_id"] = bob_pub["key_id"];
  forged_signature["public_key"] = bob_pub["public_key"];
  write_file(forged + "/component.sig", forged_signature.dump(2));
  cases.push_back({forged, "bad signature in '" + forged + "/component.sig'"});

  for (const auto& c : cases) {
    SCOPED_TRACE(c.dir);
    r = cli({"verify", c.dir});
    EXPECT_EQ(r.exit_code, 6);
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(contains(r.err, "airssys-wasm: trust error SignatureInvalid: ")) << r.err;
    EXPECT_TRUE(contains(r.err, c.error)) << r.err;
    r = cli({"verify", "--json", c.dir});
    EXPECT_EQ(r.exit_code, 6);
    json j = parse_json(r.out);
    EXPECT_EQ(j["verified"], false);
    EXPECT_TRUE(contains(j.value("error", ""), c.error)) << r.out;

    size_t before = audit_records_for("trust.signature").size();
    for (const char* approve : {"", "--approve"}) {
      std::vector<std::string> args = {"run", c.dir, "--", "42"};
      if (*approve) args.insert(args.begin() + 1, approve);
      r = cli(args);
      EXPECT_EQ(r.exit_code, 6) << approve;
      EXPECT_EQ(r.out, "");
      EXPECT_TRUE(contains(r.err, "SignatureInvalid")) << r.err;
      EXPECT_TRUE(contains(r.err, c.error)) << r.err;
      EXPECT_FALSE(contains(r.err, "MalformedModule")) << "the signature is checked first";
    }
    auto records = audit_records_for("trust.signature");
    ASSERT_EQ(records.size(), before + 2);
    const json& record = records.back();
    EXPECT_EQ(record["result"], "denied");
    EXPECT_EQ(record["layer"], "trust");
    EXPECT_EQ(record["component"], "exit-probe");
    EXPECT_EQ(record["resource"], c.dir);
    EXPECT_TRUE(record["trust"].is_null());
    EXPECT_TRUE(contains(record["reason"], c.error)) << record;
  }
  EXPECT_EQ(approvals(), json::array()) << "a bad signature never reaches the approval queue";

  // The untouched component still verifies; bob's valid signature names bob.
  EXPECT_EQ(cli({"verify", dir}).exit_code, 0);
  r = cli({"verify", other});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out)[0], "verified: signed by key " + new_bob);
}

// 7 -------------------------------------------------------------------------

TEST_F(SecurityCli, TrustedKeysAndPathsRunWithoutApprovalUntilRemoved) {
  const std::string alice = keygen("alice");
  const std::string bob = keygen("bob");
  auto dir = component("probe", "exit_code.wasm");
  ASSERT_EQ(cli({"sign", "--key", key_prefix("alice") + ".key", dir}).exit_code, 0);
  auto by_bob = copy_dir(dir, "by-bob");
  ASSERT_EQ(cli({"sign", "--key", key_prefix("bob") + ".key", by_bob}).exit_code, 0);
  const std::string trust_toml = (home_ / "trust.toml").string();

  auto r = cli({"trust", "add-key", "alice", key_prefix("alice") + ".pub"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, trust_toml + ": saved\n");
  json pub = parse_json(read_file(key_prefix("alice") + ".pub"));
  EXPECT_TRUE(contains(read_file(trust_toml), pub["public_key"].get<std::string>()));

  r = cli({"trust", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(
      r.out, std::regex("\ntrusted keys \\(1\\)\n  alice +" + alice + "\ntrusted paths \\(0\\)\n")))
      << r.out;
  r = cli({"trust", "list", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json list = parse_json(r.out);
  EXPECT_EQ(list["file"], trust_toml);
  EXPECT_EQ(list["dev_mode"], false);
  EXPECT_EQ(
      list["trusted_keys"],
      json::array({{{"name", "alice"}, {"key_id", alice}, {"public_key", pub["public_key"]}}}));
  EXPECT_EQ(list["trusted_paths"], json::array());

  // Signed by a trusted key: runs at once, auto-approved, on the record.
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  EXPECT_EQ(r.err, "");
  json entries = approvals();
  ASSERT_EQ(entries.size(), 1u);
  const std::string key = entries[0]["key"];
  EXPECT_EQ(entries[0]["state"], "auto-approved");
  EXPECT_TRUE(contains(entries[0]["reason"], "signed by trusted key 'alice'")) << entries[0];
  r = cli({"approvals", "list"});
  EXPECT_EQ(r.out.rfind(key + "  auto-approved exit-probe 1.2.0\n", 0), 0u) << r.out;
  auto checks = audit_records_for("approval.check");
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0]["result"], "granted");
  EXPECT_EQ(checks[0]["trust"], "trusted");
  EXPECT_TRUE(contains(checks[0]["reason"], "approval " + key + " is auto-approved")) << checks[0];
  EXPECT_TRUE(contains(checks[0]["reason"], "signed by trusted key 'alice'")) << checks[0];
  r = cli({"verify", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\ntrust:    trusted (signed by trusted key 'alice'")) << r.out;

  // A valid signature by a key that is not trusted proves who signed, nothing more.
  r = cli({"verify", by_bob});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "trust:    unknown (signed by key id " + bob)) << r.out;
  r = cli({"run", by_bob, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;
  // A trusted signer's component with one byte changed is not trusted
  // (version 1.2.0 -> 1.2.1).
  auto changed = copy_dir(dir, "changed");
  flip_one_byte(changed + "/Component.toml", std::string(kProbeManifest).find("1.2.0") + 4);
  r = cli({"run", changed, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "SignatureInvalid")) << r.err;

  // Removing the key sends the component back to the queue.
  r = cli({"trust", "remove-key", "alice"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(key_to_approve(r.err), key);
  EXPECT_EQ(approval_entry(approvals(), key)["state"], "pending");
  // Trusting the key again, under another name, approves it again; removing it
  // by its key id withdraws that.
  ASSERT_EQ(cli({"trust", "add-key", "release", key_prefix("alice") + ".pub"}).exit_code, 0);
  EXPECT_EQ(cli({"run", dir, "--", "42"}).exit_code, 42);
  r = cli({"trust", "remove-key", alice});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cli({"run", dir, "--", "42"}).exit_code, 6);

  // Trust by location.
  // (Named apart: an approval is keyed by name, module and capabilities, not
  // by location.)
  auto vendored = component("vendor/tool", "exit_code.wasm",
                            replace_once(kProbeManifest, "exit-probe", "vendor-tool"));
  auto elsewhere = component("elsewhere/tool", "exit_code.wasm",
                             replace_once(kProbeManifest, "exit-probe", "other-tool"));
  const std::string pattern = (root_ / "vendor" / "*").string();
  r = cli({"trust", "add-path", pattern});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", vendored, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  r = cli({"run", elsewhere, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  const std::string elsewhere_key = key_to_approve(r.err);
  size_t auto_approved = 0;
  for (const auto& e : approvals()) {
    if (e["state"] != "auto-approved") continue;
    ++auto_approved;
    EXPECT_EQ(e["name"], "vendor-tool");
    EXPECT_EQ(e["reason"],
              "'" + vendored + "' is under the trusted path pattern '" + pattern + "'");
  }
  EXPECT_EQ(auto_approved, 1u);
  EXPECT_EQ(approval_entry(approvals(), elsewhere_key)["state"], "pending");
  r = cli({"trust", "list", "--json"});
  list = parse_json(r.out);
  EXPECT_EQ(list["trusted_keys"], json::array());
  EXPECT_EQ(list["trusted_paths"], json::array({pattern}));
  r = cli({"trust", "list"});
  EXPECT_TRUE(contains(r.out, "trusted paths (1)\n  " + pattern + "\n")) << r.out;
  r = cli({"trust", "remove-path", pattern});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", vendored, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_TRUE(contains(r.err, "ApprovalRequired")) << r.err;

  // Every change of the trust configuration is on the record, at the trust layer.
  std::vector<std::string> actions;
  for (const auto& record : audit_records()) {
    std::string permission = record["permission"];
    if (permission.rfind("trust.", 0) != 0 || permission == "trust.signature") continue;
    actions.push_back(permission);
    EXPECT_EQ(record["result"], "granted");
    EXPECT_EQ(record["layer"], "trust") << record;
    EXPECT_EQ(record["resource"], trust_toml);
    EXPECT_EQ(record["component"], "");
    EXPECT_TRUE(record["trust"].is_null());
  }
  EXPECT_EQ(actions,
            (std::vector<std::string>{"trust.add-key", "trust.remove-key", "trust.add-key",
                                      "trust.remove-key", "trust.add-path", "trust.remove-path"}));

  // Refused changes leave the file as it was.
  ASSERT_EQ(cli({"trust", "add-key", "alice", key_prefix("alice") + ".pub"}).exit_code, 0);
  const std::string before = read_file(trust_toml);
  struct Refused {
    std::vector<std::string> args;
    std::string error;
  };
  for (const auto& c : std::vector<Refused>{
           {{"add-key", "alice", key_prefix("bob") + ".pub"}, "a trusted key named 'alice'"},
           {{"add-key", "again", key_prefix("alice") + ".pub"}, "is already trusted as 'alice'"},
           {{"add-key", "bad name!", key_prefix("bob") + ".pub"}, "is not a valid key name"},
           {{"remove-key", "nobody"}, "no trusted key is named 'nobody'"},
           {{"add-path", "/"}, "which would trust everything"},
           {{"add-path", "relative/dir"}, "is not an absolute path"},
           {{"add-path", "/*/x"}, "starts with a wildcard"},
           {{"remove-path", "/srv/never"}, "no trusted path pattern '/srv/never'"},
       }) {
    std::vector<std::string> args = {"trust"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.error)) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(read_file(trust_toml), before);
  }
}

// 8 -------------------------------------------------------------------------

TEST_F(SecurityCli, DevModeIsOffUntilSwitchedOnAndThenLoudAtEveryStart) {
  auto dir = component("probe", "exit_code.wasm");
  auto bare = component("bare", "exit_code.wasm", std::nullopt);
  auto r = cli({"trust", "list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\ndev mode  off\n")) << r.out;
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_FALSE(contains(r.err, "DEV MODE")) << r.err;
  const std::string key = key_to_approve(r.err);

  r = cli({"trust", "dev-mode", "on"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, (home_ / "trust.toml").string() + ": saved\n");
  EXPECT_TRUE(contains(r.err, "WARNING: dev mode bypasses capability checks")) << r.err;
  EXPECT_TRUE(contains(read_file(home_ / "trust.toml"), "dev_mode = true"));
  r = cli({"trust", "list"});
  EXPECT_TRUE(contains(r.out, "\ndev mode  ON (capability checks bypassed)\n")) << r.out;
  EXPECT_EQ(parse_json(cli({"trust", "list", "--json"}).out)["dev_mode"], true);

  const std::string banner =
      "!! DEV MODE: capability checks are bypassed for this component.\n!! WARNING: DEV MODE IS "
      "ON: capability checks are BYPASSED for the component in '";
  const std::string switch_off = "!! Switch it off with: airssys-wasm trust dev-mode off\n";
  for (int start = 0; start < 2; ++start) {
    r = cli({"run", dir, "--", "42"});
    EXPECT_EQ(r.exit_code, 42) << r.err;
    EXPECT_TRUE(contains(r.err, banner + dir + "'")) << r.err;
    EXPECT_TRUE(contains(r.err, switch_off)) << r.err;
  }
  r = cli({"run", bare, "--", "3"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_TRUE(contains(r.err, banner + bare + "'")) << "a bare module is warned about too\n"
                                                    << r.err;
  EXPECT_EQ(approval_entry(approvals(), key)["state"], "bypassed");

  std::vector<json> starts;
  for (const auto& record : audit_records_for("trust.dev-mode")) {
    if (record["component"] == "") {  // the operator's switch
      EXPECT_EQ(record["resource"], (home_ / "trust.toml").string());
      EXPECT_EQ(record["layer"], "trust");
      continue;
    }
    starts.push_back(record);
    EXPECT_EQ(record["result"], "granted");
    EXPECT_EQ(record["trust"], "dev-mode");
    EXPECT_EQ(record["layer"], "trust");
    EXPECT_TRUE(contains(record["reason"], "DEV MODE IS ON")) << record;
  }
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[0]["component"], "exit-probe");
  EXPECT_EQ(starts[0]["resource"], dir);
  EXPECT_EQ(starts[2]["component"], "component");  // a bare module is named after its file
  EXPECT_EQ(starts[2]["resource"], bare);
  auto bypassed = audit_records_for("approval.check");
  ASSERT_EQ(bypassed.size(), 3u);
  EXPECT_EQ(bypassed[1]["result"], "granted");
  EXPECT_EQ(bypassed[1]["trust"], "dev-mode");
  EXPECT_TRUE(contains(bypassed[1]["reason"], "is bypassed")) << bypassed[1];

  r = cli({"trust", "dev-mode", "off"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(contains(read_file(home_ / "trust.toml"), "dev_mode = false"));
  r = cli({"run", dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_FALSE(contains(r.err, "DEV MODE")) << r.err;
  EXPECT_EQ(key_to_approve(r.err), key);
  EXPECT_EQ(approval_entry(approvals(), key)["state"], "pending");
  r = cli({"run", bare, "--", "3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "");
  size_t operator_switches = 0;
  size_t dev_starts = 0;
  for (const auto& record : audit_records_for("trust.dev-mode")) {
    (record["component"] == "" ? operator_switches : dev_starts)++;
  }
  EXPECT_EQ(operator_switches, 2u);
  EXPECT_EQ(dev_starts, 3u) << "no dev-mode record once it is off";

  r = cli({"trust", "dev-mode", "maybe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "airssys-wasm: trust dev-mode takes 'on' or 'off'\n");
  r = cli({"trust", "dev-mode"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "airssys-wasm: usage: airssys-wasm trust dev-mode on|off\n");

  // With a trust configuration of its own, the warning says how to switch that one off.
  const std::string lab = (root_ / "lab trust.toml").string();
  r = cli({"trust", "dev-mode", "on", "--trust-config", lab});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", "--trust-config", lab, dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 42) << r.err;
  EXPECT_TRUE(contains(r.err,
                       "!! Switch it off with: airssys-wasm trust dev-mode off "
                       "--trust-config \"" +
                           lab + "\"\n"))
      << r.err;
  r = cli({"trust", "dev-mode", "off", "--trust-config", lab});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = cli({"run", "--trust-config", lab, dir, "--", "42"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_FALSE(contains(r.err, "DEV MODE")) << r.err;
}

// 9 -------------------------------------------------------------------------

TEST_F(SecurityCli, PolicyCheckShowsAHostDenyRuleRefusingAGrantedCapability) {
  auto dir = component("probe", "exit_code.wasm");
  const std::string policy = (root_ / "policy.toml").string();
  write_file(policy, R"(# host rules
[[rule]]
name = "no-secret-data"
effect = "deny"
permissions = ["filesystem.read"]
resources = ["/srv/data/secret*"]
reason = "secrets stay on the host"

[[rule]]
name = "internal-network-only"
effect = "allow"
permissions = ["network.connect"]
resources = ["*.internal.example.com:443"]
except_signers = ["0123456789abcdef"]
)");

  // Granted by the manifest, refused by the host.
  auto r =
      cli({"policy", "check", "--policy", policy, dir, "filesystem.read", "/srv/data/secret.txt"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "component grant: granted (granted by pattern)\n"
            "host policy:     denied by rule 'no-secret-data' (" +
                policy +
                ":2): secrets stay on the host\n"
                "result:          DENIED filesystem.read /srv/data/secret.txt for exit-probe\n");
  r = cli({"policy", "check", "--json", "--policy", policy, dir, "filesystem.read",
           "/srv/data/secret.txt"});
  EXPECT_EQ(r.exit_code, 1);
  json j = parse_json(r.out);
  EXPECT_EQ(j["allowed"], false);
  EXPECT_EQ(j["component"], "exit-probe");
  EXPECT_EQ(j["permission"], "filesystem.read");
  EXPECT_EQ(j["resource"], "/srv/data/secret.txt");
  EXPECT_EQ(j["component_grant"]["granted"], true);
  EXPECT_EQ(j["host_policy"]["allowed"], false);
  EXPECT_EQ(j["host_policy"]["file"], policy);
  EXPECT_EQ(j["host_policy"]["reason"], "secrets stay on the host");
  EXPECT_EQ(j["host_policy"]["rule"],
            json({{"name", "no-secret-data"}, {"line", 2}, {"effect", "deny"}}));

  // Granted and not objected to.
  r = cli({"policy", "check", "--policy", policy, dir, "filesystem.read", "/srv/data/public.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "component grant: granted (granted by pattern)\n"
            "host policy:     allowed, no rule applies (" +
                policy +
                ")\n"
                "result:          ALLOWED filesystem.read /srv/data/public.txt for "
                "exit-probe\n");
  r = cli({"policy", "check", "--json", "--policy", policy, dir, "filesystem.read",
           "/srv/data/public.txt"});
  EXPECT_EQ(r.exit_code, 0);
  j = parse_json(r.out);
  EXPECT_EQ(j["allowed"], true);
  EXPECT_TRUE(j["host_policy"]["rule"].is_null());

  // Not granted by the manifest: the host policy cannot add what was not asked for.
  r = cli({"policy", "check", "--policy", policy, dir, "filesystem.read", "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.out, "component grant: denied (")) << r.out;
  EXPECT_TRUE(contains(r.out, "result:          DENIED filesystem.read /etc/passwd")) << r.out;

  // Allow rules: only the listed resources, unless the signer is excepted.
  r = cli({"policy", "check", "--policy", policy, "any-component", "network.connect",
           "api.example.com:443"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.out, "host policy:     denied by rule 'internal-network-only' (" + policy +
                                  ":9): not among the resources the host policy allows"))
      << r.out;
  EXPECT_FALSE(contains(r.out, "component grant")) << "a name has no grants to check";
  r = cli({"policy", "check", "--policy", policy, "any-component", "network.connect",
           "db.internal.example.com:443"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "allowed by rule 'internal-network-only'")) << r.out;
  r = cli({"policy", "check", "--policy", policy, "--signer", "0123456789abcdef", "any-component",
           "network.connect", "api.example.com:443"});
  EXPECT_EQ(r.exit_code, 0) << r.out;

  // The default location is $AIRSSYS_HOME/policy.toml; absent, there are no rules.
  r = cli({"policy", "check", dir, "filesystem.read", "/srv/data/secret.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(contains(r.out, "(" + (home_ / "policy.toml").string() + " (absent))")) << r.out;
  fs::copy_file(policy, home_ / "policy.toml");
  r = cli({"policy", "check", dir, "filesystem.read", "/srv/data/secret.txt"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_TRUE(contains(
      r.out, "denied by rule 'no-secret-data' (" + (home_ / "policy.toml").string() + ":2)"))
      << r.out;

  // Signer conditions: for a directory, the key of its verified signature
  // counts, as at run time; a bad signature is refused.
  const std::string alice = keygen("alice");
  const std::string signed_policy = (root_ / "signed-policy.toml").string();
  write_file(signed_policy, R"([[rule]]
name = "reports-need-a-release-build"
effect = "deny"
permissions = ["filesystem.read"]
resources = ["/srv/data/report-*"]
except_signers = [")" + alice + R"("]
reason = "only release builds read reports"
)");
  r = cli({"policy", "check", "--policy", signed_policy, dir, "filesystem.read",
           "/srv/data/report-q1"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "denied by rule 'reports-need-a-release-build'")) << r.out;
  ASSERT_EQ(cli({"sign", "--key", key_prefix("alice") + ".key", dir}).exit_code, 0);
  r = cli({"policy", "check", "--json", "--policy", signed_policy, dir, "filesystem.read",
           "/srv/data/report-q1"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  j = parse_json(r.out);
  EXPECT_EQ(j["signer"], alice);
  EXPECT_EQ(j["allowed"], true);
  r = cli({"policy", "check", "--policy", signed_policy, "--signer", "0000000000000000", dir,
           "filesystem.read", "/srv/data/report-q1"});
  EXPECT_EQ(r.exit_code, 1) << "--signer overrides\n" << r.out;
  write_file(dir + "/Component.toml",
             replace_once(read_file(dir + "/Component.toml"), "1.2.0", "1.2.1"));
  r = cli({"policy", "check", "--policy", signed_policy, dir, "filesystem.read",
           "/srv/data/report-q1"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "SignatureInvalid")) << r.err;

  // Bad permissions are usage errors.
  r = cli({"policy", "check", "--policy", policy, dir, "filesystem.delete", "/srv/data/x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "unknown permission 'filesystem.delete'")) << r.err;
  r = cli({"policy", "check", "--policy", policy, dir, "filesystem.read"});
  EXPECT_EQ(r.exit_code, 2);
}

// 10 ------------------------------------------------------------------------

TEST_F(SecurityCli, InspectShowsImportsExportsCapabilitiesQuotasAndSignature) {
  auto dir = component("probe", "wasi_probe.wasm");
  auto r = cli({"inspect", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out.rfind("module     " + dir +
                            "/component.wasm\n"
                            "component  exit-probe 1.2.0\n"
                            "signature  unsigned\n",
                        0),
            0u)
      << r.out;
  for (const char* line :
       {"\nimports (14)\n",
        "\n  wasi_snapshot_preview1.fd_write  func (i32, i32, i32, i32) -> (i32)\n",
        "\n  wasi_snapshot_preview1.proc_exit  func (i32) -> ()\n", "\nexports (2)\n",
        "\n  _start  func () -> ()\n",
        "\ncapabilities requested\n  filesystem.read      /srv/data/*\n"
        "  network.connect      api.example.com:443\n",
        "\nquotas\n  storage 50 MiB  messages 1000/s  network 10 MiB/s  cpu 1000 ms/s  memory "
        "16 MiB\n"}) {
    EXPECT_TRUE(contains(r.out, line)) << line << "\nin:\n" << r.out;
  }

  r = cli({"inspect", "--json", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  json j = parse_json(r.out);
  EXPECT_EQ(j["module"], dir + "/component.wasm");
  EXPECT_EQ(j["component"], json({{"name", "exit-probe"}, {"version", "1.2.0"}}));
  EXPECT_EQ(j["signature"], json({{"status", "unsigned"}}));
  ASSERT_EQ(j["imports"].size(), 14u);
  EXPECT_TRUE(
      std::find(j["imports"].begin(), j["imports"].end(),
                json({{"module", "wasi_snapshot_preview1"},
                      {"name", "path_open"},
                      {"kind", "func"},
                      {"type", "(i32, i32, i32, i32, i32, i64, i64, i32, i32) -> (i32)"}})) !=
      j["imports"].end())
      << j["imports"];
  EXPECT_EQ(j["exports"],
            json::array({{{"name", "memory"}, {"kind", "memory"}, {"type", "2.. pages"}},
                         {{"name", "_start"}, {"kind", "func"}, {"type", "() -> ()"}}}));
  EXPECT_EQ(j["capabilities"], json({{"filesystem.read", {"/srv/data/*"}},
                                     {"network.connect", {"api.example.com:443"}}}));
  EXPECT_EQ(j["quotas"], json({{"storage_bytes", 50u << 20},
                               {"messages_per_second", 1000},
                               {"network_bytes_per_second", 10u << 20},
                               {"cpu_ms_per_second", 1000},
                               {"memory_bytes", 16u << 20}}));

  // Signed, then tampered with.
  const std::string alice = keygen("alice");
  ASSERT_EQ(cli({"sign", "--key", key_prefix("alice") + ".key", dir}).exit_code, 0);
  r = cli({"inspect", dir});
  EXPECT_TRUE(contains(r.out, "\nsignature  verified by key " + alice + "\n")) << r.out;
  j = parse_json(cli({"inspect", "--json", dir}).out);
  EXPECT_EQ(j["signature"], json({{"status", "verified"}, {"key_id", alice}}));
  write_file(dir + "/Component.toml",
             replace_once(read_file(dir + "/Component.toml"), "16MB", "32MB"));
  r = cli({"inspect", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\nsignature  invalid: manifest '" + dir +
                                  "/Component.toml' changed since it was signed"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "memory 32 MiB\n")) << r.out;
  j = parse_json(cli({"inspect", "--json", dir}).out);
  EXPECT_EQ(j["signature"]["status"], "invalid");
  EXPECT_TRUE(contains(j["signature"]["error"], "changed since it was signed")) << j;

  // A bare module asks for nothing.
  auto bare = component("bare", "exit_code.wasm", std::nullopt);
  r = cli({"inspect", bare + "/component.wasm"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "component  (no Component.toml: runs with no capabilities)\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "capabilities requested\n  (none)\n")) << r.out;
  j = parse_json(cli({"inspect", "--json", bare}).out);
  EXPECT_EQ(j["capabilities"], json::object());
  EXPECT_FALSE(j.contains("component"));
}

// 11 ------------------------------------------------------------------------

TEST_F(SecurityCli, EveryCommandsHelpMentionsItsOptions) {
  struct Help {
    std::vector<std::string> command;
    std::vector<std::string> mentions;
  };
  const std::vector<Help> helps = {
      {{},
       {"run", "validate", "inspect", "keygen", "sign", "verify", "trust", "approvals", "policy",
        "Exit status", "AIRSSYS_HOME"}},
      {{"run"},
       {"--fuel", "--max-memory", "--approve", "--trust-config", "--policy", "--data-dir",
        "--audit-log", "path", "args"}},
      {{"validate"}, {"--json", "Component.toml"}},
      {{"inspect"}, {"--json", "path"}},
      {{"keygen"}, {"--out", "--force", "--json", "0600"}},
      {{"sign"}, {"--key", "--json", "path"}},
      {{"verify"}, {"--trust-config", "--json", "path"}},
      {{"trust"},
       {"list", "add-key", "remove-key", "add-path", "remove-path", "dev-mode", "--trust-config",
        "--data-dir", "--audit-log", "--json"}},
      {{"approvals"},
       {"list", "approve", "deny", "--state", "--reason", "--data-dir", "--audit-log", "--json"}},
      {{"policy"}, {"check"}},
      {{"policy", "check"},
       {"component", "permission", "resource", "--signer", "--policy", "--json"}},
  };
  for (const auto& help : helps) {
    std::vector<std::string> args = help.command;
    args.push_back("--help");
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\n" << r.err;
    EXPECT_EQ(r.err, "");
    for (const auto& word : help.mentions) {
      EXPECT_TRUE(contains(r.out, word))
          << ::testing::PrintToString(args) << " lacks " << word << "\n"
          << r.out;
    }
  }
}

// 12 ------------------------------------------------------------------------

TEST_F(SecurityCli, BadInputGivesOneClearErrorAndTheRightExitCode) {
  auto dir = component("probe", "exit_code.wasm");
  const std::string missing = (root_ / "missing").string();
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string error;
  };
  const std::string alice = keygen("alice");
  const std::string key = key_prefix("alice") + ".key";
  auto unsigned_bare = component("bare", "exit_code.wasm", std::nullopt);
  std::vector<Case> cases = {
      {{"run", missing}, 3, missing + ": no such file or directory"},
      {{"validate", missing}, 3, "cannot read " + missing + ": No such file or directory"},
      {{"inspect", missing}, 3, missing + ": no such file or directory"},
      {{"sign", "--key", key, missing}, 3, missing + ": no such file or directory"},
      {{"verify", missing}, 3, missing + ": no such file or directory"},
      {{"sign", "--key", missing + ".key", dir},
       3,
       "secret key file '" + missing + ".key' does not exist"},
      {{"sign", "--key", key, unsigned_bare},
       3,
       "a component directory with Component.toml is "
       "signed"},
      {{"trust", "add-key", "x", missing + ".pub"}, 3, missing + ".pub"},
      {{"trust", "add-key", "x", key}, 3, "not an airssys-wasm public key file"},
      {{"trust", "add-key", "x"}, 2, "usage: airssys-wasm trust add-key NAME PUBLIC_KEY_FILE"},
      {{"trust", "frobnicate"}, 2, "unknown trust action 'frobnicate'"},
      {{"policy", "check", "--policy", missing + ".toml", dir, "filesystem.read", "/x"},
       2,
       missing + ".toml: no such file"},
      {{"keygen"}, 2, "--out"},
      {{"sign", dir}, 2, "--key"},
      {{"approvals"}, 2, "action"},
      {{"policy"}, 2, "airssys-wasm: "},
  };
  for (const auto& c : cases) {
    auto r = cli(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << ::testing::PrintToString(c.args) << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.error)) << ::testing::PrintToString(c.args) << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, "airssys-wasm: ")) << r.err;
    EXPECT_EQ(r.out, "") << ::testing::PrintToString(c.args);
  }
  EXPECT_FALSE(fs::exists(unsigned_bare + "/component.sig"));

  // A secret key that others can read is refused, with the fix.
  const std::string loose = key_prefix("loose") + ".key";
  fs::copy_file(key, loose);
  ::chmod(loose.c_str(), 0644);
  auto r = cli({"sign", "--key", loose, dir});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "airssys-wasm: usage error InvalidArgument: secret key file '" + loose +
                       "' is accessible by group or others (mode 0644); it must be private to "
                       "its owner: run `chmod 600 '" +
                       loose + "'`\n");
  EXPECT_FALSE(fs::exists(dir + "/component.sig"));
  ::chmod(loose.c_str(), 0600);
  r = cli({"sign", "--key", loose, dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // A garbage trust.toml stops every command that reads it, naming file and line.
  const fs::path trust = home_ / "trust.toml";
  write_file(trust,
             "dev_mode = false\n\n[[trusted_keys]]\nname = \"ops\"\npublic_key = \"nope\"\n");
  const std::string key_error =
      trust.string() + ":5: trusted_keys[0].public_key: is not an Ed25519 public key";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"run", dir, "--", "42"},
           {"trust", "list"},
           {"trust", "add-path", "/srv/apps"},
           {"trust", "dev-mode", "on"},
           {"verify", dir},
       }) {
    r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, "airssys-wasm: usage error InvalidConfig: " + key_error))
        << ::testing::PrintToString(args) << "\n"
        << r.err;
  }
  EXPECT_TRUE(contains(read_file(trust), "public_key = \"nope\"")) << "never overwritten";
  r = cli({"verify", "--json", dir});
  EXPECT_EQ(r.exit_code, 2);
  json j = parse_json(r.out);
  EXPECT_EQ(j["verified"], true);
  EXPECT_TRUE(contains(j.value("trust_error", ""), key_error)) << r.out;

  write_file(trust, "dev-mode = true\n");
  r = cli({"trust", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, trust.string() + ":1: dev-mode: unknown key")) << r.err;
  write_file(trust, "dev_mode = false\nthis is [ not toml\n");
  r = cli({"run", dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, trust.string() + ":2: ")) << r.err;
  r = cli({"trust", "list", "--trust-config", (root_ / "fine.toml").string()});
  EXPECT_EQ(r.exit_code, 0) << "--trust-config names another file\n" << r.err;
  write_file(trust, "dev_mode = true\n");
  ::chmod(trust.c_str(), 0666);
  r = cli({"run", dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "is writable by group or others (mode 0666)")) << r.err;
  EXPECT_TRUE(contains(r.err, "chmod go-w")) << r.err;
  EXPECT_FALSE(contains(r.err, "DEV MODE")) << "a refused configuration is not used in part";
  fs::remove(trust);

  // A garbage policy.toml.
  const std::string policy = (root_ / "policy.toml").string();
  write_file(policy,
             "[[rule]]\nname = \"r\"\neffect = \"maybe\"\npermissions = "
             "[\"filesystem.read\"]\n");
  r = cli({"policy", "check", "--policy", policy, dir, "filesystem.read", "/srv/data/x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "InvalidConfig: " + policy +
                                  ":3: rule[0].effect: must be \"allow\" "
                                  "or \"deny\""))
      << r.err;
  r = cli({"run", "--policy", policy, dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, policy + ":3: rule[0].effect")) << r.err;
  write_file(policy, "[[rule]\n");
  r = cli({"policy", "check", "--policy", policy, dir, "filesystem.read", "/srv/data/x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, policy + ":1: TOML syntax error at column")) << r.err;
  write_file(home_ / "policy.toml", "[[rules]]\nname = \"typo\"\n");
  r = cli({"run", dir});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, (home_ / "policy.toml").string() + ":1: rules: unknown key"))
      << r.err;
}

}  // namespace
}  // namespace airssys::wasm
