// The guides' code snippets, checked against the real code (label `docs`).
//
// Every fenced block in docs/*.md is taken by its info string (the words
// after the opening fence):
//
//   toml KIND [fragment] [invalid]
//       KIND says which real loader reads it: Component.toml
//       (security::check_manifest), trust.toml (TrustConfig::parse),
//       policy.toml (HostPolicy::parse) or host.toml (HostConfig::parse).
//       A toml block without a KIND fails the test: none goes unchecked.
//       `fragment`: a Component.toml excerpt without [component]; a
//       [component] section naming a placeholder component is put in front.
//       It must load. `invalid`: a deliberately bad example; it must be
//       refused, and the next fenced block must list the refusal exactly:
//       one line per problem, in order (for Component.toml) or the
//       loader's message (for the others).
//   json [KIND]
//       Must parse. KIND: secret-key / public-key (read by the key file
//       readers), signature (security::parse_signature_json), admin-request
//       (answered by system::handle_admin_request on a real host in a
//       temporary data directory: the command and its arguments must be
//       accepted, so the answer is ok or an error other than
//       InvalidArgument), admin-response (an object with "ok" and "result"
//       or "error").
//   cpp
//       The cpp blocks of one guide, in order, become one translation unit:
//       their #include lines at the top, the rest the body of one function,
//       with #line directives so that a compiler error names the guide's
//       line. It is compiled with -fsyntax-only against include/. A few
//       names stand for the application's own code and are declared in
//       front: my_log, fail, retry_later.
//   c
//       The c blocks (component code) likewise, against sdk/c/airssys.h.
//   sh, console, or none; and `inline code` in the prose
//       Every `airssys-wasm COMMAND ... --option` must name a command of the
//       real binary and only options that its `COMMAND --help` lists
//       (`policy check` is one command).
//   any block with a word file=PATH, and sh run
//       A guide's walk-through, run as it stands: the blocks with file=PATH
//       are written to PATH in a fresh folder, then the `sh run` block runs
//       there as a shell script (clang the one that builds the components,
//       airssys-wasm the real binary, /opt/airssys a prefix holding the SDK
//       headers as the package installs them, $AIRSSYS_HOME a fresh data
//       directory, build/release/examples the examples as the build made
//       them). It must exit 0, and every line of the `text output` block
//       after it must be among what it printed. A c block with file= is a
//       whole file: it is not part of the guide's c translation unit. A
//       walk-through that names an example the build did not make (the
//       Rust and JavaScript ones need Rust and jco) is skipped, saying so.
//   cmake, text and the rest: not checked.
//
// Links between the guides ([text](other.md#heading)) must reach a guide and
// one of its headings.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "airssys/wasm/security/manifest.hpp"
#include "airssys/wasm/security/policy.hpp"
#include "airssys/wasm/security/signing.hpp"
#include "airssys/wasm/security/trust.hpp"
#include "airssys/wasm/system/admin.hpp"
#include "airssys/wasm/system/host.hpp"

#include "../support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace airssys::wasm;
using nlohmann::json;

struct Block {
  std::string file;  // docs/x.md
  int line = 0;      // line of the first line of content
  std::vector<std::string> info;
  std::string text;
  [[nodiscard]] bool has(std::string_view word) const {
    for (const auto& w : info) {
      if (w == word) return true;
    }
    return false;
  }
  [[nodiscard]] std::string lang() const { return info.empty() ? "" : info[0]; }
  // The word file=PATH: the walk-through writes the block to PATH.
  [[nodiscard]] std::string file_name() const {
    for (const auto& w : info) {
      if (w.starts_with("file=")) return w.substr(5);
    }
    return "";
  }
  [[nodiscard]] std::string where() const { return file + ":" + std::to_string(line); }
};

struct Guide {
  std::string file;
  std::vector<Block> blocks;
  std::vector<std::pair<int, std::string>> prose;  // lines outside blocks
};

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

Guide read_guide(const fs::path& path) {
  Guide g;
  g.file = "docs/" + path.filename().string();
  std::ifstream in(path);
  std::string line;
  int n = 0;
  Block* open = nullptr;
  std::string fence;
  while (std::getline(in, line)) {
    ++n;
    auto start = line.find_first_not_of(' ');
    bool is_fence = start != std::string::npos && line.compare(start, 3, "```") == 0;
    if (open) {
      if (is_fence && line.substr(start).find_first_not_of('`') == std::string::npos) {
        open = nullptr;
      } else {
        open->text +=
            (start != std::string::npos && start >= fence.size() ? line.substr(fence.size())
                                                                 : line) +
            "\n";
      }
      continue;
    }
    if (is_fence) {
      Block b;
      b.file = g.file;
      b.line = n + 1;
      b.info = words(line.substr(start + 3));
      fence.assign(start, ' ');
      g.blocks.push_back(std::move(b));
      open = &g.blocks.back();
      continue;
    }
    g.prose.emplace_back(n, line);
  }
  EXPECT_EQ(open, nullptr) << g.file << ": a fenced block is never closed";
  return g;
}

std::vector<Guide> guides() {
  std::vector<Guide> out;
  std::vector<fs::path> paths;
  for (const auto& e : fs::directory_iterator(fs::path(AIRSSYS_SOURCE_DIR) / "docs")) {
    if (e.path().extension() == ".md") paths.push_back(e.path());
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) out.push_back(read_guide(p));
  return out;
}

const std::vector<Guide>& all_guides() {
  static const std::vector<Guide> g = guides();
  return g;
}

// The block after `b` in its guide: an invalid example's expected refusal.
const Block* next_block(const Guide& g, const Block& b) {
  for (size_t i = 0; i + 1 < g.blocks.size(); ++i) {
    if (&g.blocks[i] == &b) return &g.blocks[i + 1];
  }
  return nullptr;
}

std::vector<std::string> nonempty_lines(const std::string& text) {
  std::vector<std::string> out;
  for (auto& l : lines_of(text)) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

struct RunResult {
  int status = -1;
  std::string output;
};

RunResult run(const std::string& command) {
  RunResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t got = 0;
  while ((got = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), got);
  int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

// --- TOML -------------------------------------------------------------------

constexpr const char* kFragmentHeader = "[component]\nname = \"snippet\"\nversion = \"1.0.0\"\n";

// The loader's refusal as lines, or nothing when it loads.
std::vector<std::string> load_toml(const Block& b, const std::string& kind, bool* known) {
  *known = true;
  std::string text = b.text;
  if (kind == "Component.toml") {
    if (b.has("fragment")) text = kFragmentHeader + text;
    auto check = security::check_manifest(text, "Component.toml");
    std::vector<std::string> out;
    for (const auto& p : check.problems) out.push_back(p.to_string());
    return out;
  }
  Result<void> ok;
  if (kind == "trust.toml") {
    auto c = security::TrustConfig::parse(text, "trust.toml");
    if (!c) ok = std::unexpected(c.error());
  } else if (kind == "policy.toml") {
    auto c = security::HostPolicy::parse(text, "policy.toml");
    if (!c) ok = std::unexpected(c.error());
  } else if (kind == "host.toml") {
    auto c = system::HostConfig::parse(text, "/etc/airssys/host.toml");
    if (!c) ok = std::unexpected(c.error());
  } else {
    *known = false;
    return {};
  }
  if (ok) return {};
  return nonempty_lines(ok.error().message);
}

TEST(DocsSnippets, TomlBlocksLoadWithTheRealLoaders) {
  int checked = 0;
  for (const auto& g : all_guides()) {
    for (const auto& b : g.blocks) {
      if (b.lang() != "toml") continue;
      std::string kind = b.info.size() > 1 ? b.info[1] : "";
      bool known = false;
      auto problems = load_toml(b, kind, &known);
      if (!known) {
        ADD_FAILURE() << b.where()
                      << ": a toml block must name its file (```toml "
                         "Component.toml|trust.toml|policy.toml|host.toml)";
        continue;
      }
      ++checked;
      if (!b.has("invalid")) {
        std::string all;
        for (const auto& p : problems) all += "\n  " + p;
        EXPECT_TRUE(problems.empty())
            << b.where() << ": this " << kind << " example is refused:" << all;
        continue;
      }
      EXPECT_FALSE(problems.empty())
          << b.where() << ": this invalid " << kind << " example is accepted";
      const Block* expected = next_block(g, b);
      if (!expected) {
        ADD_FAILURE() << b.where() << ": an invalid example is followed by its refusal";
        continue;
      }
      EXPECT_EQ(nonempty_lines(expected->text), problems)
          << expected->where() << ": the refusal shown is not the loader's";
    }
  }
  EXPECT_GE(checked, 10);
}

// --- JSON -------------------------------------------------------------------

using airssys::wasm::test::TempDir;

TEST(DocsSnippets, JsonBlocksParseAndLoad) {
  TempDir tmp;
  std::unique_ptr<system::Host> host;
  int checked = 0;
  for (const auto& g : all_guides()) {
    for (const auto& b : g.blocks) {
      if (b.lang() != "json") continue;
      ++checked;
      json j = json::parse(b.text, nullptr, false);
      if (j.is_discarded()) {
        ADD_FAILURE() << b.where() << ": not JSON";
        continue;
      }
      std::string kind = b.info.size() > 1 ? b.info[1] : "";
      if (kind == "secret-key" || kind == "public-key") {
        fs::path file = tmp.path() / ("key-" + std::to_string(checked));
        std::ofstream(file) << b.text;
        fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
        if (kind == "secret-key") {
          auto key = security::read_secret_key_file(file);
          EXPECT_TRUE(key) << b.where() << ": " << key.error().message;
        } else {
          auto key = security::read_public_key_file(file);
          EXPECT_TRUE(key) << b.where() << ": " << key.error().message;
        }
      } else if (kind == "signature") {
        auto sig = security::parse_signature_json(b.text, "component.sig");
        EXPECT_TRUE(sig) << b.where() << ": " << sig.error().message;
      } else if (kind == "admin-request") {
        if (!host) {
          auto built = system::HostBuilder().data_dir(tmp.path() / "host").workers(1).build();
          ASSERT_TRUE(built) << built.error().message;
          host = std::move(*built);
        }
        json reply = system::handle_admin_request(*host, j, "docs test");
        if (!reply.value("ok", false)) {
          EXPECT_NE(reply["error"].value("code", ""), "InvalidArgument")
              << b.where() << ": the host refuses this request: " << reply.dump();
        }
      } else if (kind == "admin-response") {
        EXPECT_TRUE(j.is_object() && j.contains("ok") &&
                    (j.contains("result") || j.contains("error")))
            << b.where() << ": a response is {\"ok\": ..., \"result\" or \"error\": ...}";
        if (j.contains("error")) {
          const auto& e = j["error"];
          EXPECT_TRUE(e.contains("code") && e.contains("category") && e.contains("message"))
              << b.where();
          // The code is one of the project's error table.
          bool known = false;
          for (uint16_t i = 0; i <= static_cast<uint16_t>(ErrorCode::InternalError); ++i) {
            known |= error_code_name(static_cast<ErrorCode>(i)) == e.value("code", "");
          }
          EXPECT_TRUE(known) << b.where() << ": unknown error code " << e.value("code", "");
        }
      } else if (!kind.empty()) {
        ADD_FAILURE() << b.where() << ": unknown json kind '" << kind << "'";
      }
    }
  }
  if (host) host->shutdown();
  EXPECT_GE(checked, 4);
}

// --- the command line --------------------------------------------------------

struct Cli {
  std::set<std::string> commands;
  std::map<std::string, std::set<std::string>> options;  // command -> --options
};

std::set<std::string> options_in(const std::string& help) {
  std::set<std::string> out{"--help", "--version"};
  static const std::regex option(R"((^|[\s,])(--[a-z][a-z0-9-]*))");
  for (std::sregex_iterator it(help.begin(), help.end(), option), end; it != end; ++it) {
    out.insert((*it)[2]);
  }
  return out;
}

// Commands whose subcommands have options of their own: `policy check`,
// `lattice hosts`, `lattice key` are checked as commands.
const std::map<std::string, std::set<std::string>> kSubcommands = {
    {"policy", {"check"}}, {"lattice", {"hosts", "key"}}};

const Cli& cli() {
  static const Cli c = [] {
    Cli c;
    auto top = run(quote(AIRSSYS_CLI) + " --help");
    EXPECT_EQ(top.status, 0) << top.output;
    bool in_list = false;
    for (const auto& l : lines_of(top.output)) {
      if (l.find("ubcommands") != std::string::npos || l.find("UBCOMMANDS") != std::string::npos) {
        in_list = true;
        continue;
      }
      if (!in_list) continue;
      auto w = words(l);
      if (l.size() > 2 && l[0] == ' ' && l[1] == ' ' && l[2] != ' ' && !w.empty()) {
        c.commands.insert(w[0]);
      } else if (!l.empty() && l[0] != ' ') {
        in_list = false;
      }
    }
    for (const auto& [parent, subs] : kSubcommands) {
      if (!c.commands.count(parent)) continue;
      for (const auto& sub : subs) c.commands.insert(parent + " " + sub);
    }
    for (const auto& cmd : c.commands) {
      auto help = run(quote(AIRSSYS_CLI) + " " + cmd + " --help");
      EXPECT_EQ(help.status, 0) << cmd << ": " << help.output;
      c.options[cmd] = options_in(help.output);
    }
    return c;
  }();
  return c;
}

// Every `airssys-wasm COMMAND ...` in a piece of text (a line, with its
// continuation lines already joined).
void check_invocations(const std::string& text, const std::string& where, int* count) {
  // `|` is taken as a synopsis's alternation ("on|off", "[--a | --b]"), not a
  // pipe: the snippets pipe nothing into other commands' options.
  static const std::regex invocation(R"((^|[\s$;&|(`])airssys-wasm((\s+[^\s;&#`]+)*))");
  for (std::sregex_iterator it(text.begin(), text.end(), invocation), end; it != end; ++it) {
    auto args = words((*it)[2]);
    if (args.empty()) continue;
    std::string cmd = args[0];
    if (cmd.starts_with("--")) {
      EXPECT_TRUE(cmd == "--help" || cmd == "--version") << where << ": " << cmd;
      continue;
    }
    if (auto sub = kSubcommands.find(cmd); sub != kSubcommands.end() && args.size() > 1 &&
        sub->second.count(args[1])) {
      cmd += " " + args[1];
    }
    ++*count;
    if (!cli().commands.count(cmd)) {
      ADD_FAILURE() << where << ": 'airssys-wasm " << cmd << "' is no command of the binary";
      continue;
    }
    const auto& known = cli().options.at(cmd);
    for (auto a : args) {
      while (!a.empty() && (a.front() == '[' || a.front() == '(')) a.erase(0, 1);
      if (!a.starts_with("--") || a == "--") continue;
      a = a.substr(0, a.find_first_of("=]),"));
      EXPECT_TRUE(known.count(a)) << where << ": 'airssys-wasm " << cmd << "' has no option " << a;
    }
  }
}

TEST(DocsSnippets, CommandLinesUseRealCommandsAndOptions) {
  int count = 0;
  for (const auto& g : all_guides()) {
    for (const auto& b : g.blocks) {
      std::string lang = b.lang();
      if (lang != "" && lang != "sh" && lang != "console" && lang != "shell") continue;
      // A line ending in '\' or followed by indented lines continues.
      auto ls = lines_of(b.text);
      for (size_t i = 0; i < ls.size(); ++i) {
        std::string joined = ls[i];
        size_t j = i;
        while (j + 1 < ls.size() && ((!joined.empty() && joined.back() == '\\') ||
                                     (ls[j + 1].starts_with(" ") && !words(ls[j + 1]).empty() &&
                                      words(ls[j + 1])[0].starts_with("[")))) {
          if (!joined.empty() && joined.back() == '\\') joined.pop_back();
          joined += " " + ls[++j];
        }
        // A comment ends the command.
        if (auto hash = joined.find(" #"); hash != std::string::npos) joined.resize(hash);
        check_invocations(joined, b.file + ":" + std::to_string(b.line + static_cast<int>(i)),
                          &count);
        i = j;
      }
    }
    for (const auto& [n, line] : g.prose) {
      // Inline code spans only.
      static const std::regex span("`([^`]*)`");
      for (std::sregex_iterator it(line.begin(), line.end(), span), end; it != end; ++it) {
        check_invocations((*it)[1], g.file + ":" + std::to_string(n), &count);
      }
    }
  }
  EXPECT_GE(count, 40);
}

TEST(DocsSnippets, EveryCommandIsInTheCommandReference) {
  // Each command has a heading of its own: "### `run`", "### `policy check`".
  std::set<std::string> headings;
  for (const auto& g : all_guides()) {
    if (g.file != "docs/commands.md") continue;
    static const std::regex heading(R"(^#+ .*`([a-z -]+)`)");
    for (const auto& [n, line] : g.prose) {
      std::smatch m;
      if (std::regex_search(line, m, heading)) headings.insert(m[1]);
    }
  }
  for (const auto& cmd : cli().commands) {
    if (cmd == "policy") continue;  // only `policy check`
    // A subcommand is described under its command's heading (`lattice`).
    if (cmd.find(' ') != std::string::npos && !cmd.starts_with("policy ")) continue;
    EXPECT_TRUE(headings.count(cmd)) << "docs/commands.md has no heading \"### `" << cmd << "`\"";
  }
}

// --- C++ and C ---------------------------------------------------------------

constexpr const char* kCppPrelude = R"(// The application's own code the snippets call.
#include <iostream>
#include <string>
#include <string_view>
template <typename... T> void my_log(const T&...) {}
int fail(const airssys::wasm::Error&);
void retry_later();
std::string file_text(const char* path);
)";

// One translation unit of a guide's blocks of one language.
std::string translation_unit(const Guide& g, const std::string& lang, const std::string& prelude,
                             const std::string& function, int* blocks) {
  std::string includes, body;
  for (const auto& b : g.blocks) {
    if (b.lang() != lang || !b.file_name().empty()) continue;
    ++*blocks;
    auto ls = lines_of(b.text);
    for (size_t i = 0; i < ls.size(); ++i) {
      int line = b.line + static_cast<int>(i);
      std::string directive = "#line " + std::to_string(line) + " \"" + g.file + "\"\n";
      if (ls[i].starts_with("#include")) {
        includes += directive + ls[i] + "\n";
      } else {
        body += directive + ls[i] + "\n";
      }
    }
  }
  return includes + prelude + function + " {\n" + body + "\nreturn 0;\n}\n";
}

void compile(const std::string& compiler, const std::string& flags, const std::string& source,
             const fs::path& file) {
  std::ofstream(file) << source;
  auto r = run(quote(compiler) + " " + flags + " -fsyntax-only " + quote(file.string()));
  EXPECT_EQ(r.status, 0) << "the snippets do not compile against the real headers:\n" << r.output;
}

TEST(DocsSnippets, CppBlocksCompileAgainstTheHeaders) {
  TempDir tmp;
  int blocks = 0;
  for (const auto& g : all_guides()) {
    int here = 0;
    std::string tu = translation_unit(
        g, "cpp", std::string("#include \"airssys/wasm/core/error.hpp\"\n") + kCppPrelude,
        "[[maybe_unused]] static int snippet()", &here);
    if (here == 0) continue;
    blocks += here;
    SCOPED_TRACE(g.file);
    compile(AIRSSYS_CXX, "-std=c++23 -Wno-unused -I" + quote(AIRSSYS_SOURCE_DIR "/include"), tu,
            tmp.path() / (fs::path(g.file).stem().string() + ".cpp"));
  }
  EXPECT_GE(blocks, 6);
}

TEST(DocsSnippets, CBlocksCompileAgainstTheSdk) {
  TempDir tmp;
  int blocks = 0;
  for (const auto& g : all_guides()) {
    int here = 0;
    std::string tu =
        translation_unit(g, "c",
                         "#include <stdint.h>\n#include <string.h>\n#include \"airssys.h\"\n"
                         "void use(const char*);\n",
                         "int snippet(void)", &here);
    if (here == 0) continue;
    blocks += here;
    SCOPED_TRACE(g.file);
    compile(AIRSSYS_CC,
            "-std=c11 -Wno-attributes -Werror=implicit-function-declaration "
            "-Werror=int-conversion -Werror=incompatible-pointer-types -I" +
                quote(AIRSSYS_SOURCE_DIR "/sdk/c"),
            tu, tmp.path() / (fs::path(g.file).stem().string() + ".c"));
  }
  EXPECT_GE(blocks, 1);
}

// --- walk-throughs, run ---------------------------------------------------------

TEST(DocsSnippets, WalkThroughsRunAsTheyStand) {
  int scripts = 0;
  for (const auto& g : all_guides()) {
    for (const auto& b : g.blocks) {
      if (b.lang() != "sh" || !b.has("run")) continue;
      ++scripts;
      SCOPED_TRACE(b.where());
      const fs::path examples = fs::path(AIRSSYS_BINARY_DIR) / "examples";
      std::string missing;
      const std::regex example_path(R"(build/release/examples/([A-Za-z0-9_.-]+))");
      for (std::sregex_iterator m(b.text.begin(), b.text.end(), example_path), end; m != end; ++m) {
        if (!fs::exists(examples / (*m)[1].str())) missing = (*m)[0].str();
      }
      if (!missing.empty()) {
        std::printf("%s: skipped, the build did not make %s\n", b.where().c_str(), missing.c_str());
        continue;
      }
      TempDir tmp;
      const fs::path& dir = tmp.path();
      fs::create_directories(dir / "build" / "release");
      fs::create_directory_symlink(examples, dir / "build" / "release" / "examples");
      for (const auto& f : g.blocks) {
        if (f.file_name().empty()) continue;
        fs::create_directories((dir / f.file_name()).parent_path());
        std::ofstream(dir / f.file_name()) << f.text;
      }
      fs::create_directories(dir / ".bin");
      fs::create_symlink(AIRSSYS_WASM_CLANG, dir / ".bin" / "clang");
      fs::create_symlink(AIRSSYS_CLI, dir / ".bin" / "airssys-wasm");
      fs::path prefix = dir / ".prefix";
      fs::create_directories(prefix / "include" / "airssys" / "sdk");
      for (const char* header : {"airssys.h", "airssys_world.h"}) {
        fs::copy_file(fs::path(AIRSSYS_SOURCE_DIR) / "sdk" / "c" / header,
                      prefix / "include" / "airssys" / "sdk" / header);
      }
      fs::create_directories(dir / ".home");
      ::chmod((dir / ".home").c_str(), 0700);
      std::string script = b.text;
      for (size_t at = 0; (at = script.find("/opt/airssys", at)) != std::string::npos;) {
        script.replace(at, 12, prefix.string());
        at += prefix.string().size();
      }
      std::ofstream(dir / ".run.sh") << "set -e\n" << script;
      auto r = run("cd " + quote(dir.string()) + " && PATH=" + quote((dir / ".bin").string()) +
                   ":\"$PATH\" AIRSSYS_HOME=" + quote((dir / ".home").string()) + " sh .run.sh");
      EXPECT_EQ(r.status, 0) << "the walk-through fails:\n" << r.output;
      const Block* out = next_block(g, b);
      ASSERT_TRUE(out && out->lang() == "text" && out->has("output"))
          << "a `sh run` block is followed by its `text output`";
      for (const auto& line : nonempty_lines(out->text)) {
        EXPECT_NE(r.output.find(line), std::string::npos)
            << "the walk-through did not print \"" << line << "\":\n" << r.output;
      }
    }
  }
  EXPECT_GE(scripts, 1);
}

// --- links between the guides ---------------------------------------------------

// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to '-'.
std::string anchor_of(const std::string& heading) {
  std::string out;
  for (unsigned char c : heading) {
    if (std::isalnum(c) || c == '-' || c == '_') {
      out += static_cast<char>(std::tolower(c));
    } else if (c == ' ') {
      out += '-';
    }
  }
  return out;
}

TEST(DocsSnippets, LinksBetweenGuidesReachTheirHeadings) {
  std::map<std::string, std::set<std::string>> anchors;  // docs/x.md -> anchors
  for (const auto& g : all_guides()) {
    for (const auto& [n, line] : g.prose) {
      if (line.starts_with("#")) {
        anchors[g.file].insert(anchor_of(line.substr(line.find_first_not_of('#') + 1)));
      }
    }
  }
  static const std::regex link(R"(\]\(([a-z0-9_-]*\.md)?(#[a-z0-9_-]+)?\))");
  int count = 0;
  for (const auto& g : all_guides()) {
    for (const auto& [n, line] : g.prose) {
      for (std::sregex_iterator it(line.begin(), line.end(), link), end; it != end; ++it) {
        std::string file = (*it)[1].matched ? "docs/" + (*it)[1].str() : g.file;
        std::string where = g.file + ":" + std::to_string(n);
        ++count;
        if (!anchors.count(file)) {
          ADD_FAILURE() << where << ": no guide " << file;
          continue;
        }
        if ((*it)[2].matched) {
          EXPECT_TRUE(anchors[file].count((*it)[2].str().substr(1)))
              << where << ": " << file << " has no heading for " << (*it)[2].str();
        }
      }
    }
  }
  EXPECT_GE(count, 30);
}

}  // namespace
