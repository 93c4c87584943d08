// What the host provides for a component's imports (cm::HostInstance):
// functions, resource types and nested instances by name, and the lookup
// that serves an interface's import at any semver-compatible version.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "airssys/wasm/cm/instance.hpp"

namespace airssys::wasm::cm {

HostInstance::HostInstance() : resources_(std::make_shared<ResourceTypes>()) {}
HostInstance::HostInstance(std::shared_ptr<ResourceTypes> resources)
    : resources_(std::move(resources)) {}

HostInstance::Item& HostInstance::slot(std::string name) {
  for (auto& [n, item] : items_) {
    if (n == name) {
      item = Item{};
      return item;
    }
  }
  items_.emplace_back(std::move(name), Item{});
  return items_.back().second;
}

void HostInstance::define_func(std::string name, FuncType type, HostFn fn) {
  Item& item = slot(std::move(name));
  item.sort = Sort::Func;
  item.type = std::make_shared<const FuncType>(std::move(type));
  item.fn = std::move(fn);
}

void HostInstance::define_raw_func(std::string name, FuncType type, RawHostFn raw, HostFn fn) {
  Item& item = slot(std::move(name));
  item.sort = Sort::Func;
  item.type = std::make_shared<const FuncType>(std::move(type));
  item.fn = std::move(fn);
  item.raw = std::move(raw);
}

const ResourceType& HostInstance::define_resource(std::string name, Destructor dtor) {
  Item& item = slot(std::move(name));
  item.sort = Sort::Type;
  item.resource = &resources_->define(nullptr, std::move(dtor));
  return *item.resource;
}

void HostInstance::define_type(std::string name, const ResourceType* resource) {
  Item& item = slot(std::move(name));
  item.sort = Sort::Type;
  item.resource = resource;
}

HostInstance& HostInstance::define_instance(std::string name) {
  Item& item = slot(std::move(name));
  item.sort = Sort::Instance;
  item.instance = std::make_shared<HostInstance>(resources_);
  return *item.instance;
}

namespace {

// "pkg/iface@1.2.3" split at '@' into the name and the numbers of its
// version; false when there is no version of three numbers.
bool split_version(std::string_view name, std::string_view& base, uint64_t (&v)[3]) {
  size_t at = name.rfind('@');
  if (at == std::string_view::npos) return false;
  base = name.substr(0, at);
  std::string_view rest = name.substr(at + 1);
  for (int i = 0; i < 3; ++i) {
    size_t end = i < 2 ? rest.find('.') : rest.size();
    if (end == std::string_view::npos || end == 0) return false;
    v[i] = 0;
    for (char c : rest.substr(0, end)) {
      if (c < '0' || c > '9' || v[i] > UINT64_MAX / 16) return false;
      v[i] = v[i] * 10 + static_cast<uint64_t>(c - '0');
    }
    rest = i < 2 ? rest.substr(end + 1) : std::string_view{};
  }
  return true;
}

}  // namespace

bool semver_compatible(std::string_view wanted, std::string_view served) {
  std::string_view wanted_base, served_base;
  uint64_t want[3], have[3];
  if (!split_version(wanted, wanted_base, want) || !split_version(served, served_base, have))
    return wanted == served;
  if (wanted_base != served_base || have[0] != want[0]) return false;
  return want[0] != 0 || have[1] == want[1];
}

const HostInstance::Item* HostInstance::find(std::string_view name) const {
  for (const auto& [n, item] : items_) {
    if (n == name) return &item;
  }
  // Semver-compatible: "wasi:io/streams@0.2.3" is served by "wasi:io/streams@0.2.12"
  // (same major version, or same minor under 0.x), the highest such version.
  std::string_view base;
  uint64_t want[3];
  if (!split_version(name, base, want)) return nullptr;
  const Item* best = nullptr;
  uint64_t best_v[3] = {};
  for (const auto& [n, item] : items_) {
    std::string_view b;
    uint64_t have[3];
    if (!split_version(n, b, have) || b != base || have[0] != want[0]) continue;
    if (want[0] == 0 && have[1] != want[1]) continue;
    if (!best || std::lexicographical_compare(best_v, best_v + 3, have, have + 3)) {
      best = &item;
      std::copy(have, have + 3, best_v);
    }
  }
  return best;
}

}  // namespace airssys::wasm::cm
