// The baseline of bench_density: V8 (node) instantiating N instances of the
// same core module (bench/components/idle.wasm) and calling airssys_init on
// each, as the host starts a component: node density_v8.cjs IDLE_WASM N.
// One instance is made first (V8's own first-use costs), then the resident
// set is read, the N instances are made and kept, and it is read again.
// Prints one JSON object: how many instances were made (fewer than N when V8
// refused one: its error), the resident set before and after in bytes, and
// the CPU time (user + system, every thread of node) and wall time of the N
// instantiations in nanoseconds.
'use strict';
const fs = require('fs');
const [file, countText] = process.argv.slice(2);
const count = Number(countText);
const wasmModule = new WebAssembly.Module(fs.readFileSync(file));
const start = () => {
  const instance = new WebAssembly.Instance(wasmModule, {});
  if (instance.exports.airssys_init(0, 0) !== 0) throw new Error('airssys_init failed');
  return instance;
};
const kept = [start()];
const rssBefore = process.memoryUsage().rss;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let made = 0;
let error = '';
try {
  for (; made < count; ++made) kept.push(start());
} catch (e) {
  error = String(e && e.message ? e.message : e);
}
const wallNs = Number(process.hrtime.bigint() - t0);
const cpu = process.cpuUsage(cpu0);
const rssAfter = process.memoryUsage().rss;
process.stdout.write(JSON.stringify({
  made,
  rss_before: rssBefore,
  rss_after: rssAfter,
  cpu_ns: (cpu.user + cpu.system) * 1000,
  wall_ns: wallNs,
  kept: kept.length,
  error,
}) + '\n');
