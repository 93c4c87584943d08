#include "airssys/wasm/engine/engine.hpp"

#include "backend_support.hpp"
#include "state.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

namespace airssys::wasm::engine {

const char* val_type_name(ValType type) {
  switch (type) {
    case ValType::I32: return "i32";
    case ValType::I64: return "i64";
    case ValType::F32: return "f32";
    case ValType::F64: return "f64";
    case ValType::V128: return "v128";
    case ValType::FuncRef: return "funcref";
    case ValType::ExternRef: return "externref";
  }
  return "?";
}

const char* extern_kind_name(ExternKind kind) {
  switch (kind) {
    case ExternKind::Func: return "func";
    case ExternKind::Table: return "table";
    case ExternKind::Memory: return "memory";
    case ExternKind::Global: return "global";
    case ExternKind::Tag: return "tag";
  }
  return "?";
}

std::string ExternType::to_string() const {
  auto range = [](const ExternLimits& l) {
    return l.max ? fmt::format("{}..{}", l.initial, *l.max) : fmt::format("{}..", l.initial);
  };
  switch (kind) {
    case ExternKind::Func:
    case ExternKind::Tag: return sig.to_string();
    case ExternKind::Global:
      return fmt::format("{}{}", mutable_global ? "mut " : "", val_type_name(value));
    case ExternKind::Table: return fmt::format("{} {}", val_type_name(value), range(limits));
    case ExternKind::Memory: return range(limits) + " pages";
  }
  return "?";
}

std::string Value::to_string() const {
  switch (type_) {
    case ValType::I32: return fmt::format("i32:{}", as_i32());
    case ValType::I64: return fmt::format("i64:{}", as_i64());
    case ValType::F32: return fmt::format("f32:{}", as_f32());
    case ValType::F64: return fmt::format("f64:{}", as_f64());
    case ValType::V128: {
      std::string out = "v128:";
      for (auto b : as_v128().bytes) out += fmt::format("{:02x}", b);
      return out;
    }
    case ValType::FuncRef:
    case ValType::ExternRef: {
      auto r = as_ref();
      return r.is_null ? fmt::format("{}:null", val_type_name(type_))
                       : fmt::format("{}:{}", val_type_name(type_), r.handle);
    }
  }
  return "?";
}

std::string FuncSig::to_string() const {
  auto list = [](const std::vector<ValType>& types) {
    std::string out = "(";
    for (size_t i = 0; i < types.size(); ++i) {
      if (i) out += ", ";
      out += val_type_name(types[i]);
    }
    return out + ")";
  };
  return list(params) + " -> " + list(results);
}

Result<uint32_t> HostCall::read_u32(uint64_t offset) {
  AIRSSYS_TRY_ASSIGN(auto bytes, memory(offset, 4));
  uint32_t v;
  std::memcpy(&v, bytes.data(), 4);
  return v;
}

Result<uint64_t> HostCall::read_u64(uint64_t offset) {
  AIRSSYS_TRY_ASSIGN(auto bytes, memory(offset, 8));
  uint64_t v;
  std::memcpy(&v, bytes.data(), 8);
  return v;
}

Result<void> HostCall::write_u32(uint64_t offset, uint32_t value) {
  AIRSSYS_TRY_ASSIGN(auto bytes, memory(offset, 4));
  std::memcpy(bytes.data(), &value, 4);
  return {};
}

Result<void> HostCall::write_u64(uint64_t offset, uint64_t value) {
  AIRSSYS_TRY_ASSIGN(auto bytes, memory(offset, 8));
  std::memcpy(bytes.data(), &value, 8);
  return {};
}

void Linker::define(HostFunction function) {
  for (auto& f : functions_) {
    if (f.module == function.module && f.name == function.name) {
      f = std::move(function);
      return;
    }
  }
  functions_.push_back(std::move(function));
}

void Linker::define_instance(std::string module_name, std::shared_ptr<Instance> instance) {
  for (auto& [name, inst] : instances_) {
    if (name == module_name) {
      inst = std::move(instance);
      return;
    }
  }
  instances_.emplace_back(std::move(module_name), std::move(instance));
}

const HostFunction* Linker::find_function(std::string_view module, std::string_view name) const {
  for (const auto& f : functions_) {
    if (f.module == module && f.name == name) return &f;
  }
  return nullptr;
}

void Linker::define_export(std::string module, std::string name,
                           std::shared_ptr<Instance> instance, std::string export_name) {
  for (auto& e : exports_) {
    if (e.module == module && e.name == name) {
      e.instance = std::move(instance);
      e.export_name = std::move(export_name);
      return;
    }
  }
  exports_.push_back({std::move(module), std::move(name), std::move(instance),
                      std::move(export_name)});
}

const Linker::ExportAlias* Linker::find_export(std::string_view module,
                                               std::string_view name) const {
  for (const auto& e : exports_) {
    if (e.module == module && e.name == name) return &e;
  }
  return nullptr;
}

const Instance* Linker::find_instance(std::string_view module) const {
  for (const auto& [name, inst] : instances_) {
    if (name == module) return inst.get();
  }
  return nullptr;
}

namespace {
std::atomic<uint64_t> last_instance_id{0};
}  // namespace

Instance::Instance() : id_(last_instance_id.fetch_add(1, std::memory_order_relaxed) + 1) {}

Result<uint32_t> Instance::export_index(ExportHandle handle) const {
  const auto& exports = module().exports();
  if (handle.instance != id_) {
    return make_error(ErrorCode::InvalidHandle,
                      handle.instance == 0
                          ? std::string("the export handle was never resolved")
                          : fmt::format("the export handle was resolved by instance {}, not by "
                                        "this one ({}) of module '{}'",
                                        handle.instance, id_, module().name()));
  }
  if (handle.index >= exports.size() || exports[handle.index].kind != ExternKind::Func) {
    return make_error(ErrorCode::InvalidHandle,
                      fmt::format("module '{}' has no function export at index {}",
                                  module().name(), handle.index));
  }
  return handle.index;
}

Result<std::vector<Value>> Instance::call(std::string_view export_name,
                                          std::span<const Value> args,
                                          const CallOptions& options) {
  AIRSSYS_TRY_ASSIGN(auto handle, resolve(export_name));
  return call(handle, args, options);
}

Result<std::unique_ptr<Call>> Instance::start_call(std::string_view export_name,
                                                   std::span<const Value> args,
                                                   const CallOptions& options) {
  AIRSSYS_TRY_ASSIGN(auto handle, resolve(export_name));
  return start_call(handle, args, options);
}

Result<std::vector<uint8_t>> read_module_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("{} is a directory, not a module", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::IoError, fmt::format("cannot open {}", path.string()));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error(ErrorCode::IoError, fmt::format("cannot read {}", path.string()));
  return bytes;
}

Result<std::shared_ptr<const Module>> Engine::load_file(const std::filesystem::path& path) {
  AIRSSYS_TRY_ASSIGN(const auto bytes, read_module_file(path));
  std::string name = path.filename().string();
  if (path.extension() == ".wat") {
    return load_wat(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    name);
  }
  return load(bytes, name);
}

namespace detail {

Result<uint64_t> check_saved_state(const InstanceState& saved, std::string_view module,
                                   size_t globals, bool has_memory, uint64_t memory_bytes) {
  if (saved.globals.size() != globals) {
    return make_error(ErrorCode::StateNotTransferable,
                      fmt::format("module '{}': the saved state has {} mutable globals, the module "
                                  "{}",
                                  module, saved.globals.size(), globals));
  }
  const uint64_t size = saved.memory.size();
  if (size % kWasmPageSize != 0 || size < memory_bytes || (!has_memory && size != 0)) {
    return make_error(ErrorCode::StateNotTransferable,
                      fmt::format("module '{}': the saved memory of {} bytes does not fit a memory "
                                  "of {} bytes",
                                  module, size, memory_bytes));
  }
  return (size - memory_bytes) / kWasmPageSize;
}

Error saved_memory_over_limit(std::string_view module, uint64_t bytes) {
  return Error::of(ErrorCode::LimitExceeded,
                   fmt::format("module '{}': the saved memory of {} is over the instance's memory "
                               "limit",
                               module, format_byte_size(bytes)));
}

Result<std::vector<uint32_t>> table_caps(std::string_view module,
                                         std::span<const ExternLimits> tables,
                                         const InstanceLimits& limits) {
  const uint64_t by_memory = limits.max_memory_bytes / kTableElementBytes;
  const uint64_t budget = std::min<uint64_t>(limits.max_table_elements, by_memory);
  uint64_t initial = 0;
  for (const auto& t : tables) initial += t.initial;
  if (initial > budget) {
    const std::string what =
        tables.size() == 1 ? "its table starts" : fmt::format("its {} tables start", tables.size());
    if (budget == by_memory) {
      return make_error(ErrorCode::LimitExceeded,
                        fmt::format("module '{}': {} with {} elements ({}), over the {} elements "
                                    "the instance's memory limit of {} allows its tables "
                                    "({} bytes an element)",
                                    module, what, initial,
                                    format_byte_size(initial * kTableElementBytes), budget,
                                    format_byte_size(limits.max_memory_bytes),
                                    kTableElementBytes));
    }
    return make_error(ErrorCode::LimitExceeded,
                      fmt::format("module '{}': {} with {} elements, over the instance's limit "
                                  "of {} table elements",
                                  module, what, initial, budget));
  }
  std::vector<uint32_t> caps(tables.size());
  std::vector<uint64_t> want(tables.size());  // how much more each may still be given
  std::vector<size_t> open;                  // the tables that may be given more
  for (size_t i = 0; i < tables.size(); ++i) {
    caps[i] = static_cast<uint32_t>(tables[i].initial);
    const uint64_t max = std::min<uint64_t>(tables[i].max.value_or(UINT32_MAX), UINT32_MAX);
    want[i] = max > tables[i].initial ? max - tables[i].initial : 0;
    if (want[i] > 0) open.push_back(i);
  }
  uint64_t room = budget - initial;
  while (room > 0 && !open.empty()) {
    const uint64_t share = room / open.size();
    if (share == 0) {
      // Fewer elements left than tables that want them: one each, in order.
      for (size_t i = 0; i < room; ++i) ++caps[open[i]];
      break;
    }
    std::vector<size_t> still_open;
    for (size_t i : open) {
      const uint64_t given = std::min(want[i], share);
      caps[i] += static_cast<uint32_t>(given);
      want[i] -= given;
      room -= given;
      if (want[i] > 0) still_open.push_back(i);
    }
    open = std::move(still_open);
  }
  return caps;
}

}  // namespace detail

}  // namespace airssys::wasm::engine
