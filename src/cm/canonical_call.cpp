// The sequence of a synchronous call across the canonical ABI
// (CanonicalABI.md, Store.lift, canon_lift and canon_lower without `async`).

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {

Result<std::unique_ptr<LiftedCall>> LiftedCall::begin(const LiftedFunction& function,
                                                     InstanceState* caller,
                                                     std::span<const Val> args) {
  if (function.inst == nullptr || !function.callee)
    return make_error(ErrorCode::InvalidArgument, "lifted function without instance or callee");
  std::unique_ptr<LiftedCall> call(new LiftedCall(function, caller));
  AIRSSYS_TRY(function.inst->enter_from(caller));
  call->inside_ = true;
  AIRSSYS_TRY_ASSIGN(call->flat_args_,
                     lower_flat_values(call->cx_, kMaxFlatParams, param_types(function.type), args));
  return call;
}

Result<std::unique_ptr<LiftedCall>> LiftedCall::begin(const LiftedFunction& function,
                                                     InstanceState* caller,
                                                     const FlatLowerer& lower) {
  if (function.inst == nullptr || !function.callee)
    return make_error(ErrorCode::InvalidArgument, "lifted function without instance or callee");
  if (function.flat_params.size() > kMaxFlatParams)
    return make_error(ErrorCode::InvalidArgument,
                      "the parameters spill to memory: call the function with values");
  std::unique_ptr<LiftedCall> call(new LiftedCall(function, caller));
  AIRSSYS_TRY(function.inst->enter_from(caller));
  call->inside_ = true;
  call->flat_args_.reserve(function.flat_params.size());
  AIRSSYS_TRY(lower(call->cx_, call->flat_args_));
  bool same = call->flat_args_.size() == function.flat_params.size();
  for (size_t i = 0; same && i < function.flat_params.size(); ++i)
    same = call->flat_args_[i].type() == function.flat_params[i];
  if (!same)
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("the lowered arguments are not the flattening of {}",
                                  function.type.to_string()));
  return call;
}

LiftedCall::~LiftedCall() { leave(); }

void LiftedCall::leave() {
  if (!inside_) return;
  inside_ = false;
  function_.inst->leave_to(caller_);
}

Result<std::vector<Val>> LiftedCall::finish(std::span<const engine::Value> flat_results) {
  if (!inside_) return make_error(ErrorCode::InvalidArgument, "the lifted call has ended");
  InstanceState& inst = *function_.inst;
  AIRSSYS_TRY_ASSIGN(auto values, lift_flat_values(cx_, kMaxFlatResults,
                                                   result_types(function_.type), flat_results));
  AIRSSYS_TRY(task_.check_return());
  if (function_.opts.has_post_return && function_.post_return) {
    inst.may_leave = false;
    auto done = function_.post_return(flat_results);
    inst.may_leave = true;
    if (!done) return std::unexpected(done.error());
    if (!done->empty())
      return make_error(ErrorCode::SignatureMismatch, "post-return returned values");
  }
  leave();
  return values;
}

Result<std::vector<Val>> call_lifted(const LiftedFunction& function, InstanceState* caller,
                                     std::span<const Val> args) {
  AIRSSYS_TRY_ASSIGN(auto call, LiftedCall::begin(function, caller, args));
  // The results are copied: finish() may call into the instance again.
  AIRSSYS_TRY_ASSIGN(auto flat_results, function.callee(call->flat_args()));
  return call->finish(flat_results);
}

LoweredShape lowered_shape(const FuncType& type) {
  LoweredShape shape;
  shape.flat_params = flatten_functype(type, FlattenContext::Lower).params.size();
  shape.params = param_types(type);
  shape.results = result_types(type);
  shape.results_spill = flatten_types(shape.results).size() > kMaxFlatResults;
  return shape;
}

Result<std::vector<engine::Value>> call_lowered(const FuncType& type, const CanonOptions& opts,
                                                InstanceState& inst,
                                                const ComponentFunction& callee,
                                                std::span<const engine::Value> flat_args) {
  return call_lowered(type, lowered_shape(type), opts, inst, callee, flat_args);
}

Result<std::vector<engine::Value>> call_lowered_raw(
    size_t flat_params, const CanonOptions& opts, InstanceState& inst,
    const std::function<Result<std::vector<engine::Value>>(
        LiftLowerContext&, std::span<const engine::Value>)>& raw,
    std::span<const engine::Value> flat_args) {
  if (!inst.may_leave) return detail::trap("cannot leave component instance");
  if (flat_args.size() != flat_params)
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("{} core arguments where the signature has {}",
                                  flat_args.size(), flat_params));
  CallContext subtask;
  LiftLowerContext cx{opts, inst, &subtask};
  auto results = raw(cx, flat_args);
  subtask.release_lends();
  return results;
}

Result<std::vector<engine::Value>> call_lowered(const FuncType& type, const LoweredShape& shape,
                                                const CanonOptions& opts, InstanceState& inst,
                                                const ComponentFunction& callee,
                                                std::span<const engine::Value> flat_args) {
  if (!inst.may_leave) return detail::trap("cannot leave component instance");
  if (flat_args.size() != shape.flat_params)
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("{} core arguments for the signature {}", flat_args.size(),
                                  flatten_functype(type, FlattenContext::Lower).to_string()));
  const auto& params = shape.params;
  const auto& results = shape.results;
  bool results_spill = shape.results_spill;
  std::span<const engine::Value> param_values =
      results_spill ? flat_args.first(flat_args.size() - 1) : flat_args;
  std::optional<uint32_t> out_ptr;
  if (results_spill) {
    if (flat_args.back().type() != FlatType::I32)
      return make_error(ErrorCode::SignatureMismatch, "return pointer is not an i32");
    out_ptr = static_cast<uint32_t>(flat_args.back().as_i32());
  }

  CallContext subtask;
  LiftLowerContext cx{opts, inst, &subtask};
  auto args = lift_flat_values(cx, kMaxFlatParams, params, param_values);
  if (!args) return std::unexpected(args.error());
  auto values = callee(&inst, *args);
  if (!values) return std::unexpected(values.error());
  auto flat_results = lower_flat_values(cx, kMaxFlatResults, results, *values, out_ptr);
  subtask.release_lends();
  return flat_results;
}

}  // namespace airssys::wasm::cm
