// The sequence of a synchronous call across the canonical ABI
// (CanonicalABI.md, Store.lift, canon_lift and canon_lower without `async`).

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {

Result<std::vector<Val>> call_lifted(const LiftedFunction& function, InstanceState* caller,
                                     std::span<const Val> args) {
  if (function.inst == nullptr || !function.callee)
    return make_error(ErrorCode::InvalidArgument, "lifted function without instance or callee");
  InstanceState& inst = *function.inst;
  AIRSSYS_TRY(inst.enter_from(caller));
  struct Leave {
    InstanceState& inst;
    InstanceState* caller;
    ~Leave() { inst.leave_to(caller); }
  } leave{inst, caller};

  CallContext task;
  LiftLowerContext cx{function.opts, inst, &task};
  auto params = param_types(function.type);
  auto results = result_types(function.type);
  auto flat_args = lower_flat_values(cx, kMaxFlatParams, params, args);
  if (!flat_args) return std::unexpected(flat_args.error());
  auto flat_results = function.callee(*flat_args);
  if (!flat_results) return std::unexpected(flat_results.error());
  auto values = lift_flat_values(cx, kMaxFlatResults, results, *flat_results);
  if (!values) return values;
  AIRSSYS_TRY(task.check_return());
  if (function.opts.has_post_return && function.post_return) {
    inst.may_leave = false;
    auto done = function.post_return(*flat_results);
    inst.may_leave = true;
    if (!done) return std::unexpected(done.error());
    if (!done->empty())
      return make_error(ErrorCode::SignatureMismatch, "post-return returned values");
  }
  return values;
}

Result<std::vector<engine::Value>> call_lowered(const FuncType& type, const CanonOptions& opts,
                                                InstanceState& inst,
                                                const ComponentFunction& callee,
                                                std::span<const engine::Value> flat_args) {
  if (!inst.may_leave) return detail::trap("cannot leave component instance");
  engine::FuncSig sig = flatten_functype(type, FlattenContext::Lower);
  if (flat_args.size() != sig.params.size())
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("{} core arguments for the signature {}", flat_args.size(),
                                  sig.to_string()));
  auto params = param_types(type);
  auto results = result_types(type);
  bool results_spill = flatten_types(results).size() > kMaxFlatResults;
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
