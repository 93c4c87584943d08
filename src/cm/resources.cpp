// Resources across the canonical ABI: resource types, the per-instance handle
// tables, own and borrow handles with their lending rules, the resource
// built-ins, and the reentrancy flags of an instance (CanonicalABI.md,
// "Component Instances", "Table State", "Resource State", lift_own,
// lift_borrow, lower_own, lower_borrow, canon resource.new/drop/rep).

#include <algorithm>
#include <atomic>

#include "canonical_internal.hpp"

namespace airssys::wasm::cm {

using detail::trap;

namespace {

std::atomic<uint64_t> next_resource_id{1};

Result<void> check_type(const ResourceHandle& h, uint32_t index, uint64_t expected) {
  if (h.resource != expected)
    return trap(fmt::format(
        "handle index {} used with the wrong type: resource type {} expected, {} found", index,
        expected, h.resource));
  return {};
}

Result<void> check_may_leave(const InstanceState& inst) {
  if (!inst.may_leave) return trap("cannot leave component instance");
  return {};
}

}  // namespace

// ---------------------------------------------------------------- resource types

const ResourceType& ResourceTypes::define(InstanceState* impl, Destructor dtor) {
  auto type = std::make_unique<ResourceType>();
  type->id = next_resource_id.fetch_add(1, std::memory_order_relaxed);
  type->impl = impl;
  type->dtor = std::move(dtor);
  const ResourceType& out = *type;
  types_.emplace(out.id, std::move(type));
  return out;
}

const ResourceType* ResourceTypes::find(uint64_t id) const {
  auto it = types_.find(id);
  return it == types_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------- handle table

HandleTable::HandleTable() { array_.emplace_back(std::nullopt); }

Result<uint32_t> HandleTable::add(const ResourceHandle& handle) {
  uint32_t index = 0;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
    array_[index] = handle;
  } else {
    if (array_.size() > kMaxTableLength) return trap("handle table full");
    index = static_cast<uint32_t>(array_.size());
    array_.emplace_back(handle);
  }
  ++live_;
  return index;
}

Result<ResourceHandle*> HandleTable::get(uint32_t index) {
  if (index >= array_.size() || !array_[index])
    return trap(fmt::format("unknown handle index {}", index));
  return &*array_[index];
}

Result<ResourceHandle> HandleTable::remove(uint32_t index) {
  auto h = get(index);
  if (!h) return std::unexpected(h.error());
  ResourceHandle out = **h;
  array_[index].reset();
  free_.push_back(index);
  --live_;
  return out;
}

void HandleTable::remove_borrows_of(const CallContext* scope) {
  for (size_t i = 1; i < array_.size(); ++i) {
    if (array_[i] && !array_[i]->own && array_[i]->borrow_scope == scope) {
      array_[i].reset();
      free_.push_back(static_cast<uint32_t>(i));
      --live_;
    }
  }
}

// ---------------------------------------------------------------- instances

namespace {

bool is_self_or_ancestor(const InstanceState* inst, const InstanceState* of) {
  for (const InstanceState* p = of; p != nullptr; p = p->parent())
    if (p == inst) return true;
  return false;
}

}  // namespace

std::vector<InstanceState*> InstanceState::entering_set(const InstanceState* caller) {
  std::vector<InstanceState*> out;
  for (InstanceState* p = this; p != nullptr; p = p->parent_)
    if (caller == nullptr || !is_self_or_ancestor(p, caller)) out.push_back(p);
  return out;
}

bool InstanceState::may_enter_from(const InstanceState* caller) const {
  for (const InstanceState* p = this; p != nullptr; p = p->parent())
    if ((caller == nullptr || !is_self_or_ancestor(p, caller)) && !p->may_enter) return false;
  return true;
}

Result<void> InstanceState::enter_from(const InstanceState* caller) {
  if (!may_enter_from(caller)) return trap("cannot enter component instance");
  for (InstanceState* p : entering_set(caller)) p->may_enter = false;
  return {};
}

void InstanceState::leave_to(const InstanceState* caller) {
  for (InstanceState* p : entering_set(caller)) p->may_enter = true;
}

// ---------------------------------------------------------------- calls

CallContext::~CallContext() {
  release_lends();
  if (num_borrows_ > 0 && borrow_holder_ != nullptr) borrow_holder_->handles.remove_borrows_of(this);
}

Result<void> CallContext::check_return() const {
  if (num_borrows_ > 0)
    return trap(fmt::format("borrow handles still remain at the end of the call ({} left)",
                            num_borrows_));
  return {};
}

void CallContext::release_lends() {
  for (auto [inst, index] : lenders_) {
    auto h = inst->handles.get(index);
    if (h && (*h)->num_lends > 0) --(*h)->num_lends;
  }
  lenders_.clear();
}

// ---------------------------------------------------------------- handles

Result<uint32_t> lift_own_handle(LiftLowerContext& cx, uint32_t index, const ValType& type) {
  auto h = cx.inst.handles.get(index);
  if (!h) return std::unexpected(h.error());
  AIRSSYS_TRY(check_type(**h, index, type.resource));
  if ((*h)->num_lends != 0) return trap("cannot remove owned resource while borrowed");
  if (!(*h)->own)
    return trap(fmt::format("handle index {} is a borrow handle where an own handle was expected",
                            index));
  auto removed = cx.inst.handles.remove(index);
  if (!removed) return std::unexpected(removed.error());
  return removed->rep;
}

Result<uint32_t> lift_borrow_handle(LiftLowerContext& cx, uint32_t index, const ValType& type) {
  auto h = cx.inst.handles.get(index);
  if (!h) return std::unexpected(h.error());
  AIRSSYS_TRY(check_type(**h, index, type.resource));
  if (cx.scope == nullptr)
    return make_error(ErrorCode::InternalError, "a borrow handle lifted outside a call");
  ++(*h)->num_lends;
  cx.scope->lenders_.emplace_back(&cx.inst, index);
  return (*h)->rep;
}

Result<uint32_t> lower_own_handle(LiftLowerContext& cx, uint32_t rep, const ValType& type) {
  return cx.inst.handles.add(ResourceHandle{type.resource, rep, true, nullptr, 0});
}

Result<uint32_t> lower_borrow_handle(LiftLowerContext& cx, uint32_t rep, const ValType& type) {
  const ResourceType* rt = cx.inst.resource_types().find(type.resource);
  // Lent to the instance that defines the resource: the representation itself.
  if (rt != nullptr && rt->impl == &cx.inst) return rep;
  if (cx.scope == nullptr)
    return make_error(ErrorCode::InternalError, "a borrow handle lowered outside a call");
  auto index = cx.inst.handles.add(ResourceHandle{type.resource, rep, false, cx.scope, 0});
  if (!index) return index;
  ++cx.scope->num_borrows_;
  cx.scope->borrow_holder_ = &cx.inst;
  return index;
}

// ---------------------------------------------------------------- built-ins

Result<uint32_t> resource_new(InstanceState& inst, const ResourceType& type, uint32_t rep) {
  AIRSSYS_TRY(check_may_leave(inst));
  return inst.handles.add(ResourceHandle{type.id, rep, true, nullptr, 0});
}

Result<void> resource_drop(InstanceState& inst, const ResourceType& type, uint32_t index) {
  AIRSSYS_TRY(check_may_leave(inst));
  auto h = inst.handles.get(index);
  if (!h) return std::unexpected(h.error());
  AIRSSYS_TRY(check_type(**h, index, type.id));
  if ((*h)->num_lends != 0) return trap("cannot remove owned resource while borrowed");
  auto removed = inst.handles.remove(index);
  if (!removed) return std::unexpected(removed.error());
  if (!removed->own) {
    if (removed->borrow_scope != nullptr && removed->borrow_scope->num_borrows_ > 0)
      --removed->borrow_scope->num_borrows_;
    return {};
  }
  // The destructor is called as a component call into the defining
  // instance, with or without a destructor: entering it must be allowed.
  if (type.impl == nullptr) return type.dtor ? type.dtor(removed->rep) : Result<void>{};
  AIRSSYS_TRY(type.impl->enter_from(&inst));
  auto done = type.dtor ? type.dtor(removed->rep) : Result<void>{};
  type.impl->leave_to(&inst);
  return done;
}

Result<uint32_t> resource_rep(InstanceState& inst, const ResourceType& type, uint32_t index) {
  auto h = inst.handles.get(index);
  if (!h) return std::unexpected(h.error());
  AIRSSYS_TRY(check_type(**h, index, type.id));
  return (*h)->rep;
}

}  // namespace airssys::wasm::cm
