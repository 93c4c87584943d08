// The native tier's cache (native_codegen.hpp): the compilers' identity and
// the keys made from it, the entries' encoding, lookups and holds, and the
// publishing of a built entry. A cache directory is private to its user.

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wabt/config.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "airssys/wasm/engine/native_cache.hpp"
#include "native_codegen.hpp"
#include "native_compile.hpp"
#include "native_runtime_sources.hpp"

namespace airssys::wasm::engine::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kEntryMagic = "AIRSSYS-NATIVE4\n";  // 16 bytes
constexpr size_t kDigestBytes = crypto_hash_sha256_BYTES;
constexpr size_t kModulePrefixBytes = 8;  // of the module's digest, in an entry's name

std::string sha256_hex(std::string_view data) {
  unsigned char digest[kDigestBytes];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string out;
  for (auto b : digest) out += fmt::format("{:02x}", b);
  return out;
}

// A private directory: created 0700 when missing; refused when it belongs to
// someone else or others may enter it.
Result<void> ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ErrorCode::IoError, fmt::format("cannot create the native cache {}: {}",
                                                      dir.string(), std::strerror(errno)));
  }
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::IoError,
                      fmt::format("the native cache {} is not a directory", dir.string()));
  }
  if (st.st_uid != ::geteuid() || (st.st_mode & 077) != 0) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("the native cache {} must be a directory of this user with "
                                  "mode 0700 (it has {:o})",
                                  dir.string(), st.st_mode & 0777));
  }
  return {};
}

// The body of an entry whose recorded digest matches; nothing otherwise.
std::optional<std::string_view> verified_body(std::string_view entry) {
  if (entry.size() < kEntryMagic.size() + 64 || entry.substr(0, kEntryMagic.size()) != kEntryMagic) {
    return std::nullopt;
  }
  std::string_view recorded = entry.substr(kEntryMagic.size(), 64);
  std::string_view body = entry.substr(kEntryMagic.size() + 64);
  if (body.empty() || sha256_hex(body) != recorded) return std::nullopt;
  return body;
}

// The entry's body encoding: little-endian integers, strings and byte runs
// with a 32-bit (objects: 64-bit) length before them.
class EntryWriter {
 public:
  void u8(uint8_t v) { out_ += static_cast<char>(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void str(std::string_view v) {
    u32(static_cast<uint32_t>(v.size()));
    out_ += v;
  }
  void types(const std::vector<ValType>& v) {
    u32(static_cast<uint32_t>(v.size()));
    for (auto t : v) u8(static_cast<uint8_t>(t));
  }
  void sig(const FuncSig& v) {
    types(v.params);
    types(v.results);
  }
  void limits(const NativeLimits& l) {
    u64(l.initial);
    u64(l.max);
    u8(l.has_max);
  }
  void extern_type(const ExternType& t) {
    u8(static_cast<uint8_t>(t.kind));
    sig(t.sig);
    u8(static_cast<uint8_t>(t.value));
    u8(t.mutable_global);
    limits(NativeLimits{t.limits.initial, t.limits.max.value_or(0), t.limits.max.has_value()});
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class EntryReader {
 public:
  explicit EntryReader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool at_end() const { return at_ == in_.size(); }
  uint8_t u8() {
    if (at_ >= in_.size()) return fail();
    return static_cast<uint8_t>(in_[at_++]);
  }
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{u8()} << (8 * i);
    return v;
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{u8()} << (8 * i);
    return v;
  }
  std::string_view bytes(uint64_t n) {
    if (!ok_ || n > in_.size() - at_) {
      fail();
      return {};
    }
    auto v = in_.substr(at_, n);
    at_ += n;
    return v;
  }
  std::string str() { return std::string(bytes(u32())); }
  // A count of items each at least `min_bytes` long: bounded by what is left.
  uint32_t count(size_t min_bytes) {
    uint32_t n = u32();
    if (ok_ && n > (in_.size() - at_) / min_bytes) fail();
    return ok_ ? n : 0;
  }
  ValType type() {
    uint8_t t = u8();
    if (t > static_cast<uint8_t>(ValType::ExternRef)) fail();
    return static_cast<ValType>(t);
  }
  ExternKind kind() {
    uint8_t k = u8();
    if (k > static_cast<uint8_t>(ExternKind::Tag)) fail();
    return static_cast<ExternKind>(k);
  }
  bool flag() {
    uint8_t f = u8();
    if (f > 1) fail();
    return f == 1;
  }
  std::vector<ValType> types() {
    std::vector<ValType> out(count(1));
    for (auto& t : out) t = type();
    return out;
  }
  FuncSig sig() {
    FuncSig s;
    s.params = types();
    s.results = types();
    return s;
  }
  NativeLimits limits() {
    NativeLimits l;
    l.initial = u64();
    l.max = u64();
    l.has_max = flag();
    return l;
  }
  ExternType extern_type() {
    ExternType t;
    t.kind = kind();
    t.sig = sig();
    t.value = type();
    t.mutable_global = flag();
    NativeLimits l = limits();
    t.limits = ExternLimits{l.initial, l.has_max ? std::optional<uint64_t>(l.max) : std::nullopt};
    return t;
  }

 private:
  uint8_t fail() {
    ok_ = false;
    at_ = in_.size();
    return 0;
  }
  std::string_view in_;
  size_t at_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string encode_entry(std::string_view key, const NativeEntry& entry) {
  EntryWriter w;
  w.str(key);
  w.u32(static_cast<uint32_t>(entry.imports.size()));
  for (const auto& i : entry.imports) {
    w.str(i.module);
    w.str(i.name);
    w.extern_type(i);
  }
  w.u32(static_cast<uint32_t>(entry.exports.size()));
  for (const auto& e : entry.exports) {
    w.str(e.name);
    w.extern_type(e);
  }
  const auto& plan = entry.plan;
  w.u32(static_cast<uint32_t>(plan.imports.size()));
  for (const auto& i : plan.imports) {
    w.str(i.module);
    w.str(i.name);
    w.u8(static_cast<uint8_t>(i.kind));
    w.sig(i.sig);
    w.u8(static_cast<uint8_t>(i.type));
    w.u8(i.mutable_);
    w.limits(i.limits);
  }
  w.u32(static_cast<uint32_t>(plan.exports.size()));
  for (const auto& e : plan.exports) {
    w.str(e.name);
    w.u8(static_cast<uint8_t>(e.kind));
    w.sig(e.sig);
    w.u8(static_cast<uint8_t>(e.type));
    w.u8(e.mutable_);
    w.limits(e.limits);
  }
  for (const auto* list : {&plan.memories, &plan.tables}) {
    w.u32(static_cast<uint32_t>(list->size()));
    for (const auto& l : *list) w.limits(l);
  }
  // What the host alone uses: the guest's share of the exports, the hidden
  // exports of the mutable globals and the start function, and whether the
  // module's state can move (Instance::save_state).
  w.u32(static_cast<uint32_t>(plan.guest_exports));
  w.u32(static_cast<uint32_t>(plan.state_globals.size()));
  for (uint32_t k : plan.state_globals) w.u32(k);
  w.u8(plan.start_export.has_value());
  w.u32(plan.start_export.value_or(0));
  w.str(entry.state_hazard);
  w.u32(static_cast<uint32_t>(entry.warnings.size()));
  for (const auto& warning : entry.warnings) w.str(warning);
  w.u32(static_cast<uint32_t>(entry.func_names.size()));
  for (const auto& name : entry.func_names) w.str(name);
  w.u64(entry.object.size());
  w.out().append(reinterpret_cast<const char*>(entry.object.data()), entry.object.size());
  return std::move(w.out());
}

std::optional<NativeEntry> decode_entry(std::string_view key, std::string_view body) {
  EntryReader r(body);
  if (r.str() != key || !r.ok()) return std::nullopt;
  NativeEntry entry;
  entry.imports.resize(r.count(8));
  for (auto& i : entry.imports) {
    i.module = r.str();
    i.name = r.str();
    static_cast<ExternType&>(i) = r.extern_type();
  }
  entry.exports.resize(r.count(4));
  for (auto& e : entry.exports) {
    e.name = r.str();
    static_cast<ExternType&>(e) = r.extern_type();
  }
  auto& plan = entry.plan;
  plan.imports.resize(r.count(8));
  for (auto& i : plan.imports) {
    i.module = r.str();
    i.name = r.str();
    i.kind = r.kind();
    i.sig = r.sig();
    i.type = r.type();
    i.mutable_ = r.flag();
    i.limits = r.limits();
  }
  plan.exports.resize(r.count(4));
  for (auto& e : plan.exports) {
    e.name = r.str();
    e.kind = r.kind();
    e.sig = r.sig();
    e.type = r.type();
    e.mutable_ = r.flag();
    e.limits = r.limits();
  }
  for (auto* list : {&plan.memories, &plan.tables}) {
    list->resize(r.count(17));
    for (auto& l : *list) l = r.limits();
  }
  plan.guest_exports = r.u32();
  if (plan.guest_exports > plan.exports.size()) return std::nullopt;
  plan.state_globals.resize(r.count(4));
  for (auto& k : plan.state_globals) {
    k = r.u32();
    if (k >= plan.exports.size() || k < plan.guest_exports ||
        plan.exports[k].kind != ExternKind::Global) {
      return std::nullopt;
    }
  }
  const bool has_start = r.flag();
  const uint32_t start = r.u32();
  if (has_start) {
    if (start >= plan.exports.size() || start < plan.guest_exports ||
        plan.exports[start].kind != ExternKind::Func) {
      return std::nullopt;
    }
    plan.start_export = start;
  }
  entry.state_hazard = r.str();
  entry.warnings.resize(r.count(4));
  for (auto& warning : entry.warnings) warning = r.str();
  entry.func_names.resize(r.count(4));
  for (auto& name : entry.func_names) name = r.str();
  auto object = r.bytes(r.u64());
  if (!r.ok() || !r.at_end() || object.empty()) return std::nullopt;
  entry.object.assign(object.begin(), object.end());
  return entry;
}

Result<std::unique_ptr<NativeCompiler>> NativeCompiler::create(CompilerConfig config) {
  if (sodium_init() < 0) return make_error(ErrorCode::InternalError, "libsodium failed to start");
  for (const auto* tool : {&config.wasm2c, &config.cc}) {
    if (tool->empty() || !tool->is_absolute() || ::access(tool->c_str(), X_OK) != 0) {
      return make_error(ErrorCode::InvalidConfig,
                        fmt::format("native tier: no {} at '{}' (an executable given by absolute "
                                    "path)",
                                    tool == &config.cc ? "C compiler" : "wasm2c", tool->string()));
    }
  }
  AIRSSYS_TRY(ensure_private_dir(config.cache_dir));
  std::unique_ptr<NativeCompiler> compiler(new NativeCompiler(std::move(config)));
  // The identity of everything besides the module that decides the object.
  std::string identity{kGeneratorVersion};
  auto tmp = compiler->config_.cache_dir / fmt::format("identity-{}.log", ::getpid());
  for (const auto* tool : {&compiler->config_.wasm2c, &compiler->config_.cc}) {
    auto outcome = run_child({tool->string(), "--version"}, compiler->config_.cache_dir, tmp,
                             compiler->config_,
                             std::chrono::steady_clock::now() + compiler->config_.timeout,
                             nullptr, nullptr);
    std::error_code ec;
    fs::remove(tmp, ec);
    if (!outcome) return std::unexpected(outcome.error());
    AIRSSYS_TRY(check_child(*outcome, fmt::format("{} --version", tool->string()), "native tier",
                            compiler->config_));
    identity += "\n" + fs::weakly_canonical(*tool).string() + "\n" + outcome->log;
  }
  for (const auto& f : native_cc_flags()) identity += " " + f;
  for (const auto& f : native_opt_flags()) identity += " " + f;
  identity += " |";
  for (const auto& f : native_cheap_flags()) identity += " " + f;
  // Guard-page and explicitly checked objects never serve one another.
  identity += compiler->config_.guard_pages ? "\nbounds guard" : "\nbounds explicit";
  if (compiler->config_.guard_pages) {
    for (const auto& f : native_guard_cc_flags()) identity += " " + f;
  }
  identity += "\n";
  identity += kNativeWasmRtH;
  identity += kNativeAbiH;
  identity += kNativeRuntimeC;
  // What runs before the compilers: a key of the module's own bytes must
  // change with the loader, the metering and the code generation.
  identity += fmt::format("\nwabt {} pipeline {}\n", WABT_VERSION_STRING, kNativePipelineDigest);
  compiler->identity_ = std::move(identity);
  crypto_hash_sha256_init(&compiler->identity_state_);
  crypto_hash_sha256_update(&compiler->identity_state_,
                            reinterpret_cast<const unsigned char*>(compiler->identity_.data()),
                            compiler->identity_.size());
  const unsigned char separator = 0;
  crypto_hash_sha256_update(&compiler->identity_state_, &separator, 1);
  return compiler;
}

namespace {

// "0123456789abcdef-": how every entry name of a module begins, whatever
// compiler or host version made it.
std::string module_prefix(std::span<const uint8_t> module_bytes) {
  unsigned char digest[kDigestBytes];
  crypto_hash_sha256(digest, module_bytes.data(), module_bytes.size());
  std::string out;
  out.reserve(kModulePrefixBytes * 2 + 1 + 2 * kDigestBytes);
  for (size_t i = 0; i < kModulePrefixBytes; ++i) out += fmt::format("{:02x}", digest[i]);
  out += '-';
  return out;
}

}  // namespace

std::string NativeCompiler::module_key(std::span<const uint8_t> module_bytes) const {
  // The start of the module's own digest, then the digest of the identity
  // and the module: entries of one module for other compilers share the
  // start of their names.
  std::string out = module_prefix(module_bytes);
  unsigned char digest[kDigestBytes];
  // The identity and a separator are absorbed once, at creation.
  crypto_hash_sha256_state state = identity_state_;
  crypto_hash_sha256_update(&state, module_bytes.data(), module_bytes.size());
  crypto_hash_sha256_final(&state, digest);
  for (auto b : digest) out += fmt::format("{:02x}", b);
  return out;
}

fs::path NativeCompiler::entry_path(const std::string& key) const {
  return config_.cache_dir / (key + ".so");
}

CompileStats NativeCompiler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::optional<NativeEntry> NativeCompiler::lookup(const std::string& key, std::string* why) {
  const fs::path path = entry_path(key);
  auto text = read_text(path);
  if (!text) {
    if (why) {
      // Another entry of the same module: made by other compilers, or by
      // another version of this host.
      *why = "no cache entry";
      const std::string module = key.substr(0, key.find('-') + 1);
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(config_.cache_dir, ec)) {
        const std::string file = e.path().filename().string();
        if (file.starts_with(module) && file.ends_with(".so")) {
          *why = "the cache holds an entry of it for another compiler or host version";
          break;
        }
      }
    }
    return std::nullopt;
  }
  if (auto body = verified_body(*text)) {
    if (auto entry = decode_entry(key, *body)) {
      std::lock_guard lock(mutex_);
      ++stats_.cache_hits;
      return entry;
    }
  }
  // Changed, truncated or foreign: never loaded, rebuilt by the caller.
  if (why) *why = "its cache entry was damaged and is removed";
  std::error_code ec;
  fs::remove(path, ec);
  std::lock_guard lock(mutex_);
  ++stats_.cache_refused;
  return std::nullopt;
}

bool NativeCompiler::holds(const std::string& key) const {
  auto text = read_text(entry_path(key));
  if (!text) return false;
  auto body = verified_body(*text);
  return body && decode_entry(key, *body).has_value();
}

Result<std::vector<uint8_t>> NativeCompiler::build(const std::string& key, const NativeEntry& entry,
                                                   std::string_view name,
                                                   std::string_view reason,
                                                   const std::atomic<bool>* cancel) {
  if (config_.cache_only) {
    return make_error(ErrorCode::NotFound,
                      fmt::format("{}: the native cache holds no compiled code for it", name));
  }
  auto object = compile(entry.plan, name, reason, cancel);
  if (!object) return std::unexpected(object.error());
  // Everything but the plan's module bytes, which a hit does not need.
  NativeEntry stored;
  stored.imports = entry.imports;
  stored.exports = entry.exports;
  stored.plan.imports = entry.plan.imports;
  stored.plan.exports = entry.plan.exports;
  stored.plan.guest_exports = entry.plan.guest_exports;
  stored.plan.state_globals = entry.plan.state_globals;
  stored.plan.start_export = entry.plan.start_export;
  stored.plan.memories = entry.plan.memories;
  stored.plan.tables = entry.plan.tables;
  stored.state_hazard = entry.state_hazard;
  stored.warnings = entry.warnings;
  stored.func_names = entry.func_names;
  stored.object = *object;
  const std::string body = encode_entry(key, stored);
  std::string data{kEntryMagic};
  data += sha256_hex(body);
  data += body;
  // Published by rename, so a reader sees a whole entry or none.
  const fs::path path = entry_path(key);
  auto tmp = config_.cache_dir /
             fmt::format(".{}.{}.{}", path.filename().string(), ::getpid(),
                         std::hash<std::thread::id>{}(std::this_thread::get_id()));
  std::error_code ec;
  fs::remove(tmp, ec);
  if (write_file(tmp, data)) {
    fs::rename(tmp, path, ec);
    if (ec) fs::remove(tmp, ec);
  }
  return object;
}


}  // namespace airssys::wasm::engine::detail

namespace airssys::wasm::engine {

bool native_cache_may_hold(const std::filesystem::path& cache_dir,
                           std::span<const uint8_t> module_bytes) {
  if (sodium_init() < 0) return true;  // the engine will say what is wrong
  const std::string prefix = detail::module_prefix(module_bytes);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir, ec)) {
    const std::string file = e.path().filename().string();
    if (file.starts_with(prefix) && file.ends_with(".so")) return true;
  }
  return false;
}

}  // namespace airssys::wasm::engine
