// Runs the instantiation and call commands of the official Component Model
// test suite (converted to JSON plus binaries): each `component` is decoded,
// validated and instantiated with no imports and becomes the current
// instance; `component_definition` is remembered; `component_instance`
// instantiates one; `assert_return` calls an export and compares the results;
// `assert_trap` must trap. (cm_spec_runner runs the decoding and validation
// commands.)
//
// Usage: cm_spec_exec [--verbose] [--tier interp|native] SUITE_DIR [FOLDER | FOLDER/NAME.json...]
//
// A command whose component was refused (cm_spec_runner counts that
// refusal: a feature past the MVP, or a failure of its own) is skipped here
// and listed with the reason. Prints "FAIL file:line type: error"
// for each failure and last "N passed, M failed, K skipped". Exit status: 0
// when every failure is a known one (kKnownFailures), 1 otherwise (or when a
// known failure passes), 2 on a usage error, 77 when the suite's folder does
// not exist. AIRSSYS_COMPONENT_SPEC_DIR, when set, takes the place of
// SUITE_DIR.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace {

namespace fs = std::filesystem;
namespace cm = airssys::wasm::cm;
namespace engine = airssys::wasm::engine;
using airssys::wasm::ErrorCode;
using airssys::wasm::Result;
using nlohmann::json;

constexpr int kExitSkipped = 77;

// Commands known to fail, as "folder/file.json:line", each with the reason.
const std::map<std::string, std::string> kKnownFailures = {};

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Decodes one UTF-8 scalar value (the JSON form of a char).
std::optional<char32_t> one_char(const std::string& s) {
  if (s.empty()) return std::nullopt;
  auto c = static_cast<unsigned char>(s[0]);
  size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : 3;
  if (s.size() != n + 1) return std::nullopt;
  char32_t cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[k]) & 0x3F);
  return cp;
}

size_t label_index(const std::vector<std::string>& labels, const std::string& name) {
  auto it = std::find(labels.begin(), labels.end(), name);
  return static_cast<size_t>(it - labels.begin());
}

// A JSON value of the suite as a value of `type`; an error says what does
// not fit.
Result<cm::Val> to_val(const json& j, const cm::ValType& type) {
  auto bad = [&](std::string why) {
    return airssys::wasm::make_error(ErrorCode::InvalidArgument,
                                     fmt::format("{} for {}: {}", j.dump(), type.to_string(), why));
  };
  const std::string jt = j.value("type", "");
  if (jt != cm::kind_name(type.kind)) return bad("another kind");
  const json& v = j["value"];
  cm::Val out;
  out.kind = type.kind;
  switch (type.kind) {
    case cm::Kind::Bool: out.bits = v.get<bool>() ? 1 : 0; return out;
    case cm::Kind::S8:
    case cm::Kind::S16:
    case cm::Kind::S32:
    case cm::Kind::S64: out.bits = static_cast<uint64_t>(std::stoll(v.get<std::string>())); return out;
    case cm::Kind::U8:
    case cm::Kind::U16:
    case cm::Kind::U32:
    case cm::Kind::U64:
    case cm::Kind::F32:
    case cm::Kind::F64: out.bits = std::stoull(v.get<std::string>()); return out;
    case cm::Kind::Char: {
      auto c = one_char(v.get<std::string>());
      if (!c) return bad("not one character");
      out.bits = *c;
      return out;
    }
    case cm::Kind::String: out.text = v.get<std::string>(); return out;
    case cm::Kind::List:
      for (const auto& e : v) {
        auto x = to_val(e, *type.element);
        if (!x) return x;
        out.items.push_back(std::move(*x));
      }
      return out;
    case cm::Kind::Tuple:
      if (v.size() != type.items.size()) return bad("wrong arity");
      for (size_t i = 0; i < v.size(); ++i) {
        auto x = to_val(v[i], *type.items[i]);
        if (!x) return x;
        out.items.push_back(std::move(*x));
      }
      return out;
    case cm::Kind::Record:
      if (v.size() != type.fields.size()) return bad("wrong field count");
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i][0].get<std::string>() != type.fields[i].name) return bad("field name differs");
        auto x = to_val(v[i][1], *type.fields[i].type);
        if (!x) return x;
        out.items.push_back(std::move(*x));
      }
      return out;
    case cm::Kind::Variant: {
      std::string name = v["case"].get<std::string>();
      size_t k = 0;
      while (k < type.cases.size() && type.cases[k].name != name) ++k;
      if (k == type.cases.size()) return bad("no such case");
      out.bits = k;
      if (v.contains("payload") && !v["payload"].is_null()) {
        if (!type.cases[k].type) return bad("a payload for a case without one");
        auto x = to_val(v["payload"], *type.cases[k].type);
        if (!x) return x;
        out.items.push_back(std::move(*x));
      }
      return out;
    }
    case cm::Kind::Enum: {
      size_t k = label_index(type.labels, v.get<std::string>());
      if (k == type.labels.size()) return bad("no such case");
      out.bits = k;
      return out;
    }
    case cm::Kind::Flags:
      for (const auto& name : v) {
        size_t k = label_index(type.labels, name.get<std::string>());
        if (k == type.labels.size()) return bad("no such flag");
        out.bits |= uint64_t{1} << k;
      }
      return out;
    case cm::Kind::Option:
      if (v.is_null()) return out;
      {
        auto x = to_val(v, *type.element);
        if (!x) return x;
        out.bits = 1;
        out.items.push_back(std::move(*x));
      }
      return out;
    case cm::Kind::Result: {
      bool ok = v.contains("Ok");
      const json& p = ok ? v["Ok"] : v["Err"];
      out.bits = ok ? 0 : 1;
      const cm::TypeRef& pt = ok ? type.ok : type.err;
      if (!p.is_null()) {
        if (!pt) return bad("a payload where the result has none");
        auto x = to_val(p, *pt);
        if (!x) return x;
        out.items.push_back(std::move(*x));
      }
      return out;
    }
    default: return bad("handles cannot be written in the suite's JSON");
  }
}

struct Counts {
  size_t passed = 0, failed = 0, skipped = 0, unexpected = 0;
};

class FileRun {
 public:
  FileRun(engine::Engine& core, fs::path dir, std::string file, bool verbose, Counts& counts)
      : core_(core), dir_(std::move(dir)), file_(std::move(file)), verbose_(verbose),
        counts_(counts) {}

  void command(const json& cmd) {
    const std::string type = cmd.value("type", "");
    where_ = fmt::format("{}:{}", file_, cmd.value("line", 0));
    type_ = type;
    if (type == "component" || type == "component_definition") {
      if (cmd.value("module_type", "binary") != "binary") return;
      const std::string filename = cmd.value("filename", "");
      auto decoded = cm::decode_component(read_file(dir_ / filename), filename, core_);
      if (!decoded) {
        // A refusal counts where cm_spec_runner counts it; here the
        // commands that would use it are skipped with the reason.
        current_.reset();
        skip_reason_ = fmt::format("{} refused: {}", filename, decoded.error().to_string());
        return;
      }
      skip_reason_.clear();
      if (type == "component_definition") {
        definitions_[cmd.value("name", "")] = *decoded;
        return;
      }
      instantiate(*decoded, cmd.value("name", ""));
      return;
    }
    if (type == "component_instance") {
      auto it = definitions_.find(cmd.value("component", ""));
      if (it == definitions_.end()) {
        skip("the definition it instantiates was refused");
        current_.reset();
        return;
      }
      skip_reason_.clear();
      instantiate(it->second, cmd.value("instance", ""));
      return;
    }
    if (type == "assert_return" || type == "assert_trap") {
      invoke(cmd, type == "assert_trap");
      return;
    }
  }

 private:
  void pass() { ++counts_.passed; check_known(true, ""); }
  void fail(const std::string& detail) {
    ++counts_.failed;
    check_known(false, detail);
  }
  void skip(const std::string& why) {
    ++counts_.skipped;
    fmt::print("SKIP {}: {} {}\n", where_, type_, why);
  }
  void check_known(bool ok, const std::string& detail) {
    auto known = kKnownFailures.find(where_);
    if (ok) {
      if (known != kKnownFailures.end()) {
        fmt::print("PASS {}: listed as a known failure ({}): remove it from the list\n", where_,
                   known->second);
        ++counts_.unexpected;
      }
      return;
    }
    if (known != kKnownFailures.end()) {
      fmt::print("FAIL {} {} (known: {}): {}\n", where_, type_, known->second, detail);
    } else {
      fmt::print("FAIL {} {}: {}\n", where_, type_, detail);
      ++counts_.unexpected;
    }
  }

  void instantiate(const std::shared_ptr<const cm::Component>& component, const std::string& name) {
    cm::HostInstance imports;
    auto inst = cm::ComponentInstance::instantiate(component, core_, imports);
    if (!inst) {
      current_.reset();
      if (!component->imports.empty()) {
        skip(fmt::format("has imports, which the suite gives none: {}", inst.error().to_string()));
        return;
      }
      fail(fmt::format("instantiation failed: {}", inst.error().to_string()));
      return;
    }
    current_ = std::shared_ptr<cm::ComponentInstance>(std::move(*inst));
    if (!name.empty()) named_[name] = current_;
    pass();
  }

  void invoke(const json& cmd, bool expect_trap) {
    const json& action = cmd["action"];
    std::shared_ptr<cm::ComponentInstance> target = current_;
    if (action.contains("component")) {
      auto it = named_.find(action["component"].get<std::string>());
      target = it == named_.end() ? nullptr : it->second;
    }
    if (!target) {
      if (!skip_reason_.empty()) {
        skip(skip_reason_);
      } else {
        fail("no instance to call");
      }
      return;
    }
    const std::string field = action.value("field", "");
    const cm::ExportedFunc* f = target->function(field);
    if (!f) {
      fail(fmt::format("no exported function `{}`", field));
      return;
    }
    std::vector<cm::Val> args;
    const json& jargs = action["args"];
    if (jargs.size() != f->type.params.size()) {
      fail(fmt::format("{} arguments for {}", jargs.size(), f->type.to_string()));
      return;
    }
    for (size_t i = 0; i < jargs.size(); ++i) {
      auto v = to_val(jargs[i], *f->type.params[i].type);
      if (!v) {
        fail(v.error().message);
        return;
      }
      args.push_back(std::move(*v));
    }
    engine::CallOptions options;
    options.fuel = 100'000'000;
    auto r = target->call(field, args, options);
    if (expect_trap) {
      if (r) {
        fail(fmt::format("returned, expected a trap: \"{}\"", cmd.value("text", "")));
      } else if (!r.error().is_trap()) {
        fail(fmt::format("failed without a trap ({}), expected: \"{}\"", r.error().to_string(),
                         cmd.value("text", "")));
      } else {
        if (verbose_) {
          fmt::print("ok   {}: trapped: {} (expected: {})\n", where_, r.error().message,
                     cmd.value("text", ""));
        }
        pass();
      }
      return;
    }
    if (!r) {
      fail(r.error().to_string());
      return;
    }
    const json& expected = cmd["expected"];
    if (expected.size() != r->size() || (f->type.result != nullptr) != (r->size() == 1)) {
      fail(fmt::format("{} results, expected {}", r->size(), expected.size()));
      return;
    }
    for (size_t i = 0; i < r->size(); ++i) {
      auto want = to_val(expected[i], *f->type.result);
      if (!want) {
        fail(want.error().message);
        return;
      }
      if (!((*r)[i] == *want)) {
        fail(fmt::format("returned {}, expected {}", (*r)[i].to_string(), want->to_string()));
        return;
      }
    }
    pass();
  }

  engine::Engine& core_;
  fs::path dir_;
  std::string file_;
  bool verbose_;
  Counts& counts_;
  std::string where_;
  std::string type_;
  std::string skip_reason_;
  std::shared_ptr<cm::ComponentInstance> current_;
  std::map<std::string, std::shared_ptr<cm::ComponentInstance>> named_;
  std::map<std::string, std::shared_ptr<const cm::Component>> definitions_;
};

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  std::string tier = "interp";
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verbose") {
      verbose = true;
    } else if (a == "--tier" && i + 1 < argc) {
      tier = argv[++i];
    } else {
      args.push_back(a);
    }
  }
  if (args.empty() || (tier != "interp" && tier != "native")) {
    fmt::print(stderr,
               "usage: cm_spec_exec [--verbose] [--tier interp|native] SUITE_DIR "
               "[FOLDER | FOLDER/NAME.json...]\n");
    return 2;
  }
  fs::path suite = args[0];
  if (const char* env = std::getenv("AIRSSYS_COMPONENT_SPEC_DIR"); env && *env) suite = env;
  if (!fs::is_directory(suite)) {
    fmt::print("SKIP: the Component Model test suite is not at {}\n", suite.string());
    return kExitSkipped;
  }
  // The files named, the files of the folders named, or every file.
  std::vector<std::string> files;
  std::vector<fs::path> folders;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i].ends_with(".json")) {
      files.push_back(args[i]);
    } else {
      folders.push_back(suite / args[i]);
    }
  }
  if (files.empty() && folders.empty()) {
    for (const auto& folder : fs::directory_iterator(suite)) {
      if (folder.is_directory() && folder.path().filename() != "spec") folders.push_back(folder.path());
    }
  }
  for (const auto& folder : folders) {
    if (!fs::is_directory(folder)) {
      fmt::print(stderr, "cm_spec_exec: no folder {}\n", folder.string());
      return 2;
    }
    for (const auto& f : fs::directory_iterator(folder)) {
      if (f.path().extension() == ".json") {
        files.push_back((folder.filename() / f.path().filename()).string());
      }
    }
  }
  std::ranges::sort(files);
  std::unique_ptr<engine::Engine> core;
  if (tier == "native") {
    engine::NativeOptions options;
    // The compiled modules are kept where AIRSSYS_SPEC_NATIVE_CACHE says
    // (the build tree, for the test), else in the user's native cache.
    if (const char* dir = std::getenv("AIRSSYS_SPEC_NATIVE_CACHE"); dir && *dir) options.cache_dir = dir;
    auto native = engine::Engine::native(options);
    if (!native) {
      fmt::print("FAIL: the native tier is unusable: {}\n", native.error().to_string());
      return 1;
    }
    core = std::move(*native);
  } else {
    core = engine::Engine::interpreter();
  }
  Counts counts;
  for (const auto& file : files) {
    std::ifstream in(suite / file);
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded()) {
      fmt::print("FAIL {}: not valid JSON\n", file);
      ++counts.failed;
      ++counts.unexpected;
      continue;
    }
    FileRun run(*core, (suite / file).parent_path(), file, verbose, counts);
    for (const auto& cmd : doc["commands"]) run.command(cmd);
  }
  fmt::print("{} passed, {} failed, {} skipped\n", counts.passed, counts.failed, counts.skipped);
  return counts.unexpected == 0 ? 0 : 1;
}
