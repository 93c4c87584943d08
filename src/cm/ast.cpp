// Names and look-ups of the decoded component tree.

#include "airssys/wasm/cm/ast.hpp"

namespace airssys::wasm::cm {

const char* sort_name(Sort sort) {
  switch (sort) {
    case Sort::CoreFunc: return "core func";
    case Sort::CoreTable: return "core table";
    case Sort::CoreMemory: return "core memory";
    case Sort::CoreGlobal: return "core global";
    case Sort::CoreTag: return "core tag";
    case Sort::CoreType: return "core type";
    case Sort::CoreModule: return "core module";
    case Sort::CoreInstance: return "core instance";
    case Sort::Func: return "func";
    case Sort::Value: return "value";
    case Sort::Type: return "type";
    case Sort::Component: return "component";
    case Sort::Instance: return "instance";
  }
  return "?";
}

const char* def_kind_name(DefKind kind) {
  switch (kind) {
    case DefKind::Module: return "core module";
    case DefKind::CoreInstance: return "core instance";
    case DefKind::CoreType: return "core type";
    case DefKind::Component: return "component";
    case DefKind::Instance: return "instance";
    case DefKind::Alias: return "alias";
    case DefKind::Type: return "type";
    case DefKind::Canon: return "canon";
    case DefKind::Start: return "start";
    case DefKind::Import: return "import";
    case DefKind::Export: return "export";
  }
  return "?";
}

const engine::ExportInfo* CoreInstanceType::find(std::string_view name) const {
  for (const auto& e : exports) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

const NamedExtern* InstanceType::find(std::string_view name) const {
  for (const auto& e : exports) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

size_t IndexSpaces::size(Sort sort) const {
  switch (sort) {
    case Sort::CoreFunc: return core_funcs.size();
    case Sort::CoreTable: return core_tables.size();
    case Sort::CoreMemory: return core_memories.size();
    case Sort::CoreGlobal: return core_globals.size();
    case Sort::CoreTag: return core_tags.size();
    case Sort::CoreType: return core_types.size();
    case Sort::CoreModule: return core_modules.size();
    case Sort::CoreInstance: return core_instances.size();
    case Sort::Func: return funcs.size();
    case Sort::Value: return 0;
    case Sort::Type: return types.size();
    case Sort::Component: return components.size();
    case Sort::Instance: return instances.size();
  }
  return 0;
}

}  // namespace airssys::wasm::cm
