// WASI 0.2: wasi:cli, wasi:io, wasi:clocks, wasi:random and the refusal of
// wasi:sockets (wasi2_files.cpp has wasi:filesystem). Each interface is a
// host instance of the Component Model layer whose functions receive and
// return component values; resources are represented by numbers this file
// hands out (State's tables), and their destructors forget them.
#include "airssys/wasm/host/wasi2.hpp"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "airssys/wasm/cm/typed.hpp"
#include "wasi2_internal.hpp"
#include "wasi_internal.hpp"

namespace airssys::wasm::host {
namespace wasi2 {

using cm::FuncType;
using cm::Val;

std::string versioned(std::string_view name) {
  return fmt::format("{}@{}", name, kWasi2Version);
}

TypeRef stream_error_type(const State& s) {
  return cm::variant_of({{"last-operation-failed", cm::own_of(s.error->id)}, {"closed", nullptr}});
}

Val bytes_val(const uint8_t* data, size_t size) {
  Val v{Kind::List, 0, {}, {}};
  v.items.reserve(size);
  for (size_t i = 0; i < size; ++i) v.items.push_back(Val::u(Kind::U8, data[i]));
  return v;
}

Result<Val> stream_failed(State& s, WasiErrno code, std::string message) {
  auto rep = s.errors.add({std::move(message), code, true}, "error");
  if (!rep) return std::unexpected(rep.error());
  return Val{Kind::Variant, 0, {}, {own(*rep)}};
}

Val stream_closed() { return Val{Kind::Variant, 1, {}, {}}; }

namespace {

uint64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t resolution_ns(clockid_t id) {
  timespec ts{};
  clock_getres(id, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

Val datetime(uint64_t ns) {
  return Val{Kind::Record, 0, {}, {u64v(ns / 1'000'000'000u), u32v(ns % 1'000'000'000u)}};
}

TypeRef datetime_type() {
  return cm::record_of({{"seconds", t(Kind::U64)}, {"nanoseconds", t(Kind::U32)}});
}

Result<void> fill_random(uint8_t* data, size_t size) {
  size_t filled = 0;
  while (filled < size) {
    ssize_t n = getrandom(data + filled, size - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::IoError,
                        fmt::format("getrandom failed: {}", std::strerror(errno)));
    }
    filled += static_cast<size_t>(n);
  }
  return {};
}

// A poll holds the component's thread; as in preview 1's poll_oneoff, it
// waits at most this long (a poll can return no error, so a longer one traps).
constexpr uint64_t kMaxSleepNs = 10'000'000'000;
constexpr size_t kMaxPollables = 64;

Result<std::vector<Val>> one(Val v) { return std::vector<Val>{std::move(v)}; }
Result<std::vector<Val>> nothing() { return std::vector<Val>{}; }

Error trap(std::string message) { return Error{ErrorCode::TrapHost, std::move(message), {}, 0}; }

FuncType fn(std::vector<cm::Field> params, TypeRef result) {
  return FuncType{std::move(params), std::move(result)};
}

// ---- wasi:cli -------------------------------------------------------------------------

void add_cli(cm::HostInstance& imports, const std::shared_ptr<State>& s) {
  auto& env = imports.define_instance(versioned("wasi:cli/environment"));
  env.define_func("get-environment",
                  fn({}, cm::list_of(cm::tuple_of({t(Kind::String), t(Kind::String)}))),
                  [s](std::span<const Val>) -> Result<std::vector<Val>> {
                    Val list{Kind::List, 0, {}, {}};
                    for (const auto& entry : s->ctx.wasi().env) {
                      size_t eq = entry.find('=');
                      std::string key = entry.substr(0, eq);
                      std::string value = eq == std::string::npos ? "" : entry.substr(eq + 1);
                      list.items.push_back(
                          Val{Kind::Tuple, 0, {}, {Val::string(key), Val::string(value)}});
                    }
                    return one(std::move(list));
                  });
  env.define_func("get-arguments", fn({}, cm::list_of(t(Kind::String))),
                  [s](std::span<const Val>) -> Result<std::vector<Val>> {
                    Val list{Kind::List, 0, {}, {}};
                    for (const auto& a : s->ctx.wasi().args) list.items.push_back(Val::string(a));
                    return one(std::move(list));
                  });
  // Preview 1 has no working directory either: paths are relative to a preopen.
  env.define_func("initial-cwd", fn({}, cm::option_of(t(Kind::String))),
                  [](std::span<const Val>) { return one(none()); });

  auto& exit = imports.define_instance(versioned("wasi:cli/exit"));
  auto proc_exit = [](int32_t status) -> Result<std::vector<Val>> {
    return std::unexpected(Error{ErrorCode::ProcExit,
                                 fmt::format("component exited with status {}", status), {},
                                 status});
  };
  exit.define_func("exit", fn({{"status", cm::result_of(nullptr, nullptr)}}, nullptr),
                   [proc_exit](std::span<const Val> a) { return proc_exit(a[0].bits == 0 ? 0 : 1); });
  exit.define_func("exit-with-code", fn({{"status-code", t(Kind::U8)}}, nullptr),
                   [proc_exit](std::span<const Val> a) {
                     return proc_exit(static_cast<int32_t>(a[0].bits));
                   });

  auto stream_getter = [&](const char* iface, const char* func,
                           const cm::ResourceType* type, bool input, StreamKind kind) {
    auto& inst = imports.define_instance(versioned(iface));
    inst.define_type(input ? "input-stream" : "output-stream", type);
    inst.define_func(func, fn({}, cm::own_of(type->id)),
                     [s, input, kind](std::span<const Val>) -> Result<std::vector<Val>> {
                       Result<uint32_t> rep = input ? s->inputs.add({kind, {}, 0}, "stream")
                                                    : s->outputs.add({kind, {}, 0, false, 0},
                                                                     "stream");
                       if (!rep) return std::unexpected(rep.error());
                       return one(own(*rep));
                     });
  };
  stream_getter("wasi:cli/stdin", "get-stdin", s->input_stream, true,
                StreamKind::Stdin);
  stream_getter("wasi:cli/stdout", "get-stdout", s->output_stream, false,
                StreamKind::Stdout);
  stream_getter("wasi:cli/stderr", "get-stderr", s->output_stream, false,
                StreamKind::Stderr);

  // No stream of a component is a terminal.
  auto& ti = imports.define_instance(versioned("wasi:cli/terminal-input"));
  const auto& terminal_input = ti.define_resource("terminal-input");
  auto& to = imports.define_instance(versioned("wasi:cli/terminal-output"));
  const auto& terminal_output = to.define_resource("terminal-output");
  auto terminal = [&](const char* iface, const char* func, const cm::ResourceType& type) {
    auto& inst = imports.define_instance(versioned(iface));
    inst.define_type(&type == &terminal_input ? "terminal-input" : "terminal-output", &type);
    inst.define_func(func, fn({}, cm::option_of(cm::own_of(type.id))),
                     [](std::span<const Val>) { return one(none()); });
  };
  terminal("wasi:cli/terminal-stdin", "get-terminal-stdin", terminal_input);
  terminal("wasi:cli/terminal-stdout", "get-terminal-stdout", terminal_output);
  terminal("wasi:cli/terminal-stderr", "get-terminal-stderr", terminal_output);
}

// ---- wasi:io ---------------------------------------------------------------------------

Result<std::vector<Val>> poll(State& s, std::span<const Val> list) {
  if (list.empty()) return std::unexpected(trap("wasi:io/poll.poll called with no pollable"));
  if (list.size() > kMaxPollables) {
    return std::unexpected(trap(fmt::format("wasi:io/poll.poll called with {} pollables (at most {})",
                                            list.size(), kMaxPollables)));
  }
  uint64_t earliest = UINT64_MAX;
  for (const auto& p : list) {
    const Pollable* pollable = s.pollables.find(static_cast<uint32_t>(p.bits));
    if (!pollable) return std::unexpected(trap("wasi:io/poll.poll: an unknown pollable"));
    earliest = std::min(earliest, pollable->deadline);
  }
  uint64_t now = clock_ns(CLOCK_MONOTONIC);
  if (earliest > now) {
    if (earliest - now > kMaxSleepNs) {
      return std::unexpected(trap(fmt::format(
          "wasi:io/poll.poll would wait {} ms, longer than the {} ms a poll may wait",
          (earliest - now) / 1'000'000, kMaxSleepNs / 1'000'000)));
    }
    timespec until{static_cast<time_t>(earliest / 1'000'000'000u),
                   static_cast<long>(earliest % 1'000'000'000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nullptr) == EINTR) {
    }
    now = clock_ns(CLOCK_MONOTONIC);
  }
  Val ready{Kind::List, 0, {}, {}};
  for (size_t i = 0; i < list.size(); ++i) {
    if (s.pollables.find(static_cast<uint32_t>(list[i].bits))->deadline <= now) {
      ready.items.push_back(u32v(i));
    }
  }
  return one(std::move(ready));
}

Result<uint32_t> ready_pollable(State& s) { return s.pollables.add({0}, "pollable"); }

// Reads at most `len` bytes of an input stream; closed at its end.
Result<Val> stream_read(State& s, uint32_t rep, uint64_t len, bool skip) {
  InputStream* in = s.inputs.find(rep);
  if (!in) return std::unexpected(trap("an input-stream the host did not issue"));
  size_t want = static_cast<size_t>(std::min(len, kMaxRead));
  if (in->kind == StreamKind::Body) {
    const std::vector<uint8_t>& body = *in->body;
    if (in->offset >= body.size() && want > 0) return err(stream_closed());
    const size_t n = static_cast<size_t>(std::min<uint64_t>(want, body.size() - in->offset));
    const uint8_t* at = body.data() + in->offset;
    in->offset += n;
    if (skip) return ok({u64v(n)});
    return ok({bytes_val(at, n)});
  }
  if (in->kind == StreamKind::Stdin) {
    std::vector<uint8_t> buffer(want);
    auto got = s.ctx.read_stdin(buffer);
    if (!got) {
      auto failed = stream_failed(s, wasi::errno_to_wasi(got.error()), std::strerror(got.error()));
      if (!failed) return std::unexpected(failed.error());
      return err(std::move(*failed));
    }
    if (*got == 0 && want > 0) return err(stream_closed());
    if (skip) return ok({u64v(*got)});
    return ok({bytes_val(buffer.data(), *got)});
  }
  if (in->kind != StreamKind::File) return err(stream_closed());
  std::vector<uint8_t> buffer(want);
  ssize_t n = 0;
  if (want > 0) {
    do {
      n = ::pread(in->fd.get(), buffer.data(), want, static_cast<off_t>(in->offset));
    } while (n < 0 && errno == EINTR);
  }
  if (n < 0) {
    int e = errno;
    auto failed = stream_failed(s, wasi::errno_to_wasi(e), std::strerror(e));
    if (!failed) return std::unexpected(failed.error());
    return err(std::move(*failed));
  }
  if (n == 0 && want > 0) return err(stream_closed());
  in->offset += static_cast<uint64_t>(n);
  if (skip) return ok({u64v(static_cast<uint64_t>(n))});
  return ok({bytes_val(buffer.data(), static_cast<size_t>(n))});
}

// Writes `data` to an output stream: stdout and stderr go to the context's
// sinks, a file at the stream's offset (or its end when appending).
Result<Val> stream_write(State& s, OutputStream& out, std::span<const uint8_t> data) {
  if (out.kind == StreamKind::Stdout) {
    s.ctx.write_stdout(data);
    return ok();
  }
  if (out.kind == StreamKind::Stderr) {
    s.ctx.write_stderr(data);
    return ok();
  }
  if (out.kind == StreamKind::Body) {
    BodySink& sink = *out.body;
    if (sink.finished) return err(stream_closed());
    if (data.size() > sink.limit - std::min(sink.limit, sink.bytes.size())) {
      sink.over = true;
      auto failed = stream_failed(s, WasiErrno::Fbig,
                                  fmt::format("a request body over {} bytes", sink.limit));
      if (!failed) return std::unexpected(failed.error());
      return err(std::move(*failed));
    }
    sink.bytes.insert(sink.bytes.end(), data.begin(), data.end());
    return ok();
  }
  if (out.kind != StreamKind::File) return err(stream_closed());
  size_t done = 0;
  while (done < data.size()) {
    off_t at = static_cast<off_t>(out.offset);
    if (out.append) {
      struct stat st {};
      if (::fstat(out.fd.get(), &st) != 0) break;
      at = st.st_size;
    }
    ssize_t n = ::pwrite(out.fd.get(), data.data() + done, data.size() - done, at);
    if (n == 0) {
      errno = EIO;  // no progress: reported as a failed write, never retried forever
      break;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      auto failed = stream_failed(s, wasi::errno_to_wasi(e), std::strerror(e));
      if (!failed) return std::unexpected(failed.error());
      return err(std::move(*failed));
    }
    done += static_cast<size_t>(n);
    out.offset = static_cast<uint64_t>(at) + static_cast<uint64_t>(n);
  }
  if (done < data.size()) {
    int e = errno;
    auto failed = stream_failed(s, wasi::errno_to_wasi(e), std::strerror(e));
    if (!failed) return std::unexpected(failed.error());
    return err(std::move(*failed));
  }
  return ok();
}

std::vector<uint8_t> to_bytes(const Val& list) {
  std::vector<uint8_t> out(list.items.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(list.items[i].bits);
  return out;
}

void add_io(cm::HostInstance& imports, const std::shared_ptr<State>& s) {
  auto& error = imports.define_instance(versioned("wasi:io/error"));
  s->error = &error.define_resource("error", [s](uint32_t rep) -> Result<void> {
    s->errors.items.erase(rep);
    return {};
  });
  error.define_func("[method]error.to-debug-string",
                    fn({{"self", cm::borrow_of(s->error->id)}}, t(Kind::String)),
                    [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                      const ErrorObject* e = s->errors.find(static_cast<uint32_t>(a[0].bits));
                      if (!e) return std::unexpected(trap("an error the host did not issue"));
                      return one(Val::string(e->message));
                    });

  auto& poll_i = imports.define_instance(versioned("wasi:io/poll"));
  s->pollable = &poll_i.define_resource("pollable", [s](uint32_t rep) -> Result<void> {
    s->pollables.items.erase(rep);
    return {};
  });
  const uint64_t pollable_id = s->pollable->id;
  poll_i.define_func("[method]pollable.ready", fn({{"self", cm::borrow_of(pollable_id)}},
                                                  t(Kind::Bool)),
                     [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                       const Pollable* p = s->pollables.find(static_cast<uint32_t>(a[0].bits));
                       if (!p) return std::unexpected(trap("a pollable the host did not issue"));
                       return one(Val::boolean(p->deadline <= clock_ns(CLOCK_MONOTONIC)));
                     });
  poll_i.define_func("[method]pollable.block", fn({{"self", cm::borrow_of(pollable_id)}}, nullptr),
                     [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                       auto r = poll(*s, a.subspan(0, 1));
                       if (!r) return std::unexpected(r.error());
                       return nothing();
                     });
  poll_i.define_func("poll", fn({{"in", cm::list_of(cm::borrow_of(pollable_id))}},
                                cm::list_of(t(Kind::U32))),
                     [s](std::span<const Val> a) { return poll(*s, a[0].items); });

  auto& streams = imports.define_instance(versioned("wasi:io/streams"));
  streams.define_type("error", s->error);
  streams.define_type("pollable", s->pollable);
  streams.define_type("stream-error");
  s->input_stream = &streams.define_resource("input-stream", [s](uint32_t rep) -> Result<void> {
    s->inputs.items.erase(rep);
    return {};
  });
  s->output_stream = &streams.define_resource("output-stream", [s](uint32_t rep) -> Result<void> {
    s->outputs.items.erase(rep);
    return {};
  });
  const TypeRef stream_error = stream_error_type(*s);
  const TypeRef in_self = cm::borrow_of(s->input_stream->id);
  const TypeRef out_self = cm::borrow_of(s->output_stream->id);
  const TypeRef read_result = cm::result_of(bytes_type(), stream_error);
  const TypeRef u64_result = cm::result_of(t(Kind::U64), stream_error);
  const TypeRef unit_result = cm::result_of(nullptr, stream_error);
  const TypeRef own_pollable = cm::own_of(pollable_id);

  for (const char* name : {"[method]input-stream.read", "[method]input-stream.blocking-read"}) {
    streams.define_func(name, fn({{"self", in_self}, {"len", t(Kind::U64)}}, read_result),
                        [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                          auto r = stream_read(*s, static_cast<uint32_t>(a[0].bits), a[1].bits,
                                               false);
                          if (!r) return std::unexpected(r.error());
                          return one(std::move(*r));
                        });
  }
  for (const char* name : {"[method]input-stream.skip", "[method]input-stream.blocking-skip"}) {
    streams.define_func(name, fn({{"self", in_self}, {"len", t(Kind::U64)}}, u64_result),
                        [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                          auto r = stream_read(*s, static_cast<uint32_t>(a[0].bits), a[1].bits,
                                               true);
                          if (!r) return std::unexpected(r.error());
                          return one(std::move(*r));
                        });
  }
  // Files and the standard streams never block: every stream is ready at once.
  auto subscribe = [s](std::span<const Val>) -> Result<std::vector<Val>> {
    auto rep = ready_pollable(*s);
    if (!rep) return std::unexpected(rep.error());
    return one(own(*rep));
  };
  streams.define_func("[method]input-stream.subscribe", fn({{"self", in_self}}, own_pollable),
                      subscribe);
  streams.define_func("[method]output-stream.subscribe", fn({{"self", out_self}}, own_pollable),
                      subscribe);

  auto output = [s](const Val& self) -> Result<OutputStream*> {
    OutputStream* out = s->outputs.find(static_cast<uint32_t>(self.bits));
    if (!out) return std::unexpected(trap("an output-stream the host did not issue"));
    return out;
  };
  streams.define_func("[method]output-stream.check-write", fn({{"self", out_self}}, u64_result),
                      [output](std::span<const Val> a) -> Result<std::vector<Val>> {
                        auto out = output(a[0]);
                        if (!out) return std::unexpected(out.error());
                        (*out)->permit = kWriteBudget;
                        return one(ok({u64v(kWriteBudget)}));
                      });
  // write takes what check-write permitted; blocking-write-and-flush at most 4096 bytes.
  auto write = [s, output](const Val& self, std::span<const uint8_t> data,
                           bool blocking) -> Result<std::vector<Val>> {
    auto out = output(self);
    if (!out) return std::unexpected(out.error());
    OutputStream& o = **out;
    if (blocking) {
      if (data.size() > kMaxBlockingWrite) {
        return std::unexpected(trap(fmt::format(
            "output-stream.blocking-write-and-flush of {} bytes (at most {})", data.size(),
            kMaxBlockingWrite)));
      }
    } else {
      if (data.size() > o.permit) {
        return std::unexpected(trap(fmt::format(
            "output-stream.write of {} bytes when check-write permitted {}", data.size(),
            o.permit)));
      }
      o.permit -= data.size();
    }
    auto r = stream_write(*s, o, data);
    if (!r) return std::unexpected(r.error());
    return one(std::move(*r));
  };
  // The bytes of the two writes are lifted as a view of the guest's memory
  // (cm/typed.hpp), not as one value per byte.
  for (bool blocking : {false, true}) {
    const char* name = blocking ? "[method]output-stream.blocking-write-and-flush"
                                : "[method]output-stream.write";
    const cm::FuncType type = fn({{"self", out_self}, {"contents", bytes_type()}}, unit_result);
    auto defined = cm::typed::define_typed<Val, cm::typed::Borrow, cm::typed::Bytes>(
        streams, name, type,
        [write, blocking](cm::typed::Borrow self, cm::typed::Bytes data) -> Result<Val> {
          AIRSSYS_TRY_ASSIGN(auto r, write(Val::u(Kind::Borrow, self.rep), data, blocking));
          return std::move(r.at(0));
        });
    if (!defined) {
      // The C++ types are the WIT type's by construction; were they not,
      // every call would trap with the mismatch.
      Error error = defined.error();
      streams.define_func(name, type, [error](std::span<const Val>) -> Result<std::vector<Val>> {
        return std::unexpected(error);
      });
    }
  }
  streams.define_func("[method]output-stream.write-zeroes",
                      fn({{"self", out_self}, {"len", t(Kind::U64)}}, unit_result),
                      [write](std::span<const Val> a) -> Result<std::vector<Val>> {
                        if (a[1].bits > kWriteBudget) {
                          return std::unexpected(trap("output-stream.write-zeroes beyond the "
                                                      "permit of check-write"));
                        }
                        std::vector<uint8_t> zeroes(a[1].bits);
                        return write(a[0], zeroes, false);
                      });
  streams.define_func("[method]output-stream.blocking-write-zeroes-and-flush",
                      fn({{"self", out_self}, {"len", t(Kind::U64)}}, unit_result),
                      [write](std::span<const Val> a) -> Result<std::vector<Val>> {
                        if (a[1].bits > kMaxBlockingWrite) {
                          return std::unexpected(trap("output-stream.blocking-write-zeroes-and-"
                                                      "flush of more than 4096 bytes"));
                        }
                        std::vector<uint8_t> zeroes(a[1].bits);
                        return write(a[0], zeroes, true);
                      });
  // Writes reach the file or the sink at once; a flush has nothing left to do.
  for (const char* name : {"[method]output-stream.flush", "[method]output-stream.blocking-flush"}) {
    streams.define_func(name, fn({{"self", out_self}}, unit_result),
                        [output](std::span<const Val> a) -> Result<std::vector<Val>> {
                          auto out = output(a[0]);
                          if (!out) return std::unexpected(out.error());
                          return one(ok());
                        });
  }
  for (const char* name : {"[method]output-stream.splice", "[method]output-stream.blocking-splice"}) {
    streams.define_func(
        name, fn({{"self", out_self}, {"src", in_self}, {"len", t(Kind::U64)}}, u64_result),
        [s, output](std::span<const Val> a) -> Result<std::vector<Val>> {
          auto out = output(a[0]);
          if (!out) return std::unexpected(out.error());
          auto r = stream_read(*s, static_cast<uint32_t>(a[1].bits),
                               std::min<uint64_t>(a[2].bits, kWriteBudget), false);
          if (!r) return std::unexpected(r.error());
          if (r->bits != 0) return one(std::move(*r));
          auto data = to_bytes(r->items[0]);
          auto w = stream_write(*s, **out, data);
          if (!w) return std::unexpected(w.error());
          if (w->bits != 0) return one(std::move(*w));
          return one(ok({u64v(data.size())}));
        });
  }
}

// ---- wasi:clocks and wasi:random ----------------------------------------------------------

void add_clocks(cm::HostInstance& imports, const std::shared_ptr<State>& s) {
  auto& wall = imports.define_instance(versioned("wasi:clocks/wall-clock"));
  wall.define_type("datetime");
  wall.define_func("now", fn({}, datetime_type()),
                   [](std::span<const Val>) { return one(datetime(clock_ns(CLOCK_REALTIME))); });
  wall.define_func("resolution", fn({}, datetime_type()), [](std::span<const Val>) {
    return one(datetime(resolution_ns(CLOCK_REALTIME)));
  });

  auto& mono = imports.define_instance(versioned("wasi:clocks/monotonic-clock"));
  mono.define_type("instant");
  mono.define_type("duration");
  mono.define_type("pollable", s->pollable);
  mono.define_func("now", fn({}, t(Kind::U64)),
                   [](std::span<const Val>) { return one(u64v(clock_ns(CLOCK_MONOTONIC))); });
  mono.define_func("resolution", fn({}, t(Kind::U64)), [](std::span<const Val>) {
    return one(u64v(resolution_ns(CLOCK_MONOTONIC)));
  });
  const TypeRef own_pollable = cm::own_of(s->pollable->id);
  mono.define_func("subscribe-instant", fn({{"when", t(Kind::U64)}}, own_pollable),
                   [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                     auto rep = s->pollables.add({std::max<uint64_t>(a[0].bits, 1)}, "pollable");
                     if (!rep) return std::unexpected(rep.error());
                     return one(own(*rep));
                   });
  mono.define_func("subscribe-duration", fn({{"when", t(Kind::U64)}}, own_pollable),
                   [s](std::span<const Val> a) -> Result<std::vector<Val>> {
                     uint64_t now = clock_ns(CLOCK_MONOTONIC);
                     uint64_t deadline = a[0].bits > UINT64_MAX - now ? UINT64_MAX
                                                                      : now + a[0].bits;
                     auto rep = s->pollables.add({deadline}, "pollable");
                     if (!rep) return std::unexpected(rep.error());
                     return one(own(*rep));
                   });
}

void add_random(cm::HostInstance& imports) {
  auto random_bytes = [](std::span<const Val> a) -> Result<std::vector<Val>> {
    if (a[0].bits > kMaxRandomBytes) {
      return std::unexpected(trap(fmt::format("{} random bytes asked for at once (at most {})",
                                              a[0].bits, kMaxRandomBytes)));
    }
    std::vector<uint8_t> buffer(a[0].bits);
    AIRSSYS_TRY(fill_random(buffer.data(), buffer.size()));
    return one(bytes_val(buffer.data(), buffer.size()));
  };
  auto random_u64 = [](std::span<const Val>) -> Result<std::vector<Val>> {
    uint64_t v = 0;
    AIRSSYS_TRY(fill_random(reinterpret_cast<uint8_t*>(&v), sizeof v));
    return one(u64v(v));
  };
  auto& random = imports.define_instance(versioned("wasi:random/random"));
  random.define_func("get-random-bytes", fn({{"len", t(Kind::U64)}}, bytes_type()), random_bytes);
  random.define_func("get-random-u64", fn({}, t(Kind::U64)), random_u64);
  // The insecure interfaces are served from the same source: never weaker.
  auto& insecure = imports.define_instance(versioned("wasi:random/insecure"));
  insecure.define_func("get-insecure-random-bytes", fn({{"len", t(Kind::U64)}}, bytes_type()),
                       random_bytes);
  insecure.define_func("get-insecure-random-u64", fn({}, t(Kind::U64)), random_u64);
  auto& seed = imports.define_instance(versioned("wasi:random/insecure-seed"));
  seed.define_func("insecure-seed", fn({}, cm::tuple_of({t(Kind::U64), t(Kind::U64)})),
                   [](std::span<const Val>) -> Result<std::vector<Val>> {
                     uint64_t v[2] = {};
                     AIRSSYS_TRY(fill_random(reinterpret_cast<uint8_t*>(v), sizeof v));
                     return one(Val{Kind::Tuple, 0, {}, {u64v(v[0]), u64v(v[1])}});
                   });
}

// ---- wasi:sockets: refused ------------------------------------------------------------------

constexpr uint64_t kSocketAccessDenied = 1;  // error-code.access-denied

void add_sockets(cm::HostInstance& imports, const std::shared_ptr<State>& s) {
  const TypeRef error_code = cm::enum_of(
      {"unknown", "access-denied", "not-supported", "invalid-argument", "out-of-memory", "timeout",
       "concurrency-conflict", "not-in-progress", "would-block", "invalid-state",
       "new-socket-limit", "address-not-bindable", "address-in-use", "remote-unreachable",
       "connection-refused", "connection-reset", "connection-aborted", "datagram-too-large",
       "name-unresolvable", "temporary-resolver-failure", "permanent-resolver-failure"});
  const TypeRef family = cm::enum_of({"ipv4", "ipv6"});
  auto& network = imports.define_instance(versioned("wasi:sockets/network"));
  const auto& network_type = network.define_resource("network");
  // The value types an interface exports (error-code, ip-address, ...) take
  // their definitions from the importing component's types.
  auto shared_types = [&](cm::HostInstance& inst) {
    inst.define_type("network", &network_type);
    for (const char* name : {"error-code", "ip-address-family", "ip-address", "ipv4-address",
                             "ipv6-address", "ip-socket-address", "ipv4-socket-address",
                             "ipv6-socket-address"}) {
      inst.define_type(name);
    }
  };
  for (const char* name : {"error-code", "ip-address-family", "ip-address", "ipv4-address",
                           "ipv6-address", "ip-socket-address", "ipv4-socket-address",
                           "ipv6-socket-address"}) {
    network.define_type(name);
  }
  auto refuse = [s](std::string what) -> Result<std::vector<Val>> {
    s->ctx.audit("network.connect", what, security::AuditResult::Denied,
                 security::DecisionLayer::Component,
                 "wasi:sockets is not offered to components; network access goes through the "
                 "host's HTTP function under network.connect");
    return one(err(Val{Kind::Enum, kSocketAccessDenied, {}, {}}));
  };
  // The network handle names no capability; every use of it is refused below.
  auto& instance_network = imports.define_instance(versioned("wasi:sockets/instance-network"));
  instance_network.define_type("network", &network_type);
  instance_network.define_func("instance-network", fn({}, cm::own_of(network_type.id)),
                               [](std::span<const Val>) { return one(own(1)); });
  auto& tcp = imports.define_instance(versioned("wasi:sockets/tcp"));
  const auto& tcp_socket = tcp.define_resource("tcp-socket");
  auto& tcp_create = imports.define_instance(versioned("wasi:sockets/tcp-create-socket"));
  shared_types(tcp_create);
  tcp_create.define_type("tcp-socket", &tcp_socket);
  tcp_create.define_func(
      "create-tcp-socket",
      fn({{"address-family", family}}, cm::result_of(cm::own_of(tcp_socket.id), error_code)),
      [refuse](std::span<const Val>) { return refuse("wasi:sockets/tcp-create-socket"); });
  auto& udp = imports.define_instance(versioned("wasi:sockets/udp"));
  const auto& udp_socket = udp.define_resource("udp-socket");
  auto& udp_create = imports.define_instance(versioned("wasi:sockets/udp-create-socket"));
  shared_types(udp_create);
  udp_create.define_type("udp-socket", &udp_socket);
  udp_create.define_func(
      "create-udp-socket",
      fn({{"address-family", family}}, cm::result_of(cm::own_of(udp_socket.id), error_code)),
      [refuse](std::span<const Val>) { return refuse("wasi:sockets/udp-create-socket"); });
  auto& lookup = imports.define_instance(versioned("wasi:sockets/ip-name-lookup"));
  shared_types(lookup);
  const auto& address_stream = lookup.define_resource("resolve-address-stream");
  lookup.define_func("resolve-addresses",
                     fn({{"network", cm::borrow_of(network_type.id)}, {"name", t(Kind::String)}},
                        cm::result_of(cm::own_of(address_stream.id), error_code)),
                     [refuse](std::span<const Val> a) {
                       return refuse("wasi:sockets/ip-name-lookup " + a[1].text);
                     });
}

}  // namespace
}  // namespace wasi2

void add_wasi2(cm::HostInstance& imports, ComponentContext& context) {
  auto state = std::make_shared<wasi2::State>(context);
  wasi2::add_io(imports, state);
  wasi2::add_cli(imports, state);
  wasi2::add_clocks(imports, state);
  wasi2::add_random(imports);
  wasi2::add_filesystem(imports, state);
  wasi2::add_sockets(imports, state);
  wasi2::add_http(imports, state);
}

std::optional<std::string> wasi2_run_export(const cm::ComponentInstance& instance) {
  for (const auto& f : instance.functions()) {
    if (f.name.starts_with("wasi:cli/run@0.2.") && f.name.ends_with("#run")) return f.name;
  }
  return std::nullopt;
}

}  // namespace airssys::wasm::host
