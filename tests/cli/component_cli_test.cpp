// `airssys-wasm run`, `validate` and `inspect` on WebAssembly components made
// by a standard tool (jco's preview 1 command adapter, docs/testing.md): the
// real binary, the same admission and exit statuses as for core modules.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../support/home.hpp"
#include "../support/loopback_http.hpp"
#include "../support/temp_dir.hpp"
#include "cli_process.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;

std::string material(const char* name) {
  return (fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / name).string();
}

[[maybe_unused]] auto* const kPrivateHome =
    ::testing::AddGlobalTestEnvironment(new airssys::wasm::test::PrivateHome);

testing::ProcessResult cli(std::vector<std::string> args) {
  return testing::run_cli(AIRSSYS_CLI, std::move(args));
}

class ComponentCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(material("hello.component.wasm"))) {
      GTEST_SKIP() << "jco is not installed: no adapter-made components were built";
    }
  }
};

TEST_F(ComponentCli, AnAdapterMadeCommandRunsOnBothTiers) {
  for (const char* tier : {"interp", "native"}) {
    auto r = cli({"run", "--tier", tier, material("hello.component.wasm"), "--", "x", "y z"});
    EXPECT_EQ(r.exit_code, 0) << tier << ": " << r.err;
    EXPECT_EQ(r.out, "Hello from a WebAssembly component!\n  argument 1: x\n  argument 2: y z\n")
        << tier;
    EXPECT_EQ(r.err, "") << tier;
  }
}

TEST_F(ComponentCli, TheRunExportsResultBecomesTheExitStatus) {
  // The adapter reports a non-zero exit of main as wasi:cli/run's error:
  // status 1, as under the reference runner.
  EXPECT_EQ(cli({"run", material("exit_code.component.wasm"), "--", "0"}).exit_code, 0);
  EXPECT_EQ(cli({"run", material("exit_code.component.wasm"), "--", "42"}).exit_code, 1);
}

TEST_F(ComponentCli, ValidateAndInspectPrintTheWorldAsWit) {
  auto v = cli({"validate", material("hello.component.wasm")});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_NE(v.out.find("valid component"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("import wasi:cli/stdout@0.2."), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("export wasi:cli/run@0.2."), std::string::npos) << v.out;
  auto i = cli({"inspect", material("hello.component.wasm")});
  EXPECT_EQ(i.exit_code, 0) << i.err;
  EXPECT_NE(i.out.find("Component Model"), std::string::npos) << i.out;
  EXPECT_NE(i.out.find("import wasi:io/streams@0.2."), std::string::npos) << i.out;
  auto j = cli({"inspect", "--json", material("cm/strings.wasm")});
  EXPECT_EQ(j.exit_code, 0) << j.err;
  EXPECT_NE(j.out.find("\"kind\": \"component\""), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("export greet: func(name: string) -> string;"), std::string::npos) << j.out;
}

TEST_F(ComponentCli, ATruncatedComponentIsOneDecodeErrorThatSaysWhere) {
  airssys::wasm::test::TempDir dir("cm-cli");
  std::ifstream in(material("hello.component.wasm"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = (dir.path() / "cut.wasm").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  for (const char* command : {"validate", "run"}) {
    auto r = cli({command, cut});
    EXPECT_EQ(r.exit_code, 3) << command << ": " << r.err;
    EXPECT_NE(r.err.find("MalformedComponent"), std::string::npos) << command << ": " << r.err;
    EXPECT_NE(r.err.find("0x"), std::string::npos) << command << ": " << r.err;
  }
}

// `up` and `install` take components of the airssys world (wit/host.wit);
// a WASI command component is refused there, pointing to `run`.
TEST_F(ComponentCli, UpAndInstallRunComponentsOfTheWorldAndSendCommandsToRun) {
  const fs::path echo_core = fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "world" / "echo.wasm";
  if (!fs::exists(echo_core)) GTEST_SKIP() << "jco is not installed: no world components";
  airssys::wasm::test::TempDir dir("cm-up");
  auto folder = [&](const char* name, const fs::path& wasm, const std::string& caps) {
    fs::path f = dir.path() / name;
    fs::create_directories(f);
    fs::copy_file(wasm, f / "component.wasm");
    std::ofstream(f / "Component.toml") << "[component]\nname = \"" << name
                                        << "\"\nversion = \"0.1.0\"\n\n[capabilities]\n"
                                        << caps;
    return f.string();
  };
  const std::string command = folder("hello", material("hello.component.wasm"), "");
  const std::string world = folder("echo", echo_core, "messaging.receive = [\"host\"]\n");
  const std::string data = (dir.path() / "data").string();

  auto up_command = cli({"up", command, "--data-dir", data, "--duration", "500"});
  EXPECT_EQ(up_command.exit_code, 4) << up_command.err;
  EXPECT_NE(up_command.err.find("is a WASI command"), std::string::npos) << up_command.err;
  EXPECT_NE(up_command.err.find("airssys-wasm run"), std::string::npos) << up_command.err;
  auto install_command = cli({"install", command, "--data-dir", data});
  EXPECT_NE(install_command.exit_code, 0) << install_command.out;
  EXPECT_NE(install_command.err.find("is a WASI command"), std::string::npos)
      << install_command.err;

  auto inspect = cli({"inspect", world});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("targets    airssys:host/component@0.3.0"), std::string::npos)
      << inspect.out;
  auto up = cli({"up", world, "--data-dir", data, "--approve", "--tier", "interp", "--send",
                 "echo=hello", "--duration", "1000"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE((up.out + up.err).find("echo: terminated, 1 messages handled"), std::string::npos)
      << up.out << up.err;
  auto install = cli({"install", world, "--data-dir", data});
  EXPECT_EQ(install.exit_code, 0) << install.err;
}

TEST_F(ComponentCli, RunServesWasiHttpUnderTheManifestsNetworkGrant) {
  const fs::path get = fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / "http" / "get.wasm";
  if (!fs::exists(get)) GTEST_SKIP() << "jco is not installed: no http/get.wasm";
  test::Loopback server([](const std::string&) {
    return test::reply(200, "X-Test: cli\r\n", "from the server");
  });
  const std::string authority = "127.0.0.1:" + std::to_string(server.port());
  airssys::wasm::test::TempDir dir("cm-http");
  auto folder = [&](const char* name, const std::string& caps) {
    fs::path f = dir.path() / name;
    fs::create_directories(f);
    fs::copy_file(get, f / "component.wasm");
    std::ofstream(f / "Component.toml") << "[component]\nname = \"" << name
                                        << "\"\nversion = \"0.1.0\"\n\n[capabilities]\n"
                                        << caps;
    return f.string();
  };
  const std::string granted =
      folder("granted", "network.connect = [\"" + authority + "\"]\n");
  const std::string ungranted = folder("ungranted", "");

  auto r = cli({"run", "--approve", granted, "--", authority, "/x?y=1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("status 200\n")) << r.out;
  EXPECT_NE(r.out.find("x-test: cli\n"), std::string::npos) << r.out;
  EXPECT_TRUE(r.out.ends_with("body 15\nfrom the server")) << r.out;
  ASSERT_EQ(server.heads().size(), 1u);
  EXPECT_TRUE(server.heads()[0].starts_with("GET /x?y=1 HTTP/1.1")) << server.heads()[0];

  auto denied = cli({"run", ungranted, "--", authority, "/x"});
  EXPECT_EQ(denied.exit_code, 0) << denied.err;
  EXPECT_EQ(denied.out, "error HTTP-request-denied\n");
  EXPECT_EQ(server.heads().size(), 1u);
  // The refusal is on record in AIRSSYS_HOME/audit.log.
  std::ifstream in(fs::path(std::getenv("AIRSSYS_HOME")) / "audit.log");
  const std::string log{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  size_t denial = std::string::npos;
  for (size_t at = log.find(authority); at != std::string::npos; at = log.find(authority, at + 1)) {
    const size_t start = log.rfind('\n', at) + 1;
    const std::string line = log.substr(start, log.find('\n', at) - start);
    if (line.find("ungranted") != std::string::npos && line.find("denied") != std::string::npos &&
        line.find("network.connect") != std::string::npos) {
      denial = at;
    }
  }
  EXPECT_NE(denial, std::string::npos) << log;
}

}  // namespace
}  // namespace airssys::wasm
