#pragma once
// What the WASI 0.2 translation units share: the state of one component's
// 0.2 imports (its streams, pollables, errors and directory streams, by the
// representation the host gave each resource) and the type builders.

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "airssys/wasm/cm/instance.hpp"
#include "airssys/wasm/host/context.hpp"
#include "airssys/wasm/host/files.hpp"
#include "airssys/wasm/host/wasi.hpp"

namespace airssys::wasm::host::wasi2 {

// The most live resources of one kind a component may hold; one more traps.
inline constexpr size_t kMaxResources = 4096;
// What check-write permits at a time, and what blocking-write-and-flush takes.
inline constexpr uint64_t kWriteBudget = 65536;
inline constexpr uint64_t kMaxBlockingWrite = 4096;
// The most one read returns (a stream or a file may give less than asked:
// the caller reads again), and the most one get-random-bytes gives (more
// traps). The bytes cross as one value each (cm::Val), so they are bounded
// well below the canonical ABI's own limit on what the host builds per call
// (cm::kMaxLiftedListElements).
inline constexpr uint64_t kMaxRead = 64 * 1024;
inline constexpr uint64_t kMaxRandomBytes = 1024 * 1024;

struct ErrorObject {
  std::string message;
  WasiErrno code = WasiErrno::Io;  // for filesystem-error-code
  bool filesystem = false;
};

struct Pollable {
  uint64_t deadline = 0;  // monotonic ns; 0: ready at once
};

// Body: the body of an HTTP request or response (wasi:http), held by the host.
enum class StreamKind : uint8_t { Stdin, Stdout, Stderr, File, Body };

// The body of an outgoing HTTP request as its output-stream fills it.
struct BodySink {
  std::vector<uint8_t> bytes;
  uint64_t limit = 0;     // the most it takes; a longer write fails
  bool over = false;      // a write went past the limit
  bool finished = false;  // outgoing-body.finish: the stream is closed
};

struct InputStream {
  StreamKind kind = StreamKind::Stdin;
  UniqueFd fd;  // File: a duplicate of the descriptor's file
  uint64_t offset = 0;
  std::shared_ptr<const std::vector<uint8_t>> body = {};  // Body: what it reads
};

struct OutputStream {
  StreamKind kind = StreamKind::Stdout;
  UniqueFd fd;
  uint64_t offset = 0;
  bool append = false;
  uint64_t permit = 0;  // what the last check-write allows still
  std::shared_ptr<BodySink> body = {};  // Body: where it writes
};

struct DirectoryStream {
  UniqueFd fd;  // an open directory of its own, read from its start
  std::vector<uint8_t> buffer;
  size_t at = 0;
  size_t end = 0;
  bool done = false;
};

template <class T>
struct Table {
  std::unordered_map<uint32_t, T> items;
  uint32_t next = 1;
  [[nodiscard]] Result<uint32_t> add(T value, const char* what) {
    if (items.size() >= kMaxResources) {
      return make_error(ErrorCode::LimitExceeded,
                        std::string("a component holds too many WASI ") + what + " resources");
    }
    while (items.contains(next) || next == 0) ++next;
    uint32_t rep = next++;
    items.emplace(rep, std::move(value));
    return rep;
  }
  T* find(uint32_t rep) {
    auto it = items.find(rep);
    return it == items.end() ? nullptr : &it->second;
  }
};

struct State {
  explicit State(ComponentContext& c) : ctx(c) {}
  ComponentContext& ctx;
  const cm::ResourceType* error = nullptr;
  const cm::ResourceType* pollable = nullptr;
  const cm::ResourceType* input_stream = nullptr;
  const cm::ResourceType* output_stream = nullptr;
  const cm::ResourceType* descriptor = nullptr;
  const cm::ResourceType* directory_stream = nullptr;
  Table<ErrorObject> errors;
  Table<Pollable> pollables;
  Table<InputStream> inputs;
  Table<OutputStream> outputs;
  Table<DirectoryStream> directories;
};

// ---- types
using cm::Kind;
using cm::TypeRef;
inline TypeRef t(Kind kind) { return cm::primitive(kind); }
inline TypeRef bytes_type() { return cm::list_of(t(Kind::U8)); }
// variant stream-error { last-operation-failed(own<error>), closed }
TypeRef stream_error_type(const State& s);
// enum error-code of wasi:filesystem/types
TypeRef fs_error_code_type();

// ---- values
inline cm::Val u64v(uint64_t v) { return cm::Val::u(Kind::U64, v); }
inline cm::Val u32v(uint64_t v) { return cm::Val::u(Kind::U32, v); }
inline cm::Val own(uint32_t rep) { return cm::Val{Kind::Own, rep, {}, {}}; }
inline cm::Val ok(std::vector<cm::Val> payload = {}) {
  return cm::Val{Kind::Result, 0, {}, std::move(payload)};
}
inline cm::Val err(cm::Val payload) { return cm::Val{Kind::Result, 1, {}, {std::move(payload)}}; }
inline cm::Val none() { return cm::Val{Kind::Option, 0, {}, {}}; }
inline cm::Val some(cm::Val v) { return cm::Val{Kind::Option, 1, {}, {std::move(v)}}; }
cm::Val bytes_val(const uint8_t* data, size_t size);
// The filesystem error-code case of a WASI errno.
cm::Val fs_error(WasiErrno code);

// A stream's failure as a stream-error: last-operation-failed with a new
// error resource (filesystem-error-code reads `code` back), or closed.
Result<cm::Val> stream_failed(State& s, WasiErrno code, std::string message);
cm::Val stream_closed();

// Defines wasi:filesystem/types and preopens (wasi2_files.cpp).
void add_filesystem(cm::HostInstance& imports, const std::shared_ptr<State>& state);

// Defines wasi:http/types and outgoing-handler (wasi2_http.cpp).
void add_http(cm::HostInstance& imports, const std::shared_ptr<State>& state);

// The name an interface is registered under: "wasi:io/streams@0.2.12".
std::string versioned(std::string_view name);

}  // namespace airssys::wasm::host::wasi2
