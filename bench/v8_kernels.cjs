// Runs the native-tier benchmark's kernels in V8 (node): node v8_kernels.cjs
// KERNELS_WASM REPS. Prints one JSON object: per kernel, the median time in
// nanoseconds over REPS runs and the result, plus the instantiation median.
'use strict';
const fs = require('fs');
const [file, repsText] = process.argv.slice(2);
const reps = Number(repsText || 11);
const bytes = fs.readFileSync(file);
const wasmModule = new WebAssembly.Module(bytes);
const imports = {bench: {inc: (v) => (v + 1) | 0}};
const now = () => process.hrtime.bigint();
const median = (xs) => {
  const s = [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Number(s[Math.floor(s.length / 2)]);
};
const inst = new WebAssembly.Instance(wasmModule, imports).exports;
const kernels = {fib: ['k_fib', 30], sort: ['k_sort', 1 << 20], calls: ['k_calls', 1000000]};
const out = {};
for (const [name, [fn, arg]] of Object.entries(kernels)) {
  inst[fn](arg);  // warm-up: lets V8 tier up
  const times = [];
  let result = 0;
  for (let i = 0; i < reps; ++i) {
    const t0 = now();
    result = inst[fn](arg);
    times.push(now() - t0);
  }
  out[name] = {ns: median(times), result: result >>> 0};
}
const inst_times = [];
for (let i = 0; i < reps * 10; ++i) {
  const t0 = now();
  new WebAssembly.Instance(wasmModule, imports);
  inst_times.push(now() - t0);
}
out.instantiate = {ns: median(inst_times)};
process.stdout.write(JSON.stringify(out) + '\n');
