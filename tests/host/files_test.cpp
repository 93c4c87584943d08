// WASI files within capabilities: the preopens derived from the grants, the
// resolution beneath a directory (openat2 and the fallback walk), and a real C
// program (files.wasm, plain libc) run through the engine and host API
// against a directory tree built at run time, with the audit records it leaves.
// Longer than 900 lines: every file operation beneath and outside the
// grants, each with its audit record.
#include "airssys/wasm/host/files.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "airssys/wasm/engine/engine.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/security/context.hpp"
#include "airssys/wasm/security/policy.hpp"

#include "../support/temp_dir.hpp"

namespace airssys::wasm::host {
namespace {

namespace fs = std::filesystem;
using security::AuditRecord;
using security::AuditResult;
using security::Permission;

// ---- Preopens ---------------------------------------------------------------

TEST(PatternRoot, IsTheLiteralDirectoryBeforeTheFirstWildcard) {
  EXPECT_EQ(pattern_root("/srv/app/data/**/*.json"), "/srv/app/data");
  EXPECT_EQ(pattern_root("/srv/app/config/*"), "/srv/app/config");
  EXPECT_EQ(pattern_root("/srv/app/data/out/**"), "/srv/app/data/out");
  EXPECT_EQ(pattern_root("/srv/{a,b}/x"), "/srv");
  EXPECT_EQ(pattern_root("/srv/a?c/x"), "/srv");
  EXPECT_EQ(pattern_root("/srv/[ab]/x"), "/srv");
  // Without a wildcard the pattern names a file (or a directory): its parent.
  EXPECT_EQ(pattern_root("/srv/app/config.toml"), "/srv/app");
  EXPECT_EQ(pattern_root("/etc"), "/");
  EXPECT_EQ(pattern_root("/"), "/");
  EXPECT_EQ(pattern_root("/**"), "/");
  EXPECT_EQ(pattern_root("/*.txt"), "/");
}

security::CapabilitySet caps(std::vector<std::string> read, std::vector<std::string> write = {}) {
  security::PatternLists lists;
  lists[static_cast<size_t>(Permission::FsRead)] = std::move(read);
  lists[static_cast<size_t>(Permission::FsWrite)] = std::move(write);
  return security::CapabilitySet::build(lists).value();
}

TEST(PreopenDirectories, AreSortedDeduplicatedAndNestedOnesFolded) {
  using V = std::vector<std::string>;
  EXPECT_EQ(preopen_directories(caps({})), V{});
  EXPECT_EQ(preopen_directories(
                caps({"/srv/app/config/*", "/srv/app/data/**/*.json"}, {"/srv/app/data/out/**"})),
            (V{"/srv/app/config", "/srv/app/data"}));
  EXPECT_EQ(preopen_directories(caps({"/b/*", "/a/x", "/b/**"}, {"/a/y"})), (V{"/a", "/b"}));
  // "/a-b" sorts between "/a" and "/a/c" and is not nested in "/a".
  EXPECT_EQ(preopen_directories(caps({"/a/c/*", "/a-b/*", "/a/*"})), (V{"/a", "/a-b"}));
  EXPECT_EQ(preopen_directories(caps({"/srv/*", "/**"})), V{"/"});
}

// A directory tree under /tmp, its path canonical (no symlink in it).
class TempTree {
 public:
  TempTree() : root_(dir_.path()) {}
  const fs::path& root() const { return root_; }
  fs::path operator/(const std::string& relative) const { return root_ / relative; }
  void write(const std::string& relative, const std::string& content) const {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative, std::ios::binary) << content;
  }
  void mkdir(const std::string& relative) const { fs::create_directories(root_ / relative); }
  void symlink(const std::string& target, const std::string& relative) const {
    fs::create_symlink(target, root_ / relative);
  }
  std::string read(const std::string& relative) const {
    std::ifstream in(root_ / relative, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  airssys::wasm::test::TempDir dir_{"files"};
  fs::path root_;
};

TEST(FileTableTest, PreopensOnlyRealDirectoriesAndAddsTheRoot) {
  TempTree tree;
  tree.mkdir("real");
  tree.symlink("real", "alias");
  std::vector<std::string> dirs = {(tree / "real").string(), (tree / "alias").string(),
                                   (tree / "missing").string()};
  FileTable table(dirs);
  // Only "real": "alias" reaches it through a symlink, "missing" is missing.
  ASSERT_EQ(table.preopen_count(), 2u);
  EXPECT_EQ(table.get(3)->preopen, (tree / "real").string());
  EXPECT_FALSE(table.get(3)->root);
  EXPECT_EQ(table.get(4)->preopen, "/");
  EXPECT_TRUE(table.get(4)->root);
  EXPECT_EQ(table.get(5), nullptr);
  EXPECT_EQ(table.preopen_holding((tree / "real/x/y").string()), table.get(3));
  EXPECT_EQ(table.preopen_holding((tree / "real").string()), table.get(3));
  EXPECT_EQ(table.preopen_holding((tree / "realm").string()), nullptr);
  EXPECT_EQ(table.preopen_holding("/etc/passwd"), nullptr);

  FileTable with_root({"/"});
  ASSERT_EQ(with_root.preopen_count(), 1u);
  EXPECT_FALSE(with_root.get(3)->root);
}

TEST(FileTableTest, PreopensUnderGuestNamesAreFoundByThoseNames) {
  TempTree tree;
  tree.mkdir("data");
  tree.mkdir("other");
  const std::string data = (tree / "data").string();
  const std::string other = (tree / "other").string();
  FileTable table(std::vector<Preopen>{{data, "/work"}, {other, "/work/deep"}},
                  default_resolver());
  ASSERT_EQ(table.preopen_count(), 3u);  // and the root
  EXPECT_EQ(table.get(3)->preopen, "/work");
  EXPECT_EQ(table.get(3)->host_dir, data);
  EXPECT_TRUE(table.get(5)->root);
  EXPECT_EQ(table.preopen_holding("/work/a.txt"), table.get(3));
  EXPECT_EQ(table.preopen_holding("/work/deep/b"), table.get(4));
  // The host path is no name of it.
  EXPECT_EQ(table.preopen_holding(data + "/a.txt"), nullptr);

  // "." is the root as wasi-libc sees it: no other root is added.
  FileTable dot(std::vector<Preopen>{{data, "."}}, default_resolver());
  ASSERT_EQ(dot.preopen_count(), 1u);
  EXPECT_FALSE(dot.get(3)->root);
  EXPECT_EQ(dot.preopen_holding("/anything"), dot.get(3));
  EXPECT_EQ(anchored_name("."), "/");
  EXPECT_EQ(anchored_name("data/"), "/data");
  EXPECT_EQ(anchored_name("/srv/x"), "/srv/x");
}

TEST(FileTableTest, HoldsAtMostMaxOpenFilesAndReusesClosedSlots) {
  FileTable table({});
  std::vector<uint32_t> fds;
  for (size_t i = 0; i < FileTable::kMaxOpenFiles; ++i) {
    OpenFile file;
    file.fd = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    auto fd = table.add(std::move(file));
    ASSERT_TRUE(fd.has_value());
    fds.push_back(*fd);
  }
  EXPECT_EQ(table.open_files(), FileTable::kMaxOpenFiles);
  auto refused = table.add(OpenFile{});
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), EMFILE);
  EXPECT_TRUE(table.close(fds[5]));
  EXPECT_FALSE(table.close(fds[5]));
  auto again = table.add(OpenFile{});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, fds[5]);
}

TEST(JoinNormalized, FoldsDotsAndSlashesAndNeverClimbsAboveTheRoot) {
  EXPECT_EQ(join_normalized("/a/b", "c/d"), "/a/b/c/d");
  EXPECT_EQ(join_normalized("/a/b", "./c//d/"), "/a/b/c/d");
  EXPECT_EQ(join_normalized("/a/b", "../c"), "/a/c");
  EXPECT_EQ(join_normalized("/a/b", "../../../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(join_normalized("/a/b", "."), "/a/b");
  EXPECT_EQ(join_normalized("/", ".."), "/");
  EXPECT_EQ(join_normalized("/", "//x/./y/.."), "/x");
}

// ---- Resolution beneath a directory ------------------------------------------

class OpenBeneath : public ::testing::TestWithParam<Resolver> {
 protected:
  void SetUp() override {
    if (GetParam() == Resolver::Openat2 && default_resolver() != Resolver::Openat2) {
      GTEST_SKIP() << "this kernel has no openat2";
    }
    tree.write("top/a/f", "f");
    tree.mkdir("top/a/b");
    tree.write("outside/secret", "secret");
    tree.symlink("a/f", "top/link_in");
    tree.symlink("../outside/secret", "top/link_out");
    tree.symlink("/etc/passwd", "top/link_abs");
    tree.symlink((tree / "top/a/f").string(), "top/link_abs_in");
    tree.symlink("a/b/../../a/f", "top/link_dots");
    tree.symlink("loop2", "top/loop1");
    tree.symlink("loop1", "top/loop2");
    tree.symlink("a", "top/dir_link");
    tree.symlink("../../outside", "top/a/up");
    top = UniqueFd(::open((tree / "top").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(top);
  }

  // The real path opened, or "errno N".
  std::string open(std::string_view path, bool follow = true, bool directory = false) {
    auto fd = open_beneath(top.get(), path, follow, directory, GetParam());
    if (!fd) return "errno " + std::to_string(fd.error());
    auto real = descriptor_path(fd->get());
    return real ? *real : "no path";
  }
  std::string at(const std::string& relative) { return (tree / relative).string(); }
  static std::string error(int e) { return "errno " + std::to_string(e); }

  TempTree tree;
  UniqueFd top;
};

TEST_P(OpenBeneath, ResolvesPathsThatStayBeneath) {
  EXPECT_EQ(open("a/f"), at("top/a/f"));
  EXPECT_EQ(open("a//b/./../f"), at("top/a/f"));
  EXPECT_EQ(open(""), at("top"));
  EXPECT_EQ(open("."), at("top"));
  EXPECT_EQ(open("a/.."), at("top"));
  EXPECT_EQ(open("link_in"), at("top/a/f"));
  EXPECT_EQ(open("link_dots"), at("top/a/f"));
  EXPECT_EQ(open("dir_link/f"), at("top/a/f"));
  EXPECT_EQ(open("a/b", true, true), at("top/a/b"));
  EXPECT_EQ(open("a/b/"), at("top/a/b"));
}

TEST_P(OpenBeneath, NeverLeavesTheDirectory) {
  EXPECT_EQ(open(".."), error(EXDEV));
  EXPECT_EQ(open("../outside/secret"), error(EXDEV));
  EXPECT_EQ(open("a/../../outside/secret"), error(EXDEV));
  EXPECT_EQ(open("/etc/passwd"), error(EXDEV));
  EXPECT_EQ(open("link_out"), error(EXDEV));
  EXPECT_EQ(open("link_abs"), error(EXDEV));
  EXPECT_EQ(open("a/up/secret"), error(EXDEV));
  // An absolute symlink is refused even when it points back inside.
  EXPECT_EQ(open("link_abs_in"), error(EXDEV));
}

TEST_P(OpenBeneath, ReportsTheUsualErrors) {
  EXPECT_EQ(open("missing"), error(ENOENT));
  EXPECT_EQ(open("a/missing/x"), error(ENOENT));
  EXPECT_EQ(open("a/f/x"), error(ENOTDIR));
  EXPECT_EQ(open("a/f", true, true), error(ENOTDIR));
  EXPECT_EQ(open("loop1"), error(ELOOP));
}

TEST_P(OpenBeneath, WithoutFollowTheLastSymlinkIsTheLinkItself) {
  auto fd = open_beneath(top.get(), "link_out", false, false, GetParam());
  ASSERT_TRUE(fd.has_value());
  struct stat st {};
  ASSERT_EQ(::fstat(fd->get(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(descriptor_path(fd->get()).value(), at("top/link_out"));
  // Symlinks before the last one are still followed.
  EXPECT_EQ(open("dir_link/f", false), at("top/a/f"));
}

TEST_P(OpenBeneath, ADeletedFileHasNoPath) {
  auto fd = open_beneath(top.get(), "a/f", true, false, GetParam());
  ASSERT_TRUE(fd.has_value());
  fs::remove(tree / "top/a/f");
  auto path = descriptor_path(fd->get());
  ASSERT_FALSE(path.has_value());
  EXPECT_EQ(path.error(), ENOENT);
}

INSTANTIATE_TEST_SUITE_P(Resolvers, OpenBeneath,
                         ::testing::Values(Resolver::Openat2, Resolver::Walk),
                         [](const auto& info) {
                           return info.param == Resolver::Openat2 ? "Openat2" : "Walk";
                         });

TEST(OpenBeneathKernel, Openat2IsUsedWhenTheKernelHasIt) {
  // Linux 5.6 and later have it; the walk is the fallback for older kernels and
  // for seccomp filters that refuse the call.
  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH;
  long fd = ::syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  if (fd >= 0) ::close(static_cast<int>(fd));
  EXPECT_EQ(default_resolver(), fd >= 0 ? Resolver::Openat2 : Resolver::Walk);
  RecordProperty("resolver", default_resolver() == Resolver::Openat2 ? "openat2" : "walk");
}

// ---- A real C program --------------------------------------------------------

std::filesystem::path component(const char* name) {
  return std::filesystem::path(AIRSSYS_TEST_COMPONENTS_DIR) / name;
}

struct AuditSink {
  std::mutex mutex;
  std::vector<AuditRecord> records;
};

// files.wasm run with the given grants: <root>/grant read and write,
// <root>/ro read only, <root>/outside nothing.
class FilesComponent : public ::testing::Test {
 protected:
  void SetUp() override {
    tree.write("grant/hello.txt", "hello");
    tree.write("ro/readme.txt", "read me");
    tree.write("outside/secret", "secret");
    security::AuditLogOptions options;
    options.subscriber = [this](const AuditRecord& r, std::string_view) {
      std::lock_guard lock(sink.mutex);
      sink.records.push_back(r);
    };
    audit = security::AuditLog::without_file(std::move(options)).value();
    module = engine->load_file(component("files.wasm")).value();
  }

  std::string g(const std::string& relative = "") const {
    return relative.empty() ? (tree / "grant").string() : (tree / "grant" / relative).string();
  }
  std::string ro(const std::string& relative) const { return (tree / "ro" / relative).string(); }
  std::string out(const std::string& relative) const {
    return (tree / "outside" / relative).string();
  }

  std::shared_ptr<const security::WasmSecurityContext> context_for(std::vector<std::string> read,
                                                                   std::vector<std::string> write) {
    return security::WasmSecurityContext::create("files-probe", caps(read, write),
                                                 security::TrustLevel::Trusted)
        .value();
  }
  std::shared_ptr<const security::WasmSecurityContext> default_context() {
    return context_for({g() + "/**", (tree / "ro").string() + "/**"}, {g() + "/**"});
  }

  // Runs files.wasm with `args`; its stdout, or the error after it.
  std::string run(std::vector<std::string> args,
                  std::shared_ptr<const security::WasmSecurityContext> security = nullptr,
                  std::vector<std::string> env = {}) {
    WasiOptions wasi;
    wasi.args = {"files"};
    wasi.args.insert(wasi.args.end(), args.begin(), args.end());
    wasi.env = std::move(env);
    std::string output;
    wasi.stdout_sink = [&](std::span<const uint8_t> b) { output.append(b.begin(), b.end()); };
    SecurityBinding binding{security ? security : default_context(), policy, audit.get(), {}, nullptr};
    ComponentContext context(std::move(wasi), std::move(binding));
    engine::Linker linker;
    add_wasi(linker);
    engine::InstanceOptions options;
    options.user_data = &context;
    auto store = engine->new_store();
    auto instance = store->instantiate(*module, linker, options);
    if (!instance) return output + "instantiate: " + instance.error().to_string();
    auto r = (*instance)->call("_start", {});
    if (!r) output += "error: " + r.error().to_string();
    audit->flush();
    return output;
  }

  // The audit records so far, as "result permission resource".
  std::vector<std::string> decisions() {
    audit->flush();
    std::lock_guard lock(sink.mutex);
    std::vector<std::string> lines;
    for (const auto& r : sink.records) {
      lines.push_back(std::string(security::audit_result_name(r.result)) + " " + r.permission +
                      " " + r.resource);
    }
    return lines;
  }
  bool denied(const std::string& permission, const std::string& resource) {
    auto all = decisions();
    return std::find(all.begin(), all.end(), "denied " + permission + " " + resource) != all.end();
  }
  void clear_audit() {
    audit->flush();
    std::lock_guard lock(sink.mutex);
    sink.records.clear();
  }

  TempTree tree;
  std::unique_ptr<engine::Engine> engine = engine::Engine::interpreter();
  std::shared_ptr<const engine::Module> module;
  AuditSink sink;
  std::unique_ptr<security::AuditLog> audit;
  const security::PolicySlot* policy = nullptr;
};

TEST_F(FilesComponent, ReadsAndWritesInsideItsGrant) {
  std::string output = run({"read",       g("hello.txt"),
                            "write",      g("new.txt"),
                            "first",      "append",
                            g("new.txt"), " second",
                            "read",       g("new.txt"),
                            "seek",       g("new.txt"),
                            "6",          "stat",
                            g("new.txt"), "mkdir",
                            g("sub"),     "stat",
                            g("sub"),     "rename",
                            g("new.txt"), g("sub/moved.txt"),
                            "list",       g(),
                            "list",       g("sub"),
                            "read",       ro("readme.txt"),
                            "remove",     g("sub/moved.txt"),
                            "rmdir",      g("sub"),
                            "list",       g()});
  EXPECT_EQ(output,
            "read " + g("hello.txt") + ": hello\n" + "write " + g("new.txt") + ": ok\n" +
                "append " + g("new.txt") + ": ok\n" + "read " + g("new.txt") + ": first second\n" +
                "seek " + g("new.txt") + ": second (now at 12 of 12)\n" + "stat " + g("new.txt") +
                ": file of 12 bytes\n" + "mkdir " + g("sub") + ": ok\n" + "stat " + g("sub") +
                ": dir\n" + "rename " + g("new.txt") + ": ok\n" + "list " + g() +
                ": hello.txt sub\n" + "list " + g("sub") + ": moved.txt\n" + "read " +
                ro("readme.txt") + ": read me\n" + "remove " + g("sub/moved.txt") + ": ok\n" +
                "rmdir " + g("sub") + ": ok\n" + "list " + g() + ": hello.txt\n");
  for (const auto& d : decisions()) EXPECT_EQ(d.rfind("granted ", 0), 0u) << d;
  EXPECT_FALSE(fs::exists(tree / "grant/sub"));
}

TEST_F(FilesComponent, EveryWayOutOfTheGrantIsRefusedAndAudited) {
  tree.symlink("../outside/secret", "grant/planted");
  tree.symlink("/etc/passwd", "grant/passwd");
  tree.symlink((tree / "outside").string(), "grant/outside_dir");
  std::string output = run({
      "read",   out("secret"),                                    // absolute path outside
      "read",   g("../outside/secret"),                           // `..`
      "read",   g("sub/../../outside/secret"),                    // `..` through a missing dir
      "read",   (tree / "grant//..//outside/secret").string(),    // `//` forms
      "read",   (tree / "grant/./../outside/./secret").string(),  // `/./` forms
      "read",   g("planted"),                                     // symlink out, relative
      "read",   g("passwd"),                                      // symlink out, absolute
      "read",   g("outside_dir/secret"),                          // a symlinked directory
      "read",   "/etc/passwd",                                    // never readable
      "read",   g("../../../../../../etc/passwd"),
      "write",  out("new"),
      "x",  // creating outside
      "mkdir",  out("dir"),
      "remove", out("secret"),
      "list",   (tree / "outside").string(),
      "stat",   out("secret"),
  });
  EXPECT_EQ(output, "read " + out("secret") + ": EACCES\n" + "read " + g("../outside/secret") +
                        ": EACCES\n" + "read " + g("sub/../../outside/secret") + ": EACCES\n" +
                        "read " + (tree / "grant//..//outside/secret").string() + ": EACCES\n" +
                        "read " + (tree / "grant/./../outside/./secret").string() + ": EACCES\n" +
                        "read " + g("planted") + ": EACCES\n" + "read " + g("passwd") +
                        ": EACCES\n" + "read " + g("outside_dir/secret") + ": EACCES\n" +
                        "read /etc/passwd: EACCES\n" + "read " + g("../../../../../../etc/passwd") +
                        ": EACCES\n" + "write " + out("new") + ": EACCES\n" + "mkdir " +
                        out("dir") + ": EACCES\n" + "remove " + out("secret") + ": EACCES\n" +
                        "list " + tree.root().string() + "/outside: EACCES\n" + "stat " +
                        out("secret") + ": EACCES\n");
  EXPECT_TRUE(denied("filesystem.read", out("secret")));
  EXPECT_TRUE(denied("filesystem.read", g("planted")));
  EXPECT_TRUE(denied("filesystem.read", g("passwd")));
  EXPECT_TRUE(denied("filesystem.read", g("outside_dir/secret")));
  EXPECT_TRUE(denied("filesystem.read", "/etc/passwd"));
  EXPECT_TRUE(denied("filesystem.write", out("new")));
  EXPECT_TRUE(denied("filesystem.write", out("dir")));
  EXPECT_TRUE(denied("filesystem.write", out("secret")));
  EXPECT_TRUE(denied("filesystem.read", (tree / "outside").string()));
  for (const auto& d : decisions()) {
    EXPECT_EQ(d.rfind("denied ", 0), 0u) << "nothing outside was granted: " << d;
  }
  EXPECT_EQ(tree.read("outside/secret"), "secret");
  EXPECT_FALSE(fs::exists(tree / "outside/new"));
  EXPECT_FALSE(fs::exists(tree / "outside/dir"));
}

TEST_F(FilesComponent, ASymlinkThatStaysInsideWorks) {
  tree.symlink("hello.txt", "grant/alias");
  tree.mkdir("grant/deep/er");
  tree.symlink("../../hello.txt", "grant/deep/er/up");
  tree.symlink(g("hello.txt"), "grant/absolute");
  std::string output = run(
      {"read", g("alias"), "read", g("deep/er/up"), "lstat", g("alias"), "read", g("absolute")});
  // An absolute symlink is refused even when it points inside: resolution beneath a
  // preopen never restarts from "/" (as with openat2's RESOLVE_BENEATH).
  EXPECT_EQ(output, "read " + g("alias") + ": hello\nread " + g("deep/er/up") + ": hello\nlstat " +
                        g("alias") + ": symlink\nread " + g("absolute") + ": EACCES\n");
  // The grant is checked on the real file.
  auto all = decisions();
  EXPECT_NE(std::find(all.begin(), all.end(), "granted filesystem.read " + g("hello.txt")),
            all.end());
}

TEST_F(FilesComponent, AReadOnlyGrantRefusesEveryWrite) {
  std::string output = run({"read",
                            ro("readme.txt"),
                            "write",
                            ro("readme.txt"),
                            "x",
                            "append",
                            ro("readme.txt"),
                            "x",
                            "write",
                            ro("new.txt"),
                            "x",
                            "mkdir",
                            ro("d"),
                            "remove",
                            ro("readme.txt"),
                            "rename",
                            ro("readme.txt"),
                            ro("renamed.txt"),
                            "read",
                            ro("readme.txt")});
  EXPECT_EQ(output, "read " + ro("readme.txt") + ": read me\nwrite " + ro("readme.txt") +
                        ": EACCES\nappend " + ro("readme.txt") + ": EACCES\nwrite " +
                        ro("new.txt") + ": EACCES\nmkdir " + ro("d") + ": EACCES\nremove " +
                        ro("readme.txt") + ": EACCES\nrename " + ro("readme.txt") +
                        ": EACCES\nread " + ro("readme.txt") + ": read me\n");
  EXPECT_TRUE(denied("filesystem.write", ro("readme.txt")));
  EXPECT_TRUE(denied("filesystem.write", ro("new.txt")));
  EXPECT_EQ(tree.read("ro/readme.txt"), "read me");
  EXPECT_FALSE(fs::exists(tree / "ro/new.txt"));
}

TEST_F(FilesComponent, RenamesNeedWriteOnBothEnds) {
  tree.write("grant/mine.txt", "mine");
  std::string output = run({"rename", g("mine.txt"), out("stolen.txt"),         // out
                            "rename", out("secret"), g("secret"),               // in
                            "rename", ro("readme.txt"), g("readme.txt"),        // ro source
                            "rename", g("mine.txt"), g("../outside/mine.txt"),  // `..`
                            "rename", g("mine.txt"), g("still-mine.txt")});
  EXPECT_EQ(output, "rename " + g("mine.txt") + ": EACCES\nrename " + out("secret") +
                        ": EACCES\nrename " + ro("readme.txt") + ": EACCES\nrename " +
                        g("mine.txt") + ": EACCES\nrename " + g("mine.txt") + ": ok\n");
  EXPECT_TRUE(denied("filesystem.write", out("stolen.txt")));
  EXPECT_TRUE(denied("filesystem.write", out("secret")));
  EXPECT_TRUE(denied("filesystem.write", ro("readme.txt")));
  EXPECT_TRUE(denied("filesystem.write", out("mine.txt")));
  EXPECT_EQ(tree.read("outside/secret"), "secret");
  EXPECT_EQ(tree.read("grant/still-mine.txt"), "mine");
}

TEST_F(FilesComponent, MissingFilesAreEnoentOnlyInsideTheGrant) {
  std::string output = run(
      {"read", g("missing"), "read", out("missing"), "stat", g("no/such"), "rmdir", g("nodir")});
  // Outside, the answer is EACCES whether or not the file exists: nothing leaks.
  EXPECT_EQ(output, "read " + g("missing") + ": ENOENT\nread " + out("missing") +
                        ": EACCES\nstat " + g("no/such") + ": ENOENT\nrmdir " + g("nodir") +
                        ": ENOENT\n");
}

TEST_F(FilesComponent, GrantsOfSingleFilesPreopenTheirDirectory) {
  // Only two files of the directory are granted, one of them read only.
  auto security = context_for({g("hello.txt"), g("out.txt")}, {g("out.txt")});
  std::string output =
      run({"read", g("hello.txt"), "write", g("out.txt"), "out", "read", g("out.txt"), "write",
           g("hello.txt"), "x", "write", g("other.txt"), "x", "list", g()},
          security);
  EXPECT_EQ(output, "read " + g("hello.txt") + ": hello\nwrite " + g("out.txt") + ": ok\nread " +
                        g("out.txt") + ": out\nwrite " + g("hello.txt") + ": EACCES\nwrite " +
                        g("other.txt") + ": EACCES\nlist " + g() + ": EACCES\n");
}

TEST_F(FilesComponent, AComponentWithoutGrantsSeesNoFile) {
  auto security = context_for({}, {});
  std::string output =
      run({"read", g("hello.txt"), "read", "/etc/passwd", "write", "/tmp/x", "y"}, security);
  EXPECT_EQ(output, "read " + g("hello.txt") + ": EACCES\nread /etc/passwd: EACCES\n" +
                        "write /tmp/x: EACCES\n");
  EXPECT_TRUE(denied("filesystem.read", "/etc/passwd"));
}

TEST_F(FilesComponent, TheHostPolicyHasTheLastWordOnTheRealPath) {
  tree.write("grant/locked/config", "v1");
  tree.symlink("locked", "grant/side-door");
  auto parsed = security::HostPolicy::parse(
      "[[rule]]\nname = \"locked\"\neffect = \"deny\"\npermissions = "
      "[\"filesystem.write\"]\nresources = [\"" +
          g("locked") + "/**\"]\nreason = \"read only for everyone\"\n",
      "policy.toml");
  ASSERT_TRUE(parsed.has_value()) << parsed.error().to_string();
  security::PolicySlot slot(std::move(*parsed));
  policy = &slot;
  std::string output = run({"read", g("locked/config"), "write", g("locked/config"), "v2", "write",
                            g("side-door/config"), "v3", "write", g("free.txt"), "ok"});
  EXPECT_EQ(output, "read " + g("locked/config") + ": v1\nwrite " + g("locked/config") +
                        ": EACCES\nwrite " + g("side-door/config") + ": EACCES\nwrite " +
                        g("free.txt") + ": ok\n");
  EXPECT_EQ(tree.read("grant/locked/config"), "v1");
  audit->flush();
  std::lock_guard lock(sink.mutex);
  size_t policy_denials = 0;
  for (const auto& r : sink.records) {
    if (r.result == AuditResult::Denied) {
      EXPECT_EQ(r.layer, security::DecisionLayer::HostPolicy);
      EXPECT_EQ(r.resource, g("locked/config"));  // the side door's real path
      ++policy_denials;
    }
  }
  EXPECT_EQ(policy_denials, 2u);
}

TEST_F(FilesComponent, ABigDirectoryIsListedOverSeveralReaddirCalls) {
  // 300 entries of ~100 bytes: far more than one 4 KiB buffer of wasi-libc.
  std::string expected = "list " + g("big") + ":";
  for (int i = 0; i < 300; ++i) {
    char name[128];
    std::snprintf(name, sizeof name, "entry-%03d-%s", i, std::string(80, 'x').c_str());
    tree.write(std::string("grant/big/") + name, "");
    expected += std::string(" ") + name;
  }
  tree.mkdir("grant/empty");
  std::string output =
      run({"list", g("big"), "list", g("empty"), "remove", g("empty"), "list", g("empty")});
  EXPECT_EQ(output, expected + "\nlist " + g("empty") + ":\nremove " + g("empty") + ": ok\nlist " +
                        g("empty") + ": ENOENT\n");
}

TEST_F(FilesComponent, OpenFilesAreBounded) {
  std::string output = run({"open-many", g("hello.txt"), "500", "open-many", g("hello.txt"), "3"});
  EXPECT_EQ(output, "open-many " + g("hello.txt") + ": " +
                        std::to_string(FileTable::kMaxOpenFiles) + ", then EMFILE\n" +
                        "open-many " + g("hello.txt") + ": 3\n");
}

TEST_F(FilesComponent, EnvironmentAndSleepsWork) {
  std::string output = run({"env", "MODE", "env", "HOME", "sleep", "50"}, nullptr, {"MODE=strict"});
  EXPECT_EQ(output, "env MODE: strict\nenv HOME: (unset)\nsleep 50: ok\n");
}

// The component holds a directory and a file in it open, says "ready", and
// waits for "go"; meanwhile the test moves the directory.
class RenamedDirectory : public FilesComponent {
 protected:
  std::string run_with_move(const fs::path& to) {
    tree.write("grant/work/f", "data");
    std::string output;
    std::thread component([&] {
      output = run({"hold-dir", g("work"), "hold-file", g("work/f"), "write", g("ready"), "1",
                    "wait", g("go"), "read-at", "f", "read", g("work/f"), "read-held"});
    });
    for (int i = 0; i < 2000 && !fs::exists(tree / "grant/ready"); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    fs::rename(tree / "grant/work", to);
    tree.write("grant/go", "1");
    component.join();
    return output;
  }
};

TEST_F(RenamedDirectory, MovedOutOfTheGrantItsFilesAreRefused) {
  std::string output = run_with_move(tree / "outside/work");
  // Through the held directory the real path is checked again: it is outside
  // now. The old name is gone. A file opened before the move stays readable:
  // the grant was checked when it was opened.
  EXPECT_EQ(output, "hold-dir " + g("work") + ": ok\nhold-file " + g("work/f") + ": ok\nwrite " +
                        g("ready") + ": ok\nwait " + g("go") + ": ok\nread-at f: EACCES\nread " +
                        g("work/f") + ": ENOENT\nread-held: data\n");
  EXPECT_TRUE(denied("filesystem.read", out("work/f")));
}

TEST_F(RenamedDirectory, MovedWithinTheGrantItKeepsWorking) {
  std::string output = run_with_move(tree / "grant/moved");
  EXPECT_EQ(output, "hold-dir " + g("work") + ": ok\nhold-file " + g("work/f") + ": ok\nwrite " +
                        g("ready") + ": ok\nwait " + g("go") + ": ok\nread-at f: data\nread " +
                        g("work/f") + ": ENOENT\nread-held: data\n");
  auto all = decisions();
  EXPECT_NE(std::find(all.begin(), all.end(), "granted filesystem.read " + g("moved/f")),
            all.end());
}

TEST_F(RenamedDirectory, MovedBackAndForthDuringTheCallsNothingOutsideIsGranted) {
  // The directory flips between inside and outside the grant while the
  // component reads through it as fast as it can.
  tree.write("grant/work/f", "data");
  std::vector<std::string> args = {"hold-dir", g("work"), "write", g("ready"),
                                   "1",        "wait",    g("go")};
  for (int i = 0; i < 200; ++i) {
    args.push_back("read-at");
    args.push_back("f");
  }
  std::string output;
  std::thread component([&] { output = run(args); });
  for (int i = 0; i < 2000 && !fs::exists(tree / "grant/ready"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::atomic<bool> done{false};
  std::thread flipper([&] {
    bool inside = true;
    while (!done) {
      fs::rename(inside ? tree / "grant/work" : tree / "outside/work",
                 inside ? tree / "outside/work" : tree / "grant/work");
      inside = !inside;
    }
    if (!inside) fs::rename(tree / "outside/work", tree / "grant/work");
  });
  tree.write("grant/go", "1");
  component.join();
  done = true;
  flipper.join();
  size_t ok = 0, refused = 0;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line == "read-at f: data") ++ok;
    if (line == "read-at f: EACCES") ++refused;
  }
  EXPECT_EQ(ok + refused, 200u) << output;
  RecordProperty("granted_reads", static_cast<int>(ok));
  RecordProperty("refused_reads", static_cast<int>(refused));
  for (const auto& d : decisions()) {
    EXPECT_EQ(d.find("granted filesystem.read " + out("")), std::string::npos) << d;
  }
}

// ---- Raw WASI calls -----------------------------------------------------------

constexpr std::string_view kRawFiles = R"((module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $prestat_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek"
    (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get"
    (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get"
    (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; path_open(dir, path at 1000 of len, rights) -> errno; the fd is at 16
  (func (export "open") (param $dir i32) (param $len i32) (param $rights i64) (result i32)
    (call $path_open (local.get $dir) (i32.const 1) (i32.const 1000) (local.get $len)
      (i32.const 0) (local.get $rights) (i64.const 0) (i32.const 0) (i32.const 16)))
  (func (export "open_at") (param $path i32) (param $out i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 1) (local.get $path) (i32.const 4)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (local.get $out)))
  (func (export "fd") (result i32) (i32.load (i32.const 16)))
  (func (export "prestat") (param i32) (result i32) (call $prestat (local.get 0) (i32.const 32)))
  (func (export "prestat_len") (result i32) (i32.load (i32.const 36)))
  (func (export "prestat_name") (param i32 i32) (result i32)
    (call $prestat_name (local.get 0) (i32.const 2000) (local.get 1)))
  (func (export "read") (param $fd i32) (param $buf i32) (param $len i32) (result i32)
    (i32.store (i32.const 48) (local.get $buf))
    (i32.store (i32.const 52) (local.get $len))
    (call $fd_read (local.get $fd) (i32.const 48) (i32.const 1) (i32.const 56)))
  (func (export "nread") (result i32) (i32.load (i32.const 56)))
  (func (export "close") (param i32) (result i32) (call $fd_close (local.get 0)))
  ;; results at 5000 (seek and tell), 5100 (filestat, 64 bytes), 5200 (fdstat, 24 bytes)
  (func (export "seek") (param $fd i32) (param $offset i64) (param $whence i32) (result i32)
    (call $fd_seek (local.get $fd) (local.get $offset) (local.get $whence) (i32.const 5000)))
  (func (export "tell") (param $fd i32) (result i32) (call $fd_tell (local.get $fd) (i32.const 5000)))
  (func (export "position") (result i64) (i64.load (i32.const 5000)))
  (func (export "filestat") (param $fd i32) (result i32)
    (call $fd_filestat_get (local.get $fd) (i32.const 5100)))
  (func (export "filestat_type") (result i32) (i32.load8_u (i32.const 5116)))
  (func (export "filestat_size") (result i64) (i64.load (i32.const 5132)))
  (func (export "fdstat") (param $fd i32) (result i32)
    (call $fd_fdstat_get (local.get $fd) (i32.const 5200)))
  (func (export "fdstat_type") (result i32) (i32.load8_u (i32.const 5200)))
  (func (export "fdstat_inheriting") (result i64) (i64.load (i32.const 5216)))
  ;; one clock subscription at 3000 (relative timeout in ns), event at 3100
  (func (export "sleep") (param $ns i64) (param $clock i32) (result i32)
    (i64.store (i32.const 3000) (i64.const 7))
    (i32.store8 (i32.const 3008) (i32.const 0))
    (i32.store (i32.const 3016) (local.get $clock))
    (i64.store (i32.const 3024) (local.get $ns))
    (i64.store (i32.const 3032) (i64.const 0))
    (i32.store16 (i32.const 3040) (i32.const 0))
    (call $poll (i32.const 3000) (i32.const 3100) (i32.const 1) (i32.const 3200)))
  (func (export "event_error") (result i32) (i32.load16_u (i32.const 3108)))
  (func (export "event_userdata") (result i64) (i64.load (i32.const 3100)))
  (func (export "nevents") (result i32) (i32.load (i32.const 3200)))
  (func (export "poll_fd") (result i32)
    (i64.store (i32.const 3000) (i64.const 9))
    (i32.store8 (i32.const 3008) (i32.const 1))
    (call $poll (i32.const 3000) (i32.const 3100) (i32.const 1) (i32.const 3200)))
))";

class RawFiles : public FilesComponent {
 protected:
  void SetUp() override {
    FilesComponent::SetUp();
    raw_module = engine->load_wat(kRawFiles, "raw.wat").value();
    WasiOptions wasi;
    SecurityBinding binding{default_context(), nullptr, audit.get(), {}, nullptr};
    context = std::make_unique<ComponentContext>(std::move(wasi), std::move(binding));
    add_wasi(linker);
    engine::InstanceOptions options;
    options.user_data = context.get();
    instance = store->instantiate(*raw_module, linker, options).value();
  }
  int32_t call(std::string_view name, std::vector<engine::Value> args = {}) {
    auto r = instance->call(name, args);
    EXPECT_TRUE(r.has_value()) << name << ": " << (r ? "" : r.error().to_string());
    return r && !r->empty() ? (*r)[0].as_i32() : -1;
  }
  void put_path(const std::string& path) {
    ASSERT_TRUE(instance
                    ->write_memory(
                        1000, std::span(reinterpret_cast<const uint8_t*>(path.data()), path.size()))
                    .has_value());
  }
  std::string memory_text(size_t at, size_t len) {
    auto bytes = instance->read_memory(at, len);
    return bytes ? std::string(bytes->begin(), bytes->end()) : std::string();
  }

  std::shared_ptr<const engine::Module> raw_module;
  std::unique_ptr<engine::Store> store = engine->new_store();
  engine::Linker linker;
  std::unique_ptr<ComponentContext> context;
  std::shared_ptr<engine::Instance> instance;
};

constexpr int32_t kSuccess = 0, kAcces = 2, kBadf = 8, kFault = 21, kNametoolong = 37, kNosys = 52,
                  kNotsup = 58;
constexpr int64_t kRightRead = 2;

TEST_F(RawFiles, PreopensAreTheGrantDirectoriesThenTheRoot) {
  using engine::Value;
  EXPECT_EQ(call("prestat", {Value::i32(3)}), kSuccess);
  EXPECT_EQ(call("prestat_len"), static_cast<int32_t>(g().size()));
  EXPECT_EQ(call("prestat_name", {Value::i32(3), Value::i32(static_cast<int32_t>(g().size()))}),
            kSuccess);
  EXPECT_EQ(memory_text(2000, g().size()), g());
  EXPECT_EQ(call("prestat_name", {Value::i32(3), Value::i32(3)}), kNametoolong);
  EXPECT_EQ(call("prestat", {Value::i32(4)}), kSuccess);
  EXPECT_EQ(call("prestat_len"), static_cast<int32_t>((tree / "ro").string().size()));
  EXPECT_EQ(call("prestat", {Value::i32(5)}), kSuccess);
  EXPECT_EQ(call("prestat_len"), 1);
  EXPECT_EQ(call("prestat", {Value::i32(6)}), kBadf);
  EXPECT_EQ(call("prestat", {Value::i32(1)}), kBadf);
}

TEST_F(RawFiles, PathsAreRelativeToTheirDirectoryAndChecked) {
  using engine::Value;
  put_path("hello.txt");
  ASSERT_EQ(call("open", {Value::i32(3), Value::i32(9), Value::i64(kRightRead)}), kSuccess);
  int32_t fd = call("fd");
  EXPECT_GE(fd, 6);
  EXPECT_EQ(call("read", {Value::i32(fd), Value::i32(4000), Value::i32(100)}), kSuccess);
  EXPECT_EQ(call("nread"), 5);
  EXPECT_EQ(memory_text(4000, 5), "hello");
  EXPECT_EQ(call("close", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(call("close", {Value::i32(fd)}), kBadf);
  EXPECT_EQ(call("read", {Value::i32(fd), Value::i32(4000), Value::i32(100)}), kBadf);

  // An absolute path given to a preopen, and a path through the root outside.
  put_path(out("secret"));
  EXPECT_EQ(call("open", {Value::i32(3), Value::i32(static_cast<int32_t>(out("secret").size())),
                          Value::i64(kRightRead)}),
            kAcces);
  EXPECT_EQ(call("open", {Value::i32(5), Value::i32(static_cast<int32_t>(out("secret").size())),
                          Value::i64(kRightRead)}),
            kAcces);
  EXPECT_TRUE(denied("filesystem.read", out("secret")));
  // Through the root, a granted path reaches its preopen.
  put_path(g("hello.txt"));
  EXPECT_EQ(call("open", {Value::i32(5), Value::i32(static_cast<int32_t>(g("hello.txt").size())),
                          Value::i64(kRightRead)}),
            kSuccess);
  // Stdin reads as end of file; stdout is not readable.
  EXPECT_EQ(call("read", {Value::i32(0), Value::i32(4000), Value::i32(100)}), kSuccess);
  EXPECT_EQ(call("nread"), 0);
  EXPECT_EQ(call("read", {Value::i32(1), Value::i32(4000), Value::i32(100)}), kBadf);
}

TEST_F(RawFiles, SeekTellAndStatOfAnOpenFile) {
  using engine::Value;
  put_path("hello.txt");
  ASSERT_EQ(call("open", {Value::i32(3), Value::i32(9), Value::i64(kRightRead)}), kSuccess);
  int32_t fd = call("fd");
  auto i64 = [&](std::string_view name) {
    auto r = instance->call(name, {});
    return r ? (*r)[0].as_i64() : -1;
  };
  EXPECT_EQ(call("seek", {Value::i32(fd), Value::i64(2), Value::i32(0)}), kSuccess);
  EXPECT_EQ(i64("position"), 2);
  EXPECT_EQ(call("seek", {Value::i32(fd), Value::i64(-1), Value::i32(2)}), kSuccess);
  EXPECT_EQ(i64("position"), 4);
  EXPECT_EQ(call("tell", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(i64("position"), 4);
  EXPECT_EQ(call("seek", {Value::i32(fd), Value::i64(0), Value::i32(7)}), 28);  // EINVAL
  EXPECT_EQ(call("seek", {Value::i32(1), Value::i64(0), Value::i32(0)}), 70);   // ESPIPE
  EXPECT_EQ(call("filestat", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(call("filestat_type"), 4);  // regular file
  EXPECT_EQ(i64("filestat_size"), 5);
  EXPECT_EQ(call("fdstat", {Value::i32(fd)}), kSuccess);
  EXPECT_EQ(call("fdstat_type"), 4);
  // A preopen: a directory offering every right, the grants deciding.
  EXPECT_EQ(call("fdstat", {Value::i32(3)}), kSuccess);
  EXPECT_EQ(call("fdstat_type"), 3);
  EXPECT_EQ(i64("fdstat_inheriting"), (int64_t{1} << 30) - 1);
  EXPECT_EQ(call("filestat", {Value::i32(3)}), kSuccess);
  EXPECT_EQ(call("filestat_type"), 3);
  // The root has no directory of its own; reading its metadata needs a grant on "/".
  EXPECT_EQ(call("filestat", {Value::i32(5)}), kAcces);
  EXPECT_TRUE(denied("filesystem.read", "/"));
}

TEST_F(RawFiles, HostilePointersAreEfaultBeforeAnySideEffect) {
  using engine::Value;
  // The path out of memory, the result pointer out of memory.
  EXPECT_EQ(call("open_at", {Value::i32(65534), Value::i32(16)}), kFault);
  put_path("hello.txt");
  EXPECT_EQ(call("open_at", {Value::i32(1000), Value::i32(65533)}), kFault);
  EXPECT_EQ(context->files().open_files(), 0u);
  EXPECT_EQ(call("read", {Value::i32(0), Value::i32(65530), Value::i32(100)}), kFault);
}

TEST_F(RawFiles, PollSleepsOnClocksOnly) {
  using engine::Value;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(call("sleep", {Value::i64(30'000'000), Value::i32(1)}), kSuccess);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
  EXPECT_EQ(call("nevents"), 1);
  EXPECT_EQ(call("event_error"), 0);
  auto r = instance->call("event_userdata", {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)[0].as_i64(), 7);
  // Longer than the bound: refused at once, in the event.
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(call("sleep", {Value::i64(3'600'000'000'000), Value::i32(1)}), kSuccess);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(call("event_error"), kNotsup);
  // A CPU-time clock, and an fd subscription (sockets and pipes are not supported).
  EXPECT_EQ(call("sleep", {Value::i64(1), Value::i32(2)}), kSuccess);
  EXPECT_EQ(call("event_error"), 28);
  EXPECT_EQ(call("poll_fd"), kSuccess);
  EXPECT_EQ(call("event_error"), kNosys);
}

}  // namespace
}  // namespace airssys::wasm::host
