// Messaging benchmarks: two real WebAssembly components with empty handlers
// (bench/components/pinger.c and ponger.c) exchanging messages on a
// ComponentRuntime with two worker threads, against baselines measured in the
// same run:
//   runtime  the actor runtime alone: two actor::Behavior, no WebAssembly
//   CAF      two actors of the C++ Actor Framework (libcaf-dev), two workers
//   plain    two threads passing messages through two mutex+condvar queues
// Measured for each:
//   one-way latency   a probe carries its send time; the receiver's handler
//                     takes the difference; one probe in flight at a time
//   round trip        request until the reply reaches the requester
//   throughput        a flood of 100k one-way messages: first send until the
//                     last message reaches the receiver
//   fan-out           one publisher, 100 subscribers of its topic
//                     (bench/components/subscriber.c; CAF: a local group):
//                     1000 publishes, first publish until the last subscriber
//                     got the last one, per delivered message and per publish;
//                     every subscriber must receive every message
//   spawn             start until ready (components: state Ready after
//                     _initialize and airssys_init; actors: the first step or
//                     initialisation ran; plain: a std::thread started)
// and, for components, the pieces of a spawn (linker, instantiation, the init
// calls).
//
// One benchmark iteration is a batch (1000 probes or requests, one flood, one
// fan-out, one spawn) and its reported time the batch's total; the counters give the
// batch's median and p99 per message, or its rate. main() then prints a
// summary: medians and 99th percentiles over every sample of the run, ratios
// against the baselines, and the targets of issues 4 and 19.
//
// The files, one room each (bench/messaging/):
//   common.hpp            batch sizes, what is pooled, Pair, FanOut and
//                         Spawner, the probe encoding, the factories below
//   components.cpp        the measured side: the components on a ComponentRuntime
//   runtime_baseline.cpp  the actor runtime alone
//   caf_baseline.cpp      the C++ Actor Framework
//   plain_baseline.cpp    two threads and two queues
//   component_pieces.cpp  a component's spawn and delivery in pieces
//   benchmarks.cpp        the benchmarks and their registration (the run order)
//   summary.cpp           the summary and the headline lines
// This file is the driver: flags, loading the modules, the run, the summary.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include "messaging/common.hpp"

int main(int argc, char** argv) {
  namespace messaging = airssys::wasm::component::messaging_bench;
  // Our own flag, taken out before Google Benchmark sees the arguments.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--engine=native") {
      messaging::g_native = true;
    } else if (arg == "--engine=interp") {
      messaging::g_native = false;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  auto wasm = messaging::load_wasm();
  if (!wasm) {
    std::fprintf(stderr, "bench_messaging: %s\n", wasm.error().c_str());
    return 1;
  }
  messaging::g_wasm = std::move(*wasm);
  benchmark::RunSpecifiedBenchmarks();
  messaging::print_summary();
  messaging::g_wasm.reset();
  if (!messaging::g_native_cache.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(messaging::g_native_cache, ec);
  }
  benchmark::Shutdown();
  return 0;
}

