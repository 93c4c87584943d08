// WASI files end to end through `airssys-wasm run`: files.wasm (plain libc)
// with a Component.toml that grants exactly one directory built at run time
// under /tmp, a private AIRSSYS_HOME, and --approve. What the component may
// do works; every way out of the grant fails with EACCES and leaves an audit
// record in AIRSSYS_HOME/audit.log.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/home.hpp"
#include "subprocess.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ProcessResult;
using testing::run_process;

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FilesCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.emplace("filescli");
    root_ = tmp_->path();
    home_ = root_ / "home";
    fs::create_directory(home_);
    ::chmod(home_.c_str(), 0700);
    scoped_home_.emplace(home_);
    write_file(root_ / "data/hello.txt", "hello");
    write_file(root_ / "outside/secret", "secret");
  }

  void TearDown() override {
    scoped_home_.reset();
    tmp_.reset();
  }

  // root/component/{component.wasm, Component.toml}; `capabilities` and
  // `config` are the bodies of their sections.
  std::string component(const std::string& capabilities, const std::string& config = "") {
    fs::path dir = root_ / "component";
    fs::create_directories(dir);
    fs::copy_file(fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "files.wasm", dir / "component.wasm",
                  fs::copy_options::overwrite_existing);
    std::string manifest = "[component]\nname = \"files-probe\"\nversion = \"1.0.0\"\n\n";
    manifest += "[capabilities]\n" + capabilities + "\n";
    if (!config.empty()) manifest += config + "\n";
    write_file(dir / "Component.toml", manifest);
    return dir.string();
  }
  std::string grant_data_read_write() {
    return component("filesystem.read = [\"" + d() + "/**\"]\nfilesystem.write = [\"" + d() +
                     "/**\"]");
  }

  static ProcessResult run(const std::string& dir, std::vector<std::string> args) {
    std::vector<std::string> argv = {AIRSSYS_CLI, "run", "--approve", dir, "--"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv);
    EXPECT_FALSE(r.timed_out) << "airssys-wasm did not finish";
    EXPECT_EQ(r.signal, 0) << "airssys-wasm died of signal " << r.signal << "\n" << r.err;
    return r;
  }

  std::string d(const std::string& relative = "") const {
    return relative.empty() ? (root_ / "data").string() : (root_ / "data" / relative).string();
  }
  std::string out(const std::string& relative) const {
    return (root_ / "outside" / relative).string();
  }

  // The filesystem records of the audit log, as "result permission resource".
  std::vector<std::string> file_decisions() const {
    std::vector<std::string> lines;
    std::istringstream in(read_file(home_ / "audit.log"));
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j["permission"].is_string()) continue;
      std::string permission = j["permission"];
      if (permission.rfind("filesystem.", 0) != 0) continue;
      EXPECT_EQ(j["component"], "files-probe") << line;
      EXPECT_EQ(j["trust"], "unknown") << line;
      EXPECT_EQ(j["layer"], "component") << line;
      lines.push_back(j["result"].get<std::string>() + " " + permission + " " +
                      j["resource"].get<std::string>());
    }
    return lines;
  }
  bool has(const std::string& decision) const {
    auto all = file_decisions();
    return std::find(all.begin(), all.end(), decision) != all.end();
  }

  fs::path root_;
  fs::path home_;
  std::optional<airssys::wasm::test::TempDir> tmp_;
  std::optional<airssys::wasm::test::ScopedHome> scoped_home_;
};

TEST_F(FilesCli, WithinItsGrantAComponentReadsWritesListsAndRenames) {
  auto dir = grant_data_read_write();
  auto r = run(
      dir, {"read", d("hello.txt"), "mkdir", d("reports"), "write", d("reports/a.txt"), "alpha",
            "append", d("reports/a.txt"), "+beta", "rename", d("reports/a.txt"), d("reports/b.txt"),
            "list", d("reports"), "stat", d("reports/b.txt"), "read", d("reports/b.txt")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read " + d("hello.txt") + ": hello\nmkdir " + d("reports") + ": ok\nwrite " +
                       d("reports/a.txt") + ": ok\nappend " + d("reports/a.txt") + ": ok\nrename " +
                       d("reports/a.txt") + ": ok\nlist " + d("reports") + ": b.txt\nstat " +
                       d("reports/b.txt") + ": file of 10 bytes\nread " + d("reports/b.txt") +
                       ": alpha+beta\n");
  EXPECT_EQ(read_file(root_ / "data/reports/b.txt"), "alpha+beta");
  EXPECT_TRUE(has("granted filesystem.write " + d("reports/b.txt")));
  EXPECT_TRUE(has("granted filesystem.read " + d("hello.txt")));
  for (const auto& decision : file_decisions()) {
    EXPECT_EQ(decision.rfind("granted ", 0), 0u) << decision;
  }
}

TEST_F(FilesCli, EveryWayOutOfTheGrantFailsWithEaccesAndIsAudited) {
  fs::create_symlink("../outside/secret", root_ / "data/planted");
  fs::create_symlink("hello.txt", root_ / "data/alias");
  auto dir = grant_data_read_write();
  auto r = run(dir, {
                        "read",
                        out("secret"),  // absolute
                        "read",
                        d("../outside/secret"),  // `..`
                        "read",
                        (root_ / "data//..//outside/secret").string(),  // `//`
                        "read",
                        (root_ / "data/./../outside/./secret").string(),  // `/./`
                        "read",
                        d("planted"),  // symlink out
                        "read",
                        d("alias"),  // symlink in
                        "read",
                        "/etc/passwd",  //
                        "read",
                        d("../../../../../../../etc/passwd"),  //
                        "write",
                        out("dropped"),
                        "x",  //
                        "rename",
                        d("hello.txt"),
                        out("hello.txt"),  // rename out
                        "list",
                        (root_ / "outside").string(),  //
                    });
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read " + out("secret") + ": EACCES\nread " + d("../outside/secret") +
                       ": EACCES\nread " + (root_ / "data//..//outside/secret").string() +
                       ": EACCES\nread " + (root_ / "data/./../outside/./secret").string() +
                       ": EACCES\nread " + d("planted") + ": EACCES\nread " + d("alias") +
                       ": hello\nread /etc/passwd: EACCES\nread " +
                       d("../../../../../../../etc/passwd") + ": EACCES\nwrite " + out("dropped") +
                       ": EACCES\nrename " + d("hello.txt") + ": EACCES\nlist " +
                       (root_ / "outside").string() + ": EACCES\n");
  EXPECT_TRUE(has("denied filesystem.read " + out("secret")));
  EXPECT_TRUE(has("denied filesystem.read " + d("planted")));
  EXPECT_TRUE(has("denied filesystem.read /etc/passwd"));
  EXPECT_TRUE(has("denied filesystem.write " + out("dropped")));
  EXPECT_TRUE(has("denied filesystem.write " + out("hello.txt")));
  EXPECT_TRUE(has("denied filesystem.read " + (root_ / "outside").string()));
  EXPECT_TRUE(has("granted filesystem.read " + d("hello.txt")));
  for (const auto& decision : file_decisions()) {
    EXPECT_EQ(decision.find("granted filesystem.read " + (root_ / "outside").string()),
              std::string::npos)
        << decision;
    if (decision.find("/etc/passwd") != std::string::npos) {
      EXPECT_EQ(decision.rfind("denied ", 0), 0u) << decision;
    }
  }
  EXPECT_EQ(read_file(root_ / "outside/secret"), "secret");
  EXPECT_FALSE(fs::exists(root_ / "outside/dropped"));
  EXPECT_TRUE(fs::exists(root_ / "data/hello.txt"));
}

TEST_F(FilesCli, AReadOnlyGrantRefusesWrites) {
  auto dir = component("filesystem.read = [\"" + d() + "/**\"]");
  auto r = run(dir, {"read", d("hello.txt"), "write", d("hello.txt"), "changed", "write",
                     d("new.txt"), "x", "mkdir", d("sub"), "remove", d("hello.txt")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read " + d("hello.txt") + ": hello\nwrite " + d("hello.txt") +
                       ": EACCES\nwrite " + d("new.txt") + ": EACCES\nmkdir " + d("sub") +
                       ": EACCES\nremove " + d("hello.txt") + ": EACCES\n");
  EXPECT_TRUE(has("denied filesystem.write " + d("hello.txt")));
  EXPECT_TRUE(has("denied filesystem.write " + d("new.txt")));
  EXPECT_TRUE(has("denied filesystem.write " + d("sub")));
  EXPECT_EQ(read_file(root_ / "data/hello.txt"), "hello");
}

TEST_F(FilesCli, ADirectoryMovedOutOfTheGrantWhileTheComponentWorks) {
  write_file(root_ / "data/work/f", "data");
  auto dir = grant_data_read_write();
  ProcessResult r;
  std::thread host([&] {
    r = run(dir, {"hold-dir", d("work"), "hold-file", d("work/f"), "write", d("ready"), "1", "wait",
                  d("go"), "read-at", "f", "read", d("work/f"), "read-held"});
  });
  for (int i = 0; i < 4000 && !fs::exists(root_ / "data/ready"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  fs::rename(root_ / "data/work", root_ / "outside/work");
  write_file(root_ / "data/go", "1");
  host.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hold-dir " + d("work") + ": ok\nhold-file " + d("work/f") + ": ok\nwrite " +
                       d("ready") + ": ok\nwait " + d("go") + ": ok\nread-at f: EACCES\nread " +
                       d("work/f") + ": ENOENT\nread-held: data\n");
  EXPECT_TRUE(has("denied filesystem.read " + out("work/f")));
}

TEST_F(FilesCli, ConfigEnvIsTheComponentsEnvironment) {
  auto dir = component("filesystem.read = [\"" + d() + "/**\"]",
                       "[config]\nthreshold = 3\n\n[config.env]\nMODE = \"strict\"\n"
                       "GREETING = \"hello world\"");
  auto r = run(dir, {"env", "MODE", "env", "GREETING", "env", "threshold"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "env MODE: strict\nenv GREETING: hello world\nenv threshold: (unset)\n");

  dir = component("filesystem.read = [\"" + d() + "/**\"]", "[config.env]\nPORT = 8080");
  r = run(dir, {"env", "PORT"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("config.env.PORT"), std::string::npos) << r.err;
}

// `run --dir HOST[::GUEST]`: a directory granted on the command line.
class RunDir : public FilesCli {
 protected:
  // files.wasm alone (no manifest), with the options given before it.
  static ProcessResult run_bare(std::vector<std::string> options, std::vector<std::string> args) {
    std::vector<std::string> argv = {AIRSSYS_CLI, "run"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back((fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "files.wasm").string());
    argv.push_back("--");
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_process(argv);
    EXPECT_FALSE(r.timed_out) << "airssys-wasm did not finish";
    EXPECT_EQ(r.signal, 0) << "airssys-wasm died of signal " << r.signal << "\n" << r.err;
    return r;
  }

  // The audit records of `component` on filesystem permissions, as
  // "result permission resource layer".
  std::vector<std::string> decisions(const std::string& component) const {
    std::vector<std::string> lines;
    std::istringstream in(read_file(home_ / "audit.log"));
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded() || !j["permission"].is_string() || j["component"] != component) {
        continue;
      }
      std::string permission = j["permission"];
      if (permission.rfind("filesystem.", 0) != 0) continue;
      lines.push_back(j["result"].get<std::string>() + " " + permission + " " +
                      j["resource"].get<std::string>() + " " + j["layer"].get<std::string>());
    }
    return lines;
  }
  std::string outside() const { return (root_ / "outside").string(); }
  bool recorded(const std::string& component, const std::string& decision) const {
    auto all = decisions(component);
    return std::find(all.begin(), all.end(), decision) != all.end();
  }
};

TEST_F(RunDir, AModuleWithoutAManifestGetsTheDirectoryUnderItsGuestName) {
  auto r = run_bare({"--dir", d() + "::/work"},
                    {"list", "/work", "read", "/work/hello.txt", "write", "/work/new.txt", "made",
                     "read", out("secret"), "read", "/etc/passwd", "read", d("hello.txt")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The directory is seen as /work only: not under its host path, nor
  // through its parent.
  EXPECT_EQ(r.out, "list /work: hello.txt\nread /work/hello.txt: hello\nwrite /work/new.txt: ok\n"
                   "read " + out("secret") + ": EACCES\nread /etc/passwd: EACCES\nread " +
                       d("hello.txt") + ": EACCES\n");
  EXPECT_EQ(read_file(root_ / "data/new.txt"), "made");
  // The grant is on record, and every access is decided on host paths.
  EXPECT_TRUE(recorded("files", "granted filesystem.read " + d() + " component"));
  EXPECT_TRUE(recorded("files", "granted filesystem.read " + d("hello.txt") + " component"));
  EXPECT_TRUE(recorded("files", "granted filesystem.write " + d("new.txt") + " component"));
  EXPECT_TRUE(recorded("files", "denied filesystem.read " + out("secret") + " component"));
  // Denials are printed on stderr as `up` prints them.
  EXPECT_NE(r.err.find("denied: files filesystem.read " + out("secret") + " (component: "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("denied: files filesystem.read /etc/passwd"), std::string::npos) << r.err;
  // Without --dir the same module reaches nothing.
  r = run_bare({}, {"read", d("hello.txt")});
  EXPECT_EQ(r.out, "read " + d("hello.txt") + ": EACCES\n");
}

TEST_F(RunDir, HostPathsAsGuestNamesAndPathsRelativeToDot) {
  auto r = run_bare({"--dir", d()}, {"read", d("hello.txt")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read " + d("hello.txt") + ": hello\n");
  r = run_bare({"--dir", d() + "::."}, {"read", "hello.txt", "write", "rel.txt", "relative",
                                         "list", "."});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read hello.txt: hello\nwrite rel.txt: ok\nlist .: hello.txt rel.txt\n");
  EXPECT_EQ(read_file(root_ / "data/rel.txt"), "relative");
}

TEST_F(RunDir, AManifestsGrantsBoundWhatADirMayMap) {
  auto dir = component("filesystem.read = [\"" + d() + "/**\"]");
  // Within the manifest's grant: mapped under its guest name.
  std::vector<std::string> argv = {AIRSSYS_CLI, "run", "--approve", "--dir", d() + "::/in", dir,
                                   "--", "read", "/in/hello.txt", "write", "/in/x", "y"};
  auto r = run_process(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The manifest grants reading only: the write is refused, audited.
  EXPECT_EQ(r.out, "read /in/hello.txt: hello\nwrite /in/x: EACCES\n");
  EXPECT_TRUE(recorded("files-probe", "denied filesystem.write " + d("x") + " component"));
  // Outside it: refused before the component runs, with a typed error, audited.
  argv = {AIRSSYS_CLI, "run", "--approve", "--dir", outside() + "::/out", dir, "--", "read",
          "/out/secret"};
  r = run_process(argv);
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("CapabilityDenied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("manifest grants no filesystem access there"), std::string::npos) << r.err;
  EXPECT_TRUE(recorded("files-probe", "denied filesystem.read " + outside() + " component"));
}

TEST_F(RunDir, TheHostPolicyRefusesADirItForbids) {
  write_file(home_ / "policy.toml",
             "[[rule]]\nname = \"no-outside\"\neffect = \"deny\"\npermissions = "
             "[\"filesystem.read\"]\nresources = [\"" + outside() + "\", \"" + outside() +
                 "/**\"]\nreason = \"outside is private\"\n");
  auto r = run_bare({"--dir", outside() + "::/o"}, {"read", "/o/secret"});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("CapabilityDenied"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("the host policy refuses"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("no-outside"), std::string::npos) << r.err;
  EXPECT_TRUE(recorded("files", "denied filesystem.read " + outside() + " host-policy"));
  // A directory the policy leaves alone is granted as usual.
  r = run_bare({"--dir", d() + "::/d"}, {"read", "/d/hello.txt"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "read /d/hello.txt: hello\n");
}

TEST_F(RunDir, BadDirsAreUsageErrors) {
  for (const std::string& bad : {out("missing"), out("secret"), std::string("::/x"),
                                 d() + "::"}) {
    auto r = run_bare({"--dir", bad}, {"list", "/"});
    EXPECT_EQ(r.exit_code, 2) << bad << "\n" << r.err;
    EXPECT_NE(r.err.find("--dir"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

}  // namespace
}  // namespace airssys::wasm
