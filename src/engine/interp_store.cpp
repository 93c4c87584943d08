// The interpreter tier's store: links a module's imports (the instances
// registered with the linker, the host's functions) and instantiates it with
// the instance's limits applied.

#include <wabt/interp/interp.h>

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>

#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "interp_backend.hpp"
#include "metering.hpp"
#include "state.hpp"

namespace airssys::wasm::engine::interp {
namespace {

class StoreImpl final : public Store {
 public:
  StoreImpl() : state_(std::make_shared<StoreState>()) {}

  Result<std::shared_ptr<Instance>> instantiate(const Module& module, const Linker& linker,
                                                const InstanceOptions& options) override;

 private:
  Result<wi::Ref> resolve(const wi::ImportType& import, const Linker& linker);
  std::shared_ptr<StoreState> state_;
};

Result<wi::Ref> StoreImpl::resolve(const wi::ImportType& import, const Linker& linker) {
  auto& store = state_->store;
  if (import.module == kReservedModule) {
    if (import.name == detail::kFuelGlobalName) return state_->fuel_global.ref();
    if (import.name == detail::kMemoryGrowName) return state_->grow_func.ref();
    if (import.name == detail::kMemoryGrowAtName) return state_->grow_at_func.ref();
    return state_->fuel_func.ref();
  }
  const Linker::ExportAlias* alias = linker.find_export(import.module, import.name);
  const Instance* provider = alias ? alias->instance.get() : linker.find_instance(import.module);
  const std::string_view export_name = alias ? std::string_view(alias->export_name)
                                        : std::string_view(import.name);
  if (provider) {
    auto* impl = dynamic_cast<const InstanceImpl*>(provider);
    if (!impl || impl->state_ != state_) {
      return make_error(ErrorCode::UnknownImport,
                        fmt::format("import {}: the instance registered as '{}' belongs to "
                                    "another store",
                                    describe_import(import), import.module));
    }
    // A name the instance does not export may still be a host function
    // defined under the same module name (the spec tests' "spectest").
    if (auto ref = impl->export_ref(export_name)) {
      auto ext = store.UnsafeGet<wi::Extern>(*ref);
      wi::Trap::Ptr trap;
      if (wabt::Failed(ext->Match(store, import, &trap))) {
        return make_error(ErrorCode::IncompatibleImport,
                          fmt::format("import {}: {}", describe_import(import),
                                      trap ? trap->message() : "type mismatch"));
      }
      return *ref;
    }
    if (alias || !linker.find_function(import.module, import.name)) {
      return make_error(ErrorCode::UnknownImport,
                        detail::export_not_found(describe_import(import), import.module,
                                                 alias != nullptr, export_name));
    }
  }
  const HostFunction* host = linker.find_function(import.module, import.name);
  auto* wanted = wabt::dyn_cast<wi::FuncType>(import.type.get());
  if (!host || !wanted) {
    return make_error(ErrorCode::UnknownImport,
                      fmt::format("import {} is not provided by the host", describe_import(import)));
  }
  FuncSig wanted_sig = sig_from_wabt(*wanted);
  if (wanted_sig != host->sig) {
    return make_error(ErrorCode::IncompatibleImport,
                      fmt::format("import {}: the host function has type {}",
                                  describe_import(import), host->sig.to_string()));
  }
  StoreState* state = state_.get();
  auto func = wi::HostFunc::New(
      store, *wanted,
      [state, fn = host->fn, sig = host->sig](wi::Thread& thread, const wi::Values& params,
                                              wi::Values& results,
                                              wi::Trap::Ptr* out_trap) -> wabt::Result {
        std::array<Value, 16> arg_buffer;
        std::vector<Value> arg_heap;
        std::span<Value> args;
        if (params.size() <= arg_buffer.size()) {
          args = std::span<Value>(arg_buffer.data(), params.size());
        } else {
          arg_heap.resize(params.size());
          args = arg_heap;
        }
        for (size_t i = 0; i < params.size(); ++i) {
          args[i] = from_interp(*state, to_wabt(sig.params[i]), params[i]);
        }
        std::array<Value, 8> result_buffer;
        std::vector<Value> result_heap;
        std::span<Value> out;
        if (sig.results.size() <= result_buffer.size()) {
          out = std::span<Value>(result_buffer.data(), sig.results.size());
        } else {
          result_heap.resize(sig.results.size());
          out = result_heap;
        }
        for (size_t i = 0; i < sig.results.size(); ++i) out[i] = Value::zero(sig.results[i]);

        InstanceImpl* caller = state->instance_of(thread.GetCallerInstance());
        wi::Memory* memory = caller ? caller->memory_ : nullptr;
        if (!memory && thread.GetCallerInstance() &&
            !thread.GetCallerInstance()->memories().empty()) {
          memory = state->store.UnsafeGet<wi::Memory>(thread.GetCallerInstance()->memories()[0])
                       .get();
        }
        HostCallImpl call(state, memory, caller ? caller->user_data_ : nullptr);
        auto outcome = fn(call, args, out);
        if (!outcome) return state->raise(thread, std::move(outcome).error(), out_trap);
        results.resize(out.size());
        for (size_t i = 0; i < out.size(); ++i) {
          if (out[i].type() != sig.results[i]) {
            return state->raise(thread,
                                Error::of(ErrorCode::InternalError,
                                          "host function returned a value of the wrong type"),
                                out_trap);
          }
          results[i] = to_interp(*state, out[i]);
        }
        return wabt::Result::Ok;
      });
  return func.ref();
}

Result<std::shared_ptr<Instance>> StoreImpl::instantiate(const Module& module,
                                                         const Linker& linker,
                                                         const InstanceOptions& options) {
  auto own = detail::own_module<ModuleImpl>(module);
  if (!own) return std::unexpected(own.error());
  const ModuleImpl* impl_module = *own;
  auto& state = *state_;
  if (state.active) return detail::instantiate_during_call();

  wi::ModuleDesc desc = *impl_module->desc_;
  const uint64_t page_cap = options.limits.max_memory_bytes / kWasmPageSize;
  uint64_t initial_pages = 0;
  for (size_t i = 0; i < desc.memories.size(); ++i) {
    auto& limits = desc.memories[i].type.limits;
    initial_pages += limits.initial;
    if (initial_pages > page_cap) {
      return detail::memories_over_limit(impl_module->name_, i, limits.initial, initial_pages,
                                         options.limits.max_memory_bytes);
    }
    uint64_t max = limits.has_max ? limits.max : 65536;
    if (page_cap < max) {
      limits.max = page_cap;
      limits.has_max = true;
    }
  }
  // Tables count against the memory limit: each gets its share of the
  // instance's table budget as its maximum, so that table.grow past it
  // returns -1, and tables over the budget are refused before wabt allocates
  // them.
  std::vector<ExternLimits> tables;
  tables.reserve(desc.tables.size());
  for (const auto& table : desc.tables) {
    const auto& limits = table.type.limits;
    tables.push_back({limits.initial, limits.has_max ? std::optional(limits.max) : std::nullopt});
  }
  auto caps = detail::table_caps(impl_module->name_, tables, options.limits);
  if (!caps) return std::unexpected(caps.error());
  for (size_t i = 0; i < desc.tables.size(); ++i) {
    auto& limits = desc.tables[i].type.limits;
    if (!limits.has_max || (*caps)[i] < limits.max) {
      limits.max = (*caps)[i];
      limits.has_max = true;
    }
  }

  // A restored instance continues where its state was saved: the start
  // function ran there already.
  if (options.restore) desc.starts.clear();
  auto wmodule = wi::Module::New(state.store, std::move(desc));
  wi::RefVec imports;
  for (const auto& import : wmodule->import_types()) {
    auto ref = resolve(import, linker);
    if (!ref) return std::unexpected(ref.error());
    imports.push_back(*ref);
  }

  auto instance = std::make_shared<InstanceImpl>(state_, impl_module->shared_from_this(),
                                                 options.user_data, options.on_memory_grow,
                                                 options.memory_grow_gate);
  instance->page_cap_ = page_cap;
  for (const auto& import : impl_module->imports_) {
    if (import.kind == ExternKind::Memory) ++instance->memory_imports_;
  }
  ExecState exec;
  exec.budget = options.start_fuel;
  state.active = &exec;
  state.instantiating = instance.get();
  state.start_slice(exec);
  wi::Trap::Ptr trap;
  auto winstance = wi::Instance::Instantiate(state.store, wmodule.ref(), imports, &trap);
  state.account(exec);
  state.active = nullptr;
  instance->fuel_used_ += exec.used;
  if (!winstance) {
    Error e = state.take_error(trap);  // names frames through `instantiating`
    state.instantiating = nullptr;
    e.message = fmt::format("instantiating '{}': {}", impl_module->name_, e.message);
    return std::unexpected(std::move(e));
  }
  state.instantiating = nullptr;
  winstance->set_host_info(instance.get());
  if (!winstance->memories().empty()) {
    instance->memory_ = state.store.UnsafeGet<wi::Memory>(winstance->memories()[0]).get();
  }
  instance->instance_ = std::move(winstance);
  if (options.restore) {
    AIRSSYS_TRY(instance->restore_state(*options.restore, page_cap));
  }
  return instance;
}

}  // namespace

std::unique_ptr<Store> new_store() { return std::make_unique<StoreImpl>(); }

}  // namespace airssys::wasm::engine::interp
