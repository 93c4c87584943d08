// `airssys-wasm run` end to end: the real binary on components built by the build.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "../support/home.hpp"
#include "cli_process.hpp"

namespace airssys::wasm {
namespace {

namespace fs = std::filesystem;

std::string component(const char* name) {
  return (fs::path(AIRSSYS_TEST_COMPONENTS_DIR) / name).string();
}

// Every run of the binary keeps its trust configuration, approvals and audit
// log in a private AIRSSYS_HOME.
[[maybe_unused]] auto* const kPrivateHome =
    ::testing::AddGlobalTestEnvironment(new airssys::wasm::test::PrivateHome);

testing::ProcessResult cli(std::vector<std::string> args) {
  return testing::run_cli(AIRSSYS_CLI, std::move(args));
}

// A temporary directory the tests write their files into.
class TempDir : public airssys::wasm::test::TempDir {
 public:
  TempDir() : airssys::wasm::test::TempDir("cli") {}
  std::string write(const std::string& name, const std::string& content) const {
    auto p = path() / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
};

TEST(RunCommand, HelloPrintsItsGreetingFromItsDirectory) {
  auto r = cli({"run", std::string(AIRSSYS_BINARY_DIR) + "/examples/hello", "--", "x", "y z"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello from a WebAssembly component!\n  argument 1: x\n  argument 2: y z\n");
  EXPECT_EQ(r.err, "");
}

TEST(RunCommand, TheComponentsExitStatusBecomesTheProcessExitStatus) {
  EXPECT_EQ(cli({"run", component("exit_code.wasm"), "--", "0"}).exit_code, 0);
  EXPECT_EQ(cli({"run", component("exit_code.wasm"), "--", "42"}).exit_code, 42);
  EXPECT_EQ(cli({"run", component("exit_code.wasm"), "--", "7"}).exit_code, 7);
}

TEST(RunCommand, AnEndlessLoopUnderFuelStopsWithTheOutOfFuelTrap) {
  auto r = cli({"run", "--fuel", "2000000", component("spin.wasm")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.out, "spinning\n");
  EXPECT_NE(r.err.find("TrapOutOfFuel"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at spin.wasm!__original_main"), std::string::npos) << r.err;
}

TEST(RunCommand, AMemoryGrowLoopUnderMaxMemoryEndsCleanly) {
  auto r = cli({"run", "--max-memory", "8MB", component("grow.wasm")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "allocated 7 MiB before malloc failed\n");
  r = cli({"run", "--max-memory", "32MB", component("grow.wasm")});
  EXPECT_EQ(r.out, "allocated 31 MiB before malloc failed\n");
}

TEST(RunCommand, ATrapPrintsTheTrapAndBacktrace) {
  auto r = cli({"run", component("trap.wasm")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err,
            "airssys-wasm: trap error TrapUnreachable: unreachable executed\n"
            "  at trap.wasm!innermost\n  at trap.wasm!middle\n  at trap.wasm!_start\n");
}

TEST(RunCommand, ATrapInTheStartFunctionIsReported) {
  auto r = cli({"run", component("start_trap.wasm")});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("TrapDivideByZero"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at start_trap.wasm!boom"), std::string::npos) << r.err;
}

// What `run` reports, without the guest frames the native tier does not give.
std::string without_frames(const std::string& err) {
  std::string out;
  size_t at = 0;
  while (at < err.size()) {
    size_t end = err.find('\n', at);
    if (end == std::string::npos) end = err.size();
    std::string line = err.substr(at, end - at);
    if (!line.starts_with("  at ")) out += line + "\n";
    at = end + 1;
  }
  return out;
}

TEST(RunCommand, EveryTestComponentAndExampleRunsAlikeOnTheNativeTier) {
  const std::vector<std::vector<std::string>> runs{
      {std::string(AIRSSYS_BINARY_DIR) + "/examples/hello", "--", "x", "y z"},
      {component("exit_code.wasm"), "--", "42"},
      {"--fuel", "2000000", component("spin.wasm")},
      {"--max-memory", "8MB", component("grow.wasm")},
      {component("trap.wasm")},
      {component("start_trap.wasm")},
      {component("wasi_probe.wasm"), "--", "hello"},
      {std::string(AIRSSYS_SOURCE_DIR) + "/tests/components/trap.wat"},
      {component("compute.wasm")},
  };
  for (const auto& args : runs) {
    std::vector<std::string> interp{"run", "--tier", "interp"};
    std::vector<std::string> native{"run", "--tier", "native"};
    interp.insert(interp.end(), args.begin(), args.end());
    native.insert(native.end(), args.begin(), args.end());
    auto a = cli(interp);
    auto b = cli(native);
    EXPECT_EQ(a.exit_code, b.exit_code) << args.back() << "\n" << b.err;
    EXPECT_EQ(a.out, b.out) << args.back();
    EXPECT_EQ(without_frames(a.err), without_frames(b.err)) << args.back();
  }
}

TEST(RunCommand, AutoTierRunsAtOnceAndUsesTheCacheNextTime) {
  // A home of its own: another test of this program may have cached the module.
  const airssys::wasm::test::TempDir own_home("home");
  const fs::path home = own_home.path();
  const airssys::wasm::test::ScopedHome scoped_home(home);
  const fs::path cache = home / "cache" / "native";
  auto count_entries = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache, ec)) {
      n += e.path().extension() == ".so" && !e.path().filename().string().starts_with(".");
    }
    return n;
  };
  size_t before = count_entries();
  auto first = cli({"run", "--tier", "auto", component("exit_code.wasm"), "--", "9"});
  EXPECT_EQ(first.exit_code, 9) << first.err;
  EXPECT_EQ(count_entries(), before + 1);  // compiled in the background for the next run
  auto second = cli({"run", "--tier", "auto", component("exit_code.wasm"), "--", "8"});
  EXPECT_EQ(second.exit_code, 8) << second.err;
  EXPECT_EQ(count_entries(), before + 1);
  EXPECT_NE(cli({"run", "--tier", "jit", component("exit_code.wasm")}).exit_code, 0);
}

// The lifecycle.tier records of an audit log, their resource (the tier) in order.
std::vector<std::string> tiers_on_record(const fs::path& audit_log) {
  std::ifstream in(audit_log);
  std::vector<std::string> tiers;
  for (std::string line; std::getline(in, line);) {
    if (line.find("\"permission\":\"lifecycle.tier\"") == std::string::npos) continue;
    for (const char* tier : {"interp", "native"}) {
      if (line.find(fmt::format("\"resource\":\"{}\"", tier)) != std::string::npos) {
        tiers.emplace_back(tier);
      }
    }
  }
  return tiers;
}

// Without --tier, `run` takes native code from the cache when it is there
// and otherwise runs the interpreter, compiling nothing; the tier it ran on
// is on record.
TEST(RunCommand, WithoutATierRunUsesCachedNativeCodeAndCompilesNothing) {
  const airssys::wasm::test::TempDir own_home("home");
  const airssys::wasm::test::ScopedHome scoped_home(own_home.path());
  const fs::path cache = own_home.path() / "cache" / "native";
  auto count_entries = [&] {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(cache, ec)) n += e.path().extension() == ".so";
    return n;
  };
  auto first = cli({"run", component("exit_code.wasm"), "--", "9"});
  EXPECT_EQ(first.exit_code, 9) << first.err;
  EXPECT_EQ(first.err, "");
  EXPECT_EQ(count_entries(), 0u);  // nothing compiled
  auto compiled = cli({"run", "--tier", "native", component("exit_code.wasm"), "--", "8"});
  EXPECT_EQ(compiled.exit_code, 8) << compiled.err;
  EXPECT_EQ(count_entries(), 1u);
  auto second = cli({"run", component("exit_code.wasm"), "--", "7"});
  EXPECT_EQ(second.exit_code, 7) << second.err;
  EXPECT_EQ(second.err, "");
  auto interp = cli({"run", "--tier", "interp", component("exit_code.wasm"), "--", "6"});
  EXPECT_EQ(interp.exit_code, 6) << interp.err;
  EXPECT_EQ(tiers_on_record(own_home.path() / "audit.log"),
            (std::vector<std::string>{"interp", "native", "native", "interp"}));
}

// Without a C compiler `run` still runs everything but --tier native on the
// interpreter; --tier auto says why once, the default says nothing.
TEST(RunCommand, WithoutACompilerRunStaysOnTheInterpreter) {
  const airssys::wasm::test::TempDir own_home("home");
  const airssys::wasm::test::ScopedHome scoped_home(own_home.path());
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"AIRSSYS_CC=/nonexistent/bin/cc", AIRSSYS_CLI, "run"});
    return testing::run_cli("/usr/bin/env", std::move(args));
  };
  auto plain = run({component("exit_code.wasm"), "--", "5"});
  EXPECT_EQ(plain.exit_code, 5) << plain.err;
  EXPECT_EQ(plain.err, "");
  auto automatic = run({"--tier", "auto", component("exit_code.wasm"), "--", "4"});
  EXPECT_EQ(automatic.exit_code, 4) << automatic.err;
  EXPECT_EQ(automatic.err,
            "airssys-wasm: notice: no native tier on this host (native tier: no C compiler at "
            "'/nonexistent/bin/cc' (an executable given by absolute path)): components run on the "
            "interpreter. Install a C compiler (Debian: apt-get install gcc) for native code, or "
            "set tier = \"interp\" in host.toml (or --tier interp) to choose the interpreter and "
            "silence this notice\n");
  auto native = run({"--tier", "native", component("exit_code.wasm"), "--", "3"});
  EXPECT_EQ(native.exit_code, 3) << native.err;
  EXPECT_NE(native.err.find("no C compiler at '/nonexistent/bin/cc'"), std::string::npos)
      << native.err;
  EXPECT_EQ(tiers_on_record(own_home.path() / "audit.log"),
            (std::vector<std::string>{"interp", "interp"}));
}

// policy.toml's [native] binds `run`: past its bound the interpreter runs
// the module, and says why.
TEST(RunCommand, ThePolicysNativeBoundsHoldForRun) {
  const airssys::wasm::test::TempDir own_home("home");
  const airssys::wasm::test::ScopedHome scoped_home(own_home.path());
  std::ofstream(own_home.path() / "policy.toml") << "[native]\nmax_module_size = \"1KB\"\n";
  auto r = cli({"run", "--tier", "native", component("exit_code.wasm"), "--", "7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_NE(r.err.find("runs on the interp tier"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("max_module_size"), std::string::npos) << r.err;
  std::ofstream(own_home.path() / "policy.toml") << "[native]\nmax_modules = 1\n";
  r = cli({"run", "--tier", "native", component("exit_code.wasm")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("native.max_modules: unknown key"), std::string::npos) << r.err;
}

// What the binary writes on a terminal of its own (a pseudo-terminal for
// stdin, stdout and stderr) until it exits, and its exit status.
testing::ProcessResult run_on_terminal(const std::vector<std::string>& args) {
  std::vector<char*> argv{const_cast<char*>(AIRSSYS_CLI)};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int terminal = -1;
  const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid == 0) {
    ::execv(AIRSSYS_CLI, argv.data());
    ::_exit(127);
  }
  testing::ProcessResult r;
  if (pid < 0) return r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    struct pollfd p{terminal, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::read(terminal, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the program and its terminal are gone
    r.out.append(buffer, static_cast<size_t>(n));
  }
  ::close(terminal);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A person waiting on a terminal sees the native compile: why it runs, where
// the cache is, the units and the time; a pipe sees nothing of it.
TEST(RunCommand, ANativeCompileShowsItsProgressOnATerminalOnly) {
  const airssys::wasm::test::TempDir own_home("home");
  const airssys::wasm::test::ScopedHome scoped_home(own_home.path());
  const std::string module = component("exit_code.wasm");
  auto piped = cli({"run", "--tier", "native", module, "--", "3"});
  EXPECT_EQ(piped.exit_code, 3) << piped.err;
  EXPECT_EQ(piped.err, "");
  fs::remove_all(own_home.path() / "cache");
  auto shown = run_on_terminal({"run", "--tier", "native", module, "--", "4"});
  EXPECT_EQ(shown.exit_code, 4) << shown.out;
  const std::string cache = (own_home.path() / "cache" / "native").string();
  EXPECT_NE(shown.out.find(fmt::format("compiling exit_code.wasm to native code (no cache entry; "
                                       "cache {})",
                                       cache)),
            std::string::npos)
      << shown.out;
  EXPECT_NE(shown.out.find(" units on "), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("compiled exit_code.wasm to native code in "), std::string::npos)
      << shown.out;
  // From the cache: nothing to show.
  auto cached = run_on_terminal({"run", "--tier", "native", module, "--", "5"});
  EXPECT_EQ(cached.exit_code, 5) << cached.out;
  EXPECT_EQ(cached.out.find("compil"), std::string::npos) << cached.out;
}

TEST(RunCommand, TextModulesRunToo) {
  auto r = cli({"run", std::string(AIRSSYS_SOURCE_DIR) + "/tests/components/trap.wat"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("at trap.wat!innermost"), std::string::npos) << r.err;
}

TEST(RunCommand, BadFilesGiveOneClearMessage) {
  TempDir dir;
  struct Case {
    std::string path;
    std::string expected;
  };
  std::string wasm_header("\0asm\1\0\0\0", 8);
  std::vector<Case> cases = {
      {dir.write("garbage.wasm", "this is not webassembly"), "MalformedModule"},
      {dir.write("empty.wasm", ""), "MalformedModule"},
      {dir.write("truncated.wasm", wasm_header + "\x01\x05\x01\x60"), "MalformedModule"},
      {dir.write("syntax.wat", "(module (func (export \"_start\") i32.add oops))"), "WatSyntax"},
      {dir.write("invalid.wat", "(module (func (export \"_start\") i32.add))"), "InvalidModule"},
      {(dir.path() / "missing.wasm").string(), "no such file"},
      {dir.path().string(), "no component.wasm"},
  };
  for (const auto& c : cases) {
    auto r = cli({"run", c.path});
    EXPECT_EQ(r.exit_code, 3) << c.path << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.path << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(RunCommand, LinkProblemsAreReportedAsSuch) {
  TempDir dir;
  auto r = cli({"run", dir.write("import.wat", R"((module (import "env" "secret" (func))
                                                  (func (export "_start"))))")});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("'env'.'secret'"), std::string::npos) << r.err;

  r = cli({"run", component("compute.wasm")});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("exports no _start"), std::string::npos) << r.err;

  r = cli({"run", "--max-memory", "64KB",
           dir.write("big.wat", R"((module (memory 2) (func (export "_start"))))")});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("LimitExceeded"), std::string::npos) << r.err;
}

TEST(RunCommand, BadOptionsAreUsageErrors) {
  for (std::vector<std::string> args : {
           std::vector<std::string>{"run", "--fuel", "-5", component("spin.wasm")},
           {"run", "--fuel", "0", component("spin.wasm")},
           {"run", "--fuel", "lots", component("spin.wasm")},
           {"run", "--fuel", "99999999999999999999999", component("spin.wasm")},
           {"run", "--max-memory", "5XB", component("spin.wasm")},
           {"run", "--max-memory", "5GB", component("spin.wasm")},
           {"run", "--max-memory", "-1MB", component("spin.wasm")},
           {"run", "--max-memory", "16", component("spin.wasm")},
           {"run", "--max-memory", "1.5MB", component("spin.wasm")},
           {"run"},
           {"frobnicate"},
           {},
       }) {
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(args) << "\n" << r.err;
    EXPECT_NE(r.err.find("airssys-wasm: "), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_NE(cli({"frobnicate"}).err.find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_NE(cli({"run", "--max-memory", "16", component("spin.wasm")})
                .err.find("less than one 64KB page"),
            std::string::npos);
  EXPECT_NE(cli({"run", "--max-memory", "1.5MB", component("spin.wasm")})
                .err.find("sizes are whole numbers"),
            std::string::npos);
}

TEST(RunCommand, StandardInputReachesTheComponent) {
  TempDir dir;
  auto input = dir.write("input.txt", "hello\nworld\n");
  auto r = testing::run_cli(AIRSSYS_CLI, {"run", component("stdin_echo.wasm")}, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "stdin 12 bytes: hello|world|\n");
  // More than one read's worth arrives whole.
  std::string big(40000, 'x');
  input = dir.write("big.txt", big);
  r = testing::run_cli(AIRSSYS_CLI, {"run", component("stdin_echo.wasm")}, input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "stdin 40000 bytes: " + big + "\n");
  // No input: its end at once.
  r = cli({"run", component("stdin_echo.wasm")});
  EXPECT_EQ(r.out, "stdin 0 bytes: \n");
}

TEST(RunCommand, EnvSetsTheComponentsEnvironmentAndNothingOfTheHostsLeaks) {
  ASSERT_NE(std::getenv("PATH"), nullptr);
  auto r = cli({"run", "--env", "MODE=strict", "--env", "GREETING=hello world", "--env",
                "MODE=lenient", "--env", "EMPTY=", component("stdin_echo.wasm"), "--", "MODE",
                "GREETING", "EMPTY", "PATH", "AIRSSYS_HOME"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "stdin 0 bytes: \nMODE=lenient\nGREETING=hello world\nEMPTY=\nPATH unset\n"
                   "AIRSSYS_HOME unset\n");
  for (const char* bad : {"NOVALUE", "=x"}) {
    r = cli({"run", "--env", bad, component("stdin_echo.wasm")});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("--env"), std::string::npos) << r.err;
  }
}

TEST(RunCommand, HelpDescribesEveryOption) {
  auto r = cli({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("run"), std::string::npos);
  EXPECT_NE(r.out.find("Exit status"), std::string::npos);
  r = cli({"run", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* option : {"--fuel", "--max-memory", "--dir", "--env", "path", "args"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option << "\n" << r.out;
  }
}

}  // namespace
}  // namespace airssys::wasm
