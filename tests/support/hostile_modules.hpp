#pragma once
// Valid modules that are hostile to the native tier's compilers, written as
// wasm bytes at a size the test chooses, and a view of the processes under
// /proc, to see the compilers' process groups come and go.

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace airssys::wasm::testing {

inline void put_leb(std::vector<uint8_t>& out, uint64_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out.push_back(v ? (b | 0x80) : b);
  } while (v);
}

// Signed LEB128, as i32.const takes it.
inline void put_sleb(std::vector<uint8_t>& out, int64_t v) {
  for (;;) {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if ((v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40))) {
      out.push_back(b);
      return;
    }
    out.push_back(b | 0x80);
  }
}

inline void put_section(std::vector<uint8_t>& out, uint8_t id, const std::vector<uint8_t>& body) {
  out.push_back(id);
  put_leb(out, body.size());
  out.insert(out.end(), body.begin(), body.end());
}

// A module with one memory and one exported function "_start" () -> () with
// one i32 local, whose body is `body` (the instructions, without the final end).
inline std::vector<uint8_t> module_with_start(const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
  put_section(out, 1, {0x01, 0x60, 0x00, 0x00});              // type 0: [] -> []
  put_section(out, 3, {0x01, 0x00});                          // function 0: type 0
  put_section(out, 5, {0x01, 0x00, 0x01});                    // memory 0: 1 page
  put_section(out, 7, {0x01, 0x06, '_', 's', 't', 'a', 'r', 't', 0x00, 0x00});
  std::vector<uint8_t> code{0x01, 0x01, 0x7f};  // one local, i32
  code.insert(code.end(), body.begin(), body.end());
  code.push_back(0x0b);
  std::vector<uint8_t> section{0x01};
  put_leb(section, code.size());
  section.insert(section.end(), code.begin(), code.end());
  put_section(out, 10, section);
  return out;
}

// `_start` stores `count` constants to memory one after another: about ten
// bytes each, and a C compiler's time and memory grow much faster.
inline std::vector<uint8_t> straight_line_stores(uint32_t count) {
  std::vector<uint8_t> body;
  for (uint32_t i = 0; i < count; ++i) {
    body.push_back(0x41);  // i32.const address
    put_sleb(body, (i * 4) % 60000);
    body.push_back(0x41);  // i32.const value
    put_sleb(body, i & 0x3f);
    body.insert(body.end(), {0x36, 0x02, 0x00});  // i32.store align=2 offset=0
  }
  return module_with_start(body);
}

// `_start` holds one br_table of `targets` targets.
inline std::vector<uint8_t> wide_br_table(uint32_t targets) {
  std::vector<uint8_t> body{0x02, 0x40, 0x20, 0x00, 0x0e};  // block; local.get 0; br_table
  put_leb(body, targets);
  body.insert(body.end(), targets, 0x00);
  body.push_back(0x00);  // default
  body.push_back(0x0b);  // end of the block
  return module_with_start(body);
}

struct ProcessInfo {
  int pid = 0;
  int ppid = 0;
  int pgid = 0;
};

// Every process this user can see.
inline std::vector<ProcessInfo> processes() {
  std::vector<ProcessInfo> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (auto* e = ::readdir(dir)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    ProcessInfo p;
    p.pid = pid;
    if (rest >> state >> p.ppid >> p.pgid) out.push_back(p);
  }
  ::closedir(dir);
  return out;
}

// The process groups led by children of `parent` in groups of their own:
// the native compilers' guards.
inline std::set<int> compile_groups(int parent) {
  std::set<int> out;
  for (const auto& p : processes()) {
    if (p.ppid == parent && p.pgid == p.pid) out.insert(p.pgid);
  }
  return out;
}

// The processes in process group `pgid`.
inline std::vector<ProcessInfo> group_members(int pgid) {
  std::vector<ProcessInfo> out;
  for (const auto& p : processes()) {
    if (p.pgid == pgid) out.push_back(p);
  }
  return out;
}

// A line of /proc/<pid>/status ("SigBlk", "SigIgn", ...), without its name.
inline std::optional<std::string> status_field(int pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field + ":")) {
      auto v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return std::nullopt;
}

}  // namespace airssys::wasm::testing
