#include "airssys/wasm/component/tier.hpp"

#include <fmt/format.h>

namespace airssys::wasm::component {

// --- NativeBuild ------------------------------------------------------------

std::shared_ptr<NativeBuild> NativeBuild::start(std::shared_ptr<engine::Engine> engine,
                                                std::vector<uint8_t> bytes, std::string name) {
  std::shared_ptr<NativeBuild> build(new NativeBuild(std::move(engine)));
  NativeBuild* self = build.get();
  build->thread_ = std::thread([self, bytes = std::move(bytes), name = std::move(name)] {
    auto loaded = self->engine_->load(bytes, name);
    std::lock_guard lock(self->mutex_);
    self->result_ = std::move(loaded);
    self->finished_.store(true, std::memory_order_release);
    self->done_.notify_all();
  });
  return build;
}

NativeBuild::~NativeBuild() {
  if (thread_.joinable()) thread_.join();
}

void NativeBuild::wait() const {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [this] { return finished(); });
}

Result<TieredModule> load_tiered(TierChoice tier, std::span<const uint8_t> bytes,
                                 std::string_view name,
                                 const std::shared_ptr<engine::Engine>& interp,
                                 const std::shared_ptr<engine::Engine>& native) {
  TieredModule out;
  if (tier == TierChoice::Native) {
    if (!native) {
      return make_error(ErrorCode::InvalidConfig,
                        fmt::format("{}: the native tier is not available here", name));
    }
    auto module = native->load(bytes, name);
    if (!module) return std::unexpected(module.error());
    out.module = std::move(*module);
    out.engine = native;
    return out;
  }
  auto module = interp->load(bytes, name);
  if (!module) return std::unexpected(module.error());
  out.module = std::move(*module);
  out.engine = interp;
  if (tier == TierChoice::Auto && native) {
    out.tier_up = NativeBuild::start(native, std::vector<uint8_t>(bytes.begin(), bytes.end()),
                                     std::string(name));
  }
  return out;
}

}  // namespace airssys::wasm::component
