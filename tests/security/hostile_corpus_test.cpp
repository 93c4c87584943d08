// The threat suite, part three: a corpus of hostile and generated modules run
// by the real airssys-wasm binary on both tiers. Every module must end the
// same way on each (exit status, trap type, output), and no run may end the
// host process by a signal: a module that kills the host on one tier and
// not on the other is exactly the defect this suite exists to catch.
//
// The generated part is a seeded program generator: arithmetic that may
// divide by zero or overflow, loads and stores that may leave memory,
// indirect calls that may miss the table or its type, and loops, so the two
// tiers are compared on every kind of trap and on ordinary results.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "../support/hostile_modules.hpp"
#include "../support/temp_dir.hpp"
#include "subprocess.hpp"

namespace airssys::wasm::threat {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;

struct Case {
  std::string name;
  std::string content;  // WebAssembly text, or binary when `binary`
  bool binary = false;
  uint64_t fuel = 50'000'000;
  std::string max_memory = "16MB";
  // The exit status both tiers must give, when it is known in advance.
  std::optional<int> expect;
};

// A WASI command around `body`, which leaves an i32 on the stack: the
// command exits with it.
std::string command(const std::string& decls, const std::string& body) {
  return fmt::format(R"((module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  {}
  (func (export "_start") {} call $exit))
)",
                     decls, body);
}

using Bytes = std::string;
using testing::put_leb;
using testing::put_section;
using Wasm = std::vector<uint8_t>;

Wasm wasm_of(std::string_view bytes) {
  return Wasm(bytes.begin(), bytes.end());
}

// A WASI command in the binary format whose _start nests `depth` blocks,
// then exits with 42; a `custom` section is appended as given.
Bytes nested_command(uint32_t depth, const Bytes& custom = {}) {
  Wasm m = wasm_of(std::string_view("\0asm\1\0\0\0", 8));
  put_section(m, 1, wasm_of(std::string_view("\x02\x60\x01\x7f\x00\x60\x00\x00", 8)));
  put_section(m, 2, wasm_of(std::string_view("\x01\x16wasi_snapshot_preview1\x09proc_exit\x00\x00",
                                             1 + 1 + 22 + 1 + 9 + 2)));
  put_section(m, 3, {0x01, 0x01});
  put_section(m, 5, {0x01, 0x00, 0x01});
  put_section(m, 7, wasm_of(std::string_view("\x02\x06_start\x00\x01\x06memory\x02\x00",
                                             2 + 6 + 2 + 1 + 6 + 2)));
  Wasm body{0x00};
  for (uint32_t i = 0; i < depth; ++i) body.insert(body.end(), {0x02, 0x40});
  body.insert(body.end(), depth, 0x0b);
  body.insert(body.end(), {0x41, 0x2a, 0x10, 0x00, 0x0b});  // i32.const 42, call $exit, end
  Wasm code{0x01};
  put_leb(code, body.size());
  code.insert(code.end(), body.begin(), body.end());
  put_section(m, 10, code);
  if (!custom.empty()) put_section(m, 0, wasm_of(custom));
  return Bytes(m.begin(), m.end());
}

// The seeded program generator. Expressions are i32 in folded form.
class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  std::string module() {
    std::string decls = R"((type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $f0 $f1 $other)
  (func $f0 (type $t) local.get 0 i32.const 7 i32.mul)
  (func $f1 (type $t) local.get 0 i32.const 13 i32.rotl)
  (func $other (param i64) (result i64) local.get 0)
  (global $g (mut i32) (i32.const 1)))";
    const int rounds = pick(1, 40);
    std::string body = fmt::format(R"((local $i i32) (local $a i32) (local $b i32)
    (local.set $a (i32.const {}))
    (local.set $b (i32.const {}))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const {})))
      (local.set $a {})
      (i32.store (i32.and (i32.mul (local.get $i) (i32.const 4)) (i32.const 0xfffc)) {})
      (local.set $b {})
      (global.set $g (i32.add (global.get $g) (local.get $a)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.add (i32.const 64)
      (i32.and (i32.xor (global.get $g) (i32.xor (local.get $a) (local.get $b)))
               (i32.const 63))))",
                                   value(), value(), rounds, expr(4), expr(3), expr(4));
    return command(decls, body);
  }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string value() {
    static const int32_t kEdges[] = {0, 1, -1, 2, 0x7fffffff, INT32_MIN, 0xffff, 0x10000};
    if (pick(0, 2) == 0) return std::to_string(kEdges[pick(0, 7)]);
    return std::to_string(static_cast<int32_t>(rng_()));
  }
  std::string expr(int depth) {
    if (depth == 0) {
      switch (pick(0, 3)) {
        case 0: return fmt::format("(i32.const {})", value());
        case 1: return "(local.get $a)";
        case 2: return "(local.get $b)";
        default: return "(local.get $i)";
      }
    }
    static const char* kBinary[] = {"add",   "sub",  "mul",   "and",   "or",    "xor",
                                    "shl",   "shr_s", "shr_u", "rotl",  "rotr",  "div_s",
                                    "div_u", "rem_s", "rem_u", "lt_s",  "ge_u",  "ne"};
    static const char* kUnary[] = {"clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s"};
    switch (pick(0, 9)) {
      case 0:
      case 1:
      case 2:
      case 3:
        return fmt::format("(i32.{} {} {})", kBinary[pick(0, 17)], expr(depth - 1),
                           expr(depth - 1));
      case 4:
        return fmt::format("(i32.{} {})", kUnary[pick(0, 5)], expr(depth - 1));
      case 5:
        // Mostly inside the page; now and then anywhere.
        return pick(0, 4) == 0
                   ? fmt::format("(i32.load {})", expr(depth - 1))
                   : fmt::format("(i32.load (i32.and {} (i32.const 0xfffc)))", expr(depth - 1));
      case 6:
        return fmt::format("(select {} {} {})", expr(depth - 1), expr(depth - 1),
                           expr(depth - 1));
      case 7:
        // Index 0 and 1 are functions of the right type, 2 one of another
        // type; 3 is null; 4 and past are outside the table.
        return fmt::format("(call_indirect (type $t) {} (i32.const {}))", expr(depth - 1),
                           pick(0, 9) == 0 ? pick(2, 5) : pick(0, 1));
      case 8:
        return fmt::format("(i32.wrap_i64 (i64.mul (i64.extend_i32_s {}) (i64.const {})))",
                           expr(depth - 1), value());
      default:
        return fmt::format("(i32.trunc_f64_s (f64.div (f64.convert_i32_s {}) (f64.const {})))",
                           expr(depth - 1), pick(0, 3) == 0 ? "0.0" : "3.5");
    }
  }

  std::mt19937 rng_;
};

std::vector<Case> corpus() {
  std::vector<Case> cases;
  {
    // A function type of 300 parameters and 300 results, reached through
    // call_indirect: past any fixed buffer of the runtime.
    std::string params, results, consts, drops;
    for (int i = 0; i < 300; ++i) {
      params += " i32";
      results += " i32";
      consts += fmt::format(" i32.const {}", i);
    }
    for (int i = 0; i < 299; ++i) drops += " drop";
    std::string gets;  // result 0 is parameter 42
    for (int i = 0; i < 300; ++i) gets += fmt::format(" local.get {}", (i + 42) % 300);
    cases.push_back({"wide-type",
                     command(fmt::format(R"((type $w (func (param{0}) (result{1})))
  (table 1 funcref) (elem (i32.const 0) $wide)
  (func $wide (type $w){2}))",
                                         params, results, gets),
                             consts + " i32.const 0 call_indirect (type $w)" + drops),
                     false, 50'000'000, "16MB", 42});
  }
  {
    // An import of 1,000 parameters the host does not provide.
    std::string params;
    for (int i = 0; i < 1000; ++i) params += " i64";
    cases.push_back({"wide-import",
                     fmt::format(R"((module (import "env" "wide" (func (param{})))
  (func (export "_start"))))",
                                 params),
                     false, 50'000'000, "16MB", 4});
  }
  {
    // 2,000 distinct function types.
    std::string many;
    for (int i = 0; i < 2000; ++i) {
      std::string results;
      for (int k = 0; k <= i % 7; ++k) results += " i32";
      std::string params;
      for (int k = 0; k <= i / 7 % 40; ++k) params += (k % 2 ? " i64" : " f32");
      many += fmt::format("(type (func (param{}) (result{})))\n", params, results);
    }
    cases.push_back({"many-types", command(many, "i32.const 9"), false, 50'000'000, "16MB", 9});
  }
  cases.push_back({"deep-nesting", nested_command(50'000), true, 50'000'000, "16MB", 3});
  cases.push_back({"nesting-at-the-limit", nested_command(10'000), true, 50'000'000, "16MB", 42});
  {
    // Names for functions 1 and 0, in that (wrong) order.
    Bytes bad_names("\x04name\x01\x07\x02\x01\x01x\x00\x01y", 14);
    cases.push_back({"bad-name-section", nested_command(3, bad_names), true, 50'000'000, "16MB",
                     42});
  }
  cases.push_back({"divide-by-zero", command("", "i32.const 1 i32.const 0 i32.div_u"), false,
                   50'000'000, "16MB", 5});
  cases.push_back({"overflowing-division",
                   command("", "i32.const 0x80000000 i32.const -1 i32.div_s"), false,
                   50'000'000, "16MB", 5});
  cases.push_back({"load-past-memory", command("", "i32.const 65533 i32.load"), false,
                   50'000'000, "16MB", 5});
  cases.push_back({"unbounded-recursion",
                   command("(func $r (param i32) (result i32) local.get 0 i32.const 1 i32.add "
                           "call $r)",
                           "i32.const 0 call $r"),
                   false, 50'000'000, "16MB", 5});
  cases.push_back({"endless-loop", command("", "(loop $l br $l) i32.const 0"), false, 1'000'000,
                   "16MB", 5});
  cases.push_back({"memory-grow-past-the-cap",
                   command("", "i32.const 100 memory.grow i32.const 1 i32.add"), false,
                   50'000'000, "1MB", 0});
  {
    std::string targets;
    for (int i = 0; i < 5000; ++i) targets += " 0";
    cases.push_back({"wide-br-table",
                     command("", fmt::format("(block (br_table{} (i32.const 4999))) i32.const 8",
                                             targets)),
                     false, 50'000'000, "16MB", 8});
  }
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    cases.push_back({fmt::format("generated-{}", seed), Generator(seed).module(), false,
                     50'000'000, "16MB", std::nullopt});
  }
  return cases;
}

// The trap's type, e.g. "TrapDivideByZero", from the error line. The note
// of a native run that a compile bound sent to the interpreter is no error.
std::string error_type(const std::string& err) {
  static const std::regex kType(R"(error (\w+):)");
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("runs on the interp tier") != std::string::npos) continue;
    std::smatch m;
    if (std::regex_search(line, m, kType)) return m[1].str();
  }
  return "";
}

class HostileCorpus : public ::testing::Test {
 protected:
  void SetUp() override {
    root = tmp.path();
    fs::create_directories(root / "home");
    ::chmod((root / "home").c_str(), 0700);
    setenv("AIRSSYS_HOME", (root / "home").c_str(), 1);
    // A compile that a loaded machine slows past this bound is killed, and
    // the module runs on the interpreter (the same outcome, on record), so
    // no case waits for the default bound of five minutes.
    std::ofstream(root / "home" / "policy.toml") << "[native]\ncompile_timeout_ms = 60000\n";
  }
  ProcessResult run(const Case& c, const fs::path& file, const char* tier) {
    return testing::run_process({AIRSSYS_CLI, "run", "--tier", tier, "--fuel",
                                 std::to_string(c.fuel), "--max-memory", c.max_memory,
                                 file.string()},
                                std::chrono::seconds(240));
  }

  airssys::wasm::test::TempDir tmp{"corpus"};
  fs::path root;
};

TEST_F(HostileCorpus, EveryModuleEndsTheSameWayOnBothTiersAndNeverKillsTheHost) {
  int traps = 0, exits = 0, refusals = 0;
  for (const Case& c : corpus()) {
    SCOPED_TRACE(c.name);
    fs::path file = root / (c.name + (c.binary ? ".wasm" : ".wat"));
    std::ofstream(file, std::ios::binary) << c.content;
    ProcessResult interp = run(c, file, "interp");
    ProcessResult native = run(c, file, "native");
    bool ended = true;
    for (const auto* r : {&interp, &native}) {
      EXPECT_FALSE(r->timed_out);
      EXPECT_EQ(r->signal, 0) << "the host died of signal " << r->signal << "\n" << r->err;
      ended = ended && !r->timed_out && r->signal == 0;
    }
    if (!ended) continue;
    EXPECT_EQ(interp.exit_code, native.exit_code)
        << "interp: " << interp.err << "\nnative: " << native.err;
    EXPECT_EQ(error_type(interp.err), error_type(native.err))
        << "interp: " << interp.err << "\nnative: " << native.err;
    EXPECT_EQ(interp.out, native.out);
    if (c.expect) {
      EXPECT_EQ(interp.exit_code, *c.expect) << interp.err;
    }
    if (interp.exit_code == 5) ++traps;
    if (interp.exit_code == 3 || interp.exit_code == 4) ++refusals;
    if (interp.exit_code != 3 && interp.exit_code != 4 && interp.exit_code != 5) ++exits;
  }
  // The corpus reaches every outcome class.
  EXPECT_GT(traps, 4);
  EXPECT_GT(refusals, 1);
  EXPECT_GT(exits, 4);
}

}  // namespace
}  // namespace airssys::wasm::threat
