#pragma once
// The vocabulary of the security layer: permissions on resources, trust
// levels, component identity.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace airssys::wasm::security {

enum class ResourceKind : uint8_t { Filesystem, Network, Storage, Messaging };

// Every permission a manifest can grant, as `<resource>.<action>`.
#define AIRSSYS_PERMISSIONS(X)                       \
  X(FsRead, Filesystem, "filesystem.read")           \
  X(FsWrite, Filesystem, "filesystem.write")         \
  X(FsExecute, Filesystem, "filesystem.execute")     \
  X(NetConnect, Network, "network.connect")          \
  X(NetBind, Network, "network.bind")                \
  X(NetListen, Network, "network.listen")            \
  X(StorageRead, Storage, "storage.read")            \
  X(StorageWrite, Storage, "storage.write")          \
  X(StorageDelete, Storage, "storage.delete")        \
  X(MsgSend, Messaging, "messaging.send")            \
  X(MsgReceive, Messaging, "messaging.receive")      \
  X(MsgPublish, Messaging, "messaging.publish")      \
  X(MsgSubscribe, Messaging, "messaging.subscribe")

enum class Permission : uint8_t {
#define AIRSSYS_X(name, kind, text) name,
  AIRSSYS_PERMISSIONS(AIRSSYS_X)
#undef AIRSSYS_X
};

inline constexpr size_t kPermissionCount = 0
#define AIRSSYS_X(name, kind, text) +1
    AIRSSYS_PERMISSIONS(AIRSSYS_X)
#undef AIRSSYS_X
    ;

inline constexpr std::array<Permission, kPermissionCount> kAllPermissions = {
#define AIRSSYS_X(name, kind, text) Permission::name,
    AIRSSYS_PERMISSIONS(AIRSSYS_X)
#undef AIRSSYS_X
};

// "filesystem.read"
[[nodiscard]] std::string_view permission_name(Permission permission);
// "read"
[[nodiscard]] std::string_view permission_action(Permission permission);
[[nodiscard]] ResourceKind resource_kind(Permission permission);
[[nodiscard]] std::string_view resource_kind_name(ResourceKind kind);
[[nodiscard]] std::optional<Permission> parse_permission(std::string_view text);

// Where a component's trust decision came from.
enum class TrustLevel : uint8_t {
  Trusted,  // signed by a trusted key or installed from a trusted path
  Unknown,  // anything else: needs an approval before it runs with capabilities
  DevMode,  // checks bypassed for local development; only when configured
};

[[nodiscard]] std::string_view trust_level_name(TrustLevel level);
[[nodiscard]] std::optional<TrustLevel> parse_trust_level(std::string_view text);

}  // namespace airssys::wasm::security
