// The host ABI boundary: random arguments, pointers and lengths to every host
// function of the real linker (WASI preview 1 and the airssys module), called
// by a real component instance running under a real ComponentSystem, with a
// real key-value store, file grants on a private directory, an audit log and
// a peer component to message.
//
// The component (generated WAT) imports every function the host defines and
// runs a script it receives as a message from the host: a sequence of
// (function, arguments). The harness turns the fuzz input into that script,
// choosing each argument as a small number, a pointer into the script's own
// dictionary of useful strings, a length, a range near or past the end of
// memory, or raw bits. Oracle: the host survives (ASan, UBSan), and no host
// function ever traps the component: a refusal is an error code, so after
// every script both components are still ready and were never restarted.
//
// Left out: proc_exit (it ends the component by design) and poll_oneoff (it
// sleeps up to 10 s by design); both are tested in tests/host.
#include <fuzzer/FuzzedDataProvider.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "airssys/wasm/actor/scheduler.hpp"
#include "airssys/wasm/component/system.hpp"
#include "airssys/wasm/host/http.hpp"
#include "airssys/wasm/host/kv.hpp"
#include "airssys/wasm/host/log.hpp"
#include "airssys/wasm/host/messaging.hpp"
#include "airssys/wasm/host/wasi.hpp"
#include "airssys/wasm/security/audit.hpp"
#include "airssys/wasm/storage/kv.hpp"

namespace {

using namespace airssys::wasm;

constexpr uint32_t kBufferAt = 0x10000;  // what airssys_alloc returns for every delivery
constexpr uint32_t kScriptAt = kBufferAt + 4;  // after the sender's name, "host"
// The initial memory; airssys_alloc grows it (up to 32 pages) to hold any
// payload, since a receiver that cannot hold a message fails (L7 of
// docs/security-audit.md).
constexpr uint32_t kMemoryBytes = 8 * 0x10000;
constexpr size_t kSlots = 16;  // argument slots of 8 bytes per call
constexpr size_t kMaxCalls = 64;

bool left_out(const engine::HostFunction& f) {
  return f.name == "proc_exit" || f.name == "poll_oneoff";
}

const char* wat_type(engine::ValType t) {
  switch (t) {
    case engine::ValType::I32: return "i32";
    case engine::ValType::I64: return "i64";
    case engine::ValType::F32: return "f32";
    case engine::ValType::F64: return "f64";
    default: return nullptr;
  }
}

// The component: every host function imported, a script interpreter exported
// as airssys_handle_message. A script is [u32 offset of the calls][data...]
// then calls of 1 byte (function index) + kSlots slots of 8 bytes.
std::string component_wat(const std::vector<const engine::HostFunction*>& functions) {
  std::string imports, dispatch;
  for (size_t i = 0; i < functions.size(); ++i) {
    const auto& f = *functions[i];
    std::string sig;
    if (!f.sig.params.empty()) {
      sig += " (param";
      for (auto t : f.sig.params) sig += std::string(" ") + wat_type(t);
      sig += ")";
    }
    if (!f.sig.results.empty()) {
      sig += " (result";
      for (auto t : f.sig.results) sig += std::string(" ") + wat_type(t);
      sig += ")";
    }
    imports += "  (import \"" + f.module + "\" \"" + f.name + "\" (func $f" + std::to_string(i) +
               sig + "))\n";
    std::string args;
    for (size_t a = 0; a < f.sig.params.size(); ++a) {
      args += std::string(" (") + wat_type(f.sig.params[a]) + ".load offset=" +
              std::to_string(a * 8) + " (local.get $at))";
    }
    std::string call = "(call $f" + std::to_string(i) + args + ")";
    for (size_t r = 0; r < f.sig.results.size(); ++r) call = "(drop " + call + ")";
    dispatch += "      (if (i32.eq (local.get $op) (i32.const " + std::to_string(i) +
                ")) (then " + call + "))\n";
  }
  const std::string stride = std::to_string(1 + kSlots * 8);
  return "(module\n" + imports +
         "  (memory (export \"memory\") 8 32)\n"
         // Every delivery at kBufferAt, growing memory until it fits (a payload
         // is at most 1 MiB).
         "  (func (export \"airssys_alloc\") (param $n i32) (result i32)\n"
         "    (block $fits (loop $grow\n"
         "      (br_if $fits (i32.le_u (i32.add (i32.const " +
         std::to_string(kBufferAt) +
         ") (local.get $n))\n"
         "                             (i32.mul (memory.size) (i32.const 65536))))\n"
         "      (br_if $fits (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))\n"
         "      (br $grow)))\n"
         "    (i32.const " +
         std::to_string(kBufferAt) +
         "))\n"
         "  (func (export \"airssys_init\") (param i32 i32) (result i32) (i32.const 0))\n"
         "  (func (export \"airssys_handle_reply\") (param i64 i32 i32 i32) (result i32)"
         " (i32.const 0))\n"
         "  (func (export \"airssys_handle_message\") (param $kind i32) (param $cid i64)"
         " (param $sender i32) (param $sender_len i32) (param $topic i32) (param $topic_len i32)"
         " (param $p i32) (param $len i32) (result i32)\n"
         "    (local $at i32) (local $end i32) (local $op i32)\n"
         "    (if (i32.ne (local.get $sender_len) (i32.const 4)) (then (return (i32.const 0))))\n"
         "    (if (i32.ne (i32.load (local.get $sender)) (i32.const 0x74736f68))\n"  // "host"
         "      (then (return (i32.const 0))))\n"
         "    (if (i32.lt_u (local.get $len) (i32.const 4)) (then (return (i32.const 0))))\n"
         "    (local.set $end (i32.add (local.get $p) (local.get $len)))\n"
         "    (local.set $at (i32.add (local.get $p) (i32.load (local.get $p))))\n"
         "    (block $done (loop $next\n"
         "      (br_if $done (i32.gt_u (i32.add (local.get $at) (i32.const " +
         stride +
         ")) (local.get $end)))\n"
         "      (local.set $op (i32.load8_u (local.get $at)))\n"
         "      (local.set $at (i32.add (local.get $at) (i32.const 1)))\n" +
         dispatch +
         "      (local.set $at (i32.add (local.get $at) (i32.const " + std::to_string(kSlots * 8) +
         ")))\n"
         "      (br $next)))\n"
         "    (i32.const 0)))\n";
}

struct Harness {
  Harness() {
    char tmpl[] = "/tmp/airssys-abi-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl)) abort();
    dir = tmpl;
    std::filesystem::create_directories(dir / "files");
    FILE* f = std::fopen((dir / "files/f").c_str(), "w");
    if (f) {
      std::fputs("data", f);
      std::fclose(f);
    }
    // The very functions the system links, enumerated from a linker built
    // the same way.
    host::add_wasi(linker);
    host::add_messaging(linker);
    host::add_kv(linker);
    host::add_log(linker);
    host::add_http(linker);
    for (const auto& f : linker.functions()) {
      bool plain = !left_out(f);
      for (auto t : f.sig.params) plain = plain && wat_type(t) != nullptr;
      if (plain) functions.push_back(&f);
    }
    engine = std::shared_ptr<engine::Engine>(engine::Engine::interpreter());
    auto m = engine->load_wat(component_wat(functions), "host_abi_fuzz.wat");
    if (!m) {
      std::fprintf(stderr, "%s\n", m.error().to_string().c_str());
      abort();
    }
    module = *m;
    audit = security::AuditLog::without_file({}).value();
    store = storage::KeyValueStore::open(
                {.data_dir = dir / "kv", .durability = storage::Durability::Normal})
                .value();
    component::ComponentSystemOptions options;
    options.engine = engine;
    options.audit = audit.get();
    options.kv = store.get();
    options.supervisor.backoff.kind = actor::BackoffKind::Immediate;
    system = std::make_unique<component::ComponentSystem>(scheduler, options);
    start("fuzz", {{security::Permission::MsgSend, {"peer-component"}},
                   {security::Permission::MsgReceive, {"peer-component"}},
                   {security::Permission::MsgPublish, {"fuzz.topic"}},
                   {security::Permission::MsgSubscribe, {"fuzz.#"}},
                   {security::Permission::StorageRead, {"*"}},
                   {security::Permission::StorageWrite, {"*"}},
                   {security::Permission::StorageDelete, {"*"}},
                   {security::Permission::NetConnect, {"127.0.0.1:1"}},
                   {security::Permission::FsRead, {(dir / "files").string() + "/**"}},
                   {security::Permission::FsWrite, {(dir / "files").string() + "/**"}}});
    start("peer-component", {{security::Permission::MsgReceive, {"fuzz"}},
                             {security::Permission::MsgSubscribe, {"fuzz.#"}}});
    settle();
    check();
    // Useful strings for the arguments to point at.
    const std::string path = (dir / "files").string();
    for (std::string s : {std::string("peer-component"), std::string("fuzz"),
                          std::string("fuzz.topic"), std::string("fuzz.#"), std::string("k:1"),
                          std::string("k:"), std::string("GET"), std::string("POST"),
                          std::string("http://127.0.0.1:1/x"), std::string("X-A: b\n"),
                          std::string("f"), std::string("d/e"), std::string(".."),
                          std::string("../f"), path + "/f", std::string("/etc/passwd"),
                          std::string("value")}) {
      entries.push_back({static_cast<uint32_t>(dictionary.size()), static_cast<uint32_t>(s.size())});
      dictionary += s;
      dictionary += '\0';
    }
  }

  void start(const std::string& name, std::map<security::Permission, std::vector<std::string>> g) {
    security::PatternLists lists;
    for (auto& [p, patterns] : g) lists[static_cast<size_t>(p)] = patterns;
    component::ComponentSpec spec;
    spec.name = name;
    spec.module = module;
    spec.security = security::WasmSecurityContext::create(
                        name, security::CapabilitySet::build(lists).value(),
                        security::TrustLevel::Trusted, {.storage_bytes = 1024 * 1024})
                        .value();
    spec.stdout_sink = [](std::span<const uint8_t>) {};
    spec.stderr_sink = spec.stdout_sink;
    spec.env = {"A=b"};
    if (!system->start(std::move(spec))) abort();
  }

  // Runs every actor until nothing is left to do, then lets every pending
  // request time out.
  void settle() {
    scheduler.run(1'000'000);
    while (scheduler.advance_to_next_timer()) scheduler.run(1'000'000);
  }

  void check() {
    for (const char* name : {"fuzz", "peer-component"}) {
      auto s = system->status(name);
      if (!s || s->state != component::ComponentState::Ready || s->restarts != 0) {
        std::fprintf(stderr, "component %s is %s after a script: %s\n", name,
                     s ? component::component_state_name(s->state) : "gone",
                     s && s->last_error ? s->last_error->to_string().c_str() : "");
        abort();
      }
    }
  }

  std::filesystem::path dir;
  engine::Linker linker;
  std::vector<const engine::HostFunction*> functions;
  std::shared_ptr<engine::Engine> engine;
  std::shared_ptr<const engine::Module> module;
  std::unique_ptr<security::AuditLog> audit;
  std::unique_ptr<storage::KeyValueStore> store;
  actor::DeterministicScheduler scheduler;
  std::unique_ptr<component::ComponentSystem> system;
  std::string dictionary;
  std::vector<std::pair<uint32_t, uint32_t>> entries;  // offset, length in the dictionary
};

Harness* harness = nullptr;

// One argument: mostly values that reach past the first checks.
uint64_t argument(FuzzedDataProvider& in, uint32_t data_at, uint32_t data_len,
                  uint32_t& last_len) {
  const auto& entries = harness->entries;
  switch (in.ConsumeIntegralInRange<int>(0, 9)) {
    case 0: return in.ConsumeIntegralInRange<uint64_t>(0, 16);  // fds, flags, small lengths
    case 1: {                                                   // a useful string
      auto [offset, len] = entries[in.ConsumeIntegralInRange<size_t>(0, entries.size() - 1)];
      last_len = len;
      return kScriptAt + data_at + offset;
    }
    case 2: return last_len;                                    // its length
    case 3: return kScriptAt + data_at + in.ConsumeIntegralInRange<uint32_t>(0, data_len);
    case 4: return in.ConsumeIntegralInRange<uint32_t>(0, 4096);  // a length or a low pointer
    case 5: return kMemoryBytes - in.ConsumeIntegralInRange<uint32_t>(0, 64);  // near the end
    case 6: return 0xFFFFFFFFull - in.ConsumeIntegralInRange<uint32_t>(0, 64);  // wraps
    case 7: return in.ConsumeIntegral<uint32_t>();
    case 8: return in.ConsumeIntegral<uint64_t>();
    default: return in.ConsumeIntegralInRange<uint32_t>(kMemoryBytes - 4096, kMemoryBytes + 4096);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  harness = new Harness();  // lives for the whole run; its directory goes at exit
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(harness->dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // The script: its header, the dictionary, some bytes of the input, the calls.
  std::string extra = in.ConsumeBytesAsString(in.ConsumeIntegralInRange<size_t>(0, 256));
  std::vector<uint8_t> script(4);
  const uint32_t data_at = 4;
  script.insert(script.end(), harness->dictionary.begin(), harness->dictionary.end());
  script.insert(script.end(), extra.begin(), extra.end());
  const uint32_t data_len = static_cast<uint32_t>(script.size() - data_at);
  const uint32_t calls_at = static_cast<uint32_t>(script.size());
  std::memcpy(script.data(), &calls_at, 4);
  uint32_t last_len = 0;
  for (size_t n = 0; n < kMaxCalls && in.remaining_bytes() > 0; ++n) {
    const size_t index = in.ConsumeIntegralInRange<size_t>(0, harness->functions.size() - 1);
    script.push_back(static_cast<uint8_t>(index));
    uint8_t slots[kSlots * 8] = {};
    const auto& params = harness->functions[index]->sig.params;
    for (size_t a = 0; a < params.size() && a < kSlots; ++a) {
      uint64_t v = argument(in, data_at, data_len, last_len);
      std::memcpy(slots + a * 8, &v, 8);
    }
    script.insert(script.end(), slots, slots + sizeof slots);
  }
  if (!harness->system->send_from_host("fuzz", std::move(script))) abort();
  harness->settle();
  harness->check();
  return 0;
}
