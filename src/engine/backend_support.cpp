#include "backend_support.hpp"

#include <cstring>

#include <fmt/format.h>

namespace airssys::wasm::engine::detail {

ValType from_wabt(wabt::Type type) {
  switch (type) {
    case wabt::Type::I32: return ValType::I32;
    case wabt::Type::I64: return ValType::I64;
    case wabt::Type::F32: return ValType::F32;
    case wabt::Type::F64: return ValType::F64;
    case wabt::Type::V128: return ValType::V128;
    case wabt::Type::FuncRef: return ValType::FuncRef;
    default: return ValType::ExternRef;
  }
}

wabt::Type to_wabt(ValType type) {
  switch (type) {
    case ValType::I32: return wabt::Type::I32;
    case ValType::I64: return wabt::Type::I64;
    case ValType::F32: return wabt::Type::F32;
    case ValType::F64: return wabt::Type::F64;
    case ValType::V128: return wabt::Type::V128;
    case ValType::FuncRef: return wabt::Type::FuncRef;
    case ValType::ExternRef: return wabt::Type::ExternRef;
  }
  return wabt::Type::I32;
}

FuncSig sig_from_wabt(std::span<const wabt::Type> params, std::span<const wabt::Type> results) {
  FuncSig sig;
  for (auto t : params) sig.params.push_back(from_wabt(t));
  for (auto t : results) sig.results.push_back(from_wabt(t));
  return sig;
}

Result<void> ModuleBase::state_transferable() const {
  if (state_hazard_.empty()) return {};
  return make_error(ErrorCode::StateNotTransferable,
                    fmt::format("module '{}': its state cannot be moved to another instance: {}",
                                name_, state_hazard_));
}

std::string ModuleBase::function_frame(uint32_t index) const {
  if (index < func_names_.size() && !func_names_[index].empty()) {
    return fmt::format("{}!{}", name_, func_names_[index]);
  }
  return fmt::format("{}!func[{}]", name_, index);
}

namespace {

Result<uint32_t> find_export(std::string_view module, const ExportIndex& index,
                             std::string_view name) {
  auto it = index.find(name);
  if (it == index.end()) {
    return make_error(ErrorCode::MissingExport,
                      fmt::format("module '{}' has no export named '{}'", module, name));
  }
  return it->second;
}

}  // namespace

Result<uint32_t> function_export(std::string_view module, const ExportIndex& index,
                                 std::span<const ExportInfo> exports, std::string_view name) {
  auto k = find_export(module, index, name);
  if (!k) return k;
  if (exports[*k].kind != ExternKind::Func) {
    return make_error(ErrorCode::MissingExport,
                      fmt::format("export '{}' of module '{}' is not a function", name, module));
  }
  return k;
}

Result<uint32_t> global_export(std::string_view module, const ExportIndex& index,
                               std::span<const ExportInfo> exports, std::string_view name) {
  auto k = find_export(module, index, name);
  if (!k) return k;
  if (exports[*k].kind != ExternKind::Global) {
    return make_error(ErrorCode::MissingExport,
                      fmt::format("export '{}' is not a global", name));
  }
  return k;
}

Result<void> check_args(const ExportInfo& target, std::span<const Value> args) {
  const FuncSig& sig = target.sig;
  bool match = sig.params.size() == args.size();
  for (size_t i = 0; match && i < args.size(); ++i) match = args[i].type() == sig.params[i];
  if (!match) {
    FuncSig given;
    for (const auto& a : args) given.params.push_back(a.type());
    return make_error(ErrorCode::SignatureMismatch,
                      fmt::format("export '{}' takes {}, but was called with ({})", target.name,
                                  sig.to_string(),
                                  given.to_string().substr(0, given.to_string().find(" ->"))));
  }
  return {};
}

std::unexpected<Error> reentrant_call() {
  return make_error(ErrorCode::CallInProgress,
                    "a call is already running on this store (re-entrant calls are refused)");
}

std::unexpected<Error> nested_call_elsewhere() {
  return make_error(ErrorCode::InvalidArgument,
                    "a nested call may only call an instance of the caller's own store");
}

std::unexpected<Error> nested_results_mismatch(size_t returned, size_t room) {
  return make_error(ErrorCode::SignatureMismatch,
                    fmt::format("a nested call has room for {} results of an export that "
                                "returns {}",
                                room, returned));
}

std::unexpected<Error> nested_call_outside_call() {
  return make_error(ErrorCode::InternalError,
                    "a nested call was made while no call of its store is running");
}

std::unexpected<Error> nested_calls_too_deep() {
  return make_error(ErrorCode::TrapCallStackExhausted,
                    fmt::format("nested calls between instances go deeper than {}",
                                kMaxNestedCalls));
}

Error no_memory_export(std::string_view module, std::string_view name) {
  return Error{ErrorCode::MissingExport,
               fmt::format("module '{}' exports no memory named '{}'", module, name), {}, 0};
}

std::string export_not_found(std::string_view import, std::string_view module, bool aliased,
                             std::string_view export_name) {
  if (aliased) {
    return fmt::format("import {}: the instance bound to it exports nothing named '{}'", import,
                       export_name);
  }
  return fmt::format("import {}: module '{}' exports nothing by that name", import, module);
}

std::unexpected<Error> instantiate_during_call() {
  return make_error(ErrorCode::CallInProgress, "cannot instantiate while a call is running");
}

std::unexpected<Error> resume_inside_call() {
  return make_error(ErrorCode::CallInProgress,
                    "another call is running on this store; resume it from outside");
}

std::unexpected<Error> memories_over_limit(std::string_view module, size_t index,
                                           uint64_t initial, uint64_t total,
                                           uint64_t limit_bytes) {
  if (index == 0 || total == initial) {
    return make_error(ErrorCode::LimitExceeded,
                      fmt::format("module '{}': memory {} starts at {} pages ({}), over the "
                                  "instance's memory limit of {}",
                                  module, index, initial, format_byte_size(initial * kWasmPageSize),
                                  format_byte_size(limit_bytes)));
  }
  return make_error(ErrorCode::LimitExceeded,
                    fmt::format("module '{}': its memories 0 to {} start at {} pages ({}) "
                                "together, over the instance's memory limit of {}",
                                module, index, total, format_byte_size(total * kWasmPageSize),
                                format_byte_size(limit_bytes)));
}

bool grow_allowed(const MemoryGrowGate& gate, bool defined, uint64_t memory_pages,
                  uint64_t defined_pages, uint64_t delta, uint64_t page_cap) {
  const uint64_t before = defined ? defined_pages : memory_pages;
  if (defined && before + delta > page_cap) return false;
  return !gate || gate(before * kWasmPageSize, (before + delta) * kWasmPageSize);
}

namespace {

Result<uint8_t*> memory_range(uint8_t* data, uint64_t size, uint64_t offset, uint64_t length) {
  if (offset > size || length > size - offset) {
    return make_error(ErrorCode::TrapMemoryOutOfBounds,
                      fmt::format("range [{}, {}+{}) is outside memory of {} bytes", offset,
                                  offset, length, size));
  }
  return data + offset;
}

}  // namespace

Result<void> write_memory_at(uint8_t* data, uint64_t size, uint64_t offset,
                             std::span<const uint8_t> bytes) {
  AIRSSYS_TRY_ASSIGN(auto range, memory_range(data, size, offset, bytes.size()));
  if (!bytes.empty()) std::memcpy(range, bytes.data(), bytes.size());
  return {};
}

Result<std::vector<uint8_t>> read_memory_at(uint8_t* data, uint64_t size, uint64_t offset,
                                            uint64_t length) {
  AIRSSYS_TRY_ASSIGN(auto range, memory_range(data, size, offset, length));
  return std::vector<uint8_t>(range, range + length);
}

Result<std::span<uint8_t>> guest_range(uint8_t* data, uint64_t size, uint64_t offset,
                                       uint64_t length) {
  if (offset > size || length > size - offset) {
    return make_error(ErrorCode::TrapMemoryOutOfBounds,
                      fmt::format("host call: guest range [{}, {}+{}) is outside memory of {} "
                                  "bytes",
                                  offset, offset, length, size));
  }
  return std::span<uint8_t>(data + offset, length);
}

}  // namespace airssys::wasm::engine::detail
