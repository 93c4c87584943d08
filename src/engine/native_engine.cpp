// The native tier's engine: a module is found in the cache by its bytes, or
// loaded by the interpreter's loader, bounded, metered, planned and compiled;
// the engine's options and its cache directory.

#include <wabt/feature.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "airssys-native.h"
#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "exceptions.hpp"
#include "native_backend.hpp"
#include "native_guard.hpp"
#include "metering.hpp"

namespace airssys::wasm::engine::native {
namespace {

class NativeEngine final : public Engine {
 public:
  NativeEngine(std::unique_ptr<detail::NativeCompiler> compiler, bool guard_pages)
      : interp_(Engine::interpreter()), compiler_(std::move(compiler)), guard_pages_(guard_pages) {}

  Result<std::shared_ptr<const Module>> load(std::span<const uint8_t> bytes,
                                             std::string_view name) override {
    return load_cancellable(bytes, name, nullptr);
  }
  Result<std::shared_ptr<const Module>> load_cancellable(std::span<const uint8_t> bytes,
                                                         std::string_view name,
                                                         const std::atomic<bool>* cancel) override;
  Result<std::shared_ptr<const Module>> load_wat(std::string_view text,
                                                 std::string_view name) override;
  void cancel_compiles() override { compiler_->cancel_all(); }
  bool compiles(std::span<const uint8_t> bytes) override {
    return !compiler_->holds(compiler_->module_key(bytes)) &&
           compiler_->check_bounds(bytes, "module").has_value();
  }
  std::unique_ptr<Store> new_store() override { return native::new_store(); }
  Tier tier() const override { return Tier::Native; }
  EngineStats stats() const override {
    auto s = compiler_->stats();
    return {s.compiles, s.cache_hits, s.cache_refused, loaded_.shared_loads()};
  }

 private:
  std::unique_ptr<Engine> interp_;
  std::unique_ptr<detail::NativeCompiler> compiler_;
  // By cache key: a load of bytes held here shares the loaded object (one
  // copy of the code per host), the description and the plan.
  detail::SharedModules<NativeModule> loaded_;
  bool guard_pages_;
};


Result<std::shared_ptr<const Module>> NativeEngine::load_cancellable(
    std::span<const uint8_t> bytes, std::string_view name, const std::atomic<bool>* cancel) {
  try {
    // A sound cache entry for exactly these bytes (and this compiler,
    // runtime and pipeline) was written after they passed the whole pipeline
    // below, and records what it found: nothing needs to run again.
    const std::string key = compiler_->module_key(bytes);
    if (auto held = loaded_.find(key, name)) return held;
    std::string why;
    std::optional<detail::NativeEntry> entry = compiler_->lookup(key, &why);
    if (!entry) {
      // The interpreter's loader validates and describes the module, so both
      // tiers accept and refuse exactly the same modules.
      auto checked = interp_->load(bytes, name);
      if (!checked) return std::unexpected(checked.error());
      // Nothing past the bounds reaches the compilers.
      AIRSSYS_TRY(compiler_->check_bounds(bytes, name));
      // The standard form of exception handling in the toolkit's legacy form
      // (exceptions.hpp), as the interpreter's loader read it.
      auto translated = detail::translate_exceptions(bytes);
      if (!translated) return std::unexpected(translated.error());
      const std::span<const uint8_t> code =
          *translated ? std::span<const uint8_t>(**translated) : bytes;
      auto metered = detail::add_metering(code, detail::engine_features());
      if (!metered) return std::unexpected(metered.error());
      auto plan = detail::plan_native(metered->bytes);
      if (!plan) return std::unexpected(plan.error());
      entry.emplace();
      entry->imports = (*checked)->imports();
      entry->exports = (*checked)->exports();
      entry->plan = std::move(*plan);
      entry->state_hazard = std::move(metered->state_hazard);
      entry->warnings = (*checked)->warnings();
      // The function names, for the backtraces of traps.
      detail::ModuleNotes notes;
      if (detail::check_well_formed(code, detail::engine_features(), &notes)) {
        entry->func_names = std::move(notes.func_names);
      }
      auto object = compiler_->build(key, *entry, name, why, cancel);
      if (!object) return std::unexpected(object.error());
      entry->object = std::move(*object);
    }
    auto loaded = LoadedObject::load(entry->object, entry->plan, compiler_->cache_dir(), name,
                                     guard_pages_);
    if (!loaded) return std::unexpected(loaded.error());
    auto module = std::make_shared<NativeModule>();
    module->name_ = std::string(name);
    module->imports_ = std::move(entry->imports);
    module->exports_ = std::move(entry->exports);
    module->plan_ = std::move(entry->plan);
    module->plan_.bytes.clear();
    module->plan_.bytes.shrink_to_fit();
    module->object_ = std::move(*loaded);
    module->state_hazard_ = std::move(entry->state_hazard);
    module->warnings_ = std::move(entry->warnings);
    module->func_names_ = std::move(entry->func_names);
    for (const auto& imp : module->plan_.imports) {
      if (imp.kind == ExternKind::Func && imp.module != kReservedModule) ++module->func_imports_;
    }
    for (uint32_t k = 0; k < module->plan_.guest_exports; ++k) {
      module->export_index_.emplace(module->plan_.exports[k].name, k);
    }
    loaded_.remember(key, module);
    return module;
  } catch (const std::exception& e) {
    return make_error(ErrorCode::CompileFailed,
                      fmt::format("{}: native compilation failed ({})", name, e.what()));
  }
}

Result<std::shared_ptr<const Module>> NativeEngine::load_wat(std::string_view text,
                                                             std::string_view name) {
  auto bytes = detail::wat_to_binary(text, name, detail::engine_features());
  if (!bytes) return std::unexpected(bytes.error());
  return load(*bytes, name);
}

}  // namespace

}  // namespace airssys::wasm::engine::native

namespace airssys::wasm::engine {

namespace fs = std::filesystem;

const char* tier_name(Tier tier) { return tier == Tier::Native ? "native" : "interp"; }

const char* bounds_checks_name(BoundsChecks checks) {
  return checks == BoundsChecks::Guard ? "guard" : "explicit";
}

fs::path default_native_cache_dir() {
  if (const char* home = std::getenv("AIRSSYS_HOME"); home && *home) {
    return fs::path(home) / "cache" / "native";
  }
  const char* user_home = std::getenv("HOME");
  return fs::path(user_home && *user_home ? user_home : "/") / ".airssys" / "cache" / "native";
}

Result<std::unique_ptr<Engine>> Engine::native(NativeOptions options) {
  detail::CompilerConfig config;
  config.wasm2c = options.wasm2c.empty() ? fs::path(AIRSSYS_WASM2C_PATH) : options.wasm2c;
  // No compiler named: $AIRSSYS_CC when set, else the one found at build time.
  config.cc = options.compiler;
  if (const char* cc = std::getenv("AIRSSYS_CC"); config.cc.empty() && cc && *cc) config.cc = cc;
  if (config.cc.empty()) config.cc = AIRSSYS_NATIVE_CC_PATH;
  config.cache_dir = options.cache_dir.empty() ? default_native_cache_dir() : options.cache_dir;
  config.timeout = options.compile_timeout;
  config.memory_bytes = options.compile_memory_bytes;
  config.max_module_bytes = options.max_module_bytes;
  config.max_function_bytes = options.max_function_bytes;
  config.max_br_table_targets = options.max_br_table_targets;
  config.cache_only = options.cache_only;
  config.jobs = options.compile_jobs != 0
                    ? options.compile_jobs
                    : std::max<size_t>(1, std::thread::hardware_concurrency());
  config.on_compile = std::move(options.on_compile);
  config.guard_pages = options.bounds_checks == BoundsChecks::Guard;
  if (config.guard_pages) {
    if (!native::guard_pages_supported()) {
      return make_error(ErrorCode::InvalidConfig,
                        "native tier: guard-page bounds checks need x86-64 Linux (use explicit "
                        "bounds checks)");
    }
    if (!native::install_fault_handler()) {
      return make_error(ErrorCode::InternalError,
                        "native tier: the fault handler for guard pages could not be installed");
    }
  }
  auto compiler = detail::NativeCompiler::create(std::move(config));
  if (!compiler) return std::unexpected(compiler.error());
  const bool guard_pages = options.bounds_checks == BoundsChecks::Guard;
  return std::unique_ptr<Engine>(
      std::make_unique<native::NativeEngine>(std::move(*compiler), guard_pages));
}

}  // namespace airssys::wasm::engine
