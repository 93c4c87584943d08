#include "metering.hpp"

#include <wabt/apply-names.h>
#include <wabt/cast.h>
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader-nop.h>
#include <wabt/binary-reader.h>
#include <wabt/binary-writer.h>
#include <wabt/error-formatter.h>
#include <wabt/generate-names.h>
#include <wabt/ir.h>
#include <wabt/resolve-names.h>
#include <wabt/stream.h>

#include <fmt/format.h>

#include <exception>
#include <optional>
#include <type_traits>

#include <pthread.h>

#include "airssys/wasm/engine/engine.hpp"

namespace airssys::wasm::engine::detail {
namespace {

constexpr const char* kFuelGlobalVar = "$airssys.fuel";
constexpr const char* kFuelFuncVar = "$airssys.fuel_exhausted";
constexpr const char* kStackProbeVar = "$airssys.stack_probe";
constexpr const char* kMemoryGrowVar = "$airssys.memory_grow";
constexpr const char* kMemoryGrowAtVar = "$airssys.memory_grow_at";
// Bulk operations cost one unit of fuel per 64 bytes (memory) or per 4
// elements (tables), on top of the one the instruction itself counts.
constexpr uint64_t kBulkMemoryShift = 6;
constexpr uint64_t kBulkTableShift = 2;

// Checks what the binary reader does not: how deep a function's blocks nest.
// Custom-section problems arrive here as warnings and are collected.
class StructureChecker : public wabt::BinaryReaderNop {
 public:
  wabt::Result BeginFunctionBody(wabt::Index index, wabt::Offset) override {
    func_ = index;
    depth_ = 0;
    return wabt::Result::Ok;
  }
  wabt::Result OnBlockExpr(wabt::Type) override { return enter(); }
  wabt::Result OnLoopExpr(wabt::Type) override { return enter(); }
  wabt::Result OnIfExpr(wabt::Type) override { return enter(); }
  wabt::Result OnTryExpr(wabt::Type) override { return enter(); }
  wabt::Result OnEndExpr() override {
    if (depth_ > 0) --depth_;
    return wabt::Result::Ok;
  }
  wabt::Result OnDelegateExpr(wabt::Index) override { return OnEndExpr(); }
  bool OnError(const wabt::Error& error) override {
    if (error.error_level == wabt::ErrorLevel::Warning) {
      warnings_.push_back(fmt::format("custom section at {:#x}: {}; the section is ignored",
                                      error.loc.offset, error.message));
    } else if (message_.empty()) {
      message_ = fmt::format("{:#x}: {}", error.loc.offset, error.message);
    }
    return true;
  }
  const std::string& message() const { return message_; }
  std::vector<std::string>& warnings() { return warnings_; }
  bool too_deep() const { return too_deep_; }
  wabt::Index func() const { return func_; }
  wabt::Offset offset() const { return offset_; }

 private:
  wabt::Result enter() {
    if (++depth_ > kMaxBlockNesting) {
      too_deep_ = true;
      offset_ = state ? state->offset : 0;
      return wabt::Result::Error;
    }
    return wabt::Result::Ok;
  }

  wabt::Index func_ = 0;
  uint32_t depth_ = 0;
  bool too_deep_ = false;
  wabt::Offset offset_ = 0;
  std::string message_;
  std::vector<std::string> warnings_;
};

// Collects the function names of the name section, by function index; any
// problem in that section is remembered, and the caller drops every name.
class NameCollector : public wabt::BinaryReaderNop {
 public:
  explicit NameCollector(std::vector<std::string>* names) : names_(names) {}
  wabt::Result OnFunctionName(wabt::Index index, std::string_view name) override {
    if (index >= kMaxNamedFunctions) return fail_at(index);
    if (names_->size() <= index) names_->resize(index + 1);
    (*names_)[index] = std::string(name);
    return wabt::Result::Ok;
  }
  wabt::Result BeginSection(wabt::Index, wabt::BinarySection, wabt::Offset) override {
    in_name_section_ = false;
    return wabt::Result::Ok;
  }
  wabt::Result BeginCustomSection(wabt::Index, wabt::Offset,
                                  std::string_view section_name) override {
    in_name_section_ = section_name == "name";
    return wabt::Result::Ok;
  }
  // The first pass reported other custom sections already; what fails here
  // is the name section, or a section after it (names must come last).
  bool OnError(const wabt::Error& error) override {
    if (error.error_level == wabt::ErrorLevel::Warning && !in_name_section_) return true;
    if (problem_.empty()) {
      problem_ = fmt::format("name section at {:#x}: {}", error.loc.offset, error.message);
    }
    return true;
  }
  const std::string& problem() const { return problem_; }

 private:
  static constexpr wabt::Index kMaxNamedFunctions = 1'000'000;
  wabt::Result fail_at(wabt::Index index) {
    if (problem_.empty()) {
      problem_ = fmt::format("name section: a name for function {}, past the {} the engine keeps",
                             index, kMaxNamedFunctions);
    }
    return wabt::Result::Error;
  }
  std::vector<std::string>* names_;
  std::string problem_;
  bool in_name_section_ = false;
};

// Puts the lists nested in a block, an if or a try on `pending` (a loop's
// body is left to the caller: it meters itself). Const or not, as `expr`.
template <class E, class List>
void push_nested(E& expr, std::vector<List*>& pending) {
  using Block = std::conditional_t<std::is_const_v<E>, const wabt::BlockExpr, wabt::BlockExpr>;
  using If = std::conditional_t<std::is_const_v<E>, const wabt::IfExpr, wabt::IfExpr>;
  using Try = std::conditional_t<std::is_const_v<E>, const wabt::TryExpr, wabt::TryExpr>;
  switch (expr.type()) {
    case wabt::ExprType::Block:
      pending.push_back(&wabt::cast<Block>(&expr)->block.exprs);
      break;
    case wabt::ExprType::If: {
      auto* e = wabt::cast<If>(&expr);
      pending.push_back(&e->true_.exprs);
      pending.push_back(&e->false_);
      break;
    }
    case wabt::ExprType::Try: {
      auto* e = wabt::cast<Try>(&expr);
      pending.push_back(&e->block.exprs);
      for (auto& c : e->catches) pending.push_back(&c.exprs);
      break;
    }
    default:
      break;
  }
}

// The straight-line cost of a list: every instruction counts one, nested
// blocks count their contents, a nested loop counts one (it meters itself).
// Walked with a stack of its own: nesting is bounded by kMaxBlockNesting, not
// by the thread's stack.
uint64_t region_cost(const wabt::ExprList& exprs) {
  uint64_t cost = 0;
  std::vector<const wabt::ExprList*> pending{&exprs};
  while (!pending.empty()) {
    const wabt::ExprList* list = pending.back();
    pending.pop_back();
    for (const wabt::Expr& expr : *list) {
      ++cost;
      push_nested(expr, pending);
    }
  }
  return cost;
}

class Instrumenter {
 public:
  explicit Instrumenter(const wabt::Module& module) : module_(module) {}

  uint32_t sites = 0;
  uint32_t grows = 0;     // memory.grow of memory 0 routed through the host
  uint32_t grows_at = 0;  // memory.grow of another memory routed through the host
  // The first instruction that keeps state outside memory and globals.
  std::string state_hazard;
  bool probes = false;  // whether a call to the stack probe was inserted

  // global.get $fuel; i64.const cost; i64.sub; global.set $fuel;
  // global.get $fuel; i64.const 0; i64.lt_s; if; call $fuel_exhausted; end
  void prepend_check(wabt::ExprList& exprs, uint64_t cost) {
    ++sites;
    wabt::ExprList check;
    check.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(kFuelGlobalVar, {})));
    check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(cost)));
    check.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64Sub));
    check.push_back(std::make_unique<wabt::GlobalSetExpr>(wabt::Var(kFuelGlobalVar, {})));
    check.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(kFuelGlobalVar, {})));
    check.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(0)));
    check.push_back(std::make_unique<wabt::CompareExpr>(wabt::Opcode::I64LtS));
    auto branch = std::make_unique<wabt::IfExpr>();
    branch->true_.exprs.push_back(std::make_unique<wabt::CallExpr>(wabt::Var(kFuelFuncVar, {})));
    check.push_back(std::move(branch));
    exprs.splice(exprs.begin(), check);
  }

  // Every list of the function, each once, with a stack of its own (nesting
  // is bounded by kMaxBlockNesting, not by the thread's stack).
  void visit(wabt::ExprList& root) {
    std::vector<wabt::ExprList*> pending{&root};
    while (!pending.empty()) {
      wabt::ExprList& exprs = *pending.back();
      pending.pop_back();
      for (auto it = exprs.begin(); it != exprs.end(); ++it) {
        wabt::Expr& expr = *it;
        note_state_hazard(expr);
        switch (expr.type()) {
          case wabt::ExprType::CallIndirect:
            // wabt 1.0.32 (Thread::DoCall) does not stop when a call_indirect
            // finds the call stack full: it records the trap but carries on
            // after the call with the arguments left where the results belong.
            // The stack is still full right after such a call, so a direct
            // call to an empty function there traps as it should.
            it = exprs.insert(std::next(it),
                              std::make_unique<wabt::CallExpr>(wabt::Var(kStackProbeVar, {})));
            probes = true;
            break;
          case wabt::ExprType::MemoryCopy: {
            auto* copy = wabt::cast<wabt::MemoryCopyExpr>(&expr);
            if (is_64(copy->srcmemidx) || is_64(copy->destmemidx)) break;
            charge_length(exprs, it, kBulkMemoryShift);
            break;
          }
          case wabt::ExprType::MemoryFill:
            if (is_64(wabt::cast<wabt::MemoryFillExpr>(&expr)->memidx)) break;
            charge_length(exprs, it, kBulkMemoryShift);
            break;
          case wabt::ExprType::MemoryInit:
            if (is_64(wabt::cast<wabt::MemoryInitExpr>(&expr)->memidx)) break;
            charge_length(exprs, it, kBulkMemoryShift);
            break;
          case wabt::ExprType::TableCopy:
          case wabt::ExprType::TableFill:
          case wabt::ExprType::TableInit:
            charge_length(exprs, it, kBulkTableShift);
            break;
          case wabt::ExprType::MemoryGrow: {
            // memory.grow of a 32-bit memory becomes a call of the engine's
            // grow function: same operand, same result, the instance's
            // memory limit applies to all its memories together, and the
            // embedder learns of every growth and every refusal. Memory 0
            // has a function of its own; any other passes its index.
            const wabt::Index index =
                module_.GetMemoryIndex(wabt::cast<wabt::MemoryGrowExpr>(&expr)->memidx);
            if (index >= module_.memories.size() || is_64_at(index)) break;
            it = exprs.erase(it);
            if (index == 0) {
              it = exprs.insert(it,
                                std::make_unique<wabt::CallExpr>(wabt::Var(kMemoryGrowVar, {})));
              ++grows;
            } else {
              it = exprs.insert(it, std::make_unique<wabt::CallExpr>(
                                        wabt::Var(kMemoryGrowAtVar, {})));
              it = exprs.insert(it, std::make_unique<wabt::ConstExpr>(wabt::Const::I32(index)));
              ++it;
              ++grows_at;
            }
            break;
          }
          case wabt::ExprType::Block:
          case wabt::ExprType::If:
          case wabt::ExprType::Try:
            push_nested(expr, pending);
            break;
          case wabt::ExprType::Loop: {
            // The body's cost is counted before anything is inserted into
            // it; the check put first in it is walked with it, harmlessly.
            auto& body = wabt::cast<wabt::LoopExpr>(&expr)->block.exprs;
            prepend_check(body, region_cost(body) + 1);
            pending.push_back(&body);
            break;
          }
          default:
            break;
        }
      }
    }
  }

  void instrument(wabt::Func& func) {
    func_ = &func;
    length_local_.reset();
    uint64_t cost = region_cost(func.exprs) + 1;
    visit(func.exprs);
    prepend_check(func.exprs, cost);
  }

  // Bulk memory and table instructions do work in proportion to their length
  // operand, so one instruction must not cost one unit of fuel: its length
  // (the i32 on top of the stack) is kept in a local and charged right after
  // the instruction, shifted right by `shift` (one unit per 2^shift bytes or
  // elements), and checked. After, not before: the instruction checks its
  // bounds first, so a range outside the memory or table traps at once as the
  // specification requires, whatever its length, instead of being charged a
  // length it never works through (and ending out of fuel); a range inside
  // does work bounded by the size of the memory or table, which the
  // instance's limits bound.
  //   local.tee $len  <instruction>
  //   global.get $fuel  local.get $len  i64.extend_i32_u  i64.const shift
  //   i64.shr_u  i64.sub  global.set $fuel
  //   global.get $fuel  i64.const 0  i64.lt_s  if call $fuel_exhausted end
  void charge_length(wabt::ExprList& exprs, wabt::ExprList::iterator at, uint64_t shift) {
    if (!length_local_) {
      length_local_ = func_->GetNumParamsAndLocals();
      func_->local_types.AppendDecl(wabt::Type::I32, 1);
    }
    const wabt::Var len(*length_local_, {});
    exprs.insert(at, std::make_unique<wabt::LocalTeeExpr>(len));
    wabt::ExprList charge;
    charge.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(kFuelGlobalVar, {})));
    charge.push_back(std::make_unique<wabt::LocalGetExpr>(len));
    charge.push_back(std::make_unique<wabt::ConvertExpr>(wabt::Opcode::I64ExtendI32U));
    charge.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(shift)));
    charge.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64ShrU));
    charge.push_back(std::make_unique<wabt::BinaryExpr>(wabt::Opcode::I64Sub));
    charge.push_back(std::make_unique<wabt::GlobalSetExpr>(wabt::Var(kFuelGlobalVar, {})));
    charge.push_back(std::make_unique<wabt::GlobalGetExpr>(wabt::Var(kFuelGlobalVar, {})));
    charge.push_back(std::make_unique<wabt::ConstExpr>(wabt::Const::I64(0)));
    charge.push_back(std::make_unique<wabt::CompareExpr>(wabt::Opcode::I64LtS));
    auto branch = std::make_unique<wabt::IfExpr>();
    branch->true_.exprs.push_back(std::make_unique<wabt::CallExpr>(wabt::Var(kFuelFuncVar, {})));
    charge.push_back(std::move(branch));
    exprs.splice(std::next(at), charge);
    ++bulk_sites;
  }

  uint32_t bulk_sites = 0;

 private:
  // Tables and the dropped state of segments are not carried by
  // Instance::save_state; a module that can change them is not transferable.
  void note_state_hazard(const wabt::Expr& expr) {
    if (!state_hazard.empty()) return;
    switch (expr.type()) {
      case wabt::ExprType::TableSet:
      case wabt::ExprType::TableGrow:
      case wabt::ExprType::TableFill:
      case wabt::ExprType::TableCopy:
      case wabt::ExprType::TableInit:
      case wabt::ExprType::ElemDrop:
        state_hazard = "it changes its tables (table.set, table.grow, table.fill, table.copy, "
                       "table.init or elem.drop)";
        break;
      case wabt::ExprType::DataDrop:
      case wabt::ExprType::MemoryInit:
        state_hazard = "it uses passive data segments (memory.init or data.drop)";
        break;
      default:
        break;
    }
  }

  bool is_64_at(wabt::Index index) const {
    return index < module_.memories.size() && module_.memories[index]->page_limits.is_64;
  }
  bool is_64(const wabt::Var& memory) const { return is_64_at(module_.GetMemoryIndex(memory)); }

  const wabt::Module& module_;
  wabt::Func* func_ = nullptr;
  std::optional<wabt::Index> length_local_;  // the function's extra i32 local, once added
};

std::string format_errors(const wabt::Errors& errors) {
  return wabt::FormatErrorsToString(errors, wabt::Location::Type::Binary);
}

wabt::Index find_or_add_func_type(wabt::Module& module, const wabt::TypeVector& params,
                                  const wabt::TypeVector& results) {
  for (wabt::Index i = 0; i < module.types.size(); ++i) {
    auto* type = wabt::dyn_cast<wabt::FuncType>(module.types[i]);
    if (type && type->sig.param_types == params && type->sig.result_types == results) return i;
  }
  auto field = std::make_unique<wabt::TypeModuleField>();
  auto type = std::make_unique<wabt::FuncType>();
  type->sig.param_types = params;
  type->sig.result_types = results;
  field->type = std::move(type);
  module.AppendField(std::move(field));
  return static_cast<wabt::Index>(module.types.size() - 1);
}

wabt::Index find_or_add_empty_func_type(wabt::Module& module) {
  return find_or_add_func_type(module, {}, {});
}

template <class T>
void rebind(wabt::BindingHash& bindings, const std::vector<T*>& items) {
  bindings.clear();
  for (wabt::Index i = 0; i < items.size(); ++i) {
    if (!items[i]->name.empty()) bindings.emplace(items[i]->name, wabt::Binding(i));
  }
}

// Why an instance's state is more than its first memory and its mutable
// globals of number types (empty when it is not).
std::string module_state_hazard(const wabt::Module& module) {
  if (module.num_memory_imports + module.num_table_imports + module.num_global_imports > 0) {
    return "it imports a memory, a table or a global";
  }
  if (module.memories.size() > 1) return "it has more than one memory";
  if (!module.memories.empty() && module.memories[0]->page_limits.is_64) {
    return "its memory is a 64-bit memory";
  }
  for (const auto* g : module.globals) {
    if (g->mutable_ && (g->type.IsRef() || g->type == wabt::Type::V128)) {
      return "it has a mutable global that holds a reference or a vector";
    }
  }
  return {};
}

}  // namespace

Result<void> check_well_formed(std::span<const uint8_t> bytes, const wabt::Features& features,
                               ModuleNotes* notes) {
  // The module without its names: any problem outside a custom section is
  // fatal, one inside a custom section is a warning and skips that section.
  wabt::ReadBinaryOptions options(features, nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/false);
  StructureChecker checker;
  // An error outside a custom section's contents fails the module even where
  // the reader carries on past it: a custom section's name (malformed UTF-8,
  // a length past the end) is part of the binary format, not of the section.
  const bool decoded =
      wabt::Succeeded(wabt::ReadBinary(bytes.data(), bytes.size(), &checker, options));
  if (!decoded || !checker.message().empty()) {
    if (checker.too_deep()) {
      return make_error(ErrorCode::ModuleTooComplex,
                        fmt::format("{:#x}: function {} nests blocks deeper than {} levels, "
                                    "the most the engine accepts",
                                    checker.offset(), checker.func(), kMaxBlockNesting));
    }
    return make_error(ErrorCode::MalformedModule, checker.message());
  }
  notes->warnings = std::move(checker.warnings());
  // Then the names alone (function bodies skipped): a name section that
  // cannot be read is dropped whole, and backtraces use function indices.
  wabt::ReadBinaryOptions name_options(features, nullptr, /*read_debug_names=*/true,
                                       /*stop_on_first_error=*/false,
                                       /*fail_on_custom_section_error=*/false);
  name_options.skip_function_bodies = true;
  std::vector<std::string> names;
  NameCollector collector(&names);
  const bool read = wabt::Succeeded(wabt::ReadBinary(bytes.data(), bytes.size(), &collector,
                                                     name_options));
  if (read && collector.problem().empty()) {
    notes->func_names = std::move(names);
  } else {
    notes->func_names.clear();
    notes->warnings.push_back(fmt::format(
        "{}; the name section is ignored and backtraces show function indices",
        collector.problem().empty() ? std::string("name section: unreadable")
                                    : collector.problem()));
  }
  return {};
}

bool run_on_large_stack(const std::function<void()>& fn) {
  // Virtual address space only: pages are committed as the stack is used.
  constexpr size_t kStackBytes = size_t{256} << 20;
  struct Job {
    const std::function<void()>* fn;
    std::exception_ptr error;
  } job{&fn, nullptr};
  pthread_attr_t attr;
  if (::pthread_attr_init(&attr) != 0) return false;
  ::pthread_attr_setstacksize(&attr, kStackBytes);
  pthread_t thread;
  const int started = ::pthread_create(
      &thread, &attr,
      [](void* arg) -> void* {
        auto* j = static_cast<Job*>(arg);
        try {
          (*j->fn)();
        } catch (...) {
          j->error = std::current_exception();
        }
        return nullptr;
      },
      &job);
  ::pthread_attr_destroy(&attr);
  if (started != 0) return false;
  ::pthread_join(thread, nullptr);
  if (job.error) std::rethrow_exception(job.error);
  return true;
}

namespace {

Result<MeteredModule> add_metering_here(std::span<const uint8_t> original,
                                        const wabt::Features& features) {
  MeteredModule out;
  wabt::Errors errors;
  wabt::Module module;
  wabt::ReadBinaryOptions read_options(features, nullptr, /*read_debug_names=*/false,
                                       /*stop_on_first_error=*/true, false);
  if (wabt::Failed(wabt::ReadBinaryIr("module", original.data(), original.size(), read_options,
                                      &errors, &module))) {
    return make_error(ErrorCode::MalformedModule, format_errors(errors));
  }
  if (wabt::Failed(wabt::GenerateNames(&module))) {
    return make_error(ErrorCode::InternalError, "metering: naming pass failed");
  }
  // ApplyNames looks up the table and memory of every segment, even of a
  // passive one in a module that has neither; unnamed stand-ins satisfy that
  // lookup and are taken out again right after it.
  wabt::Table stand_in_table("");
  wabt::Memory stand_in_memory("");
  const bool table_stand_in = module.tables.empty();
  const bool memory_stand_in = module.memories.empty();
  if (table_stand_in) module.tables.push_back(&stand_in_table);
  if (memory_stand_in) module.memories.push_back(&stand_in_memory);
  const bool applied = wabt::Succeeded(wabt::ApplyNames(&module));
  if (table_stand_in) module.tables.pop_back();
  if (memory_stand_in) module.memories.pop_back();
  if (!applied) return make_error(ErrorCode::InternalError, "metering: naming pass failed");

  out.state_hazard = module_state_hazard(module);

  wabt::Index empty_type = find_or_add_empty_func_type(module);

  // The fuel function goes after the last imported function, the fuel global
  // after the last imported global; names keep every reference correct.
  auto func_import = std::make_unique<wabt::FuncImport>(kFuelFuncVar);
  func_import->module_name = std::string(kReservedModule);
  func_import->field_name = kFuelExhaustedName;
  func_import->func.decl.has_func_type = true;
  func_import->func.decl.type_var = wabt::Var(empty_type, {});
  func_import->func.decl.sig = wabt::FuncSignature();
  out.fuel_import_index = module.num_func_imports;
  module.funcs.insert(module.funcs.begin() + module.num_func_imports, &func_import->func);
  ++module.num_func_imports;
  module.imports.push_back(func_import.get());
  module.fields.push_back(std::make_unique<wabt::ImportModuleField>(std::move(func_import)));

  auto global_import = std::make_unique<wabt::GlobalImport>(kFuelGlobalVar);
  global_import->module_name = std::string(kReservedModule);
  global_import->field_name = kFuelGlobalName;
  global_import->global.type = wabt::Type::I64;
  global_import->global.mutable_ = true;
  module.globals.insert(module.globals.begin() + module.num_global_imports,
                        &global_import->global);
  ++module.num_global_imports;
  module.imports.push_back(global_import.get());
  module.fields.push_back(std::make_unique<wabt::ImportModuleField>(std::move(global_import)));

  rebind(module.func_bindings, module.funcs);
  rebind(module.global_bindings, module.globals);

  Instrumenter instrumenter(module);
  for (wabt::Index i = module.num_func_imports; i < module.funcs.size(); ++i) {
    instrumenter.instrument(*module.funcs[i]);
  }
  if (out.state_hazard.empty()) out.state_hazard = std::move(instrumenter.state_hazard);
  out.metering_sites = instrumenter.sites;
  out.grow_sites = instrumenter.grows + instrumenter.grows_at;
  // Right after the fuel function; every reference is by name, so the
  // functions after them move without harm.
  auto add_grow_import = [&](const char* var, const char* name, wabt::TypeVector params) {
    wabt::Index grow_type = find_or_add_func_type(module, params, {wabt::Type::I32});
    auto grow_import = std::make_unique<wabt::FuncImport>(var);
    grow_import->module_name = std::string(kReservedModule);
    grow_import->field_name = name;
    grow_import->func.decl.has_func_type = true;
    grow_import->func.decl.type_var = wabt::Var(grow_type, {});
    grow_import->func.decl.sig.param_types = params;
    grow_import->func.decl.sig.result_types = {wabt::Type::I32};
    module.funcs.insert(module.funcs.begin() + module.num_func_imports, &grow_import->func);
    ++module.num_func_imports;
    ++out.reserved_func_imports;
    module.imports.push_back(grow_import.get());
    module.fields.push_back(std::make_unique<wabt::ImportModuleField>(std::move(grow_import)));
    rebind(module.func_bindings, module.funcs);
  };
  if (instrumenter.grows > 0) add_grow_import(kMemoryGrowVar, kMemoryGrowName, {wabt::Type::I32});
  if (instrumenter.grows_at > 0) {
    add_grow_import(kMemoryGrowAtVar, kMemoryGrowAtName, {wabt::Type::I32, wabt::Type::I32});
  }
  if (instrumenter.probes) {
    // Appended after every other function, so no index moves.
    auto probe = std::make_unique<wabt::FuncModuleField>(wabt::Location(), kStackProbeVar);
    probe->func.decl.has_func_type = true;
    probe->func.decl.type_var = wabt::Var(empty_type, {});
    module.AppendField(std::move(probe));
  }

  if (wabt::Failed(wabt::ResolveNamesModule(&module, &errors))) {
    return make_error(ErrorCode::InternalError,
                      fmt::format("metering: name resolution failed: {}", format_errors(errors)));
  }

  wabt::MemoryStream stream;
  wabt::WriteBinaryOptions write_options(features, /*canonicalize_lebs=*/true,
                                         /*relocatable=*/false, /*write_debug_names=*/false);
  if (wabt::Failed(wabt::WriteBinaryModule(&stream, &module, write_options))) {
    return make_error(ErrorCode::InternalError, "metering: writing the rewritten module failed");
  }
  out.bytes = std::move(stream.output_buffer().data);
  return out;
}

}  // namespace

Result<MeteredModule> add_metering(std::span<const uint8_t> original,
                                   const wabt::Features& features) {
  // The module's IR is built, written and destroyed by recursive code of the
  // toolkit: on a stack of its own, sized for kMaxBlockNesting.
  std::optional<Result<MeteredModule>> out;
  if (!run_on_large_stack([&] { out.emplace(add_metering_here(original, features)); })) {
    return make_error(ErrorCode::InternalError, "metering: cannot start the metering thread");
  }
  return std::move(*out);
}

}  // namespace airssys::wasm::engine::detail
