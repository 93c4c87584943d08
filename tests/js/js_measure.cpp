// Measures a component written in JavaScript on both tiers: decoding (with
// the core modules loaded by the engine: on the native tier, compiled through
// wasm2c and the C compiler, past the native tier's default bounds, which
// refuse such a module), instantiation and a first call of an export that
// needs no import. Not a test: docs/guide-js.md quotes what it prints.
//
//   js_measure [--tier interp|native] [--compile-timeout SECONDS] COMPONENT.wasm
//
// The world's imports are satisfied by functions that refuse every call (an
// error, so a component calling one traps): instantiation and `health`
// never call them. The native cache is a fresh temporary directory.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/cm/decode.hpp"
#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/engine/engine.hpp"

namespace {

namespace fs = std::filesystem;
using namespace airssys::wasm;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Every function of every imported instance, refusing each call.
cm::HostInstance refusing_imports(const cm::Component& component) {
  cm::HostInstance imports;
  for (const auto& import : component.type.imports) {
    if (import.desc.sort != cm::Sort::Instance || !import.desc.instance) continue;
    auto& instance = imports.define_instance(import.name);
    for (const auto& item : import.desc.instance->exports) {
      if (item.desc.sort == cm::Sort::Func && item.desc.func) {
        std::string name = import.name + "#" + item.name;
        instance.define_func(item.name, *item.desc.func,
                             [name](std::span<const cm::Val>) -> Result<std::vector<cm::Val>> {
                               return make_error(ErrorCode::CapabilityDenied,
                                                 name + ": not served by js_measure");
                             });
      } else if (item.desc.sort == cm::Sort::Type) {
        instance.define_type(item.name);
      }
    }
  }
  return imports;
}

int usage() {
  std::fprintf(stderr,
               "usage: js_measure [--tier interp|native] [--compile-timeout SECONDS] COMPONENT.wasm\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  engine::Tier tier = engine::Tier::Interp;
  long timeout_s = 1800;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--tier" && i + 1 < argc) {
      std::string_view t = argv[++i];
      if (t == "native") tier = engine::Tier::Native;
      else if (t != "interp") return usage();
    } else if (a == "--compile-timeout" && i + 1 < argc) {
      timeout_s = std::strtol(argv[++i], nullptr, 10);
      if (timeout_s <= 0) return usage();
    } else if (!a.starts_with("-") && path.empty()) {
      path = a;
    } else {
      return usage();
    }
  }
  if (path.empty()) return usage();

  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (!in.eof() && !in.good()) {
    std::fprintf(stderr, "js_measure: cannot read %s\n", path.c_str());
    return 3;
  }

  std::unique_ptr<engine::Engine> engine;
  fs::path cache;
  if (tier == engine::Tier::Interp) {
    engine = engine::Engine::interpreter();
  } else {
    cache = fs::temp_directory_path() / fmt::format("js-measure-{}", ::getpid());
    fs::create_directories(cache);
    fs::permissions(cache, fs::perms::owner_all, fs::perm_options::replace);
    engine::NativeOptions options;
    options.cache_dir = cache;
    options.compile_timeout = std::chrono::seconds(timeout_s);
    options.compile_memory_bytes = 8ull << 30;
    options.max_module_bytes = 0;
    options.max_function_bytes = 0;
    options.max_br_table_targets = 0;
    auto made = engine::Engine::native(options);
    if (!made) {
      std::fprintf(stderr, "js_measure: %s\n", made.error().to_string().c_str());
      return 4;
    }
    engine = std::move(*made);
  }
  int status = 0;
  {
    auto start = Clock::now();
    auto component = cm::decode_component(bytes, fs::path(path).stem().string(), *engine);
    const double decode_ms = ms_since(start);
    if (!component) {
      fmt::print("{} tier {}: decode failed after {:.0f} ms: {}\n", path, engine::tier_name(tier),
                 decode_ms, component.error().to_string());
      status = 1;
    } else {
      size_t module_bytes = 0;
      for (const auto& m : (*component)->modules) module_bytes += m.bytes.size();
      fmt::print("{}: {} bytes, {} core modules ({} bytes)\n", path, bytes.size(),
                 (*component)->modules.size(), module_bytes);
      fmt::print("{} tier: decode (core modules loaded{}) {:.0f} ms\n", engine::tier_name(tier),
                 tier == engine::Tier::Native ? ", compiled" : "", decode_ms);
      auto imports = refusing_imports(**component);
      start = Clock::now();
      auto instance = cm::ComponentInstance::instantiate(*component, *engine, imports);
      const double inst_ms = ms_since(start);
      if (!instance) {
        fmt::print("{} tier: instantiate failed after {:.0f} ms: {}\n", engine::tier_name(tier),
                   inst_ms, instance.error().to_string());
        status = 1;
      } else {
        fmt::print("{} tier: instantiate {:.1f} ms\n", engine::tier_name(tier), inst_ms);
        for (int i = 0; i < 2; ++i) {
          start = Clock::now();
          auto health = (*instance)->call("airssys:host/handler@0.3.0#health", {});
          const double call_ms = ms_since(start);
          if (!health) {
            fmt::print("{} tier: health failed after {:.1f} ms: {}\n", engine::tier_name(tier),
                       call_ms, health.error().to_string());
            status = 1;
            break;
          }
          fmt::print("{} tier: health call {} {:.1f} ms -> {}\n", engine::tier_name(tier), i + 1,
                     call_ms, health->empty() ? "()" : (*health)[0].to_string());
        }
      }
    }
  }
  if (!cache.empty()) fs::remove_all(cache);
  return status;
}
