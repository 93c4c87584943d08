// WASI and `airssys` host-function paths the other host suites do not reach,
// through a real module that calls each preview 1 function with the pointers,
// descriptors and paths a test chooses: the refusals on the standard streams,
// the descriptor operations (pwrite, sync, flags, truncation), every kind of
// directory entry, the errors the kernel reports for a path, trailing slashes,
// paths no preopen holds, and host functions called without a context.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/http.hpp"
#include "airssys/wasm/host/kv.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/quota.hpp"

#include "../support/temp_dir.hpp"

namespace airssys::wasm::host {
namespace {

namespace fs = std::filesystem;
using engine::Value;
using security::Permission;

// errno values of WASI preview 1.
constexpr int32_t kSuccess = 0, kAcces = 2, kBadf = 8, kBusy = 10, kExist = 20, kFault = 21,
                  kInval = 28, kIsdir = 31, kLoop = 32, kNametoolong = 37, kNoent = 44,
                  kNotdir = 54, kNotempty = 55, kNotsup = 58, kSpipe = 70;
constexpr int64_t kRead = 1 << 1, kWrite = 1 << 6;
constexpr int32_t kCreat = 1, kDirectory = 2, kExcl = 4;

// The preview 1 functions the module imports, each wrapped in an export of the
// same name and type (a host function must be called by a guest to see its
// context).
struct Import {
  const char* name;
  const char* params;
  const char* result;
};
constexpr Import kImports[] = {
    {"path_open", "i32 i32 i32 i32 i32 i64 i64 i32 i32", "i32"},
    {"fd_read", "i32 i32 i32 i32", "i32"},
    {"fd_write", "i32 i32 i32 i32", "i32"},
    {"fd_pread", "i32 i32 i32 i64 i32", "i32"},
    {"fd_pwrite", "i32 i32 i32 i64 i32", "i32"},
    {"fd_sync", "i32", "i32"},
    {"fd_datasync", "i32", "i32"},
    {"fd_close", "i32", "i32"},
    {"fd_fdstat_get", "i32 i32", "i32"},
    {"fd_fdstat_set_flags", "i32 i32", "i32"},
    {"fd_filestat_get", "i32 i32", "i32"},
    {"fd_filestat_set_size", "i32 i64", "i32"},
    {"fd_readdir", "i32 i32 i32 i64 i32", "i32"},
    {"fd_prestat_get", "i32 i32", "i32"},
    {"fd_prestat_dir_name", "i32 i32 i32", "i32"},
    {"path_filestat_get", "i32 i32 i32 i32 i32", "i32"},
    {"path_create_directory", "i32 i32 i32", "i32"},
    {"path_remove_directory", "i32 i32 i32", "i32"},
    {"path_unlink_file", "i32 i32 i32", "i32"},
    {"path_rename", "i32 i32 i32 i32 i32 i32", "i32"},
    {"clock_res_get", "i32 i32", "i32"},
    {"poll_oneoff", "i32 i32 i32 i32", "i32"},
    {"sched_yield", "", "i32"},
};

std::string wasi_module() {
  std::string wat = "(module\n";
  for (const auto& i : kImports) {
    wat += fmt::format(
        "(import \"wasi_snapshot_preview1\" \"{0}\" (func ${0} (param {1}) (result {2})))\n",
        i.name, i.params, i.result);
  }
  wat += "(memory (export \"memory\") 1)\n";
  for (const auto& i : kImports) {
    std::string gets;
    std::istringstream params(i.params);
    int n = 0;
    for (std::string p; params >> p; ++n) gets += fmt::format(" (local.get {})", n);
    wat += fmt::format("(func (export \"{0}\") (param {1}) (result {2}) (call ${0}{3}))\n", i.name,
                       i.params, i.result, gets);
  }
  return wat + ")";
}

class TempTree {
 public:
  TempTree() : root_(dir_.path()) {}
  std::string operator/(const std::string& relative) const { return (root_ / relative).string(); }
  void write(const std::string& relative, const std::string& content) const {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative, std::ios::binary) << content;
  }
  std::string read(const std::string& relative) const {
    std::ifstream in(root_ / relative, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  airssys::wasm::test::TempDir dir_{"cov"};
  fs::path root_;
};

// Memory layout of the module: 0 iovecs, 512 results, 1024 paths, 4096 buffers.
constexpr int32_t kIov = 0, kOut = 512, kPath = 1024, kPath2 = 2048, kBuf = 4096;

class WasiCoverage : public ::testing::Test {
 protected:
  void SetUp() override {
    tree.write("rw/file.txt", "0123456789");
    tree.write("rw/dir/inner.txt", "inner");
    tree.write("ro/readme.txt", "read me");
    security::AuditLogOptions options;
    options.subscriber = [this](const security::AuditRecord& r, std::string_view) {
      std::lock_guard lock(mutex);
      records.push_back(std::string(security::audit_result_name(r.result)) + " " + r.permission +
                        " " + r.resource + " | " + r.reason);
    };
    audit = security::AuditLog::without_file(std::move(options)).value();
    add_wasi(linker);
    module = engine->load_wat(wasi_module(), "wasi-raw.wat").value();
  }

  void start(std::vector<std::string> read, std::vector<std::string> write) {
    security::PatternLists lists;
    lists[static_cast<size_t>(Permission::FsRead)] = std::move(read);
    lists[static_cast<size_t>(Permission::FsWrite)] = std::move(write);
    auto caps = security::CapabilitySet::build(lists).value();
    auto security =
        security::WasmSecurityContext::create("raw", std::move(caps), security::TrustLevel::Trusted)
            .value();
    WasiOptions wasi;
    wasi.args = {"raw"};
    context = std::make_unique<ComponentContext>(
        std::move(wasi), SecurityBinding{security, nullptr, audit.get(), {}, nullptr});
    engine::InstanceOptions o;
    o.user_data = context.get();
    instance = store->instantiate(*module, linker, o).value();
  }
  void start_default() { start({tree / "rw/**", tree / "ro/**"}, {tree / "rw/**"}); }

  int32_t call(std::string_view name, std::vector<Value> args) {
    auto r = instance->call(name, args);
    EXPECT_TRUE(r.has_value()) << name << ": " << (r ? "" : r.error().to_string());
    return r ? (*r)[0].as_i32() : -1;
  }
  void put(int32_t at, std::string_view bytes) {
    ASSERT_TRUE(instance
                    ->write_memory(static_cast<uint32_t>(at),
                                   {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()})
                    .has_value());
  }
  void put_u32(int32_t at, uint32_t v) { put(at, {reinterpret_cast<const char*>(&v), 4}); }
  void put_u64(int32_t at, uint64_t v) { put(at, {reinterpret_cast<const char*>(&v), 8}); }
  uint32_t u32_at(int32_t at) {
    auto b = instance->read_memory(static_cast<uint32_t>(at), 4).value();
    uint32_t v;
    std::memcpy(&v, b.data(), 4);
    return v;
  }
  uint64_t u64_at(int32_t at) {
    auto b = instance->read_memory(static_cast<uint32_t>(at), 8).value();
    uint64_t v;
    std::memcpy(&v, b.data(), 8);
    return v;
  }
  uint8_t u8_at(int32_t at) {
    return instance->read_memory(static_cast<uint32_t>(at), 1).value()[0];
  }
  std::string bytes_at(int32_t at, uint32_t n) {
    auto b = instance->read_memory(static_cast<uint32_t>(at), n).value();
    return std::string(b.begin(), b.end());
  }

  // The preopened descriptor of a directory, found the way wasi-libc finds it.
  int32_t preopen(const std::string& dir) {
    for (int32_t fd = 3; fd < 16; ++fd) {
      if (call("fd_prestat_get", {Value::i32(fd), Value::i32(kOut)}) != kSuccess) break;
      uint32_t len = u32_at(kOut + 4);
      if (call("fd_prestat_dir_name", {Value::i32(fd), Value::i32(kBuf), Value::i32(len)}) ==
              kSuccess &&
          bytes_at(kBuf, len) == dir) {
        return fd;
      }
    }
    ADD_FAILURE() << "no preopen for " << dir;
    return -1;
  }

  // path_open of `path` under `dir`; the new descriptor, or -errno.
  int32_t open(int32_t dir, std::string_view path, int32_t oflags, int64_t rights,
               int32_t fdflags = 0, int32_t lookup = 1) {
    put(kPath, path);
    int32_t e = call("path_open",
                     {Value::i32(dir), Value::i32(lookup), Value::i32(kPath),
                      Value::i32(static_cast<int32_t>(path.size())), Value::i32(oflags),
                      Value::i64(rights), Value::i64(0), Value::i32(fdflags), Value::i32(kOut)});
    return e == kSuccess ? static_cast<int32_t>(u32_at(kOut)) : -e;
  }
  int32_t path_call(std::string_view function, int32_t dir, std::string_view path) {
    put(kPath, path);
    return call(function, {Value::i32(dir), Value::i32(kPath),
                           Value::i32(static_cast<int32_t>(path.size()))});
  }
  int32_t rename(int32_t dir, std::string_view from, std::string_view to) {
    put(kPath, from);
    put(kPath2, to);
    return call("path_rename",
                {Value::i32(dir), Value::i32(kPath), Value::i32(static_cast<int32_t>(from.size())),
                 Value::i32(dir), Value::i32(kPath2), Value::i32(static_cast<int32_t>(to.size()))});
  }
  // path_filestat_get: the filetype byte, or -errno.
  int32_t filetype(int32_t dir, std::string_view path, int32_t lookup = 0) {
    put(kPath, path);
    int32_t e = call("path_filestat_get",
                     {Value::i32(dir), Value::i32(lookup), Value::i32(kPath),
                      Value::i32(static_cast<int32_t>(path.size())), Value::i32(kBuf)});
    return e == kSuccess ? u8_at(kBuf + 16) : -e;
  }
  // One iovec at kIov over `len` bytes at kBuf.
  void iovec(uint32_t len) {
    put_u32(kIov, kBuf);
    put_u32(kIov + 4, len);
  }

  std::vector<std::string> audit_lines() {
    audit->flush();
    std::lock_guard lock(mutex);
    return records;
  }
  bool audited(const std::string& prefix) {
    for (const auto& r : audit_lines()) {
      if (r.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }

  TempTree tree;
  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  std::unique_ptr<engine::Store> store = engine->new_store();
  engine::Linker linker;
  std::shared_ptr<const engine::Module> module;
  std::mutex mutex;
  std::vector<std::string> records;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<ComponentContext> context;
  std::shared_ptr<engine::Instance> instance;
};

TEST_F(WasiCoverage, TheStandardStreamsRefuseFileOperations) {
  start_default();
  iovec(1);
  EXPECT_EQ(call("fd_sync", {Value::i32(1)}), kInval);
  EXPECT_EQ(call("fd_datasync", {Value::i32(2)}), kInval);
  EXPECT_EQ(call("fd_filestat_set_size", {Value::i32(0), Value::i64(0)}), kInval);
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(1), Value::i32(0)}), kNotsup);
  const std::vector<Value> pwrite_args = {Value::i32(kIov), Value::i32(1), Value::i64(0),
                                          Value::i32(kOut)};
  auto pwrite = [&](int32_t fd) {
    std::vector<Value> a{Value::i32(fd)};
    a.insert(a.end(), pwrite_args.begin(), pwrite_args.end());
    return call("fd_pwrite", a);
  };
  EXPECT_EQ(pwrite(0), kBadf);   // stdin is not writable
  EXPECT_EQ(pwrite(1), kSpipe);  // stdout has no offsets
  // stdin, stdout and stderr stat as character devices; a bad pointer is EFAULT.
  for (int32_t fd = 0; fd < 3; ++fd) {
    EXPECT_EQ(call("fd_filestat_get", {Value::i32(fd), Value::i32(kBuf)}), kSuccess);
    EXPECT_EQ(u8_at(kBuf + 16), 2) << fd;
    EXPECT_EQ(u64_at(kBuf + 32), 0u);
  }
  EXPECT_EQ(call("fd_filestat_get", {Value::i32(0), Value::i32(65500)}), kFault);
  // A descriptor that was never opened.
  EXPECT_EQ(call("fd_sync", {Value::i32(40)}), kBadf);
  EXPECT_EQ(call("fd_datasync", {Value::i32(40)}), kBadf);
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(40), Value::i32(0)}), kBadf);
  EXPECT_EQ(call("fd_filestat_set_size", {Value::i32(40), Value::i64(0)}), kBadf);
  EXPECT_EQ(pwrite(40), kBadf);
}

TEST_F(WasiCoverage, AnOpenFileIsWrittenAtOffsetsSyncedAndTruncated) {
  start_default();
  int32_t rw = preopen(tree / "rw");
  int32_t fd = open(rw, "file.txt", 0, kRead | kWrite);
  ASSERT_GT(fd, 0);
  put(kBuf, "abc");
  iovec(3);
  EXPECT_EQ(call("fd_pwrite", {Value::i32(fd), Value::i32(kIov), Value::i32(1), Value::i64(4),
                               Value::i32(kOut)}),
            kSuccess);
  EXPECT_EQ(u32_at(kOut), 3u);
  EXPECT_EQ(tree.read("rw/file.txt"), "0123abc789");
  // Offsets past what a signed file offset holds are refused, the file untouched.
  EXPECT_EQ(call("fd_pwrite", {Value::i32(fd), Value::i32(kIov), Value::i32(1), Value::i64(-1),
                               Value::i32(kOut)}),
            kInval);
  // The result pointer is checked before anything is written.
  EXPECT_EQ(call("fd_pwrite", {Value::i32(fd), Value::i32(kIov), Value::i32(1), Value::i64(0),
                               Value::i32(65534)}),
            kFault);
  EXPECT_EQ(tree.read("rw/file.txt"), "0123abc789");
  EXPECT_EQ(call("fd_sync", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(call("fd_datasync", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(call("fd_filestat_set_size", {Value::i32(fd), Value::i64(4)}), kSuccess);
  EXPECT_EQ(tree.read("rw/file.txt"), "0123");
  EXPECT_EQ(call("fd_filestat_set_size", {Value::i32(fd), Value::i64(-1)}), kInval);
  EXPECT_EQ(fs::file_size(tree / "rw/file.txt"), 4u);
  EXPECT_EQ(call("fd_close", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(call("fd_sync", {Value::i32(fd)}), kBadf);

  // Opened for reading only: the kernel refuses writes and truncation.
  int32_t ro = open(rw, "file.txt", 0, kRead);
  ASSERT_GT(ro, 0);
  EXPECT_EQ(call("fd_pwrite", {Value::i32(ro), Value::i32(kIov), Value::i32(1), Value::i64(0),
                               Value::i32(kOut)}),
            kBadf);
  EXPECT_EQ(call("fd_write", {Value::i32(ro), Value::i32(kIov), Value::i32(1), Value::i32(kOut)}),
            kBadf);
  EXPECT_EQ(call("fd_filestat_set_size", {Value::i32(ro), Value::i64(0)}), kInval);
  EXPECT_EQ(tree.read("rw/file.txt"), "0123");
}

TEST_F(WasiCoverage, AppendAndNonblockAreTheOnlyFlagsThatChange) {
  start_default();
  int32_t rw = preopen(tree / "rw");
  int32_t fd = open(rw, "file.txt", 0, kRead | kWrite);
  ASSERT_GT(fd, 0);
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(fd), Value::i32(1 | 4)}), kSuccess);
  EXPECT_EQ(call("fd_fdstat_get", {Value::i32(fd), Value::i32(kBuf)}), kSuccess);
  EXPECT_EQ(u8_at(kBuf), 4);  // a regular file
  EXPECT_EQ(u8_at(kBuf + 2), 1 | 4);
  // With append, a write at the current offset (0) lands at the end.
  put(kBuf, "XY");
  iovec(2);
  EXPECT_EQ(call("fd_write", {Value::i32(fd), Value::i32(kIov), Value::i32(1), Value::i32(kOut)}),
            kSuccess);
  EXPECT_EQ(tree.read("rw/file.txt"), "0123456789XY");
  // Sync flags cannot change on an open Linux file; unknown bits neither.
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(fd), Value::i32(16)}), kNotsup);
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(fd), Value::i32(0x100)}), kNotsup);
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(fd), Value::i32(0)}), kSuccess);
  EXPECT_EQ(call("fd_fdstat_get", {Value::i32(fd), Value::i32(kBuf)}), kSuccess);
  EXPECT_EQ(u8_at(kBuf + 2), 0);
  put(kBuf, "XY");
  EXPECT_EQ(call("fd_pwrite", {Value::i32(fd), Value::i32(kIov), Value::i32(1), Value::i64(0),
                               Value::i32(kOut)}),
            kSuccess);
  EXPECT_EQ(tree.read("rw/file.txt"), "XY23456789XY");
  // A directory has no flags to change.
  EXPECT_EQ(call("fd_fdstat_set_flags", {Value::i32(rw), Value::i32(1)}), kBadf);
}

TEST_F(WasiCoverage, DirectoryEntriesOfEveryKindAreTyped) {
  fs::create_symlink("file.txt", tree / "rw/link");
  ASSERT_EQ(::mkfifo((tree / "rw/fifo").c_str(), 0600), 0);
  int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string sock_path = tree / "rw/sock";
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  start_default();
  int32_t rw = preopen(tree / "rw");
  int32_t dir = open(rw, ".", kDirectory, kRead);
  ASSERT_GT(dir, 0);
  ASSERT_EQ(call("fd_readdir", {Value::i32(dir), Value::i32(kBuf), Value::i32(4096), Value::i64(0),
                                Value::i32(kOut)}),
            kSuccess);
  std::map<std::string, int> types;
  uint32_t used = u32_at(kOut);
  for (uint32_t at = 0; at + 24 <= used;) {
    uint32_t len = u32_at(kBuf + static_cast<int32_t>(at) + 16);
    int type = u8_at(kBuf + static_cast<int32_t>(at) + 20);
    types[bytes_at(kBuf + static_cast<int32_t>(at) + 24, len)] = type;
    at += 24 + len;
  }
  EXPECT_EQ(types["file.txt"], 4);
  EXPECT_EQ(types["dir"], 3);
  EXPECT_EQ(types["link"], 7);
  EXPECT_EQ(types["sock"], 6);
  EXPECT_EQ(types["fifo"], 0);  // no WASI type for a FIFO: unknown
  // The same types through path_filestat_get, which does not follow the link.
  EXPECT_EQ(filetype(rw, "link"), 7);
  EXPECT_EQ(filetype(rw, "link", 1), 4);
  EXPECT_EQ(filetype(rw, "sock"), 6);
  EXPECT_EQ(filetype(rw, "fifo"), 0);
  // Neither a socket nor a FIFO is ever opened.
  EXPECT_EQ(open(rw, "sock", 0, kRead), -kNotsup);
  EXPECT_EQ(open(rw, "fifo", 0, kRead), -kNotsup);
  ::close(sock);
}

TEST_F(WasiCoverage, ADeviceGrantedByNameStatsAsACharacterDevice) {
  start({"/dev/null"}, {});
  int32_t root = preopen("/");
  EXPECT_EQ(filetype(root, "/dev/null", 1), 2);
  // Nothing else in /dev is granted: refused and audited.
  EXPECT_EQ(filetype(root, "/dev/zero", 1), -kAcces);
  EXPECT_TRUE(audited("denied filesystem.read /dev/zero"));
}

TEST_F(WasiCoverage, TheKernelsPathErrorsArriveAsWasiErrnos) {
  fs::create_symlink("loop_b", tree / "rw/loop_a");
  fs::create_symlink("loop_a", tree / "rw/loop_b");
  start_default();
  int32_t rw = preopen(tree / "rw");
  EXPECT_EQ(path_call("path_create_directory", rw, "dir"), kExist);
  EXPECT_EQ(open(rw, "file.txt", kCreat | kExcl, kWrite), -kExist);
  EXPECT_EQ(path_call("path_remove_directory", rw, "dir"), kNotempty);
  EXPECT_EQ(open(rw, "file.txt/x", 0, kRead), -kNotdir);
  EXPECT_EQ(open(rw, "loop_a", 0, kRead), -kLoop);
  EXPECT_EQ(open(rw, std::string(300, 'n'), 0, kRead), -kNametoolong);
  EXPECT_EQ(path_call("path_create_directory", rw, std::string(300, 'n')), kNametoolong);
  // A directory cannot move beneath itself.
  EXPECT_EQ(rename(rw, "dir", "dir/inner_dir"), kInval);
  EXPECT_TRUE(fs::is_directory(tree / "rw/dir"));
  // Opening a directory for writing, or creating one through path_open.
  EXPECT_EQ(open(rw, "dir", 0, kWrite), -kIsdir);
  EXPECT_EQ(open(rw, "newdir", kCreat | kDirectory, kRead), -kInval);
}

TEST_F(WasiCoverage, TrailingSlashesMustNameDirectories) {
  start_default();
  int32_t rw = preopen(tree / "rw");
  EXPECT_EQ(rename(rw, "file.txt/", "moved.txt"), kNotdir);
  EXPECT_EQ(rename(rw, "missing//", "moved"), kNoent);
  EXPECT_TRUE(fs::exists(tree / "rw/file.txt"));
  EXPECT_EQ(path_call("path_unlink_file", rw, "dir/"), kIsdir);
  EXPECT_EQ(path_call("path_unlink_file", rw, "file.txt/"), kNotdir);
  EXPECT_TRUE(fs::exists(tree / "rw/file.txt"));
  EXPECT_EQ(rename(rw, "dir/", "dir2/"), kSuccess);
  EXPECT_TRUE(fs::is_directory(tree / "rw/dir2"));
  // "." and ".." are never renamed.
  EXPECT_EQ(rename(rw, ".", "x"), kBusy);
  EXPECT_EQ(rename(rw, "file.txt", "dir2/.."), kBusy);
}

TEST_F(WasiCoverage, APathNoPreopenHoldsIsRefusedAndAudited) {
  // The grant names a directory that does not exist, so nothing is preopened
  // for it; a path there through the root is refused all the same.
  start({tree / "gone/**", tree / "ro/**"}, {tree / "gone/**"});
  int32_t root = preopen("/");
  EXPECT_EQ(open(root, tree / "gone/x", kCreat, kWrite), -kAcces);
  EXPECT_TRUE(audited("denied filesystem.write " + tree / "gone/x"));
  bool reason = false;
  for (const auto& r : audit_lines()) {
    if (r.find("outside every preopened directory") != std::string::npos) reason = true;
  }
  EXPECT_TRUE(reason);
  EXPECT_FALSE(fs::exists(tree / "gone"));
  // An absolute path handed to a preopen that is not the root escapes it.
  int32_t ro = preopen(tree / "ro");
  EXPECT_EQ(open(ro, "/etc/passwd", 0, kRead), -kAcces);
  EXPECT_TRUE(audited("denied filesystem.read /etc/passwd"));
  // The same for a name to create: absolute, even when it points back inside.
  EXPECT_EQ(path_call("path_create_directory", ro, tree / "ro/sub"), kAcces);
  EXPECT_FALSE(fs::exists(tree / "ro/sub"));
}

TEST_F(WasiCoverage, ANameCreatedThroughASymlinkedDirectoryStaysInside) {
  tree.write("outside/keep.txt", "keep");
  fs::create_symlink("../outside", tree / "rw/out");
  start_default();
  int32_t rw = preopen(tree / "rw");
  // "out/new" is beneath rw as written, but its parent resolves outside.
  EXPECT_EQ(path_call("path_create_directory", rw, "out/new"), kAcces);
  EXPECT_EQ(open(rw, "out/new.txt", kCreat, kWrite), -kAcces);
  EXPECT_EQ(path_call("path_unlink_file", rw, "out/keep.txt"), kAcces);
  EXPECT_FALSE(fs::exists(tree / "outside/new"));
  EXPECT_FALSE(fs::exists(tree / "outside/new.txt"));
  EXPECT_TRUE(fs::exists(tree / "outside/keep.txt"));
  EXPECT_TRUE(audited("denied filesystem.write " + tree / "rw/out/new"));
  // A parent that does not exist is just that.
  EXPECT_EQ(path_call("path_create_directory", rw, "nodir/new"), kNoent);
}

TEST_F(WasiCoverage, ADescriptorWithoutRightsOnlyNamesItsFile) {
  start_default();
  int32_t rw = preopen(tree / "rw");
  int32_t file = open(rw, "file.txt", 0, 0);
  ASSERT_GT(file, 0);
  EXPECT_EQ(call("fd_filestat_get", {Value::i32(file), Value::i32(kBuf)}), kSuccess);
  EXPECT_EQ(u8_at(kBuf + 16), 4);
  EXPECT_EQ(u64_at(kBuf + 32), 10u);
  put_u32(kIov, kBuf);
  put_u32(kIov + 4, 4);
  EXPECT_EQ(call("fd_read", {Value::i32(file), Value::i32(kIov), Value::i32(1), Value::i32(kOut)}),
            kBadf);
  EXPECT_EQ(call("fd_write", {Value::i32(file), Value::i32(kIov), Value::i32(1), Value::i32(kOut)}),
            kBadf);
  EXPECT_EQ(tree.read("rw/file.txt"), "0123456789");
  int32_t dir = open(rw, "dir", kDirectory, 0);
  ASSERT_GT(dir, 0);
  EXPECT_EQ(call("fd_readdir", {Value::i32(dir), Value::i32(kBuf), Value::i32(256), Value::i64(0),
                                Value::i32(kOut)}),
            kBadf);
}

TEST_F(WasiCoverage, ClockResolutionYieldAndAnAbsoluteRealtimeTimeout) {
  start_default();
  EXPECT_EQ(call("clock_res_get", {Value::i32(0), Value::i32(kOut)}), kSuccess);
  EXPECT_GT(u64_at(kOut), 0u);
  EXPECT_LE(u64_at(kOut), 1'000'000'000u);
  EXPECT_EQ(call("clock_res_get", {Value::i32(1), Value::i32(kOut)}), kSuccess);
  EXPECT_GT(u64_at(kOut), 0u);
  EXPECT_EQ(call("clock_res_get", {Value::i32(2), Value::i32(kOut)}), kInval);  // CPU time
  EXPECT_EQ(call("clock_res_get", {Value::i32(0), Value::i32(65535)}), kFault);
  EXPECT_EQ(call("sched_yield", {}), kSuccess);
  // One realtime subscription with an absolute deadline already past: it fires at once.
  std::string sub(48, '\0');
  uint64_t userdata = 77, timeout = 1;  // 1 ns after the epoch
  uint32_t clock = 0;
  uint16_t abstime = 1;
  std::memcpy(sub.data(), &userdata, 8);
  sub[8] = 0;  // clock
  std::memcpy(sub.data() + 16, &clock, 4);
  std::memcpy(sub.data() + 24, &timeout, 8);
  std::memcpy(sub.data() + 40, &abstime, 2);
  put(kBuf, sub);
  EXPECT_EQ(call("poll_oneoff",
                 {Value::i32(kBuf), Value::i32(kBuf + 256), Value::i32(1), Value::i32(kOut)}),
            kSuccess);
  EXPECT_EQ(u32_at(kOut), 1u);
  EXPECT_EQ(u64_at(kBuf + 256), 77u);
  EXPECT_EQ(u8_at(kBuf + 256 + 8), 0);
}

// ---- `airssys` host functions ------------------------------------------------

TEST(HostWithoutContext, EveryAirssysFunctionFailsClosed) {
  auto engine = engine::Engine::interpreter();
  auto store = engine->new_store();
  engine::Linker linker;
  add_log(linker);
  add_kv(linker);
  add_http(linker);
  add_messaging(linker);
  std::string imports, exports;
  std::vector<std::string> names;
  for (const auto& f : linker.functions()) {
    std::string params, args;
    for (size_t i = 0; i < f.sig.params.size(); ++i) {
      params += std::string(" ") + engine::val_type_name(f.sig.params[i]);
      args += fmt::format(" ({}.const 0)", engine::val_type_name(f.sig.params[i]));
    }
    std::string result = engine::val_type_name(f.sig.results.at(0));
    imports += fmt::format("(import \"airssys\" \"{0}\" (func ${0} (param{1}) (result {2})))\n",
                           f.name, params, result);
    exports +=
        fmt::format("(func (export \"{0}\") (result {1}) (call ${0}{2}))\n", f.name, result, args);
    names.push_back(f.name);
  }
  std::string wat = "(module\n" + imports + "(memory 1)\n" + exports + ")";
  auto module = engine->load_wat(wat, "airssys-all.wat");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  auto instance = store->instantiate(**module, linker).value();
  ASSERT_GE(names.size(), 15u);
  for (const auto& name : names) {
    auto r = instance->call(name, {});
    ASSERT_FALSE(r.has_value()) << name;
    EXPECT_EQ(r.error().code, ErrorCode::InternalError) << name;
    EXPECT_NE(r.error().message.find("airssys." + name), std::string::npos) << r.error().message;
  }
}

TEST(KvWithoutAStore, AGrantedWriteIsUnavailableAndAnUngrantedOneDenied) {
  auto engine = engine::Engine::interpreter();
  auto store = engine->new_store();
  engine::Linker linker;
  add_kv(linker);
  security::PatternLists lists;
  lists[static_cast<size_t>(Permission::StorageWrite)] = {"mine:*"};
  auto caps = security::CapabilitySet::build(lists);
  ASSERT_TRUE(caps.has_value()) << caps.error().to_string();
  auto created = security::WasmSecurityContext::create("kv-probe", std::move(*caps),
                                                       security::TrustLevel::Trusted);
  ASSERT_TRUE(created.has_value()) << created.error().to_string();
  auto security = *created;
  std::vector<std::string> audited;
  security::AuditLogOptions options;
  options.subscriber = [&](const security::AuditRecord& r, std::string_view) {
    audited.push_back(std::string(security::audit_result_name(r.result)) + " " + r.resource);
  };
  auto audit = security::AuditLog::without_file(std::move(options)).value();
  ComponentContext context(WasiOptions{},
                           SecurityBinding{security, nullptr, audit.get(), {}, nullptr});
  auto module = engine->load_wat(R"((module
    (import "airssys" "kv_set" (func $set (param i32 i32 i32 i32) (result i32)))
    (memory 1)
    (data (i32.const 0) "mine:a")
    (data (i32.const 16) "them:a")
    (func (export "set") (param i32) (result i32)
      (call $set (local.get 0) (i32.const 6) (i32.const 32) (i32.const 3)))))",
                                 "kv.wat");
  ASSERT_TRUE(module.has_value()) << module.error().to_string();
  engine::InstanceOptions o;
  o.user_data = &context;
  auto instance = store->instantiate(**module, linker, o);
  ASSERT_TRUE(instance.has_value()) << instance.error().to_string();
  auto set = [&](int32_t key) {
    auto r = (*instance)->call("set", std::vector{Value::i32(key)});
    EXPECT_TRUE(r.has_value()) << r.error().to_string();
    return r ? (*r)[0].as_i32() : 0;
  };
  EXPECT_EQ(set(0), static_cast<int32_t>(AbiError::Unavailable));
  EXPECT_EQ(set(16), static_cast<int32_t>(AbiError::Denied));
  audit->flush();
  EXPECT_NE(std::find(audited.begin(), audited.end(), "denied them:a"), audited.end());
  EXPECT_NE(std::find(audited.begin(), audited.end(), "granted mine:a"), audited.end());
}

// A reservation settled for less gives the rest back, for more records the
// excess; each rising crossing of 80 % and 95 % is logged at its level and
// audited once.
TEST(QuotaSettling, ReservationsSettleAndCrossingsAreLoggedAndAudited) {
  security::PatternLists lists;
  lists[static_cast<size_t>(Permission::StorageWrite)] = {"k:*"};
  security::QuotaLimits limits;
  limits.storage_bytes = 100;
  auto caps = security::CapabilitySet::build(lists);
  ASSERT_TRUE(caps.has_value());
  auto created = security::WasmSecurityContext::create("quota-probe", std::move(*caps),
                                                       security::TrustLevel::Trusted, limits);
  ASSERT_TRUE(created.has_value()) << created.error().to_string();
  std::vector<std::string> audited;
  security::AuditLogOptions options;
  options.subscriber = [&](const security::AuditRecord& r, std::string_view) {
    audited.push_back(std::string(security::audit_result_name(r.result)) + " " + r.permission +
                      " " + r.resource);
  };
  auto audit = security::AuditLog::without_file(std::move(options)).value();
  auto tracker = std::make_shared<security::QuotaTracker>(limits);
  ComponentContext context(WasiOptions{},
                           SecurityBinding{*created, nullptr, audit.get(), {}, tracker});
  std::vector<std::string> logged;
  ComponentLog log("quota-probe", [&](const LogLine& l) {
    logged.push_back(std::string(log_level_name(l.level)) + " " + std::string(l.source) + " " +
                     std::string(l.text));
  });
  context.set_log(&log);
  using security::QuotaKind;

  ASSERT_TRUE(
      context.check_capability_with_quota(Permission::StorageWrite, "k:a", QuotaKind::Storage, 85)
          .has_value());
  EXPECT_EQ(tracker->used(QuotaKind::Storage), 85u);
  context.settle_quota(QuotaKind::Storage, 85, 40);  // wrote less than reserved
  EXPECT_EQ(tracker->used(QuotaKind::Storage), 40u);
  ASSERT_TRUE(
      context.check_capability_with_quota(Permission::StorageWrite, "k:b", QuotaKind::Storage, 50)
          .has_value());
  context.settle_quota(QuotaKind::Storage, 50, 56);  // and more
  EXPECT_EQ(tracker->used(QuotaKind::Storage), 96u);
  context.settle_quota(QuotaKind::Storage, 4, 4);
  EXPECT_EQ(tracker->used(QuotaKind::Storage), 96u);
  // Past the limit: refused with the numbers, audited, nothing reserved.
  auto refused =
      context.check_capability_with_quota(Permission::StorageWrite, "k:c", QuotaKind::Storage, 5);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::QuotaExceeded);
  EXPECT_EQ(tracker->used(QuotaKind::Storage), 96u);

  // 85 % rises to warning; settling at 40 % falls back (remembered, not
  // reported); 90 % rises to warning again, 96 % to critical.
  ASSERT_EQ(logged.size(), 3u);
  EXPECT_EQ(logged[0].rfind("warn quota storage quota at 85%", 0), 0u) << logged[0];
  EXPECT_EQ(logged[1].rfind("warn quota storage quota at 90%", 0), 0u) << logged[1];
  EXPECT_EQ(logged[2].rfind("error quota storage quota at 96%", 0), 0u) << logged[2];
  audit->flush();
  auto has = [&](const std::string& line) {
    return std::find(audited.begin(), audited.end(), line) != audited.end();
  };
  EXPECT_TRUE(has("granted quota.storage warning"));
  EXPECT_TRUE(has("granted quota.storage critical"));
  EXPECT_TRUE(has("denied storage.write k:c"));
}

TEST(QuotaSettling, WithoutASecurityContextEveryQuotaIsRefused) {
  ComponentContext context(WasiOptions{});
  auto r =
      context.consume_quota("network.connect", "example.com:80", security::QuotaKind::Network, 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::QuotaExceeded);
  EXPECT_NE(r.error().message.find("no quota tracker"), std::string::npos);
}

TEST(AbiErrors, EveryCodeHasTheNameTheAbiDocumentGivesIt) {
  const std::pair<AbiError, const char*> names[] = {{AbiError::Ok, "ok"},
                                                    {AbiError::Denied, "denied"},
                                                    {AbiError::Quota, "quota"},
                                                    {AbiError::TooLarge, "too-large"},
                                                    {AbiError::NotFound, "not-found"},
                                                    {AbiError::Full, "full"},
                                                    {AbiError::Invalid, "invalid"},
                                                    {AbiError::Timeout, "timeout"},
                                                    {AbiError::Buffer, "buffer"},
                                                    {AbiError::Unavailable, "unavailable"},
                                                    {AbiError::NoRequest, "no-request"}};
  for (const auto& [code, name] : names) EXPECT_STREQ(abi_error_name(code), name);
  EXPECT_STREQ(abi_error_name(static_cast<AbiError>(-99)), "?");
}

TEST(ComponentLogLines, LongLinesAreCutAndEndlessOnesLoggedInPieces) {
  std::vector<std::pair<std::string, std::string>> lines;
  LogOptions options;
  options.max_line_bytes = 8;
  ComponentLog log(
      "c",
      [&](const LogLine& l) {
        lines.emplace_back(std::string(log_level_name(l.level)) + " " + std::string(l.source),
                           std::string(l.text));
      },
      options);
  EXPECT_TRUE(log.write(LogLevel::Debug, "log", "0123456789abc"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, "debug log");
  EXPECT_EQ(lines[0].second, "01234567... (5 bytes cut)");
  // Twenty bytes without a newline on stderr: two pieces now, the rest at flush.
  std::string endless(20, 'x');
  log.output("stderr", {reinterpret_cast<const uint8_t*>(endless.data()), endless.size()});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1], (std::pair<std::string, std::string>{"warn stderr", "xxxxxxxx"}));
  EXPECT_EQ(lines[2].second, "xxxxxxxx");
  log.flush();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3].second, "xxxx");
  EXPECT_TRUE(log.write(LogLevel::Trace, "log", "t"));
  EXPECT_TRUE(log.write(LogLevel::Error, "log", "e"));
  EXPECT_EQ(lines[4].first, "trace log");
  EXPECT_EQ(lines[5].first, "error log");
  EXPECT_STREQ(log_level_name(static_cast<LogLevel>(9)), "?");
}

}  // namespace
}  // namespace airssys::wasm::host
