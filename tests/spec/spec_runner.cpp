// Runs the WebAssembly core spec test suite through the engine API.
//
// Usage: spec_runner [--verbose] [--tier interp|native] [--bounds-checks guard|explicit]
//                    SPEC_DIR WORK_DIR [FILE.wast...]
//
// --tier native runs the suite on the native tier, its compile cache in
// WORK_DIR/native-cache (kept between runs); the scripts it cannot run are
// listed with the reason ("SKIP file.wast: reason") and not counted.
// --bounds-checks chooses how native code checks linear memory (the
// engine's default otherwise).
//
// Each .wast file (all of SPEC_DIR when none is named) is converted by
// wast2json into WORK_DIR, and its commands run against one store per file, in
// which a "spectest" module provides the print functions, globals, table and
// memory the suite imports. The few assertions that multi-memory turns around
// (superseded_by_multi_memory) are checked the other way: the module loads.
// Every failing command prints
// "FAIL file.wast:LINE command: details"; the last line is "N passed, M failed".
// Exit status: 0 when nothing failed, 1 when something did, 2 on a usage error,
// 77 (skipped) when the suite's folder does not exist. The environment
// variable AIRSSYS_SPEC_DIR, when set, takes the place of SPEC_DIR.

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airssys/wasm/engine/engine.hpp"

extern char** environ;

namespace airssys::wasm::spec {
namespace {

namespace fs = std::filesystem;
using engine::V128;
using engine::ValType;
using engine::Value;
using nlohmann::json;

static_assert(std::endian::native == std::endian::little, "v128 lanes are read in place");

constexpr int kExitSkipped = 77;
constexpr std::string_view kSpecDirVariable = "AIRSSYS_SPEC_DIR";

// Generous, but a runaway test still ends.
constexpr uint64_t kCallFuel = 10'000'000'000;

// The spec's "spectest" module, apart from its print functions.
constexpr std::string_view kSpectestWat = R"((module
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (memory (export "memory") 1 2)))";

// A check that fails with a description of what went wrong.
using Check = std::expected<void, std::string>;

std::unexpected<std::string> fail(std::string message) {
  return std::unexpected(std::move(message));
}

std::expected<uint64_t, std::string> parse_bits(const json& text) {
  if (!text.is_string()) {
    return fail(fmt::format("expected a number in a string, got {}", text.dump()));
  }
  const auto& s = text.get_ref<const std::string&>();
  uint64_t bits = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), bits);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return fail(fmt::format("'{}' is not an unsigned number", s));
  }
  return bits;
}

std::expected<ValType, std::string> parse_type(std::string_view name) {
  static constexpr std::pair<std::string_view, ValType> kTypes[] = {
      {"i32", ValType::I32},
      {"i64", ValType::I64},
      {"f32", ValType::F32},
      {"f64", ValType::F64},
      {"v128", ValType::V128},
      {"funcref", ValType::FuncRef},
      {"externref", ValType::ExternRef},
  };
  for (auto [text, type] : kTypes) {
    if (text == name) return type;
  }
  return fail(fmt::format("unknown value type '{}'", name));
}

// The shape of a v128 as the script writes it: 16 / width lanes.
struct LaneType {
  std::string_view name;
  size_t width;
  bool is_float;
};

const LaneType* find_lane_type(std::string_view name) {
  static constexpr LaneType kLaneTypes[] = {
      {"i8", 1, false},  {"i16", 2, false}, {"i32", 4, false},
      {"i64", 8, false}, {"f32", 4, true},  {"f64", 8, true},
  };
  for (const auto& lane : kLaneTypes) {
    if (lane.name == name) return &lane;
  }
  return nullptr;
}

// The lane type of a v128 argument or expectation.
std::expected<LaneType, std::string> parse_lane_type(const json& value) {
  std::string name = value.value("lane_type", "");
  if (const LaneType* lane = find_lane_type(name)) return *lane;
  return fail(fmt::format("unknown v128 lane type '{}'", name));
}

uint64_t lane_bits(const V128& v, size_t width, size_t lane) {
  uint64_t bits = 0;
  std::memcpy(&bits, v.bytes.data() + lane * width, width);
  return bits;
}

// The bits of a numeric value, zero-extended.
uint64_t scalar_bits(const Value& v) {
  switch (v.type()) {
    case ValType::I32:
      return static_cast<uint32_t>(v.as_i32());
    case ValType::I64:
      return static_cast<uint64_t>(v.as_i64());
    case ValType::F32:
      return v.f32_bits();
    case ValType::F64:
      return v.f64_bits();
    default:
      return 0;
  }
}

std::string format_bits(std::string_view type, uint64_t bits) {
  if (type == "f32") {
    return fmt::format("{} ({:#010x})", std::bit_cast<float>(static_cast<uint32_t>(bits)), bits);
  }
  if (type == "f64") return fmt::format("{} ({:#018x})", std::bit_cast<double>(bits), bits);
  return fmt::format("{}", bits);
}

std::string format_value(const Value& v, std::string_view lane_type = "i32") {
  std::string type = engine::val_type_name(v.type());
  switch (v.type()) {
    case ValType::V128: {
      const LaneType* lane = find_lane_type(lane_type);
      if (!lane) lane = find_lane_type("i32");
      std::string out = fmt::format("v128:{}[", lane->name);
      for (size_t i = 0; i < 16 / lane->width; ++i) {
        out += fmt::format("{}{}", i ? " " : "",
                           format_bits(lane->name, lane_bits(v.as_v128(), lane->width, i)));
      }
      return out + "]";
    }
    case ValType::FuncRef:
    case ValType::ExternRef:
      return v.to_string();
    default:
      return fmt::format("{}:{}", type, format_bits(type, scalar_bits(v)));
  }
}

std::string format_expected(const json& expected) {
  std::string type = expected.value("type", "?");
  const json& value = expected.contains("value") ? expected["value"] : json("?");
  auto format_one = [](std::string_view t, const json& v) {
    auto bits = parse_bits(v);
    return bits ? format_bits(t, *bits) : v.get<std::string>();
  };
  if (type == "v128" && value.is_array()) {
    std::string lanes = expected.value("lane_type", "?");
    std::string out = fmt::format("v128:{}[", lanes);
    for (size_t i = 0; i < value.size(); ++i) out += (i ? " " : "") + format_one(lanes, value[i]);
    return out + "]";
  }
  if (type == "funcref" || type == "externref") {
    return fmt::format("{}:{}", type, value.is_string() ? value.get<std::string>() : value.dump());
  }
  return fmt::format("{}:{}", type, format_one(type, value));
}

// An argument of an action, as the script writes it.
std::expected<Value, std::string> parse_arg(const json& arg) {
  auto type = parse_type(arg.at("type").get<std::string>());
  if (!type) return std::unexpected(type.error());
  const json& value = arg.at("value");
  switch (*type) {
    case ValType::V128: {
      auto lane = parse_lane_type(arg);
      if (!lane) return std::unexpected(lane.error());
      if (!value.is_array() || value.size() != 16 / lane->width) {
        return fail(
            fmt::format("v128 argument {} does not have {} lanes", value.dump(), 16 / lane->width));
      }
      V128 v;
      for (size_t i = 0; i < value.size(); ++i) {
        auto bits = parse_bits(value[i]);
        if (!bits) return std::unexpected(bits.error());
        std::memcpy(v.bytes.data() + i * lane->width, &*bits, lane->width);
      }
      return Value::v128(v);
    }
    case ValType::FuncRef:
      // The script can only name the null function reference.
      if (value != "null") return fail(fmt::format("funcref argument {}", value.dump()));
      return Value::funcref({});
    case ValType::ExternRef: {
      if (value == "null") return Value::externref({});
      auto bits = parse_bits(value);
      if (!bits) return std::unexpected(bits.error());
      return Value::externref({false, *bits});
    }
    default: {
      auto bits = parse_bits(value);
      if (!bits) return std::unexpected(bits.error());
      switch (*type) {
        case ValType::I32:
          return Value::i32(static_cast<int32_t>(static_cast<uint32_t>(*bits)));
        case ValType::I64:
          return Value::i64(static_cast<int64_t>(*bits));
        case ValType::F32:
          return Value::f32_bits(static_cast<uint32_t>(*bits));
        default:
          return Value::f64_bits(*bits);
      }
    }
  }
}

// A float expectation is exact bits, or one of the spec's two NaN patterns:
// canonical (quiet, empty payload, either sign) or arithmetic (quiet).
std::expected<bool, std::string> float_matches(const json& expected, uint64_t bits, size_t width) {
  const uint64_t quiet_nan = width == 4 ? 0x7fc0'0000 : 0x7ff8'0000'0000'0000;
  const uint64_t sign = width == 4 ? 0x8000'0000 : 0x8000'0000'0000'0000;
  if (expected == "nan:canonical") return (bits & ~sign) == quiet_nan;
  if (expected == "nan:arithmetic") return (bits & quiet_nan) == quiet_nan;
  auto want = parse_bits(expected);
  if (!want) return std::unexpected(want.error());
  return bits == *want;
}

std::expected<bool, std::string> matches(const json& expected, const Value& actual) {
  auto type = parse_type(expected.at("type").get<std::string>());
  if (!type) return std::unexpected(type.error());
  if (*type != actual.type()) return false;
  static const json kNoValue;
  const json& value = expected.contains("value") ? expected["value"] : kNoValue;
  switch (*type) {
    case ValType::I32:
    case ValType::I64: {
      auto want = parse_bits(value);
      if (!want) return std::unexpected(want.error());
      return *want == scalar_bits(actual);
    }
    case ValType::F32:
      return float_matches(value, scalar_bits(actual), 4);
    case ValType::F64:
      return float_matches(value, scalar_bits(actual), 8);
    case ValType::V128: {
      auto lane = parse_lane_type(expected);
      if (!lane) return std::unexpected(lane.error());
      if (!value.is_array() || value.size() != 16 / lane->width) {
        return fail(
            fmt::format("expected v128 {} does not have {} lanes", value.dump(), 16 / lane->width));
      }
      for (size_t i = 0; i < value.size(); ++i) {
        uint64_t bits = lane_bits(actual.as_v128(), lane->width, i);
        if (lane->is_float) {
          auto same = float_matches(value[i], bits, lane->width);
          if (!same || !*same) return same;
          continue;
        }
        auto want = parse_bits(value[i]);
        if (!want) return std::unexpected(want.error());
        if (*want != bits) return false;
      }
      return true;
    }
    case ValType::FuncRef:
      // "null", or else any non-null reference (the script's ref.func).
      return actual.as_ref().is_null == (value == "null");
    case ValType::ExternRef: {
      if (value == "null") return actual.as_ref().is_null;
      auto want = parse_bits(value);
      if (!want) return std::unexpected(want.error());
      return actual.as_ref() == engine::RefValue{false, *want};
    }
  }
  return false;
}

std::expected<std::string, std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(fmt::format("cannot open {}", path.string()));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return fail(fmt::format("cannot read {}", path.string()));
  return text;
}

// Runs wast2json on one script; its output lands beside `json_path`.
Check convert(const fs::path& wast, const fs::path& json_path) {
  std::vector<std::string> args = {AIRSSYS_WAST2JSON, wast.string(), "-o", json_path.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ); rc != 0) {
    return fail(fmt::format("cannot run {}: {}", argv[0], std::strerror(rc)));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail(fmt::format("waiting for wast2json: {}", std::strerror(errno)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return fail(
        fmt::format("{} could not convert {} (wait status {})", argv[0], wast.string(), status));
  }
  return {};
}

struct Tally {
  uint64_t passed = 0;
  uint64_t failed = 0;
};

// The commands of one converted script, run in order against one store.
class Script {
 public:
  Script(engine::Engine& engine, fs::path dir, std::string wast_name, bool verbose)
      : engine_(engine), dir_(std::move(dir)), wast_name_(std::move(wast_name)), verbose_(verbose) {
    instance_options_.limits.max_memory_bytes = 65536 * engine::kWasmPageSize;
    instance_options_.limits.max_table_elements = UINT32_MAX;
    instance_options_.start_fuel = kCallFuel;
    call_options_.fuel = kCallFuel;
  }

  Check define_spectest();

  void run(const json& command) {
    Check outcome;
    try {
      outcome = dispatch(command);
    } catch (const json::exception& e) {
      outcome = fail(fmt::format("unreadable command {}: {}", command.dump(), e.what()));
    }
    if (outcome) {
      ++tally.passed;
      return;
    }
    ++tally.failed;
    fmt::print("FAIL {}:{} {}: {}\n", wast_name_, command.value("line", 0),
               command.value("type", "?"), outcome.error());
  }

  Tally tally;

 private:
  // What an action did in the engine, or why the runner could not perform it.
  using ActionOutcome = std::expected<Result<std::vector<Value>>, std::string>;
  using ModuleOutcome = std::expected<Result<std::shared_ptr<const engine::Module>>, std::string>;

  Check dispatch(const json& c);
  Check run_module(const json& c);
  Check run_register(const json& c);
  Check assert_return(const json& c);
  Check assert_trap(const json& c, std::optional<ErrorCode> code);
  Check assert_load_fails(const json& c);
  Check assert_instantiate_fails(const json& c, ErrorCategory category);

  ModuleOutcome load(const json& c);
  ActionOutcome perform(const json& action);
  std::expected<std::shared_ptr<engine::Instance>, std::string> target(const json& action) const;

  engine::Engine& engine_;
  fs::path dir_;
  std::string wast_name_;
  bool verbose_;
  std::unique_ptr<engine::Store> store_ = engine_.new_store();
  engine::Linker linker_;
  engine::InstanceOptions instance_options_;
  engine::CallOptions call_options_;
  std::shared_ptr<engine::Instance> current_;
  std::map<std::string, std::shared_ptr<engine::Instance>, std::less<>> named_;
};

Check Script::define_spectest() {
  struct Print {
    const char* name;
    std::vector<ValType> params;
  };
  const Print prints[] = {
      {"print", {}},
      {"print_i32", {ValType::I32}},
      {"print_i64", {ValType::I64}},
      {"print_f32", {ValType::F32}},
      {"print_f64", {ValType::F64}},
      {"print_i32_f32", {ValType::I32, ValType::F32}},
      {"print_f64_f64", {ValType::F64, ValType::F64}},
  };
  for (const auto& p : prints) {
    linker_.define({"spectest",
                    p.name,
                    {p.params, {}},
                    [verbose = verbose_, name = std::string(p.name)](
                        engine::HostCall&, std::span<const Value> args, auto) -> Result<void> {
                      if (!verbose) return {};
                      std::string line = "spectest." + name + "(";
                      for (size_t i = 0; i < args.size(); ++i) {
                        line += (i ? ", " : "") + format_value(args[i]);
                      }
                      fmt::print("{})\n", line);
                      return {};
                    }});
  }
  auto module = engine_.load_wat(kSpectestWat, "spectest");
  if (!module) return fail("spectest module: " + module.error().to_string());
  auto instance = store_->instantiate(**module, linker_, instance_options_);
  if (!instance) return fail("spectest instance: " + instance.error().to_string());
  linker_.define_instance("spectest", std::move(*instance));
  return {};
}

Check Script::dispatch(const json& c) {
  const std::string& type = c.at("type").get_ref<const std::string&>();
  if (type == "module") return run_module(c);
  if (type == "register") return run_register(c);
  if (type == "action") {
    auto outcome = perform(c.at("action"));
    if (!outcome) return std::unexpected(outcome.error());
    if (!*outcome) return fail("failed: " + outcome->error().to_string());
    return {};
  }
  if (type == "assert_return") return assert_return(c);
  if (type == "assert_trap") return assert_trap(c, std::nullopt);
  if (type == "assert_exhaustion") return assert_trap(c, ErrorCode::TrapCallStackExhausted);
  if (type == "assert_invalid" || type == "assert_malformed") return assert_load_fails(c);
  if (type == "assert_unlinkable") return assert_instantiate_fails(c, ErrorCategory::Link);
  if (type == "assert_uninstantiable") return assert_instantiate_fails(c, ErrorCategory::Trap);
  return fail(fmt::format("unknown command type '{}'", type));
}

Script::ModuleOutcome Script::load(const json& c) {
  std::string filename = c.at("filename").get<std::string>();
  auto content = read_file(dir_ / filename);
  if (!content) return std::unexpected(content.error());
  if (c.value("module_type", "binary") == "text") return engine_.load_wat(*content, filename);
  return engine_.load(std::span(reinterpret_cast<const uint8_t*>(content->data()), content->size()),
                      filename);
}

Check Script::run_module(const json& c) {
  // Until this module stands, commands that use it fail rather than reach an
  // older one.
  current_.reset();
  std::string name = c.value("name", "");
  if (!name.empty()) named_.erase(name);

  auto module = load(c);
  if (!module) return std::unexpected(module.error());
  if (!*module) return fail("load failed: " + module->error().to_string());
  auto instance = store_->instantiate(***module, linker_, instance_options_);
  if (!instance) return fail("instantiation failed: " + instance.error().to_string());
  current_ = std::move(*instance);
  if (!name.empty()) named_[name] = current_;
  return {};
}

Check Script::run_register(const json& c) {
  auto instance = target(c);
  if (!instance) return std::unexpected(instance.error());
  linker_.define_instance(c.at("as").get<std::string>(), std::move(*instance));
  return {};
}

// The instance a command names with "module" ("name" for register), else the
// latest one.
std::expected<std::shared_ptr<engine::Instance>, std::string> Script::target(
    const json& command) const {
  const char* key = command.contains("module") ? "module" : "name";
  if (!command.contains(key)) {
    if (!current_) return fail("no module is instantiated");
    return current_;
  }
  const auto& name = command[key].get_ref<const std::string&>();
  auto it = named_.find(name);
  if (it == named_.end()) return fail(fmt::format("no module named {}", name));
  return it->second;
}

Script::ActionOutcome Script::perform(const json& action) {
  auto instance = target(action);
  if (!instance) return std::unexpected(instance.error());
  const std::string& type = action.at("type").get_ref<const std::string&>();
  const std::string& field = action.at("field").get_ref<const std::string&>();
  if (type == "get") {
    auto value = (*instance)->global(field);
    if (!value) return Result<std::vector<Value>>(std::unexpected(value.error()));
    return Result<std::vector<Value>>(std::vector{*value});
  }
  if (type != "invoke") return fail(fmt::format("unknown action type '{}'", type));
  std::vector<Value> args;
  for (const auto& arg : action.at("args")) {
    auto value = parse_arg(arg);
    if (!value) return std::unexpected(value.error());
    args.push_back(*value);
  }
  return (*instance)->call(field, args, call_options_);
}

Check Script::assert_return(const json& c) {
  auto outcome = perform(c.at("action"));
  if (!outcome) return std::unexpected(outcome.error());
  if (!*outcome) return fail("failed: " + outcome->error().to_string());
  const auto& results = **outcome;
  const json& expected = c.at("expected");
  bool same = results.size() == expected.size();
  for (size_t i = 0; same && i < results.size(); ++i) {
    auto match = matches(expected[i], results[i]);
    if (!match) return std::unexpected(match.error());
    same = *match;
  }
  if (same) return {};
  std::string want, got;
  for (size_t i = 0; i < expected.size(); ++i) {
    want += (i ? ", " : "") + format_expected(expected[i]);
  }
  for (size_t i = 0; i < results.size(); ++i) {
    std::string lane_type = i < expected.size() ? expected[i].value("lane_type", "i32") : "i32";
    got += (i ? ", " : "") + format_value(results[i], lane_type);
  }
  return fail(
      fmt::format("{}: expected ({}), got ({})", c.at("action").value("field", ""), want, got));
}

Check Script::assert_trap(const json& c, std::optional<ErrorCode> code) {
  auto outcome = perform(c.at("action"));
  if (!outcome) return std::unexpected(outcome.error());
  std::string wanted = code ? std::string(error_code_name(*code)) : "a trap";
  std::string text = c.value("text", "");
  if (*outcome) return fail(fmt::format("returned instead of trapping ({}: {})", wanted, text));
  const Error& error = outcome->error();
  if (code ? error.code != *code : !error.is_trap()) {
    return fail(fmt::format("expected {} ({}), got {}", wanted, text, error.to_string()));
  }
  return {};
}

// Assertions of this suite (WebAssembly 2.0) that multi-memory, which the
// engine implements (part of WebAssembly 3.0), turns around: a module may
// have more than one memory, and the byte after memory.size and memory.grow
// is a memory index, so a multi-byte LEB128 zero there is memory 0. The
// runner checks that each of these modules loads.
bool superseded_by_multi_memory(std::string_view wast_name, int line) {
  static const std::map<std::string_view, std::vector<int>> kSuperseded{
      // "zero byte expected": memory.grow and memory.size with a long zero.
      {"binary.wast", {877, 897, 916, 935, 974, 993, 1011, 1029}},
      // "multiple memories"
      {"imports.wast", {483, 487, 491}},
      {"memory.wast", {10, 11}},
  };
  auto it = kSuperseded.find(wast_name);
  return it != kSuperseded.end() &&
         std::find(it->second.begin(), it->second.end(), line) != it->second.end();
}

Check Script::assert_load_fails(const json& c) {
  auto module = load(c);
  if (!module) return std::unexpected(module.error());
  if (superseded_by_multi_memory(wast_name_, c.value("line", 0))) {
    if (!*module) {
      return fail(fmt::format("{} failed to load ({}), but multi-memory makes it valid",
                              c.at("filename").get<std::string>(), module->error().to_string()));
    }
    return {};
  }
  if (*module) {
    return fail(fmt::format("{} loaded, but should fail ({})", c.at("filename").get<std::string>(),
                            c.value("text", "")));
  }
  return {};
}

Check Script::assert_instantiate_fails(const json& c, ErrorCategory category) {
  auto module = load(c);
  if (!module) return std::unexpected(module.error());
  if (!*module) return fail("load failed: " + module->error().to_string());
  auto instance = store_->instantiate(***module, linker_, instance_options_);
  std::string wanted =
      fmt::format("a {} error ({})", error_category_name(category), c.value("text", ""));
  if (instance) return fail(fmt::format("instantiated, but expected {}", wanted));
  if (instance.error().category() != category) {
    return fail(fmt::format("expected {}, got {}", wanted, instance.error().to_string()));
  }
  return {};
}

// Scripts the native tier does not run, with the reason.
std::optional<std::string_view> native_exception(std::string_view wast_name) {
  if (wast_name.starts_with("simd_")) {
    return "128-bit vector (SIMD) instructions: wasm2c 1.0.32 cannot translate them, so the "
           "native tier refuses such modules (CompileFailed)";
  }
  return std::nullopt;
}

int run(int argc, char** argv) {
  bool verbose = false;
  engine::Tier tier = engine::Tier::Interp;
  engine::BoundsChecks bounds_checks = engine::kDefaultBoundsChecks;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--tier" && i + 1 < argc) {
      std::string_view value = argv[++i];
      if (value == "native") {
        tier = engine::Tier::Native;
      } else if (value != "interp") {
        fmt::print(stderr, "spec_runner: --tier must be interp or native\n");
        return 2;
      }
    } else if (arg == "--bounds-checks" && i + 1 < argc) {
      std::string_view value = argv[++i];
      if (value == "guard" || value == "explicit") {
        bounds_checks = value == "guard" ? engine::BoundsChecks::Guard
                                         : engine::BoundsChecks::Explicit;
      } else {
        fmt::print(stderr, "spec_runner: --bounds-checks must be guard or explicit\n");
        return 2;
      }
    } else {
      positional.emplace_back(arg);
    }
  }
  if (positional.size() < 2) {
    fmt::print(stderr,
               "usage: spec_runner [--verbose] [--tier interp|native] [--bounds-checks "
               "guard|explicit] SPEC_DIR WORK_DIR [FILE.wast...]\n");
    return 2;
  }
  fs::path spec_dir = positional[0];
  if (const char* env = std::getenv(kSpecDirVariable.data()); env && *env) spec_dir = env;
  const fs::path work_dir = positional[1];
  std::error_code ec;
  if (!fs::is_directory(spec_dir, ec)) {
    fmt::print("spec test suite not found at {} (set {} to its folder); skipped\n",
               spec_dir.string(), kSpecDirVariable);
    return kExitSkipped;
  }
  fs::create_directories(work_dir, ec);
  if (ec) {
    fmt::print(stderr, "cannot create {}: {}\n", work_dir.string(), ec.message());
    return 2;
  }

  std::vector<fs::path> scripts;
  for (size_t i = 2; i < positional.size(); ++i) {
    fs::path p = positional[i];
    scripts.push_back(p.has_parent_path() ? p : spec_dir / p);
  }
  if (scripts.empty()) {
    for (const auto& entry : fs::directory_iterator(spec_dir, ec)) {
      if (entry.path().extension() == ".wast") scripts.push_back(entry.path());
    }
    std::sort(scripts.begin(), scripts.end());
  }

  std::unique_ptr<engine::Engine> engine;
  if (tier == engine::Tier::Native) {
    engine::NativeOptions options;
    options.cache_dir = work_dir / "native-cache";
    options.bounds_checks = bounds_checks;
    auto native = engine::Engine::native(options);
    if (!native) {
      fmt::print(stderr, "spec_runner: {}\n", native.error().to_string());
      return 2;
    }
    engine = std::move(*native);
  } else {
    engine = engine::Engine::interpreter();
  }
  Tally total;
  size_t skipped = 0;
  for (const auto& wast : scripts) {
    std::string wast_name = wast.filename().string();
    if (tier == engine::Tier::Native) {
      if (auto why = native_exception(wast_name)) {
        fmt::print("SKIP {}: {}\n", wast_name, *why);
        ++skipped;
        continue;
      }
    }
    fs::path json_path = work_dir / wast.filename().replace_extension(".json");
    Script script(*engine, work_dir, wast_name, verbose);
    json converted;
    auto ready = convert(wast, json_path);
    if (ready) {
      auto text = read_file(json_path);
      if (text) converted = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (!text) {
        ready = std::unexpected(text.error());
      } else if (converted.is_discarded() || !converted.contains("commands")) {
        ready = fail(fmt::format("{} is not a wast2json script", json_path.string()));
      } else {
        ready = script.define_spectest();
      }
    }
    if (!ready) {
      fmt::print("FAIL {}:0 script: {}\n", wast_name, ready.error());
      ++total.failed;
      continue;
    }
    for (const auto& command : converted["commands"]) script.run(command);
    if (verbose) {
      fmt::print("{}: {} passed, {} failed\n", wast_name, script.tally.passed, script.tally.failed);
    }
    total.passed += script.tally.passed;
    total.failed += script.tally.failed;
  }
  if (tier == engine::Tier::Native) {
    auto stats = engine->stats();
    fmt::print("native tier: {} scripts skipped; {} modules compiled, {} from the cache\n", skipped,
               stats.native_compiles, stats.cache_hits);
  }
  fmt::print("{} passed, {} failed\n", total.passed, total.failed);
  return total.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace airssys::wasm::spec

int main(int argc, char** argv) {
  return airssys::wasm::spec::run(argc, argv);
}
