#include "airssys/wasm/security/capability.hpp"

#include <fmt/format.h>

namespace airssys::wasm::security {
namespace {

template <class Pattern>
Result<void> compile_into(std::vector<Pattern>& out, Permission permission, std::string_view text) {
  auto compiled = Pattern::compile(text);
  if (!compiled) {
    return make_error(ErrorCode::InvalidArgument,
                      fmt::format("{}: {}", permission_name(permission), compiled.error().message));
  }
  out.push_back(std::move(*compiled));
  return {};
}

// The index of the first pattern that accepts the resource, or kNoPattern.
template <class Pattern, class Match>
uint32_t first_match(const std::vector<Pattern>& patterns, Match&& match) noexcept {
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (match(patterns[i])) return static_cast<uint32_t>(i);
  }
  return Decision::kNoPattern;
}

}  // namespace

std::string_view decision_reason_text(DecisionReason reason) noexcept {
  switch (reason) {
    case DecisionReason::Matched:
      return "granted by pattern";
    case DecisionReason::DevMode:
      return "dev mode";
    case DecisionReason::NotGranted:
      return "permission not granted";
    case DecisionReason::NoMatch:
      return "no granted pattern matches the resource";
    case DecisionReason::MalformedPath:
      return "not an absolute, normalized path";
    case DecisionReason::MalformedAddress:
      return "not a valid host:port";
    case DecisionReason::MalformedKey:
      return "not a valid storage key";
    case DecisionReason::MalformedName:
      return "not a valid component name";
    case DecisionReason::MalformedTopic:
      return "not a valid topic";
  }
  return "?";
}

CapabilitySet::~CapabilitySet() = default;

CapabilitySet::CapabilitySet(const CapabilitySet& other) { *this = other; }

CapabilitySet& CapabilitySet::operator=(const CapabilitySet& other) {
  if (this == &other) return *this;
  for (size_t i = 0; i < grants_.size(); ++i) {
    grants_[i] = other.grants_[i] ? std::make_unique<const Grants>(*other.grants_[i]) : nullptr;
  }
  return *this;
}

Result<CapabilitySet> CapabilitySet::build(const PatternLists& patterns) {
  CapabilitySet set;
  for (Permission permission : kAllPermissions) {
    const auto& texts = patterns[index(permission)];
    if (texts.empty()) continue;
    auto built = std::make_unique<Grants>();
    Grants& grants = *built;
    for (const std::string& text : texts) {
      switch (pattern_kind(permission)) {
        case PatternKind::Path:
          AIRSSYS_TRY(compile_into(grants.paths, permission, text));
          break;
        case PatternKind::HostPort:
          AIRSSYS_TRY(compile_into(grants.endpoints, permission, text));
          break;
        case PatternKind::StorageKey:
          AIRSSYS_TRY(compile_into(grants.keys, permission, text));
          break;
        case PatternKind::ComponentName:
          AIRSSYS_TRY(compile_into(grants.names, permission, text));
          break;
        case PatternKind::Topic:
          AIRSSYS_TRY(compile_into(grants.topics, permission, text));
          break;
      }
    }
    if (texts.size() >= Decision::kNoPattern) {
      return make_error(ErrorCode::InvalidArgument,
                        fmt::format("{}: too many patterns", permission_name(permission)));
    }
    grants.texts = texts;
    set.grants_[index(permission)] = std::move(built);
  }
  return set;
}

Decision CapabilitySet::check(Permission permission, std::string_view resource) const noexcept {
  if (!grants_[index(permission)]) return Decision::deny(permission, DecisionReason::NotGranted);
  const Grants& grants = *grants_[index(permission)];
  uint32_t found = Decision::kNoPattern;
  switch (pattern_kind(permission)) {
    case PatternKind::Path:
      if (!is_normal_absolute_path(resource)) {
        return Decision::deny(permission, DecisionReason::MalformedPath);
      }
      found = first_match(grants.paths,
                          [&](const PathPattern& p) { return p.matches_normal(resource); });
      break;
    case PatternKind::HostPort: {
      const auto endpoint = NetworkEndpoint::parse(resource);
      if (!endpoint) return Decision::deny(permission, DecisionReason::MalformedAddress);
      found = first_match(grants.endpoints,
                          [&](const NetworkPattern& p) { return p.matches(*endpoint); });
      break;
    }
    case PatternKind::StorageKey:
      if (!is_valid_storage_key(resource)) {
        return Decision::deny(permission, DecisionReason::MalformedKey);
      }
      found = first_match(grants.keys,
                          [&](const StorageKeyPattern& p) { return p.matches_valid(resource); });
      break;
    case PatternKind::ComponentName:
      if (!is_valid_component_name(resource)) {
        return Decision::deny(permission, DecisionReason::MalformedName);
      }
      found = first_match(grants.names,
                          [&](const ComponentNamePattern& p) { return p.matches_valid(resource); });
      break;
    case PatternKind::Topic: {
      const bool valid = permission == Permission::MsgSubscribe ? is_valid_topic_filter(resource)
                                                                : is_valid_topic(resource);
      if (!valid) return Decision::deny(permission, DecisionReason::MalformedTopic);
      found = first_match(grants.topics,
                          [&](const TopicPattern& p) { return p.covers_valid(resource); });
      break;
    }
  }
  if (found == Decision::kNoPattern) return Decision::deny(permission, DecisionReason::NoMatch);
  return Decision::grant(permission, DecisionReason::Matched, found);
}

}  // namespace airssys::wasm::security
