#include "airssys/wasm/component/tier.hpp"

#include "airssys/wasm/cm/decode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <semaphore>
#include <utility>

#include "airssys/wasm/security/signing.hpp"

namespace airssys::wasm::component {

// --- NativeBuild ------------------------------------------------------------

namespace {

// Builds at once at most: one per two cores, so that the running
// components keep the rest (the compilers also run at a lower priority). A
// host starting many components on `auto` queues their builds instead of
// running a compiler for each. One build compiles its module's units on
// several processes, within the engine's cap (NativeOptions::compile_jobs)
// over all of its builds.
std::counting_semaphore<256>& build_slots() {
  static std::counting_semaphore<256> slots(
      std::clamp<std::ptrdiff_t>(std::thread::hardware_concurrency() / 2, 1, 256));
  return slots;
}

// Builds in progress or done, by engine and module hash: components of the
// same module share one build.
std::mutex g_builds_mutex;
std::map<std::pair<const engine::Engine*, std::string>, std::weak_ptr<NativeBuild>> g_builds;

}  // namespace

std::shared_ptr<NativeBuild> NativeBuild::start(std::shared_ptr<engine::Engine> engine,
                                                std::vector<uint8_t> bytes, std::string name) {
  auto key = std::make_pair(engine.get(), security::to_hex(security::sha256(bytes)));
  std::lock_guard builds(g_builds_mutex);
  if (auto shared = g_builds[key].lock()) return shared;
  std::erase_if(g_builds, [](const auto& entry) { return entry.second.expired(); });
  std::shared_ptr<NativeBuild> build(new NativeBuild(std::move(engine)));
  NativeBuild* self = build.get();
  build->thread_ = std::thread([self, bytes = std::move(bytes), name = std::move(name)] {
    Result<std::shared_ptr<const engine::Module>> loaded{nullptr};
    bool slot = false;
    while (!slot && !self->cancelled_.load(std::memory_order_acquire)) {
      slot = build_slots().try_acquire_for(std::chrono::milliseconds(50));
    }
    if (slot) {
      loaded = self->engine_->load_cancellable(bytes, name, &self->cancelled_);
      build_slots().release();
    } else {
      loaded = make_error(ErrorCode::CallCancelled,
                          fmt::format("{}: the native build was cancelled", name));
    }
    std::lock_guard lock(self->mutex_);
    self->result_ = std::move(loaded);
    self->finished_.store(true, std::memory_order_release);
    self->done_.notify_all();
  });
  g_builds[key] = build;
  return build;
}

NativeBuild::~NativeBuild() {
  // Nothing waits for the result any more: a build still waiting for a
  // compile slot is not started, one compiling is killed with its process
  // group.
  cancelled_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void NativeBuild::wait() const {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return finished(); });
}

bool NativeBuild::wait_for(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return done_.wait_for(lock, timeout, [this] { return finished(); });
}

engine::NativeOptions with_native_bounds(engine::NativeOptions options,
                                         const security::NativeCompileBounds& bounds,
                                         bool lower_only) {
  auto put = [lower_only](auto& option, const auto& bound, bool zero_is_unbounded) {
    if (!bound) return;
    const bool unbounded = zero_is_unbounded && option == std::decay_t<decltype(option)>{};
    if (!lower_only || unbounded || *bound < option) option = *bound;
  };
  put(options.compile_timeout, bounds.compile_timeout, false);
  put(options.compile_memory_bytes, bounds.compile_memory_bytes, false);
  put(options.max_module_bytes, bounds.max_module_bytes, true);
  put(options.max_function_bytes, bounds.max_function_bytes, true);
  put(options.max_br_table_targets, bounds.max_br_table_targets, true);
  put(options.compile_jobs, bounds.compile_jobs, true);
  // Explicit checks are the lower: a file that only lowers may ask for
  // them, never take them away.
  if (bounds.explicit_bounds_checks && (!lower_only || *bounds.explicit_bounds_checks)) {
    options.bounds_checks = *bounds.explicit_bounds_checks ? engine::BoundsChecks::Explicit
                                                           : engine::BoundsChecks::Guard;
  }
  return options;
}

Result<TieredModule> load_tiered(TierChoice tier, std::span<const uint8_t> bytes,
                                 std::string_view name,
                                 const std::shared_ptr<engine::Engine>& interp,
                                 const std::shared_ptr<engine::Engine>& native) {
  TieredModule out;
  if (cm::is_component(bytes)) {
    if (tier == TierChoice::Native && !native) {
      return make_error(ErrorCode::InvalidConfig,
                        fmt::format("{}: the native tier is not available here", name));
    }
    if (tier == TierChoice::Native) {
      auto world = cm::decode_component(bytes, name, *native);
      if (world) {
        out.world = std::move(*world);
        out.engine = native;
        return out;
      }
      // Past a native compile bound it runs on the interpreter, on record,
      // as a core module does.
      if (world.error().code != ErrorCode::CompileLimit) return std::unexpected(world.error());
      out.native_refused = world.error();
    }
    AIRSSYS_TRY_ASSIGN(out.world, cm::decode_component(bytes, name, *interp));
    out.engine = interp;
    if (tier == TierChoice::Auto && native) {
      out.native_refused = Error::of(
          ErrorCode::UnsupportedFeature,
          "a WebAssembly component does not move to the native tier while it runs: under "
          "`auto` it runs on the interpreter (tier = \"native\" compiles it before it starts)");
    }
    return out;
  }
  if (tier == TierChoice::Native) {
    if (!native) {
      return make_error(ErrorCode::InvalidConfig,
                        fmt::format("{}: the native tier is not available here", name));
    }
    auto module = native->load(bytes, name);
    if (module) {
      out.module = std::move(*module);
      out.engine = native;
      return out;
    }
    // Past a compile bound the module runs on the interpreter, on record.
    if (module.error().code != ErrorCode::CompileLimit) return std::unexpected(module.error());
    out.native_refused = module.error();
  }
  AIRSSYS_TRY_ASSIGN(out.module, interp->load(bytes, name));
  out.engine = interp;
  if (tier == TierChoice::Auto && native) {
    out.tier_up = NativeBuild::start(native, std::vector<uint8_t>(bytes.begin(), bytes.end()),
                                     std::string(name));
  }
  return out;
}

}  // namespace airssys::wasm::component
