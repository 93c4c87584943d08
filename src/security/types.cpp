#include "airssys/wasm/security/types.hpp"

#include "airssys/wasm/core/enum_names.hpp"

namespace airssys::wasm::security {
namespace {

struct PermissionInfo {
  ResourceKind kind;
  std::string_view name;
};

constexpr std::array<PermissionInfo, kPermissionCount> kPermissionInfo = {{
#define AIRSSYS_X(name, kind, text) {ResourceKind::kind, text},
    AIRSSYS_PERMISSIONS(AIRSSYS_X)
#undef AIRSSYS_X
}};

}  // namespace

std::string_view permission_name(Permission permission) {
  return kPermissionInfo[static_cast<size_t>(permission)].name;
}

std::string_view permission_action(Permission permission) {
  auto name = permission_name(permission);
  return name.substr(name.find('.') + 1);
}

ResourceKind resource_kind(Permission permission) {
  return kPermissionInfo[static_cast<size_t>(permission)].kind;
}

std::string_view resource_kind_name(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::Filesystem: return "filesystem";
    case ResourceKind::Network: return "network";
    case ResourceKind::Storage: return "storage";
    case ResourceKind::Messaging: return "messaging";
  }
  return "?";
}

std::optional<Permission> parse_permission(std::string_view text) {
  for (auto p : kAllPermissions) {
    if (permission_name(p) == text) return p;
  }
  return std::nullopt;
}

// X(level, name): both directions are made from this one table.
#define AIRSSYS_TRUST_LEVELS(X)     \
  X(TrustLevel::Trusted, "trusted") \
  X(TrustLevel::Unknown, "unknown") \
  X(TrustLevel::DevMode, "dev-mode")

std::string_view trust_level_name(TrustLevel level) {
  switch (level) { AIRSSYS_TRUST_LEVELS(AIRSSYS_ENUM_NAME_CASE) }
  return "?";
}

std::optional<TrustLevel> parse_trust_level(std::string_view text) {
  AIRSSYS_TRUST_LEVELS(AIRSSYS_ENUM_PARSE_IF)
  return std::nullopt;
}

}  // namespace airssys::wasm::security
