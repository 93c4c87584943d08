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

int64_t code(AbiError e) {
  return static_cast<int64_t>(e);
}

bool is_key_char(uint8_t c) {
  return c > 0x20 && c < 0x7f && c != '*';
}

// A key, prefix or cursor from guest memory; `len` 0 is allowed only where
// `may_be_empty`. Keys must be valid storage keys, prefixes need not end on a
// segment boundary.
std::optional<std::string_view> read_key_text(HostCall& call, uint32_t ptr, uint32_t len,
                                              bool may_be_empty) {
  if ((len == 0 && !may_be_empty) || len > kMaxKvKeyBytes) return std::nullopt;
  if (len == 0) return std::string_view();
  auto bytes = call.memory(ptr, len);
  if (!bytes) return std::nullopt;
  for (uint8_t b : *bytes) {
    if (!is_key_char(b)) return std::nullopt;
  }
  return std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size());
}

std::optional<std::string_view> read_key(HostCall& call, uint32_t ptr, uint32_t len) {
  auto key = read_key_text(call, ptr, len, false);
  if (!key || !security::is_valid_storage_key(*key)) return std::nullopt;
  return key;
}

// A store failure is the host's problem, not the guest's: the guest sees
// E_UNAVAILABLE, the component's log gets the reason.
int64_t store_failed(const ComponentContext& ctx, const char* function, const Error& error) {
  const std::string line = fmt::format("airssys.{}: {}\n", function, error.message);
  ctx.write_stderr({reinterpret_cast<const uint8_t*>(line.data()), line.size()});
  return code(AbiError::Unavailable);
}

// kv_get(key, key_len, buf, buf_len) -> i64
int64_t kv_get(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = read_key(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  const uint32_t buf_len = u32(a[3]);
  auto out = call.memory(u32(a[2]), buf_len);
  if (!out) return code(AbiError::Invalid);
  if (!ctx.authorize(Permission::StorageRead, *key)) return code(AbiError::Denied);
  if (!ctx.kv()) return code(AbiError::Unavailable);
  auto size = ctx.kv()->read(ctx.name(), *key, *out);
  if (!size) return store_failed(ctx, "kv_get", size.error());
  if (!*size) return code(AbiError::NotFound);
  // buf_len 0 asks for the size only.
  if (buf_len != 0 && **size > buf_len) return code(AbiError::Buffer);
  return static_cast<int64_t>(**size);
}

// The answer to a refused check_capability_with_quota.
int64_t refusal(const Error& error) {
  return code(error.code == ErrorCode::QuotaExceeded ? AbiError::Quota : AbiError::Denied);
}

// The bytes an entry holds in the namespace (key and value), 0 when absent.
Result<uint64_t> entry_size(const ComponentContext& ctx, std::string_view key) {
  AIRSSYS_TRY_ASSIGN(auto size, ctx.kv()->read(ctx.name(), key, {}));
  return size ? key.size() + *size : 0;
}

// kv_set(key, key_len, value, value_len) -> i32
int64_t kv_set(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = read_key(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  const uint32_t value_len = u32(a[3]);
  auto value = call.memory(u32(a[2]), value_len);
  if (!value) return code(AbiError::Invalid);
  if (!ctx.kv()) {
    return ctx.authorize(Permission::StorageWrite, *key) ? code(AbiError::Unavailable)
                                                         : code(AbiError::Denied);
  }
  // The growth of the namespace is what the storage quota must admit; a
  // value over the maximum is refused after the capability check.
  uint64_t growth = 0;
  if (value_len <= kMaxKvValueBytes) {
    auto old_size = entry_size(ctx, *key);
    if (!old_size) return store_failed(ctx, "kv_set", old_size.error());
    const uint64_t new_size = key->size() + value_len;
    growth = new_size > *old_size ? new_size - *old_size : 0;
  }
  // A write that does not grow the namespace needs the grant only: it always
  // passes the quota, also one lowered below what the namespace holds, so
  // that a component over its quota can shrink its state.
  if (auto ok = growth == 0
                    ? ctx.authorize(Permission::StorageWrite, *key)
                    : ctx.check_capability_with_quota(Permission::StorageWrite, *key,
                                                      security::QuotaKind::Storage, growth);
      !ok) {
    return refusal(ok.error());
  }
  if (value_len > kMaxKvValueBytes) {
    ctx.audit(
        "storage.write", *key, AuditResult::Denied, DecisionLayer::Quota,
        fmt::format("value of {} bytes is over the maximum of {}", value_len, kMaxKvValueBytes));
    return code(AbiError::TooLarge);
  }
  // The store checks the quota again inside its transaction: the database is
  // the truth, shared with anything else that writes the namespace.
  const uint64_t quota = ctx.security().context->quotas().storage_bytes;
  auto used = ctx.kv()->set(ctx.name(), *key, *value, quota);
  if (!used) {
    ctx.settle_quota(security::QuotaKind::Storage, growth, 0);
    if (used.error().code != ErrorCode::QuotaExceeded) {
      return store_failed(ctx, "kv_set", used.error());
    }
    ctx.audit("storage.write", *key, AuditResult::Denied, DecisionLayer::Quota,
              used.error().message);
    return code(AbiError::Quota);
  }
  ctx.quota()->set_used(security::QuotaKind::Storage, *used);
  ctx.report_quota(security::QuotaKind::Storage);
  return code(AbiError::Ok);
}

// kv_delete(key, key_len) -> i32: 1 when the key existed, 0 when it did not
int64_t kv_delete(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = read_key(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  if (!ctx.authorize(Permission::StorageDelete, *key)) return code(AbiError::Denied);
  if (!ctx.kv()) return code(AbiError::Unavailable);
  auto size = entry_size(ctx, *key);
  if (!size) return store_failed(ctx, "kv_delete", size.error());
  auto removed = ctx.kv()->remove(ctx.name(), *key);
  if (!removed) return store_failed(ctx, "kv_delete", removed.error());
  if (*removed) {
    ctx.quota()->release(security::QuotaKind::Storage, *size);  // released on delete
    ctx.report_quota(security::QuotaKind::Storage);
  }
  return *removed ? 1 : 0;
}

// kv_exists(key, key_len) -> i32: 1 or 0
int64_t kv_exists(HostCall& call, ComponentContext& ctx, Args a) {
  auto key = read_key(call, u32(a[0]), u32(a[1]));
  if (!key) return code(AbiError::Invalid);
  if (!ctx.authorize(Permission::StorageRead, *key)) return code(AbiError::Denied);
  if (!ctx.kv()) return code(AbiError::Unavailable);
  auto found = ctx.kv()->exists(ctx.name(), *key);
  if (!found) return store_failed(ctx, "kv_exists", found.error());
  return *found ? 1 : 0;
}

// kv_list(prefix, prefix_len, after, after_len, buf, buf_len) -> i64: the
// number of keys written to buf, each followed by a NUL byte.
int64_t kv_list(HostCall& call, ComponentContext& ctx, Args a) {
  auto prefix = read_key_text(call, u32(a[0]), u32(a[1]), true);
  auto after = read_key_text(call, u32(a[2]), u32(a[3]), true);
  if (!prefix || !after) return code(AbiError::Invalid);
  const uint32_t buf_len = u32(a[5]);
  auto out = call.memory(u32(a[4]), buf_len);
  if (!out) return code(AbiError::Invalid);
  // Listing reveals every key under the prefix's last whole segment, so that
  // is what is authorized: "orders:4" needs storage.read on "orders:*". No
  // manifest pattern segment contains '*', so only a wildcard grant covering
  // all of "orders:" matches that resource.
  const size_t boundary = prefix->rfind(':');
  const std::string resource =
      std::string(prefix->substr(0, boundary == std::string_view::npos ? 0 : boundary + 1)) + "*";
  if (!ctx.authorize(Permission::StorageRead, resource)) return code(AbiError::Denied);
  if (!ctx.kv()) return code(AbiError::Unavailable);

  size_t written = 0;
  int64_t count = 0;
  std::string cursor(*after);
  for (;;) {
    auto page = ctx.kv()->list(ctx.name(), *prefix, cursor, kListPage);
    if (!page) return store_failed(ctx, "kv_list", page.error());
    for (const auto& key : *page) {
      // Host policy deny rules may still hide single keys under the prefix.
      if (!ctx.permits(Permission::StorageRead, key)) continue;
      if (key.size() + 1 > out->size() - written) {
        return count > 0 ? count : code(AbiError::Buffer);
      }
      std::memcpy(out->data() + written, key.data(), key.size());
      written += key.size();
      (*out)[written++] = 0;
      if (++count == kMaxKvListKeys) return count;
    }
    if (page->size() < kListPage) return count;
    cursor = page->back();
  }
}

// kv_usage() -> i64: the bytes held by this component's namespace
int64_t kv_usage(HostCall&, ComponentContext& ctx, Args) {
  if (ctx.name().empty()) return code(AbiError::Denied);
  if (!ctx.kv()) return code(AbiError::Unavailable);
  auto used = ctx.kv()->usage(ctx.name());
  if (!used) return store_failed(ctx, "kv_usage", used.error());
  return static_cast<int64_t>(*used);
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
