// A component's imports and exports printed as WIT.

#include "airssys/wasm/cm/wit.hpp"

#include <fmt/format.h>

#include <map>

namespace airssys::wasm::cm {
namespace {

// The names resource ids have in the scope of one extern: its own name for a
// resource import or export, the export name inside an instance type.
using ResourceNames = std::map<uint64_t, std::string>;

std::string type_text(const TypeRef& t, const ResourceNames& names);

std::string type_text(const ValType& t, const ResourceNames& names) {
  auto sub = [&](const TypeRef& x) { return type_text(x, names); };
  switch (t.kind) {
    case Kind::Own:
    case Kind::Borrow: {
      auto it = names.find(t.resource);
      std::string name = it != names.end() ? it->second : fmt::format("resource-{}", t.resource);
      return t.kind == Kind::Own ? name : fmt::format("borrow<{}>", name);
    }
    case Kind::List: return fmt::format("list<{}>", sub(t.element));
    case Kind::Option: return fmt::format("option<{}>", sub(t.element));
    case Kind::Result:
      if (!t.ok && !t.err) return "result";
      if (!t.err) return fmt::format("result<{}>", sub(t.ok));
      return fmt::format("result<{}, {}>", sub(t.ok), sub(t.err));
    case Kind::Tuple: {
      std::string out = "tuple<";
      for (size_t i = 0; i < t.items.size(); ++i) out += (i ? ", " : "") + sub(t.items[i]);
      return out + ">";
    }
    case Kind::Record: {
      std::string out = "record { ";
      for (size_t i = 0; i < t.fields.size(); ++i) {
        out += fmt::format("{}{}: {}", i ? ", " : "", t.fields[i].name, sub(t.fields[i].type));
      }
      return out + " }";
    }
    case Kind::Variant: {
      std::string out = "variant { ";
      for (size_t i = 0; i < t.cases.size(); ++i) {
        out += (i ? ", " : "") + t.cases[i].name;
        if (t.cases[i].type) out += "(" + sub(t.cases[i].type) + ")";
      }
      return out + " }";
    }
    default: return t.to_string();
  }
}

std::string type_text(const TypeRef& t, const ResourceNames& names) {
  return t ? type_text(*t, names) : std::string("_");
}

std::string func_text(const FuncType& f, const ResourceNames& names) {
  std::string out = "func(";
  for (size_t i = 0; i < f.params.size(); ++i) {
    out += fmt::format("{}{}: {}", i ? ", " : "", f.params[i].name, type_text(f.params[i].type, names));
  }
  out += ")";
  if (f.result) out += " -> " + type_text(f.result, names);
  return out;
}

void name_resources(const InstanceType& type, ResourceNames& names) {
  for (const auto& e : type.exports) {
    if (e.desc.sort == Sort::Type && e.desc.type && e.desc.type->kind == DefType::Kind::Resource) {
      names[e.desc.type->resource] = e.name;
    }
  }
}

std::string extern_text(const std::string& name, const ExternDesc& d) {
  const bool interface = name.find(':') != std::string::npos && name.find('/') != std::string::npos;
  ResourceNames names;
  switch (d.sort) {
    case Sort::Func: return fmt::format("{}: {}", name, func_text(*d.func, names));
    case Sort::Instance: {
      if (interface) return name;
      name_resources(*d.instance, names);
      std::string out = fmt::format("{}: interface {{", name);
      for (const auto& e : d.instance->exports) {
        if (e.desc.sort == Sort::Func) {
          out += fmt::format(" {}: {};", e.name, func_text(*e.desc.func, names));
        } else if (e.desc.sort == Sort::Type && e.desc.type &&
                   e.desc.type->kind == DefType::Kind::Resource) {
          out += fmt::format(" resource {};", e.name);
        }
      }
      return out + " }";
    }
    case Sort::Type:
      if (d.type && d.type->kind == DefType::Kind::Resource) return fmt::format("{}: resource", name);
      if (d.type && d.type->value) return fmt::format("{}: type {}", name, type_text(d.type->value, names));
      return fmt::format("{}: type", name);
    case Sort::CoreModule: return fmt::format("{}: core module", name);
    case Sort::Component: return fmt::format("{}: component", name);
    default: return fmt::format("{}: {}", name, sort_name(d.sort));
  }
}

}  // namespace

std::vector<std::string> wit_lines(const Component& component) {
  std::vector<std::string> out;
  for (const auto& i : component.imports) out.push_back("import " + extern_text(i.name, i.desc) + ";");
  for (const auto& e : component.exports) out.push_back("export " + extern_text(e.name, e.desc) + ";");
  return out;
}

std::string to_wit_world(const Component& component, std::string_view name) {
  std::string out = fmt::format("world {} {{\n", name);
  for (const auto& line : wit_lines(component)) out += "  " + line + "\n";
  return out + "}\n";
}

}  // namespace airssys::wasm::cm
