#pragma once
// Engine tiers for components: the interpreter, native code compiled ahead of
// time, or the interpreter at once and native code once a background compile
// has finished (tier-up, security::TierChoice::Auto).
//
// Example:
//   auto loaded = load_tiered(TierChoice::Auto, bytes, "app.wasm", interp, native);
//   spec.module = loaded->module;
//   spec.engine = loaded->engine;
//   spec.tier_up = loaded->tier_up;

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "airssys/wasm/cm/ast.hpp"
#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/policy.hpp"

namespace airssys::wasm::component {

using security::TierChoice;

// A native-tier build of a component's module, compiled on a thread of its
// own while the component already runs on the interpreter (TierChoice::Auto).
// The component moves to it between two messages: its memory and globals are
// carried over (engine::Instance::save_state), its mailbox is untouched, so no
// message is lost or reordered. At most one build per two cores compiles at
// a time (the others wait for a slot), and components of the same module share
// one build. Destroying the build (nothing waits for it any more) cancels
// it: a compile in progress is killed with its whole process group.
class NativeBuild {
 public:
  // `engine` must be a native-tier engine.
  [[nodiscard]] static std::shared_ptr<NativeBuild> start(std::shared_ptr<engine::Engine> engine,
                                                          std::vector<uint8_t> bytes,
                                                          std::string name);
  ~NativeBuild();
  NativeBuild(const NativeBuild&) = delete;
  NativeBuild& operator=(const NativeBuild&) = delete;

  // Whether the compile has ended, well or not. Cheap; safe from any thread.
  [[nodiscard]] bool finished() const { return finished_.load(std::memory_order_acquire); }
  // Once finished(): the module, or why there is none.
  [[nodiscard]] const Result<std::shared_ptr<const engine::Module>>& result() const {
    return result_;
  }
  [[nodiscard]] engine::Engine& engine() const { return *engine_; }
  // Blocks until finished() (tests and orderly shutdown).
  void wait() const;
  // Blocks until finished() or `timeout` has passed; returns finished().
  [[nodiscard]] bool wait_for(std::chrono::milliseconds timeout) const;

 private:
  explicit NativeBuild(std::shared_ptr<engine::Engine> engine) : engine_(std::move(engine)) {}

  std::shared_ptr<engine::Engine> engine_;
  Result<std::shared_ptr<const engine::Module>> result_{nullptr};
  std::atomic<bool> finished_{false};
  std::atomic<bool> cancelled_{false};
  mutable std::mutex mutex_;
  mutable std::condition_variable done_;
  std::thread thread_;
};

// `options` with what `bounds` sets: in place of the option's value
// (host.toml's [native]), or only where it is lower (policy.toml's [native],
// `lower_only`). A size bound of 0 in `options` is no bound, so any set
// bound is lower.
[[nodiscard]] engine::NativeOptions with_native_bounds(engine::NativeOptions options,
                                                       const security::NativeCompileBounds& bounds,
                                                       bool lower_only);

// A component's module loaded for a tier.
struct TieredModule {
  std::shared_ptr<const engine::Module> module;
  // Or, for the bytes of a WebAssembly component: the component, its core
  // modules loaded by `engine` (ComponentSpec::world).
  std::shared_ptr<const cm::Component> world;
  std::shared_ptr<engine::Engine> engine;  // the engine `module` was loaded by
  std::shared_ptr<NativeBuild> tier_up;    // Auto only
  // Native only: why the module was loaded by the interpreter instead (it is
  // past a native compile bound, CompileLimit); the caller records it.
  std::optional<Error> native_refused;
};

// Interp: `bytes` loaded by `interp`. Native: by `native` (compiled, or taken
// from its cache); an error when `native` is null or compiling fails, except
// past a native compile bound (CompileLimit: too large for the compilers, or
// out of compile time or memory), where `interp` loads it and
// `native_refused` says why. Auto:
// loaded by `interp`, with a NativeBuild started on `native`; without a
// native engine, Auto is Interp. The bytes of a WebAssembly component are
// decoded into `world` instead: Native compiles its core modules; Auto runs
// it on the interpreter, with `native_refused` saying why (a component's
// instances do not move between tiers while it runs).
[[nodiscard]] Result<TieredModule> load_tiered(TierChoice tier, std::span<const uint8_t> bytes,
                                               std::string_view name,
                                               const std::shared_ptr<engine::Engine>& interp,
                                               const std::shared_ptr<engine::Engine>& native);

}  // namespace airssys::wasm::component
