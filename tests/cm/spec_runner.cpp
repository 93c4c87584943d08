// Runs the decoding and validation commands of the official Component Model
// test suite (converted to JSON plus binaries) through decode_component.
//
// Usage: cm_spec_runner [--verbose] SUITE_DIR [FOLDER/NAME.json...]
//        cm_spec_runner --decode FILE.wasm...   (decode and validate files, print the outcome)
//        cm_spec_runner --mutate ROUNDS SUITE_DIR (decode ROUNDS random mutations of each binary of
//                                                  the suite: each must decode or give one typed error)
//
// For every <folder>/<name>.json of SUITE_DIR (or the files named), the
// commands `component` and `component_definition` must decode and validate,
// `assert_invalid` and `assert_malformed` (binary) must be refused.
// Instantiation and calls (`component_instance`, `assert_return`,
// `assert_trap`) are not run here: they are counted and left out.
// `module_type: text` commands are skipped (the decoder reads binaries only).
// A command of a file that the suite's README lists as needing features past
// the MVP is skipped when the decoder refuses it with UnsupportedFeature;
// each skip is listed with its reason.
//
// Prints "FAIL file:line type: error" for each failure, "SKIP file:line:
// reason" for each skip, and last "N passed, M failed, K skipped". Exit
// status: 0 when every failure is a known one (kKnownFailures), 1 otherwise
// (or when a known failure passes: the list must then shrink), 2 on a usage
// error, 77 when the suite's folder does not exist. AIRSSYS_COMPONENT_SPEC_DIR,
// when set, takes the place of SUITE_DIR.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace {

namespace fs = std::filesystem;
using airssys::wasm::ErrorCode;
using nlohmann::json;

constexpr int kExitSkipped = 77;

// The files the suite's README lists as using features past the MVP.
const std::set<std::string> kPostMvpFiles = {
    "values/post-return.json",      "values/variants.json",         "validation/indicies.json",
    "binary/binary.json",           "validation/attributes.json",   "validation/max-value-size.json",
    "values/concat.json",
};

// Commands known to fail, as "folder/file.json:line", each with the reason.
// Keep this list short: each entry is a gap in the validator.
const std::map<std::string, std::string> kKnownFailures = {};

std::vector<uint8_t> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  bool verbose = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verbose") {
      verbose = true;
    } else {
      args.push_back(a);
    }
  }
  if (!args.empty() && args[0] == "--decode") {
    auto engine = airssys::wasm::engine::Engine::interpreter();
    int status = 0;
    for (size_t i = 1; i < args.size(); ++i) {
      auto bytes = read_file(args[i]);
      auto result = airssys::wasm::cm::decode_component(bytes, args[i], *engine);
      if (result) {
        const auto& c = **result;
        fmt::print("{}: valid: {} imports, {} exports, {} core modules, {} definitions\n", args[i],
                   c.imports.size(), c.exports.size(), c.modules.size(), c.items.size());
      } else {
        fmt::print("{}: {}\n", args[i], result.error().to_string());
        status = 1;
      }
    }
    return status;
  }
  if (args.size() == 3 && args[0] == "--mutate") {
    auto engine = airssys::wasm::engine::Engine::interpreter();
    int rounds = std::stoi(args[1]);
    std::mt19937 rng(2024);
    size_t runs = 0;
    size_t refused = 0;
    for (const auto& f : fs::recursive_directory_iterator(args[2])) {
      if (f.path().extension() != ".wasm") continue;
      auto base = read_file(f.path());
      if (base.size() <= 8) continue;
      for (int i = 0; i < rounds; ++i) {
        auto bytes = base;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < flips; ++k) bytes[8 + rng() % (bytes.size() - 8)] = static_cast<uint8_t>(rng());
        if (rng() % 4 == 0) bytes.resize(8 + rng() % (bytes.size() - 8));
        auto result = airssys::wasm::cm::decode_component(bytes, "mutant.wasm", *engine);
        ++runs;
        if (result) continue;
        ++refused;
        ErrorCode code = result.error().code;
        if (code != ErrorCode::MalformedComponent && code != ErrorCode::InvalidComponent &&
            code != ErrorCode::UnsupportedFeature) {
          fmt::print("FAIL {} mutant {}: {}\n", f.path().string(), i, result.error().to_string());
          return 1;
        }
      }
    }
    fmt::print("{} mutants decoded, {} refused with a typed error, none crashed\n", runs, refused);
    return 0;
  }
  if (args.empty()) {
    fmt::print(stderr, "usage: cm_spec_runner [--verbose] SUITE_DIR [FOLDER/NAME.json...]\n");
    return 2;
  }
  fs::path suite = args[0];
  if (const char* env = std::getenv("AIRSSYS_COMPONENT_SPEC_DIR"); env && *env) suite = env;
  if (!fs::is_directory(suite)) {
    fmt::print("SKIP: the Component Model test suite is not at {}\n", suite.string());
    return kExitSkipped;
  }
  std::vector<std::string> files(args.begin() + 1, args.end());
  if (files.empty()) {
    for (const auto& folder : fs::directory_iterator(suite)) {
      if (!folder.is_directory() || folder.path().filename() == "spec") continue;
      for (const auto& f : fs::directory_iterator(folder.path())) {
        if (f.path().extension() == ".json") {
          files.push_back((folder.path().filename() / f.path().filename()).string());
        }
      }
    }
    std::ranges::sort(files);
  }

  auto engine = airssys::wasm::engine::Engine::interpreter();
  size_t passed = 0;
  size_t failed = 0;
  size_t skipped = 0;
  size_t not_run = 0;
  size_t unexpected = 0;
  std::set<std::string> known_seen;
  for (const auto& file : files) {
    std::ifstream in(suite / file);
    json doc = json::parse(in, nullptr, false);
    if (doc.is_discarded()) {
      fmt::print("FAIL {}: not valid JSON\n", file);
      ++failed;
      ++unexpected;
      continue;
    }
    fs::path dir = (suite / file).parent_path();
    bool post_mvp = kPostMvpFiles.contains(file);
    for (const auto& cmd : doc["commands"]) {
      std::string type = cmd.value("type", "");
      int line = cmd.value("line", 0);
      std::string where = fmt::format("{}:{}", file, line);
      bool accept = type == "component" || type == "component_definition";
      bool reject = type == "assert_invalid" || type == "assert_malformed";
      if (!accept && !reject) {
        ++not_run;
        continue;
      }
      if (cmd.value("module_type", "binary") != "binary") {
        fmt::print("SKIP {}: {} of a text form ({}): the decoder reads the binary format only\n", where, type,
                   cmd.value("filename", ""));
        ++skipped;
        continue;
      }
      std::string filename = cmd.value("filename", "");
      auto bytes = read_file(dir / filename);
      auto result = airssys::wasm::cm::decode_component(bytes, filename, *engine);
      bool ok;
      std::string detail;
      if (!result && result.error().code == ErrorCode::UnsupportedFeature && post_mvp) {
        fmt::print("SKIP {}: {} needs a feature past the MVP: {}\n", where, type, result.error().message);
        ++skipped;
        continue;
      }
      if (accept) {
        ok = result.has_value();
        if (!ok) detail = result.error().to_string();
      } else {
        ok = !result.has_value();
        if (ok && verbose) {
          fmt::print("ok   {}: {} refused: {} (expected: {})\n", where, type, result.error().to_string(),
                     cmd.value("text", ""));
        }
        if (!ok) detail = fmt::format("accepted, expected a refusal: \"{}\"", cmd.value("text", ""));
      }
      auto known = kKnownFailures.find(where);
      if (ok) {
        ++passed;
        if (known != kKnownFailures.end()) {
          fmt::print("PASS {}: listed as a known failure ({}): remove it from the list\n", where, known->second);
          ++unexpected;
        }
        continue;
      }
      ++failed;
      if (known != kKnownFailures.end()) {
        fmt::print("FAIL {} {} (known: {}): {}\n", where, type, known->second, detail);
        known_seen.insert(where);
      } else {
        fmt::print("FAIL {} {}: {}\n", where, type, detail);
        ++unexpected;
      }
    }
  }
  fmt::print("{} commands of instantiation and calls not run here\n", not_run);
  fmt::print("{} passed, {} failed, {} skipped\n", passed, failed, skipped);
  return unexpected == 0 ? 0 : 1;
}
