#include "airssys/wasm/host/kv.hpp"

#include <fmt/format.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/security/pattern.hpp"
#include "airssys_functions.hpp"

namespace airssys::wasm::host {
namespace {

constexpr size_t kListPage = 256;  // keys fetched from the store at a time

bool is_key_char(uint8_t c) {
  return c > 0x20 && c < 0x7f && c != '*';
}

// A key, prefix or cursor; empty is allowed only where `may_be_empty`. Keys
// must be valid storage keys, prefixes need not end on a segment boundary.
bool is_key_text(std::string_view text, bool may_be_empty) {
  if ((text.empty() && !may_be_empty) || text.size() > kMaxKvKeyBytes) return false;
  for (unsigned char b : text) {
    if (!is_key_char(b)) return false;
  }
  return true;
}

bool is_key(std::string_view key) {
  return is_key_text(key, false) && security::is_valid_storage_key(key);
}

// A store failure is the host's problem, not the guest's: the guest sees
// E_UNAVAILABLE, the component's log gets the reason.
std::unexpected<AbiError> store_failed(const ComponentContext& ctx, const char* function,
                                       const Error& error) {
  const std::string line = fmt::format("airssys.{}: {}\n", function, error.message);
  ctx.write_stderr({reinterpret_cast<const uint8_t*>(line.data()), line.size()});
  return std::unexpected(AbiError::Unavailable);
}

// The answer to a refused check_capability_with_quota.
std::unexpected<AbiError> refusal(const Error& error) {
  return std::unexpected(error.code == ErrorCode::QuotaExceeded ? AbiError::Quota
                                                                : AbiError::Denied);
}

// The bytes an entry holds in the namespace (key and value), 0 when absent.
Result<uint64_t> entry_size(const ComponentContext& ctx, std::string_view key) {
  AIRSSYS_TRY_ASSIGN(auto size, ctx.kv()->read(ctx.name(), key, {}));
  return size ? key.size() + *size : 0;
}

}  // namespace

Answer<std::optional<uint64_t>> kv_read(ComponentContext& ctx, std::string_view key,
                                        std::span<uint8_t> out) {
  if (!is_key(key)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::StorageRead, key)) return std::unexpected(AbiError::Denied);
  if (!ctx.kv()) return std::unexpected(AbiError::Unavailable);
  auto size = ctx.kv()->read(ctx.name(), key, out);
  if (!size) return store_failed(ctx, "kv_get", size.error());
  return *size;
}

Answer<void> kv_write(ComponentContext& ctx, std::string_view key, std::span<const uint8_t> value) {
  if (!is_key(key)) return std::unexpected(AbiError::Invalid);
  if (!ctx.kv()) {
    return std::unexpected(ctx.authorize(Permission::StorageWrite, key) ? AbiError::Unavailable
                                                                        : AbiError::Denied);
  }
  // The growth of the namespace is what the storage quota must admit; a
  // value over the maximum is refused after the capability check.
  const uint64_t value_len = value.size();
  uint64_t growth = 0;
  if (value_len <= kMaxKvValueBytes) {
    auto old_size = entry_size(ctx, key);
    if (!old_size) return store_failed(ctx, "kv_set", old_size.error());
    const uint64_t new_size = key.size() + value_len;
    growth = new_size > *old_size ? new_size - *old_size : 0;
  }
  // A write that does not grow the namespace needs the grant only: it always
  // passes the quota, also one lowered below what the namespace holds, so
  // that a component over its quota can shrink its state.
  if (auto ok = growth == 0
                    ? ctx.authorize(Permission::StorageWrite, key)
                    : ctx.check_capability_with_quota(Permission::StorageWrite, key,
                                                      security::QuotaKind::Storage, growth);
      !ok) {
    return refusal(ok.error());
  }
  if (value_len > kMaxKvValueBytes) {
    ctx.audit(
        "storage.write", key, AuditResult::Denied, DecisionLayer::Quota,
        fmt::format("value of {} bytes is over the maximum of {}", value_len, kMaxKvValueBytes));
    return std::unexpected(AbiError::TooLarge);
  }
  // The store checks the quota again inside its transaction: the database is
  // the truth, shared with anything else that writes the namespace.
  const uint64_t quota = ctx.security().context->quotas().storage_bytes;
  auto used = ctx.kv()->set(ctx.name(), key, value, quota);
  if (!used) {
    ctx.settle_quota(security::QuotaKind::Storage, growth, 0);
    if (used.error().code != ErrorCode::QuotaExceeded) {
      return store_failed(ctx, "kv_set", used.error());
    }
    ctx.audit("storage.write", key, AuditResult::Denied, DecisionLayer::Quota,
              used.error().message);
    return std::unexpected(AbiError::Quota);
  }
  ctx.quota()->set_used(security::QuotaKind::Storage, *used);
  ctx.report_quota(security::QuotaKind::Storage);
  return {};
}

Answer<bool> kv_remove(ComponentContext& ctx, std::string_view key) {
  if (!is_key(key)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::StorageDelete, key)) return std::unexpected(AbiError::Denied);
  if (!ctx.kv()) return std::unexpected(AbiError::Unavailable);
  auto size = entry_size(ctx, key);
  if (!size) return store_failed(ctx, "kv_delete", size.error());
  auto removed = ctx.kv()->remove(ctx.name(), key);
  if (!removed) return store_failed(ctx, "kv_delete", removed.error());
  if (*removed) {
    ctx.quota()->release(security::QuotaKind::Storage, *size);  // released on delete
    ctx.report_quota(security::QuotaKind::Storage);
  }
  return *removed;
}

Answer<bool> kv_contains(ComponentContext& ctx, std::string_view key) {
  if (!is_key(key)) return std::unexpected(AbiError::Invalid);
  if (!ctx.authorize(Permission::StorageRead, key)) return std::unexpected(AbiError::Denied);
  if (!ctx.kv()) return std::unexpected(AbiError::Unavailable);
  auto found = ctx.kv()->exists(ctx.name(), key);
  if (!found) return store_failed(ctx, "kv_exists", found.error());
  return *found;
}

Answer<void> kv_keys(ComponentContext& ctx, std::string_view prefix, std::string_view after,
                     uint32_t limit, const std::function<bool(std::string_view key)>& take) {
  if (!is_key_text(prefix, true) || !is_key_text(after, true)) {
    return std::unexpected(AbiError::Invalid);
  }
  // Listing reveals every key under the prefix's last whole segment, so that
  // is what is authorized: "orders:4" needs storage.read on "orders:*". No
  // manifest pattern segment contains '*', so only a wildcard grant covering
  // all of "orders:" matches that resource.
  const size_t boundary = prefix.rfind(':');
  const std::string resource =
      std::string(prefix.substr(0, boundary == std::string_view::npos ? 0 : boundary + 1)) + "*";
  if (!ctx.authorize(Permission::StorageRead, resource)) return std::unexpected(AbiError::Denied);
  if (!ctx.kv()) return std::unexpected(AbiError::Unavailable);

  limit = std::min(limit, kMaxKvListKeys);
  uint32_t count = 0;
  std::string cursor(after);
  while (count < limit) {
    auto page = ctx.kv()->list(ctx.name(), prefix, cursor, kListPage);
    if (!page) return store_failed(ctx, "kv_list", page.error());
    for (const auto& key : *page) {
      // Host policy deny rules may still hide single keys under the prefix.
      if (!ctx.permits(Permission::StorageRead, key)) continue;
      if (!take(key) || ++count == limit) return {};
    }
    if (page->size() < kListPage) return {};
    cursor = page->back();
  }
  return {};
}

Answer<uint64_t> kv_used(ComponentContext& ctx) {
  if (ctx.name().empty()) return std::unexpected(AbiError::Denied);
  if (!ctx.kv()) return std::unexpected(AbiError::Unavailable);
  auto used = ctx.kv()->usage(ctx.name());
  if (!used) return store_failed(ctx, "kv_usage", used.error());
  return *used;
}

namespace {

// The core ABI: arguments read from guest memory, answers as numbers.

int64_t code(AbiError e) {
  return static_cast<int64_t>(e);
}

// A key, prefix or cursor in guest memory; none when it is too long or its
// range is outside the memory (both malformed, as a bad key is).
std::optional<std::string_view> text_at(HostCall& call, uint32_t ptr, uint32_t len) {
  if (len == 0) return std::string_view();
  if (len > kMaxKvKeyBytes) return std::nullopt;
  auto bytes = call.memory(ptr, len);
  if (!bytes) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

// kv_get(key, key_len, buf, buf_len) -> i64
int64_t kv_get(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = text_at(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  const uint32_t buf_len = u32(a[3]);
  auto out = call.memory(u32(a[2]), buf_len);
  if (!out) return code(AbiError::Invalid);
  auto size = kv_read(ctx, *key, *out);
  if (!size) return code(size.error());
  if (!*size) return code(AbiError::NotFound);
  // buf_len 0 asks for the size only.
  if (buf_len != 0 && **size > buf_len) return code(AbiError::Buffer);
  return static_cast<int64_t>(**size);
}

// kv_set(key, key_len, value, value_len) -> i32
int64_t kv_set(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = text_at(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  auto value = call.memory(u32(a[2]), u32(a[3]));
  if (!value) return code(AbiError::Invalid);
  return abi_result(kv_write(ctx, *key, *value));
}

// kv_delete(key, key_len) -> i32: 1 when the key existed, 0 when it did not
int64_t kv_delete(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = text_at(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  return abi_result(kv_remove(ctx, *key));
}

// kv_exists(key, key_len) -> i32: 1 or 0
int64_t kv_exists(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = text_at(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  return abi_result(kv_contains(ctx, *key));
}

// kv_list(prefix, prefix_len, after, after_len, buf, buf_len) -> i64: the
// number of keys written to buf, each followed by a NUL byte.
int64_t kv_list(HostCall& call, ComponentContext& ctx, Args a) {
  auto prefix = text_at(call, u32(a[0]), u32(a[1]));
  auto after = text_at(call, u32(a[2]), u32(a[3]));
  if (!prefix || !after) return code(AbiError::Invalid);
  const uint32_t buf_len = u32(a[5]);
  auto out = call.memory(u32(a[4]), buf_len);
  if (!out) return code(AbiError::Invalid);
  size_t written = 0;
  int64_t count = 0;
  bool full = false;
  auto listed = kv_keys(ctx, *prefix, *after, kMaxKvListKeys, [&](std::string_view key) {
    if (key.size() + 1 > out->size() - written) {
      full = true;
      return false;
    }
    std::memcpy(out->data() + written, key.data(), key.size());
    written += key.size();
    (*out)[written++] = 0;
    ++count;
    return true;
  });
  if (!listed) return code(listed.error());
  return full && count == 0 ? code(AbiError::Buffer) : count;
}

// kv_usage() -> i64: the bytes held by this component's namespace
int64_t kv_usage(HostCall&, ComponentContext& ctx, Args) {
  return abi_result(kv_used(ctx));
}

}  // namespace

void add_kv(engine::Linker& linker) {
  static const std::vector<AirssysFunction> kFunctions = {
      {"kv_get", {I32, I32, I32, I32}, I64, kv_get},
      {"kv_set", {I32, I32, I32, I32}, I32, kv_set},
      {"kv_delete", {I32, I32}, I32, kv_delete},
      {"kv_exists", {I32, I32}, I32, kv_exists},
      {"kv_list", {I32, I32, I32, I32, I32, I32}, I64, kv_list},
      {"kv_usage", {}, I64, kv_usage},
  };
  define_airssys_functions(linker, kFunctions);
}

}  // namespace airssys::wasm::host
