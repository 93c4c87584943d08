#pragma once
// The capabilities a component was granted: per permission, a list of compiled
// patterns. Deny by default: a permission without patterns grants nothing.
// Immutable once built, so any number of threads may check at once without a
// lock; check() never allocates.

#include <array>
#include <memory>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "airssys/wasm/core/error.hpp"
#include "airssys/wasm/security/pattern.hpp"
#include "airssys/wasm/security/types.hpp"

namespace airssys::wasm::security {

// Why a check decided as it did. The text of each is static (decision_reason_text).
enum class DecisionReason : uint8_t {
  Matched,           // granted: a pattern matched (Decision::pattern_index)
  DevMode,           // granted: the component runs in dev mode, checks bypassed
  NotGranted,        // denied: no pattern for this permission
  NoMatch,           // denied: patterns exist, none matches
  MalformedPath,     // denied: not an absolute, normalized path
  MalformedAddress,  // denied: not host:port with a valid host and port
  MalformedKey,      // denied: not a valid storage key
  MalformedName,     // denied: not a valid component name
  MalformedTopic,    // denied: not a valid topic (or subscription filter)
};

[[nodiscard]] std::string_view decision_reason_text(DecisionReason reason) noexcept;

// The outcome of one check, with what an audit record needs. The resource is
// not copied: the caller has it.
struct Decision {
  static constexpr uint32_t kNoPattern = UINT32_MAX;

  bool granted = false;
  Permission permission = Permission::FsRead;
  DecisionReason reason = DecisionReason::NotGranted;
  uint32_t pattern_index = kNoPattern;  // Matched: index into CapabilitySet::patterns()

  [[nodiscard]] static constexpr Decision grant(Permission p, DecisionReason r,
                                                uint32_t index = kNoPattern) noexcept {
    return {true, p, r, index};
  }
  [[nodiscard]] static constexpr Decision deny(Permission p, DecisionReason r) noexcept {
    return {false, p, r, kNoPattern};
  }
  [[nodiscard]] std::string_view reason_text() const noexcept {
    return decision_reason_text(reason);
  }
};

// Pattern texts per permission, indexed by static_cast<size_t>(Permission).
using PatternLists = std::array<std::vector<std::string>, kPermissionCount>;

// What a resource is, per permission kind (pattern.hpp has the rules):
//   filesystem.*           an absolute, normalized path
//   network.*              host:port
//   storage.*              a key inside the component's namespace
//   messaging.send         the target component's name
//   messaging.receive      the sending component's name
//   messaging.publish      a concrete topic
//   messaging.subscribe    a subscription filter (a topic, or one with `*`/`#`
//                          levels): granted when one pattern covers every topic
//                          the filter matches
// Example:
//   PatternLists lists;
//   lists[static_cast<size_t>(Permission::StorageRead)] = {"orders:*"};
//   auto caps = CapabilitySet::build(lists);
//   caps->check(Permission::StorageRead, "orders:42").granted;   // true
//   caps->check(Permission::StorageWrite, "orders:42").granted;  // false
class CapabilitySet {
 public:
  CapabilitySet() = default;  // grants nothing

  // Compiles every pattern once; the first bad pattern fails the whole set
  // (InvalidArgument, naming the permission, the pattern and the rule).
  [[nodiscard]] static Result<CapabilitySet> build(const PatternLists& patterns);

  [[nodiscard]] Decision check(Permission permission, std::string_view resource) const noexcept;

  // The pattern texts of a permission, in the order given to build().
  [[nodiscard]] std::span<const std::string> patterns(Permission permission) const noexcept {
    const auto& grants = grants_[index(permission)];
    return grants ? std::span<const std::string>(grants->texts) : std::span<const std::string>();
  }
  [[nodiscard]] bool grants_any(Permission permission) const noexcept {
    return grants_[index(permission)] != nullptr;
  }

  CapabilitySet(const CapabilitySet& other);
  CapabilitySet& operator=(const CapabilitySet& other);
  CapabilitySet(CapabilitySet&&) noexcept = default;
  CapabilitySet& operator=(CapabilitySet&&) noexcept = default;
  ~CapabilitySet();

 private:
  static constexpr size_t index(Permission permission) noexcept {
    return static_cast<size_t>(permission);
  }

  // Only the vector of the permission's PatternKind is used.
  struct Grants {
    std::vector<std::string> texts;
    std::vector<PathPattern> paths;
    std::vector<NetworkPattern> endpoints;
    std::vector<StorageKeyPattern> keys;
    std::vector<ComponentNamePattern> names;
    std::vector<TopicPattern> topics;
  };

  // One pointer per permission, null when it grants nothing: a component
  // pays only for the permissions it holds.
  std::array<std::unique_ptr<const Grants>, kPermissionCount> grants_;
};

}  // namespace airssys::wasm::security
