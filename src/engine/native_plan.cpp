// The native tier's plan (native_codegen.hpp): what the host needs to know of
// a metered module to compile, link and call it, read with wabt's IR, and the
// module rewritten with fixed import and export names for wasm2c.

#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/cast.h>
#include <wabt/ir.h>
#include <wabt/stream.h>

#include <optional>

#include <fmt/format.h>

#include "backend_support.hpp"
#include "metering.hpp"
#include "airssys-native.h"
#include "native_codegen.hpp"

namespace airssys::wasm::engine::detail {
namespace {

FuncSig func_sig(const wabt::FuncSignature& sig) {
  return sig_from_wabt(sig.param_types, sig.result_types);
}

NativeLimits limits_of(const wabt::Limits& l) { return {l.initial, l.max, l.has_max}; }


bool uses_v128(const FuncSig& sig) {
  for (auto t : sig.params) if (t == ValType::V128) return true;
  for (auto t : sig.results) if (t == ValType::V128) return true;
  return false;
}

// wasm2c 1.0.32 passes the source memory of memory.copy as its destination
// and the destination as its source (the same memory for both in a module of
// one memory, so only multi-memory shows it). Swapping the two indices in the
// module it translates makes its C copy in the direction the module says.
void swap_memory_copy_operands(wabt::Module& module) {
  std::vector<wabt::ExprList*> pending;
  for (wabt::Func* func : module.funcs) pending.push_back(&func->exprs);
  while (!pending.empty()) {
    wabt::ExprList* list = pending.back();
    pending.pop_back();
    for (wabt::Expr& expr : *list) {
      switch (expr.type()) {
        case wabt::ExprType::MemoryCopy: {
          auto* copy = wabt::cast<wabt::MemoryCopyExpr>(&expr);
          std::swap(copy->srcmemidx, copy->destmemidx);
          break;
        }
        case wabt::ExprType::Block:
          pending.push_back(&wabt::cast<wabt::BlockExpr>(&expr)->block.exprs);
          break;
        case wabt::ExprType::Loop:
          pending.push_back(&wabt::cast<wabt::LoopExpr>(&expr)->block.exprs);
          break;
        case wabt::ExprType::If: {
          auto* e = wabt::cast<wabt::IfExpr>(&expr);
          pending.push_back(&e->true_.exprs);
          pending.push_back(&e->false_);
          break;
        }
        case wabt::ExprType::Try: {
          auto* e = wabt::cast<wabt::TryExpr>(&expr);
          pending.push_back(&e->block.exprs);
          for (auto& c : e->catches) pending.push_back(&c.exprs);
          break;
        }
        default:
          break;
      }
    }
  }
}

Result<NativePlan> plan_native_here(std::span<const uint8_t> metered) {
  wabt::Errors errors;
  wabt::Module module;
  const wabt::Features features = engine_features();
  wabt::ReadBinaryOptions options(features, nullptr, false, true, false);
  if (wabt::Failed(wabt::ReadBinaryIr("module", metered.data(), metered.size(), options, &errors,
                                      &module))) {
    return make_error(ErrorCode::InternalError, "native tier: the metered module did not decode");
  }
  NativePlan plan;
  for (size_t k = 0; k < module.imports.size(); ++k) {
    wabt::Import* imp = module.imports[k];
    NativeImport info;
    info.module = imp->module_name;
    info.name = imp->field_name;
    switch (imp->kind()) {
      case wabt::ExternalKind::Func:
        info.kind = ExternKind::Func;
        info.sig = func_sig(wabt::cast<wabt::FuncImport>(imp)->func.decl.sig);
        break;
      case wabt::ExternalKind::Global: {
        auto& g = wabt::cast<wabt::GlobalImport>(imp)->global;
        info.kind = ExternKind::Global;
        info.type = from_wabt(g.type);
        info.mutable_ = g.mutable_;
        break;
      }
      case wabt::ExternalKind::Memory:
        info.kind = ExternKind::Memory;
        info.limits = limits_of(wabt::cast<wabt::MemoryImport>(imp)->memory.page_limits);
        break;
      case wabt::ExternalKind::Table: {
        auto& t = wabt::cast<wabt::TableImport>(imp)->table;
        info.kind = ExternKind::Table;
        info.type = from_wabt(t.elem_type);
        info.limits = limits_of(t.elem_limits);
        break;
      }
      case wabt::ExternalKind::Tag:
        info.kind = ExternKind::Tag;
        info.sig = func_sig(wabt::cast<wabt::TagImport>(imp)->tag.decl.sig);
        break;
    }
    if (((info.kind == ExternKind::Func || info.kind == ExternKind::Tag) && uses_v128(info.sig)) ||
        (info.kind == ExternKind::Global && info.type == ValType::V128)) {
      return make_error(ErrorCode::CompileFailed,
                        "native tier: 128-bit vector (SIMD) values are not supported");
    }
    imp->module_name = "a";
    imp->field_name = fmt::format("i{}", k);
    plan.imports.push_back(std::move(info));
  }
  for (size_t k = 0; k < module.exports.size(); ++k) {
    wabt::Export* exp = module.exports[k];
    NativeExport info;
    info.name = exp->name;
    switch (exp->kind) {
      case wabt::ExternalKind::Func:
        info.kind = ExternKind::Func;
        info.sig = func_sig(module.GetFunc(exp->var)->decl.sig);
        break;
      case wabt::ExternalKind::Global: {
        auto* g = module.GetGlobal(exp->var);
        info.kind = ExternKind::Global;
        info.type = from_wabt(g->type);
        info.mutable_ = g->mutable_;
        break;
      }
      case wabt::ExternalKind::Memory:
        info.kind = ExternKind::Memory;
        info.limits = limits_of(module.GetMemory(exp->var)->page_limits);
        break;
      case wabt::ExternalKind::Table: {
        auto* t = module.GetTable(exp->var);
        info.kind = ExternKind::Table;
        info.type = from_wabt(t->elem_type);
        info.limits = limits_of(t->elem_limits);
        break;
      }
      case wabt::ExternalKind::Tag:
        info.kind = ExternKind::Tag;
        info.sig = func_sig(module.GetTag(exp->var)->decl.sig);
        break;
    }
    if (((info.kind == ExternKind::Func || info.kind == ExternKind::Tag) && uses_v128(info.sig)) ||
        (info.kind == ExternKind::Global && info.type == ValType::V128)) {
      return make_error(ErrorCode::CompileFailed,
                        "native tier: 128-bit vector (SIMD) values are not supported");
    }
    exp->name = fmt::format("e{}", k);
    plan.exports.push_back(std::move(info));
  }
  // Exports the host uses and the guest never sees (not in Module::exports):
  // each mutable defined global, so that Instance::save_state reaches it, and
  // the start function, which the host runs after instantiation unless the
  // instance continues from a saved state.
  plan.guest_exports = plan.exports.size();
  auto add_hidden = [&](wabt::ExternalKind kind, wabt::Index index) {
    auto field = std::make_unique<wabt::ExportModuleField>();
    field->export_.name = fmt::format("e{}", plan.exports.size());
    field->export_.kind = kind;
    field->export_.var = wabt::Var(index, {});
    module.AppendField(std::move(field));
  };
  for (size_t i = module.num_global_imports; i < module.globals.size(); ++i) {
    const auto* g = module.globals[i];
    if (!g->mutable_) continue;
    NativeExport info;
    info.name = fmt::format("(global {})", i);
    info.kind = ExternKind::Global;
    info.type = from_wabt(g->type);
    info.mutable_ = true;
    plan.state_globals.push_back(static_cast<uint32_t>(plan.exports.size()));
    add_hidden(wabt::ExternalKind::Global, static_cast<wabt::Index>(i));
    plan.exports.push_back(std::move(info));
  }
  if (!module.starts.empty()) {
    NativeExport info;
    info.name = "(start)";
    info.kind = ExternKind::Func;
    plan.start_export = static_cast<uint32_t>(plan.exports.size());
    info.sig = func_sig(module.GetFunc(*module.starts[0])->decl.sig);
    add_hidden(wabt::ExternalKind::Func, module.GetFuncIndex(*module.starts[0]));
    plan.exports.push_back(std::move(info));
    module.starts.clear();
  }
  for (size_t i = module.num_memory_imports; i < module.memories.size(); ++i) {
    plan.memories.push_back(limits_of(module.memories[i]->page_limits));
  }
  for (size_t i = module.num_table_imports; i < module.tables.size(); ++i) {
    plan.tables.push_back(limits_of(module.tables[i]->elem_limits));
  }
  // An exception's values travel in the call's state, which holds
  // AIRSSYS_MAX_EXCEPTION_BYTES (each value counted at its size rounded up to
  // 8 bytes, more than the C struct of them takes).
  for (const wabt::Tag* tag : module.tags) {
    uint64_t bytes = 0;
    for (wabt::Type t : tag->decl.sig.param_types) {
      if (t == wabt::Type::V128) {
        return make_error(ErrorCode::CompileFailed,
                          "native tier: 128-bit vector (SIMD) values are not supported");
      }
      bytes += t == wabt::Type::FuncRef ? sizeof(wasm_rt_funcref_t) : 8;
    }
    if (bytes > AIRSSYS_MAX_EXCEPTION_BYTES) {
      return make_error(ErrorCode::CompileFailed,
                        fmt::format("native tier: an exception tag's values take {} bytes, over "
                                    "the {} the native tier carries",
                                    bytes, AIRSSYS_MAX_EXCEPTION_BYTES));
    }
  }
  for (const auto* type : module.types) {
    auto* f = wabt::dyn_cast<wabt::FuncType>(type);
    if (f && uses_v128(func_sig(f->sig))) {
      return make_error(ErrorCode::CompileFailed,
                        "native tier: 128-bit vector (SIMD) values are not supported");
    }
  }
  for (const auto* f : module.funcs) {
    for (auto t : f->local_types) {
      if (t == wabt::Type::V128) {
        return make_error(ErrorCode::CompileFailed,
                          "native tier: 128-bit vector (SIMD) values are not supported");
      }
    }
  }
  if (module.memories.size() > 1) swap_memory_copy_operands(module);
  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, true, false, false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &module, write_options))) {
    return make_error(ErrorCode::InternalError, "native tier: writing the renamed module failed");
  }
  plan.bytes = std::move(stream.output_buffer().data);
  return plan;
}

}  // namespace

Result<NativePlan> plan_native(std::span<const uint8_t> metered) {
  // The module's IR is built, written and destroyed by recursive code of the
  // toolkit: on a stack of its own, sized for kMaxBlockNesting.
  std::optional<Result<NativePlan>> out;
  if (!run_on_large_stack([&] { out.emplace(plan_native_here(metered)); })) {
    return make_error(ErrorCode::InternalError, "native tier: cannot start the planning thread");
  }
  return std::move(*out);
}

}  // namespace airssys::wasm::engine::detail
