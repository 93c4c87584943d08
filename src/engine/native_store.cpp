// The native tier's store: links a module's imports (the instances
// registered with the linker, the host's functions) and instantiates it on a
// fiber with the instance's limits applied.

#include <mutex>
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "airssys-native.h"
#include "airssys/wasm/engine/engine.hpp"
#include "backend_support.hpp"
#include "native_backend.hpp"
#include "native_guard.hpp"
#include "metering.hpp"
#include "state.hpp"

namespace airssys::wasm::engine::native {
namespace {

std::string describe(const detail::NativeImport& import) {
  if (import.kind == ExternKind::Func) {
    return fmt::format("'{}'.'{}' (func {})", import.module, import.name, import.sig.to_string());
  }
  return fmt::format("'{}'.'{}' ({})", import.module, import.name, extern_kind_name(import.kind));
}

bool limits_match(uint64_t size, std::optional<uint64_t> max, const detail::NativeLimits& wanted) {
  if (size < wanted.initial) return false;
  if (wanted.has_max && (!max || *max > wanted.max)) return false;
  return true;
}

class NativeStore final : public Store {
 public:
  NativeStore() : state_(std::make_shared<StoreState>()) {}
  Result<std::shared_ptr<Instance>> instantiate(const Module& module, const Linker& linker,
                                                const InstanceOptions& options) override;

 private:
  Result<void> resolve(NativeInstance& instance, size_t k, const Linker& linker);
  std::shared_ptr<StoreState> state_;
  // Every instance made here, as the interpreter's store keeps them: a table
  // may hold a function of an instance nobody else refers to any more (even
  // of one whose instantiation failed after it wrote into an imported table).
  std::vector<std::shared_ptr<NativeInstance>> instances_;
};

Result<void> NativeStore::resolve(NativeInstance& instance, size_t k, const Linker& linker) {
  const auto& import = instance.module_->plan_.imports[k];
  auto& item = instance.imports_->items[k];
  auto& target = instance.targets_[k];
  if (import.module == kReservedModule) {
    if (import.name == detail::kFuelGlobalName) {
      item.pointer = &state_->fuel;
    } else if (import.name == detail::kMemoryGrowName) {
      target.kind = ImportTarget::Kind::MemoryGrow;
    } else if (import.name == detail::kMemoryGrowAtName) {
      target.kind = ImportTarget::Kind::MemoryGrowAt;
    } else {
      target.kind = ImportTarget::Kind::Fuel;
    }
    return {};
  }
  const Linker::ExportAlias* alias = linker.find_export(import.module, import.name);
  const Instance* provider = alias ? alias->instance.get() : linker.find_instance(import.module);
  const std::string_view export_name = alias ? std::string_view(alias->export_name)
                                        : std::string_view(import.name);
  if (provider) {
    auto* other = dynamic_cast<const NativeInstance*>(provider);
    if (!other || other->state_ != state_) {
      return make_error(ErrorCode::UnknownImport,
                        fmt::format("import {}: the instance registered as '{}' belongs to "
                                    "another store",
                                    describe(import), import.module));
    }
    auto it = other->module_->export_index_.find(export_name);
    if (it != other->module_->export_index_.end()) {
      const auto& exp = other->module_->plan_.exports[it->second];
      const auto& desc = other->module_->desc();
      auto mismatch = [&](std::string_view why) {
        return make_error(ErrorCode::IncompatibleImport,
                          fmt::format("import {}: {}", describe(import), why));
      };
      if (exp.kind != import.kind) return mismatch("the export is of another kind");
      switch (import.kind) {
        case ExternKind::Func:
          if (exp.sig != import.sig) {
            return mismatch(fmt::format("the export has type {}", exp.sig.to_string()));
          }
          item.pointer = reinterpret_cast<void*>(desc.export_functions[it->second]);
          item.instance = other->raw_;
          break;
        case ExternKind::Global:
          if (exp.type != import.type || exp.mutable_ != import.mutable_) {
            return mismatch("the global's type differs");
          }
          item.pointer = desc.export_pointers[it->second](other->raw_);
          break;
        case ExternKind::Memory: {
          auto* memory = static_cast<wasm_rt_memory_t*>(desc.export_pointers[it->second](other->raw_));
          std::optional<uint64_t> max;
          if (exp.limits.has_max) max = memory->max_pages;
          if (!limits_match(memory->pages, max, import.limits)) {
            return mismatch("the memory's limits do not match");
          }
          // Code without explicit checks reaches 8 GiB past a memory's
          // start: only a guard reservation may be handed to it.
          if (instance.module_->object_->guard_pages() && !is_guard_memory(memory->data)) {
            return mismatch(
                "the memory has explicit bounds checks; this module needs a guard-page memory");
          }
          item.pointer = memory;
          break;
        }
        case ExternKind::Table: {
          void* table = desc.export_pointers[it->second](other->raw_);
          uint64_t size = exp.type == ValType::FuncRef
                              ? static_cast<wasm_rt_funcref_table_t*>(table)->size
                              : static_cast<wasm_rt_externref_table_t*>(table)->size;
          std::optional<uint64_t> max;
          if (exp.limits.has_max) max = exp.limits.max;
          if (exp.type != import.type || !limits_match(size, max, import.limits)) {
            return mismatch("the table's type or limits do not match");
          }
          item.pointer = table;
          break;
        }
        case ExternKind::Tag:
          if (exp.sig.params != import.sig.params) {
            return mismatch(fmt::format("the tag has type {}", exp.sig.to_string()));
          }
          item.pointer = desc.export_pointers[it->second](other->raw_);
          break;
      }
      instance.providers_.push_back(other->shared_from_this());
      return {};
    }
    if (alias || !linker.find_function(import.module, import.name)) {
      return make_error(ErrorCode::UnknownImport,
                        detail::export_not_found(describe(import), import.module,
                                                 alias != nullptr, export_name));
    }
  }
  const HostFunction* host = linker.find_function(import.module, import.name);
  if (!host || import.kind != ExternKind::Func) {
    return make_error(ErrorCode::UnknownImport,
                      fmt::format("import {} is not provided by the host", describe(import)));
  }
  if (host->sig != import.sig) {
    return make_error(ErrorCode::IncompatibleImport,
                      fmt::format("import {}: the host function has type {}", describe(import),
                                  host->sig.to_string()));
  }
  target.kind = ImportTarget::Kind::Host;
  target.fn = host->fn;
  target.sig = host->sig;
  target.owner = &instance;
  target.call = NativeHostCall(&instance);
  // The glue of an import whose types are all numbers calls the host
  // directly (native_glue.cpp): the typed entry of host_function<F>()
  // when there is one, else the HostFn through call_host_values. Others go
  // through call_import.
  item.host = &target;
  item.pointer = reinterpret_cast<void*>(static_cast<airssys_host_fn>(call_host_values));
  if (host->native_entry) {
    item.typed = const_cast<void*>(host->native_entry);
    item.call = static_cast<HostCall*>(&target.call);
  }
  return {};
}

Result<std::shared_ptr<Instance>> NativeStore::instantiate(const Module& module,
                                                           const Linker& linker,
                                                           const InstanceOptions& options) {
  auto own = detail::own_module<NativeModule>(module);
  if (!own) return std::unexpected(own.error());
  const NativeModule* native = *own;
  auto& state = *state_;
  if (state.active) return detail::instantiate_during_call();
  const uint64_t page_cap =
      std::min<uint64_t>(options.limits.max_memory_bytes / kWasmPageSize, kMaxPages);
  const auto& plan = native->plan_;
  uint64_t initial_pages = 0;
  for (size_t i = 0; i < plan.memories.size(); ++i) {
    initial_pages += plan.memories[i].initial;
    if (initial_pages > page_cap) {
      return detail::memories_over_limit(native->name_, i, plan.memories[i].initial,
                                         initial_pages, options.limits.max_memory_bytes);
    }
  }
  // Tables count against the memory limit: the runtime gives each table its
  // share of the instance's table budget as its maximum (airssys-rt.c), and
  // tables over the budget are refused here, before anything is allocated.
  std::vector<ExternLimits> tables;
  tables.reserve(plan.tables.size());
  for (const auto& t : plan.tables) {
    tables.push_back({t.initial, t.has_max ? std::optional(t.max) : std::nullopt});
  }
  auto table_caps = detail::table_caps(native->name_, tables, options.limits);
  if (!table_caps) return std::unexpected(table_caps.error());

  auto instance = std::make_shared<NativeInstance>(state_, native->shared_from_this(),
                                                   options.user_data, options.on_memory_grow,
                                                   options.memory_grow_gate);
  instances_.push_back(instance);
  const auto& desc = native->desc();
  const size_t n = plan.imports.size();
  instance->imports_ = static_cast<airssys_imports*>(
      std::calloc(1, sizeof(airssys_imports) + n * sizeof(instance->imports_->items[0])));
  instance->raw_ = std::calloc(1, desc.instance_size);
  if (!instance->imports_ || !instance->raw_) throw std::bad_alloc();
  instance->imports_->self = instance->imports_;
  instance->imports_->host_instance = instance.get();
  // Every instantiation defines tags of its own: identities never given
  // before in this process.
  instance->tags_.resize(desc.tag_count);
  for (auto& tag : instance->tags_) {
    auto id = take_tag_identity();
    if (!id) return std::unexpected(id.error());
    tag = *id;
  }
  instance->imports_->tags = instance->tags_.data();
  instance->targets_.resize(n);
  instance->page_cap_ = page_cap;
  for (size_t k = 0; k < n; ++k) {
    AIRSSYS_TRY(resolve(*instance, k, linker));
    if (plan.imports[k].kind == ExternKind::Memory) {
      auto* memory = static_cast<wasm_rt_memory_t*>(instance->imports_->items[k].pointer);
      if (!instance->memory_) instance->memory_ = memory;
      instance->memories_.push_back(memory);
      ++instance->memory_imports_;
    }
  }
  instance->memories_.resize(instance->memory_imports_ + plan.memories.size(), nullptr);

  ExecState exec;
  exec.budget = options.start_fuel;
  state.active = &exec;
  state.start_slice(exec);
  NativeRun run(state, {&desc, desc.instantiate, instance->raw_, instance->imports_,
                        static_cast<uint32_t>(page_cap), *table_caps,
                        std::span(instance->memories_).subspan(instance->memory_imports_)});
  for (auto& target : instance->targets_) target.call.set_instantiating(true);
  run.switch_in();
  for (auto& target : instance->targets_) target.call.set_instantiating(false);
  state.account(exec);
  state.active = nullptr;
  instance->fuel_used_ += exec.used;
  if (!instance->memory_) instance->memory_ = run.allocated_memory();
  std::optional<Error> failed;
  if (run.trap()) {
    failed = instance->trap_error(run.trap(), run.trap_frames());
  } else if (options.restore) {
    // Continues from a saved state: the start function ran where it was saved.
    AIRSSYS_TRY(instance->restore_state(*options.restore));
  } else if (plan.start_export) {
    airssys_slot io{};
    const uint64_t left = options.start_fuel == kUnlimitedFuel
                              ? kUnlimitedFuel
                              : options.start_fuel - std::min(exec.used, options.start_fuel);
    if (auto ran = instance->run_export(*plan.start_export, &io, left, exec.slice); !ran) {
      failed = ran.error();
    }
  }
  if (failed) {
    failed->message = fmt::format("instantiating '{}': {}", native->name_, failed->message);
    return std::unexpected(std::move(*failed));
  }
  return instance;
}

}  // namespace

std::unique_ptr<Store> new_store() { return std::make_unique<NativeStore>(); }

namespace {

// The identities no live instance holds, and the next never given out.
struct TagIdentities {
  std::mutex mutex;
  std::vector<uint32_t> free;
  uint32_t next = 1;
};

TagIdentities& tag_identities() {
  static TagIdentities* identities = new TagIdentities();  // outlives every instance
  return *identities;
}

}  // namespace

Result<uint32_t> take_tag_identity() {
  auto& ids = tag_identities();
  std::lock_guard lock(ids.mutex);
  if (!ids.free.empty()) {
    const uint32_t id = ids.free.back();
    ids.free.pop_back();
    return id;
  }
  if (ids.next == 0) {
    return make_error(ErrorCode::LimitExceeded,
                      "the instances alive hold every exception tag identity there is");
  }
  return ids.next++;
}

void give_back_tag_identities(std::span<const uint32_t> tags) {
  if (tags.empty()) return;
  auto& ids = tag_identities();
  std::lock_guard lock(ids.mutex);
  for (uint32_t id : tags) {
    if (id != 0) ids.free.push_back(id);
  }
}

}  // namespace airssys::wasm::engine::native
