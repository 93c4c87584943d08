// Instantiation of a decoded component: its definitions walked in binary
// order, each index space rebuilt with run-time items (core instances of the
// engine, lifted and lowered functions, resource types, nested component
// instances), and the calls of its exported functions.
//
// One frame per component instance (the top one and every nested one); the
// frames of a graph live as long as its ComponentInstance. Every core
// instance of the graph lives in one engine store, so calls between them
// (a lowered import that reaches a lifted export of another instance, a
// realloc while lowering) are nested calls of the running call
// (engine::HostCall::call) and spend its fuel.

#include <array>
#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "instance_impl.hpp"

namespace airssys::wasm::cm {
using namespace rt;  // NOLINT: the run-time items are this file's vocabulary
namespace {

std::unexpected<Error> link_error(ErrorCode code, const Component& c, std::string message) {
  return make_error(code, fmt::format("{}: {}", c.name, message));
}


Result<RtItem> host_item(const HostInstance::Item& item);

std::shared_ptr<const RtInstance> host_instance(const HostInstance& host) {
  auto out = std::make_shared<RtInstance>();
  for (const auto& [name, item] : host.items()) {
    auto rt = host_item(item);
    if (rt) out->exports.emplace_back(name, std::move(*rt));
  }
  return out;
}

Result<RtItem> host_item(const HostInstance::Item& item) {
  RtItem rt;
  rt.sort = item.sort;
  switch (item.sort) {
    case Sort::Func: {
      auto f = std::make_shared<Func>();
      f->type = *item.type;
      HostFn fn = item.fn;
      f->fn = [fn](InstanceState*, std::span<const Val> args) { return fn(args); };
      f->raw = item.raw;
      rt.func = std::move(f);
      return rt;
    }
    case Sort::Type: rt.type.resource = item.resource; return rt;
    case Sort::Instance: rt.instance = host_instance(*item.instance); return rt;
    default: return make_error(ErrorCode::InternalError, "a host item of an unknown sort");
  }
}

}  // namespace

// ------------------------------------------------------------ calls into core code

Result<std::vector<Value>> ComponentInstance::Impl::call_core(engine::Instance& instance,
                                                             engine::ExportHandle handle,
                                                             std::span<const Value> args) {
  if (exec.host_call) return exec.host_call->call(instance, handle, args);
  engine::CallOptions options = exec.options;
  if (options.fuel != engine::kUnlimitedFuel) {
    if (exec.budget_used >= options.fuel) {
      return make_error(ErrorCode::TrapOutOfFuel,
                        fmt::format("out of fuel: the call used its budget of {} instructions",
                                    options.fuel));
    }
    options.fuel -= exec.budget_used;
  }
  const uint64_t before = instance.fuel_used();
  auto r = instance.call(handle, args, options);
  const uint64_t used = instance.fuel_used() - before;
  exec.budget_used += used;
  exec.fuel_used += used;
  return r;
}

CoreFn ComponentInstance::Impl::core_function(const CoreItem& item) {
  if (item.host) return *item.host;
  auto instance = item.instance;
  auto handle = instance->resolve(item.name);
  if (!handle) {
    Error e = handle.error();
    return [e](std::span<const Value>) -> Result<std::vector<Value>> { return std::unexpected(e); };
  }
  return [this, instance, h = *handle](std::span<const Value> args) {
    return call_core(*instance, h, args);
  };
}

// A core function of the graph's own as an engine host function: while it
// runs, calls into core code are nested calls of its host call.
engine::HostFunction ComponentInstance::Impl::host_function(std::string module, std::string name,
                                                            const CoreItem& item) {
  engine::HostFunction f;
  f.module = std::move(module);
  f.name = std::move(name);
  f.sig = item.sig;
  f.fn = [this, fn = item.host](engine::HostCall& call, std::span<const Value> args,
                                std::span<Value> results) -> Result<void> {
    engine::HostCall* saved = std::exchange(exec.host_call, &call);
    auto r = (*fn)(args);
    exec.host_call = saved;
    if (!r) return std::unexpected(std::move(r).error());
    if (r->size() != results.size()) {
      return make_error(ErrorCode::InternalError,
                        fmt::format("a lowered function returned {} values for {}", r->size(),
                                    results.size()));
    }
    std::copy(r->begin(), r->end(), results.begin());
    return {};
  };
  return f;
}

// ------------------------------------------------------------ types

Result<TypeRef> ComponentInstance::Impl::map_type(Frame& frame, const TypeRef& type) {
  if (!type) return type;
  if (auto it = frame.mapped.find(type.get()); it != frame.mapped.end()) return it->second;
  const ValType& t = *type;
  TypeRef out = type;
  auto sub = [&](const TypeRef& x) -> Result<TypeRef> { return map_type(frame, x); };
  switch (t.kind) {
    case Kind::Own:
    case Kind::Borrow: {
      const ResourceType* rt = frame.resource(t.resource);
      if (!rt) {
        return link_error(ErrorCode::InternalError, *frame.def,
                          fmt::format("resource type {} is not bound", t.resource));
      }
      out = t.kind == Kind::Own ? own_of(rt->id) : borrow_of(rt->id);
      break;
    }
    case Kind::List:
    case Kind::Option: {
      auto e = sub(t.element);
      if (!e) return e;
      if (*e != t.element) out = t.kind == Kind::List ? list_of(*e) : option_of(*e);
      break;
    }
    case Kind::Result: {
      auto ok = sub(t.ok);
      if (!ok) return ok;
      auto err = sub(t.err);
      if (!err) return err;
      if (*ok != t.ok || *err != t.err) out = result_of(*ok, *err);
      break;
    }
    case Kind::Record: {
      std::vector<Field> fields;
      bool changed = false;
      for (const auto& f : t.fields) {
        auto m = sub(f.type);
        if (!m) return m;
        changed |= *m != f.type;
        fields.push_back({f.name, *m});
      }
      if (changed) out = record_of(std::move(fields));
      break;
    }
    case Kind::Tuple: {
      std::vector<TypeRef> items;
      bool changed = false;
      for (const auto& i : t.items) {
        auto m = sub(i);
        if (!m) return m;
        changed |= *m != i;
        items.push_back(*m);
      }
      if (changed) out = tuple_of(std::move(items));
      break;
    }
    case Kind::Variant: {
      std::vector<Case> cases;
      bool changed = false;
      for (const auto& c : t.cases) {
        auto m = sub(c.type);
        if (!m) return m;
        changed |= *m != c.type;
        cases.push_back({c.name, *m});
      }
      if (changed) out = variant_of(std::move(cases));
      break;
    }
    default: break;
  }
  frame.mapped.emplace(type.get(), out);
  return out;
}

Result<FuncType> ComponentInstance::Impl::map_func(Frame& frame, const FuncType& type) {
  FuncType out;
  for (const auto& p : type.params) {
    auto m = map_type(frame, p.type);
    if (!m) return std::unexpected(m.error());
    out.params.push_back({p.name, *m});
  }
  auto r = map_type(frame, type.result);
  if (!r) return std::unexpected(r.error());
  out.result = *r;
  return out;
}

Result<CanonOptions> ComponentInstance::Impl::canon_options(Frame& frame,
                                                            const CanonOptionIndices& indices,
                                                            bool* has_post_return) {
  CanonOptions opts;
  opts.encoding = indices.string_encoding;
  if (indices.memory) {
    const CoreItem& m = frame.core_memories.at(*indices.memory);
    auto view = m.instance->memory_view(m.name);
    if (!view) return std::unexpected(view.error());
    frame.memories.push_back(std::make_unique<CoreMemory>(*view));
    opts.memory = frame.memories.back().get();
  }
  if (indices.realloc) {
    const CoreItem& item = frame.core_funcs.at(*indices.realloc);
    const engine::FuncSig realloc_sig{
        {engine::ValType::I32, engine::ValType::I32, engine::ValType::I32, engine::ValType::I32},
        {engine::ValType::I32}};
    auto handle = item.instance && !item.host && item.sig == realloc_sig
                      ? item.instance->resolve(item.name)
                      : Result<engine::ExportHandle>(make_error(ErrorCode::MissingExport, ""));
    if (handle) {
      // A realloc of the graph's core code, of the right type: called by
      // handle, its result written in place (no value vector per call).
      opts.realloc = [this, instance = item.instance, h = *handle](
                         uint32_t old_ptr, uint32_t old_size, uint32_t align,
                         uint32_t new_size) -> Result<uint32_t> {
        std::array<Value, 4> args{Value::i32(static_cast<int32_t>(old_ptr)),
                                  Value::i32(static_cast<int32_t>(old_size)),
                                  Value::i32(static_cast<int32_t>(align)),
                                  Value::i32(static_cast<int32_t>(new_size))};
        std::array<Value, 1> result{Value::i32(0)};
        if (exec.host_call) {
          AIRSSYS_TRY(exec.host_call->call_into(*instance, h, args, result));
        } else {
          AIRSSYS_TRY_ASSIGN(auto r, call_core(*instance, h, args));
          if (r.size() != 1) {
            return make_error(ErrorCode::TrapCanonical, "realloc did not return one i32");
          }
          result[0] = r[0];
        }
        return static_cast<uint32_t>(result[0].as_i32());
      };
    }
  }
  if (indices.realloc && !opts.realloc) {
    CoreFn fn = core_function(frame.core_funcs.at(*indices.realloc));
    opts.realloc = [fn](uint32_t old_ptr, uint32_t old_size, uint32_t align,
                        uint32_t new_size) -> Result<uint32_t> {
      std::array<Value, 4> args{Value::i32(static_cast<int32_t>(old_ptr)),
                              Value::i32(static_cast<int32_t>(old_size)),
                              Value::i32(static_cast<int32_t>(align)),
                              Value::i32(static_cast<int32_t>(new_size))};
      auto r = fn(args);
      if (!r) return std::unexpected(std::move(r).error());
      if (r->size() != 1 || (*r)[0].type() != engine::ValType::I32) {
        return make_error(ErrorCode::TrapCanonical, "realloc did not return one i32");
      }
      return static_cast<uint32_t>((*r)[0].as_i32());
    };
  }
  opts.has_post_return = indices.post_return.has_value();
  if (has_post_return) *has_post_return = opts.has_post_return;
  return opts;
}

// ------------------------------------------------------------ the walk

Result<RtItem> ComponentInstance::Impl::item_of(Frame& frame, SortIdx target) {
  RtItem item;
  item.sort = target.sort;
  const uint32_t i = target.index;
  auto out_of_range = [&]() {
    return link_error(ErrorCode::InternalError, *frame.def,
                      fmt::format("{} {} is out of range at run time", sort_name(target.sort), i));
  };
  switch (target.sort) {
    case Sort::Func:
      if (i >= frame.funcs.size()) return out_of_range();
      item.func = frame.funcs[i];
      return item;
    case Sort::Instance:
      if (i >= frame.instances.size()) return out_of_range();
      item.instance = frame.instances[i];
      return item;
    case Sort::Type:
      if (i >= frame.types.size()) return out_of_range();
      item.type = frame.types[i];
      return item;
    case Sort::Component:
      if (i >= frame.components.size()) return out_of_range();
      item.component = frame.components[i];
      return item;
    case Sort::CoreModule:
      if (i >= frame.core_modules.size()) return out_of_range();
      item.module = frame.core_modules[i];
      return item;
    default:
      return link_error(ErrorCode::UnsupportedFeature, *frame.def,
                        fmt::format("{} cannot cross a component boundary", sort_name(target.sort)));
  }
}

Result<void> ComponentInstance::Impl::push(Frame& frame, const RtItem& item) {
  switch (item.sort) {
    case Sort::Func: frame.funcs.push_back(item.func); return {};
    case Sort::Instance: frame.instances.push_back(item.instance); return {};
    case Sort::Type: frame.types.push_back(item.type); return {};
    case Sort::Component: frame.components.push_back(item.component); return {};
    case Sort::CoreModule: frame.core_modules.push_back(item.module); return {};
    default:
      return link_error(ErrorCode::UnsupportedFeature, *frame.def,
                        fmt::format("{} cannot cross a component boundary", sort_name(item.sort)));
  }
}

// Binds the resource ids that `kind` definitions at `index` introduce: a
// resource type of its own for a definition, the given item's resource types
// (down each id's path through instance exports) for an import or an
// instantiation.
Result<void> ComponentInstance::Impl::bind_resources(Frame& frame, ResourceOrigin::Kind kind,
                                                     uint32_t index, const RtItem* root) {
  for (const auto& origin : frame.def->resources) {
    if (origin.kind != kind || origin.index != index) continue;
    if (kind == ResourceOrigin::Kind::Defined) {
      const RtType& t = frame.types.at(index);
      const TypeDef* def = nullptr;
      for (const auto& td : frame.def->types) {
        if (td.type && td.type->kind == DefType::Kind::Resource && td.type->resource == origin.id) {
          def = &td;
        }
      }
      Destructor dtor;
      if (def && def->dtor) {
        CoreFn fn = core_function(frame.core_funcs.at(*def->dtor));
        dtor = [fn](uint32_t rep) -> Result<void> {
          auto r = fn(std::vector{Value::i32(static_cast<int32_t>(rep))});
          if (!r) return std::unexpected(std::move(r).error());
          return {};
        };
      }
      (void)t;
      const ResourceType& rt = resource_types->define(frame.state.get(), std::move(dtor));
      frame.resources[origin.id] = &rt;
      frame.types.at(index).resource = &rt;
      continue;
    }
    const RtItem* at = root;
    for (const auto& name : origin.path) {
      if (!at || at->sort != Sort::Instance || !at->instance) break;
      at = at->instance->find(name);
    }
    if (!at || at->sort != Sort::Type || !at->type.resource) {
      return link_error(ErrorCode::IncompatibleImport, *frame.def,
                        fmt::format("resource type {} is not given a resource type",
                                    origin.id));
    }
    frame.resources[origin.id] = at->type.resource;
  }
  return {};
}

// A function the host provides for an import must have the very type the
// component declares for it (its resources those bound to the import), or
// the canonical ABI would lift and lower values of one type as another.
// Names of parameters do not count; types do, all the way down.
Result<void> ComponentInstance::Impl::check_host_item(Frame& frame, const std::string& name,
                                                      const ExternDesc& desc, const RtItem& given) {
  if (given.sort != desc.sort) {
    return link_error(ErrorCode::IncompatibleImport, *frame.def,
                      fmt::format("import `{}` wants a {} and the host gives a {}", name,
                                  sort_name(desc.sort), sort_name(given.sort)));
  }
  if (desc.sort == Sort::Func && desc.func && given.func) {
    AIRSSYS_TRY_ASSIGN(FuncType wanted, map_func(frame, *desc.func));
    const FuncType& have = given.func->type;
    bool same = wanted.params.size() == have.params.size() && !wanted.result == !have.result &&
                (!wanted.result || same_type(*wanted.result, *have.result));
    for (size_t i = 0; same && i < wanted.params.size(); ++i) {
      same = same_type(*wanted.params[i].type, *have.params[i].type);
    }
    if (!same) {
      return link_error(ErrorCode::IncompatibleImport, *frame.def,
                        fmt::format("import `{}` is declared {}, and the host's is {}", name,
                                    wanted.to_string(), have.to_string()));
    }
    return {};
  }
  if (desc.sort == Sort::Instance && desc.instance && given.instance) {
    for (const auto& e : desc.instance->exports) {
      const RtItem* inner = given.instance->find(e.name);
      if (!inner) {
        return link_error(ErrorCode::UnknownImport, *frame.def,
                          fmt::format("import `{}`: the host's instance has no `{}` ({})", name,
                                      e.name, sort_name(e.desc.sort)));
      }
      AIRSSYS_TRY(check_host_item(frame, name + "#" + e.name, e.desc, *inner));
    }
  }
  return {};
}

Result<void> ComponentInstance::Impl::import(Frame& frame, const Import& imp, uint32_t index) {
  const RtItem* given = nullptr;
  for (const auto& [name, item] : frame.args) {
    if (name == imp.name) given = &item;
  }
  if (!given) {
    return link_error(ErrorCode::UnknownImport, *frame.def,
                      fmt::format("import `{}` ({}) is not provided", imp.name,
                                  sort_name(imp.desc.sort)));
  }
  if (given->sort != imp.desc.sort) {
    return link_error(ErrorCode::IncompatibleImport, *frame.def,
                      fmt::format("import `{}` wants a {} and is given a {}", imp.name,
                                  sort_name(imp.desc.sort), sort_name(given->sort)));
  }
  AIRSSYS_TRY(bind_resources(frame, ResourceOrigin::Kind::Import, index, given));
  // What the host gives was checked against nothing yet (what a component
  // gives its child was checked when it was decoded).
  if (&frame == frames.front().get()) AIRSSYS_TRY(check_host_item(frame, imp.name, imp.desc, *given));
  RtItem item = *given;
  if (item.sort == Sort::Type && imp.desc.type) {
    item.type.def = imp.desc.type;
    if (imp.desc.type->kind != DefType::Kind::Resource) item.type.resource = nullptr;
  }
  return push(frame, item);
}

Result<void> ComponentInstance::Impl::core_instance(Frame& frame, const CoreInstanceDef& def) {
  auto out = std::make_shared<CoreInstance>();
  if (!def.instantiate) {
    for (const auto& e : def.exports) {
      const std::vector<CoreItem>* space = nullptr;
      switch (e.sort) {
        case Sort::CoreFunc: space = &frame.core_funcs; break;
        case Sort::CoreTable: space = &frame.core_tables; break;
        case Sort::CoreMemory: space = &frame.core_memories; break;
        case Sort::CoreGlobal: space = &frame.core_globals; break;
        case Sort::CoreTag: space = &frame.core_tags; break;
        default: break;
      }
      if (!space || e.index >= space->size()) {
        return link_error(ErrorCode::InternalError, *frame.def,
                          fmt::format("inline export `{}` names nothing at run time", e.name));
      }
      out->exports.emplace_back(e.name, (*space)[e.index]);
    }
    frame.core_instances.push_back(std::move(out));
    return {};
  }
  const auto& module = frame.core_modules.at(def.module);
  engine::Linker linker;
  for (const auto& arg : def.args) {
    const auto& given = frame.core_instances.at(arg.instance);
    if (given->instance) {
      linker.define_instance(arg.name, given->instance);
      continue;
    }
    for (const auto& [name, item] : given->exports) {
      if (item.host) {
        linker.define(host_function(arg.name, name, item));
      } else {
        linker.define_export(arg.name, name, item.instance, item.name);
      }
    }
  }
  // One memory budget for the whole component: the instance may start with
  // what the others leave, and each of its grows is refused past the budget
  // the others' memories leave at that moment.
  engine::InstanceOptions io;
  io.limits = options.limits;
  const uint64_t budget = options.limits.max_memory_bytes;
  const uint64_t others = memory_bytes(nullptr);
  io.limits.max_memory_bytes = budget > others ? budget - others : 0;
  // What every core instance defines now, with the growing memories at
  // their new size: `old_bytes` is what the grow replaces, counted once
  // whether the memories are the instance's own or one it imports (which
  // its defining instance counts). While the instance is being made (its
  // start function) it is not counted yet, and a grow is taken as one of
  // its own memories: an imported one then counts twice, which errs on the
  // side of refusing.
  auto self = std::make_shared<const engine::Instance*>(nullptr);
  io.memory_grow_gate = [this, self, budget](uint64_t old_bytes, uint64_t new_bytes) {
    const uint64_t now = memory_bytes(nullptr);
    uint64_t rest = now;
    if (*self != nullptr) rest = now > old_bytes ? now - old_bytes : 0;
    return new_bytes <= budget && rest <= budget - new_bytes;
  };
  io.user_data = options.user_data;
  io.on_memory_grow = options.on_memory_grow;
  io.start_fuel = options.start_fuel > exec.fuel_used ? options.start_fuel - exec.fuel_used : 1;
  auto instance = store->instantiate(*module, linker, io);
  if (!instance) {
    Error e = std::move(instance).error();
    e.message = fmt::format("{}: {}", frame.def->name, e.message);
    return std::unexpected(std::move(e));
  }
  exec.fuel_used += (*instance)->fuel_used();
  *self = instance->get();
  out->instance = std::move(*instance);
  frame.core_instances.push_back(std::move(out));
  return {};
}

Result<void> ComponentInstance::Impl::instance(Frame& frame, const InstanceDef& def) {
  auto out = std::make_shared<RtInstance>();
  if (!def.instantiate) {
    for (const auto& e : def.exports) {
      auto item = item_of(frame, e.target);
      if (!item) return std::unexpected(item.error());
      out->exports.emplace_back(e.name, std::move(*item));
    }
    frame.instances.push_back(std::move(out));
    return {};
  }
  const RtComponent& child_def = frame.components.at(def.component);
  auto child = std::make_unique<Frame>();
  child->def = child_def.def.get();
  child->outer = child_def.outer;
  child->state = std::make_unique<InstanceState>(*resource_types, frame.state.get());
  for (const auto& arg : def.args) {
    auto item = item_of(frame, arg.target);
    if (!item) return std::unexpected(item.error());
    child->args.emplace_back(arg.name, std::move(*item));
  }
  Frame& c = *child;
  frames.push_back(std::move(child));
  AIRSSYS_TRY(run(c));
  frame.instances.push_back(c.exports);
  RtItem as_item;
  as_item.sort = Sort::Instance;
  as_item.instance = c.exports;
  return bind_resources(frame, ResourceOrigin::Kind::Instance,
                        static_cast<uint32_t>(frame.instances.size() - 1), &as_item);
}

Result<void> ComponentInstance::Impl::alias(Frame& frame, const Alias& a) {
  switch (a.kind) {
    case Alias::Kind::InstanceExport: {
      const auto& inst = frame.instances.at(a.instance);
      const RtItem* item = inst->find(a.name);
      if (!item) {
        return link_error(ErrorCode::InternalError, *frame.def,
                          fmt::format("instance {} has no export `{}` at run time", a.instance,
                                      a.name));
      }
      return push(frame, *item);
    }
    case Alias::Kind::CoreInstanceExport: {
      const auto& inst = frame.core_instances.at(a.instance);
      CoreItem item;
      if (inst->instance) {
        const auto& exports = inst->instance->module().exports();
        auto it = std::find_if(exports.begin(), exports.end(),
                               [&](const engine::ExportInfo& e) { return e.name == a.name; });
        if (it == exports.end()) {
          return link_error(ErrorCode::InternalError, *frame.def,
                            fmt::format("core instance {} has no export `{}`", a.instance, a.name));
        }
        item.kind = it->kind;
        item.sig = it->sig;
        item.instance = inst->instance;
        item.name = a.name;
      } else {
        auto it = std::find_if(inst->exports.begin(), inst->exports.end(),
                               [&](const auto& e) { return e.first == a.name; });
        if (it == inst->exports.end()) {
          return link_error(ErrorCode::InternalError, *frame.def,
                            fmt::format("core instance {} has no export `{}`", a.instance, a.name));
        }
        item = it->second;
      }
      switch (a.sort) {
        case Sort::CoreFunc: frame.core_funcs.push_back(std::move(item)); break;
        case Sort::CoreTable: frame.core_tables.push_back(std::move(item)); break;
        case Sort::CoreMemory: frame.core_memories.push_back(std::move(item)); break;
        case Sort::CoreGlobal: frame.core_globals.push_back(std::move(item)); break;
        case Sort::CoreTag: frame.core_tags.push_back(std::move(item)); break;
        default:
          return link_error(ErrorCode::InternalError, *frame.def, "a core export alias of no core sort");
      }
      return {};
    }
    case Alias::Kind::Outer: {
      Frame* at = &frame;
      for (uint32_t k = 0; k < a.count && at; ++k) at = at->outer;
      if (!at) return link_error(ErrorCode::InternalError, *frame.def, "outer alias past the root");
      if (a.sort == Sort::CoreType) return {};
      auto item = item_of(*at, SortIdx{a.sort, a.index});
      if (!item) return std::unexpected(item.error());
      return push(frame, *item);
    }
  }
  return {};
}

Result<void> ComponentInstance::Impl::canon(Frame& frame, const Canon& c) {
  switch (c.kind) {
    case Canon::Kind::Lift: {
      auto type = map_func(frame, *c.type);
      if (!type) return std::unexpected(type.error());
      bool has_post_return = false;
      auto opts = canon_options(frame, c.options, &has_post_return);
      if (!opts) return std::unexpected(opts.error());
      auto lifted = std::make_shared<LiftedFunction>();
      lifted->type = *type;
      lifted->opts = std::move(*opts);
      lifted->inst = frame.state.get();
      lifted->flat_params = flatten_types(param_types(*type), kMaxFlatParams);
      lifted->callee = core_function(frame.core_funcs.at(c.func));
      if (has_post_return) lifted->post_return = core_function(frame.core_funcs.at(*c.options.post_return));
      auto f = std::make_shared<Func>();
      f->type = *type;
      f->fn = [lifted](InstanceState* caller, std::span<const Val> args) {
        return call_lifted(*lifted, caller, args);
      };
      f->lifted = lifted;
      if (const CoreItem& target = frame.core_funcs.at(c.func); !target.host && target.instance) {
        if (auto handle = target.instance->resolve(target.name)) {
          f->core_instance = target.instance;
          f->core_export = *handle;
        }
      }
      frame.funcs.push_back(std::move(f));
      return {};
    }
    case Canon::Kind::Lower: {
      const auto& callee = frame.funcs.at(c.func);
      auto type = map_func(frame, *c.type);
      if (!type) return std::unexpected(type.error());
      auto opts = canon_options(frame, c.options, nullptr);
      if (!opts) return std::unexpected(opts.error());
      auto shared_opts = std::make_shared<CanonOptions>(std::move(*opts));
      InstanceState* state = frame.state.get();
      CoreItem item;
      item.sig = c.core_sig;
      if (callee->raw) {
        item.host = std::make_shared<const CoreFn>(
            [flat_params = lowered_shape(*type).flat_params, shared_opts, state,
             raw = callee->raw](std::span<const Value> args) {
              return call_lowered_raw(flat_params, *shared_opts, *state, raw, args);
            });
      } else {
        item.host = std::make_shared<const CoreFn>(
            [type = *type, shape = lowered_shape(*type), shared_opts, state,
             callee](std::span<const Value> args) {
              return call_lowered(type, shape, *shared_opts, *state, callee->fn, args);
            });
      }
      frame.core_funcs.push_back(std::move(item));
      return {};
    }
    case Canon::Kind::ResourceNew:
    case Canon::Kind::ResourceDrop:
    case Canon::Kind::ResourceRep: {
      const ResourceType* rt = frame.resource(c.resource);
      if (!rt) {
        return link_error(ErrorCode::InternalError, *frame.def,
                          fmt::format("resource type {} is not bound", c.resource));
      }
      InstanceState* state = frame.state.get();
      CoreItem item;
      item.sig = c.core_sig;
      const Canon::Kind kind = c.kind;
      item.host = std::make_shared<const CoreFn>(
          [kind, rt, state](std::span<const Value> args) -> Result<std::vector<Value>> {
            const auto arg = static_cast<uint32_t>(args.empty() ? 0 : args[0].as_i32());
            if (kind == Canon::Kind::ResourceNew) {
              auto h = resource_new(*state, *rt, arg);
              if (!h) return std::unexpected(h.error());
              return std::vector{Value::i32(static_cast<int32_t>(*h))};
            }
            if (kind == Canon::Kind::ResourceRep) {
              auto r = resource_rep(*state, *rt, arg);
              if (!r) return std::unexpected(r.error());
              return std::vector{Value::i32(static_cast<int32_t>(*r))};
            }
            auto d = resource_drop(*state, *rt, arg);
            if (!d) return std::unexpected(d.error());
            return std::vector<Value>{};
          });
      frame.core_funcs.push_back(std::move(item));
      return {};
    }
  }
  return {};
}

Result<void> ComponentInstance::Impl::run(Frame& frame) {
  const Component& def = *frame.def;
  for (const Item& it : def.items) {
    switch (it.kind) {
      case DefKind::Module: frame.core_modules.push_back(def.modules[it.index].module); break;
      case DefKind::CoreInstance: AIRSSYS_TRY(core_instance(frame, def.core_instances[it.index])); break;
      case DefKind::CoreType: break;
      case DefKind::Component:
        frame.components.push_back(RtComponent{def.components[it.index], &frame});
        break;
      case DefKind::Instance: AIRSSYS_TRY(instance(frame, def.instances[it.index])); break;
      case DefKind::Alias: AIRSSYS_TRY(alias(frame, def.aliases[it.index])); break;
      case DefKind::Type: {
        frame.types.push_back(RtType{def.types[it.index].type, nullptr});
        AIRSSYS_TRY(bind_resources(frame, ResourceOrigin::Kind::Defined,
                                   static_cast<uint32_t>(frame.types.size() - 1), nullptr));
        break;
      }
      case DefKind::Canon: AIRSSYS_TRY(canon(frame, def.canons[it.index])); break;
      case DefKind::Start: {
        const auto& f = frame.funcs.at(def.start->func);
        auto r = f->fn(nullptr, {});
        if (!r) return std::unexpected(r.error());
        break;
      }
      case DefKind::Import: AIRSSYS_TRY(import(frame, def.imports[it.index], it.index)); break;
      case DefKind::Export: {
        const Export& e = def.exports[it.index];
        auto item = item_of(frame, e.target);
        if (!item) return std::unexpected(item.error());
        if (item->sort == Sort::Type && e.desc.type) item->type.def = e.desc.type;
        frame.exports->exports.emplace_back(e.name, *item);
        AIRSSYS_TRY(push(frame, *item));
        break;
      }
    }
  }
  return {};
}

// ------------------------------------------------------------ the instance

ComponentInstance::ComponentInstance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ComponentInstance::~ComponentInstance() = default;

Result<std::unique_ptr<ComponentInstance>> ComponentInstance::instantiate(
    std::shared_ptr<const Component> component, engine::Engine& core_engine,
    const HostInstance& imports, const ComponentOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->component = component;
  impl->store = core_engine.new_store();
  impl->resource_types = imports.resource_types();
  impl->options = options;
  impl->exec.store = impl->store.get();
  impl->exec.options.fuel = options.start_fuel;

  auto root = std::make_unique<Frame>();
  root->def = component.get();
  root->state = std::make_unique<InstanceState>(*impl->resource_types, nullptr);
  for (const auto& imp : component->imports) {
    const HostInstance::Item* item = imports.find(imp.name);
    if (!item) {
      return link_error(ErrorCode::UnknownImport, *component,
                        fmt::format("import `{}` ({}) is not provided by the host", imp.name,
                                    sort_name(imp.desc.sort)));
    }
    auto rt = host_item(*item);
    if (!rt) return std::unexpected(rt.error());
    root->args.emplace_back(imp.name, std::move(*rt));
  }
  Frame& top = *root;
  impl->frames.push_back(std::move(root));
  AIRSSYS_TRY(impl->run(top));
  impl->exec.budget_used = 0;

  // The exported functions, those of exported instances included.
  for (const auto& [name, item] : top.exports->exports) {
    if (item.sort == Sort::Func) {
      impl->functions.push_back({name, item.func->type});
      impl->function_impls.push_back(item.func);
    } else if (item.sort == Sort::Instance && item.instance) {
      for (const auto& [inner, sub] : item.instance->exports) {
        if (sub.sort != Sort::Func) continue;
        impl->functions.push_back({name + "#" + inner, sub.func->type});
        impl->function_impls.push_back(sub.func);
      }
    }
  }
  return std::unique_ptr<ComponentInstance>(new ComponentInstance(std::move(impl)));
}

}  // namespace airssys::wasm::cm
