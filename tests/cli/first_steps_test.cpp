// What someone new to the command meets first, with the real binary: the
// host.toml of docs/commands.md with `serve` and the commands around it
// (one rule for where every file lives), a single component folder for `up`,
// a WASI command under `up` and a messaging component under `run`, denials
// printed by `run`, abbreviated approval keys, a stopped component, a fresh
// data directory, and errors as JSON with --json.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../system/system_test_support.hpp"
#include "daemon.hpp"
#include "subprocess.hpp"

namespace airssys::wasm::system::test {
namespace {

using nlohmann::json;
using testing::ProcessResult;
using testing::Daemon;
using testing::run_process;

const std::string kCli = AIRSSYS_CLI;

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

ProcessResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), kCli);
  auto r = run_process(args, std::chrono::seconds(60));
  EXPECT_FALSE(r.timed_out) << args[1];
  return r;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 0777;
}

// The fenced block of a guide whose info string is `info`.
std::string doc_block(const std::string& guide, const std::string& info) {
  std::istringstream in(read_all(fs::path(AIRSSYS_SOURCE_DIR) / "docs" / guide));
  std::string line, text;
  bool inside = false;
  while (std::getline(in, line)) {
    if (inside) {
      if (line.starts_with("```")) return text;
      text += line + "\n";
    } else if (line == "```" + info) {
      inside = true;
    }
  }
  return "";
}


class FirstStepsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = root_.path() / "data";
    fs::create_directories(data_);
    fs::permissions(data_, fs::perms::owner_all, fs::perm_options::replace);
  }

  // A component folder under root with `module` from the test components.
  fs::path folder(const std::string& name, const std::string& module,
                  const std::string& capabilities = "") {
    fs::path dir = root_.path() / "components" / name;
    fs::create_directories(dir);
    fs::copy_file(kComponents / module, dir / "component.wasm",
                  fs::copy_options::overwrite_existing);
    write_file(dir / "Component.toml",
               "[component]\nname = \"" + name + "\"\nversion = \"1.0.0\"\n" +
                   (capabilities.empty() ? "" : "[capabilities]\n" + capabilities));
    return dir;
  }

  TempDir root_;
  fs::path data_;
};

// The host.toml of docs/commands.md, its data directory moved here, in a
// folder of its own: serve, and every command given either --config or
// --data-dir, use the same files, all in the data directory.
TEST_F(FirstStepsTest, TheDocumentedHostTomlPutsEveryFileInTheDataDirectory) {
  std::string text = doc_block("commands.md", "toml host.toml");
  ASSERT_NE(text.find("data_dir = \"/var/lib/airssys\""), std::string::npos) << text;
  text.replace(text.find("/var/lib/airssys"), 16, data_.string());
  fs::path etc = root_.path() / "etc";
  fs::create_directories(etc);
  fs::path config = etc / "host.toml";
  write_file(config, text);

  // A trusted key, added before the host starts, from the data directory.
  auto keygen = cli({"keygen", "--out", (root_.path() / "release").string()});
  ASSERT_EQ(keygen.exit_code, 0) << keygen.err;
  auto added = cli({"trust", "add-key", "release", (root_.path() / "release.pub").string(),
                    "--data-dir", data_.string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_TRUE(fs::exists(data_ / "trust.toml"));

  Daemon daemon(kCli, config, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "admin.sock")) << daemon.log();

  // The host reads the trust.toml `trust add-key` wrote.
  auto reloaded = cli({"reload", "--data-dir", data_.string(), "--json"});
  ASSERT_EQ(reloaded.exit_code, 0) << reloaded.err;
  json report = json::parse(reloaded.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << reloaded.out;
  EXPECT_EQ(report["trust_config"], (data_ / "trust.toml").string());
  EXPECT_EQ(report["trusted_keys"], 1);
  EXPECT_EQ(report["policy"], (data_ / "policy.toml").string());

  // --config and --data-dir reach the same host and the same files.
  EXPECT_EQ(cli({"list", "--data-dir", data_.string()}).exit_code, 0);
  EXPECT_EQ(cli({"list", "--config", config.string()}).exit_code, 0);
  auto trust = cli({"trust", "list", "--config", config.string(), "--json"});
  ASSERT_EQ(trust.exit_code, 0) << trust.err;
  json listed = json::parse(trust.out, nullptr, false);
  EXPECT_EQ(listed["file"], (data_ / "trust.toml").string()) << trust.out;
  EXPECT_EQ(listed["trusted_keys"].size(), 1u) << trust.out;
  for (const auto& where : {std::vector<std::string>{"--config", config.string()},
                            std::vector<std::string>{"--data-dir", data_.string()}}) {
    auto check = cli({"policy", "check", where[0], where[1], "--json", "anyone",
                      "filesystem.read", "/srv/x"});
    EXPECT_EQ(check.exit_code, 0) << check.err;
    json verdict = json::parse(check.out, nullptr, false);
    EXPECT_EQ(verdict["host_policy"]["file"], (data_ / "policy.toml").string() + " (absent)")
        << check.out;
  }
  auto audit = cli({"audit", "--config", config.string(), "--permission", "host.reload"});
  EXPECT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_NE(audit.out.find("host.reload"), std::string::npos) << audit.out;
  EXPECT_TRUE(fs::exists(data_ / "audit.log"));

  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
  // Nothing was put beside host.toml.
  std::vector<std::string> beside;
  for (const auto& e : fs::directory_iterator(etc)) beside.push_back(e.path().filename());
  EXPECT_EQ(beside, std::vector<std::string>{"host.toml"});
}

// A relative path in host.toml is relative to the data directory, for the
// host and for the commands alike.
TEST_F(FirstStepsTest, RelativePathsInHostTomlAreInTheDataDirectory) {
  fs::path config = root_.path() / "host.toml";
  write_file(config, "data_dir = \"data\"\ntrust_config = \"conf/trust.toml\"\n"
                     "policy = \"conf/policy.toml\"\n[admin]\nsocket = \"run/admin.sock\"\n");
  fs::create_directories(data_ / "conf");
  fs::create_directories(data_ / "run");
  fs::permissions(data_ / "run", fs::perms::owner_all, fs::perm_options::replace);
  auto added = cli({"trust", "add-path", "/srv/**", "--config", config.string()});
  ASSERT_EQ(added.exit_code, 0) << added.err;
  EXPECT_TRUE(fs::exists(data_ / "conf" / "trust.toml"));
  Daemon daemon(kCli, config, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "run" / "admin.sock")) << daemon.log();
  auto reloaded = cli({"reload", "--config", config.string(), "--json"});
  ASSERT_EQ(reloaded.exit_code, 0) << reloaded.err;
  json report = json::parse(reloaded.out, nullptr, false);
  EXPECT_EQ(report["trust_config"], (data_ / "conf" / "trust.toml").string()) << reloaded.out;
  EXPECT_EQ(report["trusted_paths"], 1) << reloaded.out;
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// The rule of the policy is found with --data-dir, as documented.
TEST_F(FirstStepsTest, PolicyCheckTakesTheDataDirectory) {
  write_file(data_ / "policy.toml",
             "[[rule]]\nname = \"no-etc\"\neffect = \"deny\"\npermissions = "
             "[\"filesystem.read\"]\nresources = [\"/etc/**\"]\n");
  fs::permissions(data_ / "policy.toml", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  auto r = cli({"policy", "check", "--data-dir", data_.string(), "anyone", "filesystem.read",
                "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("denied by rule 'no-etc'"), std::string::npos) << r.out;
}

// Every folder a command creates for a data directory is 0700.
TEST_F(FirstStepsTest, TrustCreatesAMissingDataDirectoryPrivate) {
  fs::path fresh = root_.path() / "new" / "deeper" / "data";
  auto r = cli({"trust", "add-path", "/srv/**", "--data-dir", fresh.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(mode_of(fresh), 0700u);
  EXPECT_EQ(mode_of(root_.path() / "new" / "deeper"), 0700u);
  EXPECT_EQ(mode_of(root_.path() / "new"), 0700u);
  EXPECT_TRUE(fs::exists(fresh / "trust.toml"));
}

// `up DIR` with DIR a component folder runs that component.
TEST_F(FirstStepsTest, UpRunsASingleComponentFolder) {
  auto dir = folder("counter", "counter.wasm", "storage.read = [\"counter:*\"]\n"
                                               "storage.write = [\"counter:*\"]\n"
                                               "messaging.receive = [\"host\"]\n");
  auto r = cli({"up", dir.string(), "--data-dir", data_.string(), "--approve", "--tier", "interp",
                "--duration", "1500",
                "--send", "counter=tick"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("[counter] counter tick = 1"), std::string::npos) << r.out << r.err;

  auto empty = root_.path() / "empty";
  fs::create_directories(empty);
  auto none = cli({"up", empty.string(), "--data-dir", data_.string()});
  EXPECT_EQ(none.exit_code, 3);
  EXPECT_NE(none.err.find("is no component folder and holds no component folder (Component.toml "
                          "and component.wasm)"),
            std::string::npos)
      << none.err;
}

// A WASI command under `up` is refused, before anything starts, with what
// to do instead.
TEST_F(FirstStepsTest, UpRefusesAWasiCommandAndSaysToUseRun) {
  folder("tool", "exit_code.wasm");
  folder("counter", "counter.wasm");
  auto r = cli({"up", (root_.path() / "components").string(), "--data-dir", data_.string(),
                "--duration", "10000"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("tool: the module is a WASI command (it exports _start), which `up` does "
                       "not run: run it with 'airssys-wasm run "),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("started"), std::string::npos) << r.err;
}

// `run` links WASI only, and says where a messaging component runs.
TEST_F(FirstStepsTest, RunOfAMessagingComponentSaysToUseUpOrServe) {
  auto dir = folder("counter", "counter.wasm");
  auto r = cli({"run", dir.string(), "--data-dir", data_.string()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("which `run` does not provide: run it as a component with 'airssys-wasm up "
                       "DIR'"),
            std::string::npos)
      << r.err;
}

// `run` prints denials as `up` does.
TEST_F(FirstStepsTest, RunPrintsDenials) {
  fs::path granted = root_.path() / "granted";
  fs::create_directories(granted);
  auto dir = folder("files-probe", "files.wasm",
                    "filesystem.read = [\"" + granted.string() + "/**\"]\n");
  auto r = cli({"run", "--approve", "--data-dir", data_.string(), dir.string(), "--", "read",
                "/etc/passwd"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read /etc/passwd: EACCES\n");
  EXPECT_NE(r.err.find("denied: files-probe filesystem.read /etc/passwd (component: "),
            std::string::npos)
      << r.err;
}

// An approval key may be given by a unique prefix of 8 characters or more.
TEST_F(FirstStepsTest, ApprovalKeysCanBeAbbreviated) {
  auto dir = folder("counter", "counter.wasm", "storage.read = [\"counter:*\"]\n");
  auto installed = cli({"install", dir.string(), "--data-dir", data_.string()});
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  auto listed = cli({"approvals", "list", "--data-dir", data_.string()});
  const std::string key = listed.out.substr(0, listed.out.find(' '));
  ASSERT_EQ(key.size(), 64u) << listed.out;

  auto short_key = cli({"approvals", "approve", key.substr(0, 4), "--data-dir", data_.string()});
  EXPECT_EQ(short_key.exit_code, 2);
  EXPECT_NE(short_key.err.find("too short a key"), std::string::npos) << short_key.err;
  auto unknown = cli({"approvals", "approve", "00000000", "--data-dir", data_.string()});
  EXPECT_EQ(unknown.exit_code, 2);

  auto approved = cli({"approvals", "approve", key.substr(0, 12), "--data-dir", data_.string()});
  EXPECT_EQ(approved.exit_code, 0) << approved.err;
  EXPECT_EQ(approved.out, key + " counter 1.0.0: approved\n");
}

// `send` to an installed component that does not run says so, and how to
// start it; the install said that too.
TEST_F(FirstStepsTest, SendToAStoppedComponentSaysItIsNotRunning) {
  fs::path config = root_.path() / "host.toml";
  write_file(config, "data_dir = \"data\"\nworkers = 1\ntier = \"interp\"\n");
  Daemon daemon(kCli, config, root_.path() / "serve.log");
  ASSERT_TRUE(daemon.wait_serving(data_ / "admin.sock")) << daemon.log();
  auto dir = folder("counter", "counter.wasm");  // no capabilities: no approval
  auto installed = cli({"install", dir.string(), "--data-dir", data_.string()});
  ASSERT_EQ(installed.exit_code, 0) << installed.err;
  auto sent = cli({"send", "counter", "tick", "--data-dir", data_.string()});
  EXPECT_EQ(sent.exit_code, 1);
  EXPECT_NE(sent.err.find("component 'counter' is installed but not running"), std::string::npos)
      << sent.err;
  EXPECT_NE(sent.err.find("airssys-wasm start counter"), std::string::npos) << sent.err;
  auto nobody = cli({"send", "nobody", "tick", "--data-dir", data_.string()});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_NE(nobody.err.find("no component named 'nobody'"), std::string::npos) << nobody.err;
  EXPECT_EQ(daemon.terminate(), 0) << daemon.log();
}

// A crash under `up` is a failure, named by the component, printed once; a
// start is printed once; no internal actor name shows.
TEST_F(FirstStepsTest, UpPrintsACrashAsAFailureByTheComponentsName) {
  folder("counter-svc", "counter.wasm", "storage.read = [\"counter:*\"]\n"
                                       "storage.write = [\"counter:*\"]\n"
                                       "messaging.receive = [\"host\"]\n");
  auto r = cli({"up", (root_.path() / "components").string(), "--data-dir", data_.string(),
                "--approve", "--tier", "interp", "--duration",
                "5000", "--send", "counter-svc=trap"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("denied:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('~'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("supervisor: 'counter-svc' failed: "), std::string::npos) << r.err;
  auto count = [&r](const std::string& word) {
    size_t n = 0;
    for (size_t at = 0; (at = r.err.find(word, at)) != std::string::npos; ++at) ++n;
    return n;
  };
  EXPECT_EQ(count("started") - count("restarted"), 1u) << r.err;  // "started counter-svc"
}

// A data directory where nothing was recorded yet: `audit` shows nothing.
TEST_F(FirstStepsTest, AuditOnAFreshDataDirectoryPrintsNothing) {
  auto r = cli({"audit", "--data-dir", data_.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "");
  auto summary = cli({"audit", "--data-dir", data_.string(), "--summary", "--json"});
  EXPECT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_EQ(summary.out, "");
  // A log named on the command line must exist.
  auto named = cli({"audit", "--audit-log", (data_ / "nope.log").string()});
  EXPECT_EQ(named.exit_code, 1);
}

// With --json, an error is one JSON object on stderr.
TEST_F(FirstStepsTest, WithJsonErrorsAreJson) {
  auto expect_json_error = [](const ProcessResult& r, const std::string& code) {
    json j = json::parse(r.err, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << r.err;
    EXPECT_EQ(j["error"]["code"], code) << r.err;
    EXPECT_TRUE(j["error"]["message"].is_string()) << r.err;
    EXPECT_EQ(r.out, "");
  };
  auto info = cli({"info", "nosuch", "--data-dir", data_.string(), "--json"});
  EXPECT_EQ(info.exit_code, 3);
  expect_json_error(info, "NotFound");
  auto state = cli({"approvals", "list", "--state", "maybe", "--data-dir", data_.string(),
                    "--json"});
  EXPECT_EQ(state.exit_code, 2);
  expect_json_error(state, "InvalidArgument");
  auto parse = cli({"validate", "--json", "--no-such-option", "x"});
  EXPECT_EQ(parse.exit_code, 2);
  expect_json_error(parse, "InvalidArgument");
  auto validate = cli({"inspect", "--json", (root_.path() / "missing").string()});
  EXPECT_NE(validate.exit_code, 0);
  expect_json_error(validate, "IoError");
}

}  // namespace
}  // namespace airssys::wasm::system::test
