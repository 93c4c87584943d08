#pragma once
// Valid modules that are hostile to the native tier's compilers, written as
// wasm bytes at a size the test chooses, and a view of the processes under
// /proc, to see the compilers' process groups come and go.

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
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
inline std::vector<uint8_t> stores_body(uint32_t count);
inline std::vector<uint8_t> straight_line_stores(uint32_t count) {
  return module_with_start(stores_body(count));
}

// One br_table of `targets` targets (on local 0, an i32), in a block.
inline std::vector<uint8_t> br_table_body(uint32_t targets) {
  std::vector<uint8_t> body{0x02, 0x40, 0x20, 0x00, 0x0e};  // block; local.get 0; br_table
  put_leb(body, targets);
  body.insert(body.end(), targets, 0x00);
  body.push_back(0x00);  // default
  body.push_back(0x0b);  // end of the block
  return body;
}

// `_start` holds one br_table of `targets` targets.
inline std::vector<uint8_t> wide_br_table(uint32_t targets) {
  return module_with_start(br_table_body(targets));
}

inline uint64_t read_leb(const std::vector<uint8_t>& in, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    uint8_t b = in.at(at++);
    v |= uint64_t{b & 0x7fu} << shift;
    if (!(b & 0x80)) return v;
  }
}

inline void skip_limits(const std::vector<uint8_t>& in, size_t& at) {
  uint8_t flags = in.at(at++);
  read_leb(in, at);
  if (flags & 1) read_leb(in, at);
}

// `module` (a component built by the build) with a custom section of `size`
// bytes appended: larger, and no different to run.
inline std::vector<uint8_t> with_custom_section(std::vector<uint8_t> module, size_t size) {
  std::vector<uint8_t> body{0x07, 'p', 'a', 'd', 'd', 'i', 'n', 'g'};
  body.resize(body.size() + size, 0);
  put_section(module, 0, body);
  return module;
}

// `module` with one more function, exported as `name`, of type [] -> []
// and one i32 local, whose body is `body` (without the final end). Nothing
// calls it: the module behaves as before, and its compile takes what the
// body makes it take.
inline std::vector<uint8_t> with_exported_function(const std::vector<uint8_t>& module,
                                                   const std::string& name,
                                                   const std::vector<uint8_t>& body) {
  std::vector<uint8_t> out(module.begin(), module.begin() + 8);
  uint64_t types = 0, imported_funcs = 0, funcs = 0;
  // First pass: counts.
  for (size_t at = 8; at < module.size();) {
    uint8_t id = module[at++];
    uint64_t size = read_leb(module, at);
    size_t p = at;
    if (id == 1) types = read_leb(module, p);
    if (id == 3) funcs = read_leb(module, p);
    if (id == 2) {
      uint64_t n = read_leb(module, p);
      for (uint64_t k = 0; k < n; ++k) {
        for (int str = 0; str < 2; ++str) p += read_leb(module, p);
        uint8_t kind = module.at(p++);
        if (kind == 0) {
          read_leb(module, p);
          ++imported_funcs;
        } else if (kind == 1) {
          ++p;
          skip_limits(module, p);
        } else if (kind == 2) {
          skip_limits(module, p);
        } else {
          p += 2;
        }
      }
    }
    at += size;
  }
  // Second pass: each section with the new entry appended.
  auto append = [&](uint8_t id, const std::vector<uint8_t>& payload, size_t p,
                    const std::vector<uint8_t>& extra) {
    size_t count_at = p;
    uint64_t n = read_leb(payload, count_at);
    std::vector<uint8_t> next;
    put_leb(next, n + 1);
    next.insert(next.end(), payload.begin() + count_at, payload.end());
    next.insert(next.end(), extra.begin(), extra.end());
    put_section(out, id, next);
  };
  for (size_t at = 8; at < module.size();) {
    uint8_t id = module[at++];
    uint64_t size = read_leb(module, at);
    std::vector<uint8_t> payload(module.begin() + at, module.begin() + at + size);
    at += size;
    if (id == 1) {
      append(id, payload, 0, {0x60, 0x00, 0x00});
    } else if (id == 3) {
      std::vector<uint8_t> extra;
      put_leb(extra, types);
      append(id, payload, 0, extra);
    } else if (id == 7) {
      std::vector<uint8_t> extra;
      put_leb(extra, name.size());
      extra.insert(extra.end(), name.begin(), name.end());
      extra.push_back(0x00);
      put_leb(extra, imported_funcs + funcs);
      append(id, payload, 0, extra);
    } else if (id == 10) {
      std::vector<uint8_t> code{0x01, 0x01, 0x7f};
      code.insert(code.end(), body.begin(), body.end());
      code.push_back(0x0b);
      std::vector<uint8_t> extra;
      put_leb(extra, code.size());
      extra.insert(extra.end(), code.begin(), code.end());
      append(id, payload, 0, extra);
    } else {
      put_section(out, id, payload);
    }
  }
  return out;
}

// The body of straight_line_stores' `_start`: i32.const address, i32.const
// value, i32.store, `count` times.
inline std::vector<uint8_t> stores_body(uint32_t count) {
  std::vector<uint8_t> body;
  for (uint32_t i = 0; i < count; ++i) {
    body.push_back(0x41);
    put_sleb(body, (i * 4) % 60000);
    body.push_back(0x41);
    put_sleb(body, i & 0x3f);
    body.insert(body.end(), {0x36, 0x02, 0x00});  // align=2 offset=0
  }
  return body;
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

// The compile group under `parent` once its compiler runs (the guard, the
// tool and the tool's own child: three members); empty after 60 s.
inline std::set<int> wait_compiling(int parent) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    for (int g : compile_groups(parent)) {
      if (group_members(g).size() >= 3) return {g};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {};
}

// Whether every process of `groups` is gone within 10 s.
inline bool groups_gone(const std::set<int>& groups) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    bool any = false;
    for (int g : groups) any |= !group_members(g).empty();
    if (!any) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
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
