// A component of the airssys world as an actor: the same life as a core-ABI
// component (actor.cpp), with the handler interface of wit/host.wit in place
// of the core ABI's exports. Each handler runs as a call in fuel slices
// (cm::ComponentInstance::start_call); messages arrive as `message` records,
// replies and timeouts as results, the configuration as a string. Methods of
// ComponentActor (actor.hpp).
#include <string>
#include <utility>

#include <fmt/format.h>

#include "airssys/wasm/cm/typed.hpp"

#include "actor.hpp"
#include "airssys/wasm/component/world.hpp"
#include "airssys/wasm/host/wasi2.hpp"
#include "airssys/wasm/host/world.hpp"

namespace airssys::wasm::component {

using security::AuditResult;
using security::DecisionLayer;

namespace {

using cm::Kind;
using cm::TypeRef;
using cm::Val;

// The handler interface's types as wit/host.wit defines them.
TypeRef error_type() {
  std::vector<cm::Case> cases;
  for (const char* name : {"denied", "quota", "too-large", "not-found", "full", "invalid",
                           "timeout", "unavailable", "no-request"}) {
    cases.push_back(cm::Case{name, nullptr});
  }
  return cm::variant_of(std::move(cases));
}
constexpr uint64_t kErrorTimeout = 6;  // the `timeout` case of `error`

TypeRef bytes_type() { return cm::list_of(cm::primitive(Kind::U8)); }

cm::FuncType func(std::vector<cm::Field> params, TypeRef result) {
  return cm::FuncType{std::move(params), std::move(result)};
}

std::vector<std::pair<std::string, cm::FuncType>> handler_functions() {
  const TypeRef string = cm::primitive(Kind::String);
  TypeRef message = cm::record_of({
      {"kind", cm::enum_of({"send", "request", "publish"})},
      {"correlation-id", cm::primitive(Kind::U64)},
      {"sender", string},
      {"topic", cm::option_of(string)},
      {"payload", bytes_type()},
  });
  TypeRef health = cm::variant_of({{"healthy", nullptr}, {"degraded", string}, {"unhealthy", string}});
  return {
      {"init", func({{"config", string}}, cm::result_of(nullptr, string))},
      {"handle-message", func({{"message", message}}, nullptr)},
      {"handle-reply",
       func({{"correlation-id", cm::primitive(Kind::U64)},
             {"reply", cm::result_of(bytes_type(), error_type())}},
            nullptr)},
      {"health", func({}, health)},
      {"shutdown", func({}, nullptr)},
  };
}

bool same_func(const cm::FuncType& a, const cm::FuncType& b) {
  if (a.params.size() != b.params.size() || !a.result != !b.result) return false;
  for (size_t i = 0; i < a.params.size(); ++i) {
    if (!cm::same_type(*a.params[i].type, *b.params[i].type)) return false;
  }
  return !a.result || cm::same_type(*a.result, *b.result);
}

Val bytes(std::span<const uint8_t> data) {
  Val list{Kind::List, 0, {}, {}};
  list.items.reserve(data.size());
  for (uint8_t b : data) list.items.push_back(Val::u(Kind::U8, b));
  return list;
}

}  // namespace

Result<ComponentWorld> component_world(const cm::Component& component) {
  const std::string handler = fmt::format("{}/handler@", host::kWorldPackage);
  const std::string served = fmt::format("{}{}", handler, host::kWorldVersion);
  ComponentWorld out;
  for (const auto& e : component.exports) {
    const std::string& name = e.name;
    if (name.rfind(handler, 0) == 0) {
      if (!cm::semver_compatible(name, served)) {
        return make_error(ErrorCode::IncompatibleImport,
                          fmt::format("{} targets {}, which this host does not serve: it serves "
                                      "{}@{} (the versions {}.x)",
                                      component.name, name, host::kWorldPackage,
                                      host::kWorldVersion,
                                      host::kWorldVersion.substr(0, host::kWorldVersion.rfind('.'))));
      }
      out.kind = WorldKind::Airssys;
      out.name = fmt::format("{}/component@{}", host::kWorldPackage, name.substr(handler.size()));
      return out;
    }
    if (name.rfind("wasi:cli/run@", 0) == 0) {
      out.kind = WorldKind::Command;
      out.name = "wasi:cli/command@" + name.substr(std::string_view("wasi:cli/run@").size());
    }
  }
  return out;
}

// Instantiates the component against WASI 0.2 and the world's imports, and
// finds its handler interface: `airssys:host/handler@0.3.x`, with every
// function of the type wit/host.wit gives it. A component that exports
// another version, or the right names with other types, does not start.
Result<void> ComponentActor::create_world() {
  const auto& spec = entry_->spec;
  engine::Engine* engine = spec.engine ? spec.engine.get() : system_.options_.engine.get();
  world_imports_ = std::make_unique<cm::HostInstance>();
  host::add_wasi2(*world_imports_, *context_);
  host::add_airssys_world(*world_imports_, *context_);

  cm::ComponentOptions options;
  options.limits.max_memory_bytes = spec.security->quotas().memory_bytes;
  options.user_data = context_.get();
  // The quota counts the memories of all the component's core instances.
  options.on_memory_grow = [this](const engine::MemoryGrowEvent& e) {
    const uint64_t before = world_memory_;
    if (e.granted) world_memory_ += e.requested_bytes - e.old_bytes;
    engine::MemoryGrowEvent total{before, before + (e.requested_bytes - e.old_bytes),
                                  e.limit_bytes, e.granted};
    context_->on_memory_grow(total);
  };
  AIRSSYS_TRY_ASSIGN(world_, cm::ComponentInstance::instantiate(spec.world, *engine,
                                                                *world_imports_, options));
  world_memory_ = world_->memory_bytes();

  const std::string wanted = fmt::format("{}/handler@{}", host::kWorldPackage,
                                         host::kWorldVersion);
  std::string found;  // the handler interface's name as exported
  for (const auto& f : world_->functions()) {
    auto hash = f.name.find('#');
    if (hash == std::string::npos) continue;
    std::string iface = f.name.substr(0, hash);
    if (iface.rfind(fmt::format("{}/handler@", host::kWorldPackage), 0) == 0) found = iface;
  }
  if (found.empty() || !cm::semver_compatible(found, wanted)) {
    return make_error(
        ErrorCode::IncompatibleImport,
        fmt::format("component '{}' {} the airssys world: the host serves {}/handler@{} (0.3.x)",
                    spec.name,
                    found.empty() ? "does not export the handler interface of"
                                  : fmt::format("exports {}, a version outside", found),
                    host::kWorldPackage, host::kWorldVersion));
  }
  for (const auto& [name, type] : handler_functions()) {
    std::string full = found + "#" + name;
    const cm::ExportedFunc* f = world_->function(full);
    if (!f || !same_func(f->type, type)) {
      return make_error(ErrorCode::SignatureMismatch,
                        fmt::format("component '{}': {} {}, where the world has {}", spec.name,
                                    full, f ? "is " + f->type.to_string() : "is missing",
                                    type.to_string()));
    }
    if (name == "init") world_exports_.init = full;
    if (name == "handle-message") world_exports_.handle_message = full;
    if (name == "handle-reply") world_exports_.handle_reply = full;
    if (name == "handle-message") world_exports_.handle_message_at = world_->function_index(full).value_or(SIZE_MAX);
    if (name == "handle-reply") world_exports_.handle_reply_at = world_->function_index(full).value_or(SIZE_MAX);
    if (name == "health") world_exports_.health = full;
    if (name == "shutdown") world_exports_.shutdown = full;
  }
  set_tier(engine->tier());
  entry_->quota->set_used(security::QuotaKind::Memory, world_memory_);
  context_->report_quota(security::QuotaKind::Memory);
  return {};
}

Result<void> ComponentActor::begin_world(const std::string& name, std::vector<cm::Val> args,
                                         Stage stage) {
  engine::CallOptions options;
  options.fuel = entry_->spec.fuel_per_message;
  options.slice = entry_->spec.slice;
  AIRSSYS_TRY_ASSIGN(call_, world_->start_call(name, args, options));
  stage_ = stage;
  return {};
}

// A message or a reply (envelope in delivering_): its handler's arguments
// are lowered into the component by the canonical ABI (cabi_realloc), so no
// alloc or dealloc call of the host's own is needed. They are lowered from
// the envelope as typed values (cm/typed.hpp), not built as cm::Val trees;
// the handler's type was checked against the world's when the component was
// made, and the flattening is checked again when the call begins.
Result<void> ComponentActor::begin_world_delivery(bool is_reply) {
  using cm::typed::Bytes;
  using cm::typed::CaseIndex;
  using cm::typed::Outcome;
  engine::CallOptions options;
  options.fuel = entry_->spec.fuel_per_message;
  options.slice = entry_->spec.slice;
  cm::FlatLowerer lower;
  if (is_reply) {
    lower = [this](cm::LiftLowerContext& cx, std::vector<engine::Value>& flat) {
      const auto& env = *delivering_;
      Outcome<Bytes, CaseIndex> reply;
      if (env.kind == actor::MessageKind::Reply) {
        reply = Outcome<Bytes, CaseIndex>::success(Bytes(env.payload));
      } else {
        reply = Outcome<Bytes, CaseIndex>::failure(CaseIndex{kErrorTimeout});
      }
      return cm::typed::lower_args(cx, flat, env.correlation_id, reply);
    };
  } else {
    // The message record flattens to its fields' flat values, in order.
    lower = [this](cm::LiftLowerContext& cx, std::vector<engine::Value>& flat) {
      const auto& env = *delivering_;
      auto kind = env.topic ? GuestMessageKind::Publish
                  : env.kind == actor::MessageKind::Request ? GuestMessageKind::Request
                                                            : GuestMessageKind::Send;
      std::optional<std::string_view> topic;
      if (env.topic) topic = *env.topic;
      return cm::typed::lower_args(cx, flat, cm::typed::EnumIndex{static_cast<uint32_t>(kind)},
                                   env.correlation_id, std::string_view(env.sender.name), topic,
                                   Bytes(env.payload));
    };
  }
  const size_t at = is_reply ? world_exports_.handle_reply_at : world_exports_.handle_message_at;
  auto call = world_->start_call(at, std::move(lower), options);
  if (!call && call.error().code != ErrorCode::InvalidArgument) {
    return std::unexpected(call.error());
  }
  if (call) {
    call_ = std::move(*call);
    stage_ = Stage::Handle;
    return {};
  }
  // A handler the component does not lift from its own core code (one it
  // re-exports) takes its arguments as values.
  auto& env = *delivering_;
  if (is_reply) {
    Val reply{Kind::Result, 0, {}, {}};
    if (env.kind == actor::MessageKind::Reply) {
      reply.items.push_back(bytes(env.payload));
    } else {
      reply.bits = 1;
      reply.items.push_back(Val{Kind::Variant, kErrorTimeout, {}, {}});
    }
    return begin_world(world_exports_.handle_reply,
                       {Val::u(Kind::U64, env.correlation_id), std::move(reply)}, Stage::Handle);
  }
  auto kind = env.topic ? GuestMessageKind::Publish
                        : env.kind == actor::MessageKind::Request ? GuestMessageKind::Request
                                                                  : GuestMessageKind::Send;
  Val topic{Kind::Option, env.topic ? 1u : 0u, {}, {}};
  if (env.topic) topic.items.push_back(Val::string(*env.topic));
  Val message{Kind::Record, 0, {}, {}};
  message.items = {Val{Kind::Enum, static_cast<uint64_t>(kind), {}, {}},
                   Val::u(Kind::U64, env.correlation_id), Val::string(env.sender.name),
                   std::move(topic), bytes(env.payload)};
  return begin_world(world_exports_.handle_message, {std::move(message)}, Stage::Handle);
}

Result<void> ComponentActor::take_health() {
  const auto& spec = entry_->spec;
  next_health_ = std::chrono::steady_clock::now() + kHealthInterval;
  if (world_values_.size() != 1) return {};
  const Val& v = world_values_[0];
  std::string reason = v.items.empty() ? std::string() : v.items[0].text;
  std::string health = v.bits == 0 ? "healthy" : fmt::format("{}: {}", v.bits == 1 ? "degraded" : "unhealthy", reason);
  {
    std::lock_guard lock(system_.mutex_);
    entry_->status.health = health;
  }
  if (v.bits == 2) {
    return make_error(ErrorCode::TrapHost,
                      fmt::format("component '{}' reports itself unhealthy: {}", spec.name,
                                  reason));
  }
  return {};
}

Result<void> ComponentActor::after_world(Stage stage) {
  const auto& spec = entry_->spec;
  switch (stage) {
    case Stage::Init: {
      // init -> result<_, string>: an error fails the start with its text.
      if (world_values_.size() == 1 && world_values_[0].bits == 1) {
        const auto& why = world_values_[0].items;
        return make_error(ErrorCode::TrapHost,
                          fmt::format("component '{}': init failed: {}", spec.name,
                                      why.empty() ? std::string("(no reason)") : why[0].text));
      }
      delivering_.reset();
      return begin_world(world_exports_.health, {}, Stage::Health);
    }
    case Stage::Health:
      AIRSSYS_TRY(take_health());
      if (!ready_) {
        ready_ = true;
        system_.set_state(*entry_, ComponentState::Ready);
      }
      return {};
    case Stage::Handle:
      system_.count_handled(*entry_);
      delivering_.reset();
      return {};
    default:
      return {};
  }
}

void ComponentActor::shutdown_world() {
  engine::CallOptions options;
  // The shutdown export gets a bounded budget: about the given timeout's
  // worth on the interpreter (a component written in a language with a
  // runtime of its own, JavaScript's engine, spends millions of instructions
  // on any call), ten times what a core-ABI component's shutdown gets.
  options.fuel = 500'000ull * static_cast<uint64_t>(system_.options_.shutdown_timeout.count());
  auto r = world_->call(world_exports_.shutdown, {}, options);
  if (!r) {
    system_.audit(*entry_, "lifecycle.shutdown", entry_->spec.name, AuditResult::Denied,
                  DecisionLayer::Component, r.error().to_string());
  }
}

}  // namespace airssys::wasm::component
