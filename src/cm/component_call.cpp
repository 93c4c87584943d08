// Calls of a running component's exported functions: whole (call) or in fuel
// slices (start_call, ComponentCall), the way an actor runs them.

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "instance_impl.hpp"

namespace airssys::wasm::cm {

const std::vector<ExportedFunc>& ComponentInstance::functions() const { return impl_->functions; }

const ExportedFunc* ComponentInstance::function(std::string_view name) const {
  for (const auto& f : impl_->functions) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

uint64_t ComponentInstance::fuel_used() const { return impl_->exec.fuel_used; }

uint64_t ComponentInstance::memory_bytes() const { return impl_->memory_bytes(nullptr); }

uint64_t ComponentInstance::Impl::memory_bytes(const engine::Instance* except) const {
  uint64_t total = 0;
  for (const auto& frame : frames) {
    for (const auto& core : frame->core_instances) {
      const engine::Instance* instance = core->instance.get();
      if (!instance || instance == except) continue;
      total += instance->defined_memory_bytes();
    }
  }
  return total;
}

Result<size_t> ComponentInstance::Impl::callable(std::string_view name,
                                                 std::span<const Val> args) const {
  size_t k = 0;
  while (k < functions.size() && functions[k].name != name) ++k;
  if (k == functions.size()) {
    return make_error(ErrorCode::MissingExport,
                      fmt::format("{}: no exported function `{}`", component->name, name));
  }
  const FuncType& type = functions[k].type;
  if (args.size() != type.params.size()) {
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("`{}` is {}: {} arguments given", name, type.to_string(),
                                  args.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    std::string wrong = check_value(*type.params[i].type, args[i]);
    if (!wrong.empty()) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("`{}` parameter `{}`: {}", name, type.params[i].name, wrong));
    }
  }
  if (exec.host_call || exec.sliced_call) {
    return make_error(ErrorCode::CallInProgress, "a call of this component is running");
  }
  return k;
}

Result<std::vector<Val>> ComponentInstance::call(std::string_view name, std::span<const Val> args,
                                                 const engine::CallOptions& options) {
  AIRSSYS_TRY_ASSIGN(size_t k, impl_->callable(name, args));
  rt::Exec& exec = impl_->exec;
  exec.options = options;
  exec.budget_used = 0;
  auto r = impl_->function_impls[k]->fn(nullptr, args);
  exec.budget_used = 0;
  return r;
}

namespace {

// The core function runs as an engine call of its own, one slice per
// resume(); lowering before it and lifting after it run within the fuel the
// call has left (Exec::budget_used counts what they burn).
class SlicedCall final : public ComponentCall {
 public:
  SlicedCall(ComponentInstance::Impl& impl, std::shared_ptr<const rt::Func> func,
             std::vector<Val> args, const engine::CallOptions& options)
      : impl_(impl), func_(std::move(func)), args_(std::move(args)), options_(options) {
    impl_.exec.sliced_call = true;
  }
  SlicedCall(ComponentInstance::Impl& impl, std::shared_ptr<const rt::Func> func,
             FlatLowerer lower, const engine::CallOptions& options)
      : impl_(impl), func_(std::move(func)), lower_(std::move(lower)), options_(options) {
    impl_.exec.sliced_call = true;
  }
  ~SlicedCall() override {
    core_.reset();  // cancels a suspended core call
    lifted_.reset();  // leaves the instance
    impl_.exec.sliced_call = false;
    impl_.exec.budget_used = 0;
  }

  Result<State> resume() override {
    if (done_) return make_error(ErrorCode::InvalidArgument, "the call has finished");
    auto state = step();
    if (!state) {
      done_ = true;
      core_.reset();
      lifted_.reset();
    }
    return state;
  }
  std::span<const engine::Value> results() const override { return {}; }
  const std::vector<Val>& values() const override { return values_; }
  uint64_t fuel_used() const override {
    return impl_.exec.budget_used + (core_ ? core_->fuel_used() : 0);
  }
  void set_slice(uint64_t slice) override {
    options_.slice = std::max<uint64_t>(slice, 1);
    if (core_) core_->set_slice(options_.slice);
  }

 private:
  Result<State> step() {
    rt::Exec& exec = impl_.exec;
    exec.options = options_;
    if (!started_) {
      started_ = true;
      exec.budget_used = 0;
      if (!func_->lifted || !func_->core_instance) {
        // Not a core function of the component's own: whole, at once.
        AIRSSYS_TRY_ASSIGN(values_, func_->fn(nullptr, args_));
        done_ = true;
        return State::Finished;
      }
      if (lower_) {
        // Lowered inside the core call, when it begins: the realloc calls
        // are nested calls of it (on the native tier, on its own stack),
        // within its fuel.
        AIRSSYS_TRY_ASSIGN(core_, func_->core_instance->start_call(
                                      func_->core_export,
                                      [this](engine::HostCall& call, std::vector<engine::Value>& flat) {
                                        return lower_inside(call, flat);
                                      },
                                      options_));
      } else {
        AIRSSYS_TRY_ASSIGN(lifted_, LiftedCall::begin(*func_->lifted, nullptr, args_));
        engine::CallOptions core_options = options_;
        if (core_options.fuel != engine::kUnlimitedFuel) {
          if (exec.budget_used >= core_options.fuel) return out_of_fuel();
          core_options.fuel -= exec.budget_used;
        }
        AIRSSYS_TRY_ASSIGN(core_, func_->core_instance->start_call(func_->core_export,
                                                                   lifted_->flat_args(),
                                                                   core_options));
      }
    }
    const uint64_t before = core_->fuel_used();
    auto state = core_->resume();
    exec.fuel_used += core_->fuel_used() - before;
    if (!state) return std::unexpected(std::move(state).error());
    if (*state == State::Suspended) return State::Suspended;
    // Finished: what the core call burned now counts against the budget that
    // lifting and post-return spend from.
    exec.budget_used += core_->fuel_used();
    std::vector<engine::Value> flat(core_->results().begin(), core_->results().end());
    core_.reset();
    AIRSSYS_TRY_ASSIGN(values_, lifted_->finish(flat));
    lifted_.reset();
    done_ = true;
    return State::Finished;
  }

  Result<void> lower_inside(engine::HostCall& call, std::vector<engine::Value>& flat) {
    rt::Exec& exec = impl_.exec;
    engine::HostCall* saved = std::exchange(exec.host_call, &call);
    auto lifted = LiftedCall::begin(*func_->lifted, nullptr, lower_);
    exec.host_call = saved;
    if (!lifted) return std::unexpected(std::move(lifted).error());
    lifted_ = std::move(*lifted);
    auto args = lifted_->flat_args();
    flat.assign(args.begin(), args.end());
    return {};
  }

  std::unexpected<Error> out_of_fuel() const {
    return make_error(ErrorCode::TrapOutOfFuel,
                      fmt::format("out of fuel: the call used its budget of {} instructions",
                                  options_.fuel));
  }

  ComponentInstance::Impl& impl_;
  std::shared_ptr<const rt::Func> func_;
  std::vector<Val> args_;
  FlatLowerer lower_;  // set: the arguments come through it, not args_
  engine::CallOptions options_;
  std::unique_ptr<LiftedCall> lifted_;
  std::unique_ptr<engine::Call> core_;
  std::vector<Val> values_;
  bool started_ = false;
  bool done_ = false;
};

}  // namespace

Result<size_t> ComponentInstance::function_index(std::string_view name) const {
  for (size_t k = 0; k < impl_->functions.size(); ++k) {
    if (impl_->functions[k].name == name) return k;
  }
  return make_error(ErrorCode::MissingExport,
                    fmt::format("{}: no exported function `{}`", impl_->component->name, name));
}

Result<std::unique_ptr<ComponentCall>> ComponentInstance::start_call(
    size_t index, FlatLowerer lower, const engine::CallOptions& options) {
  if (index >= impl_->functions.size())
    return make_error(ErrorCode::MissingExport,
                      fmt::format("{}: no exported function at {}", impl_->component->name, index));
  const auto& func = impl_->function_impls[index];
  if (!func->lifted || !func->core_instance)
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("`{}` is not a core function the component lifts: call it with "
                                  "values",
                                  impl_->functions[index].name));
  if (impl_->exec.host_call || impl_->exec.sliced_call)
    return make_error(ErrorCode::CallInProgress, "a call of this component is running");
  return std::make_unique<SlicedCall>(*impl_, func, std::move(lower), options);
}

Result<std::unique_ptr<ComponentCall>> ComponentInstance::start_call(
    std::string_view name, std::span<const Val> args, const engine::CallOptions& options) {
  AIRSSYS_TRY_ASSIGN(size_t k, impl_->callable(name, args));
  return std::make_unique<SlicedCall>(*impl_, impl_->function_impls[k],
                                      std::vector<Val>(args.begin(), args.end()), options);
}

}  // namespace airssys::wasm::cm
