// Runs CoreMark's wasm32-wasi build in V8 through node's WASI (preview 1):
// node coremark_v8.cjs COREMARK_WASM ITERATIONS. The program's own output goes
// to stdout as it would from any WASI host; the last line on stderr is the
// measurement, one JSON object: the CPU time (user + system, every thread of
// node, V8's optimizing compiler included) and the wall time of the run of
// _start alone, and the wall time of compiling the module (new
// WebAssembly.Module), all in nanoseconds, and the exit code.
'use strict';
const fs = require('fs');
const {WASI} = require('node:wasi');
const [file, iterations] = process.argv.slice(2);
const bytes = fs.readFileSync(file);
const wasi = new WASI({
  version: 'preview1',
  args: ['coremark', '0x0', '0x0', '0x66', String(iterations)],
  env: {},
  returnOnExit: true,
});
const now = () => process.hrtime.bigint();
const t0 = now();
const wasmModule = new WebAssembly.Module(bytes);
const compileNs = Number(now() - t0);
const instance = new WebAssembly.Instance(wasmModule, wasi.getImportObject());
const cpu0 = process.cpuUsage();
const w0 = now();
const code = wasi.start(instance);
const wallNs = Number(now() - w0);
const cpu = process.cpuUsage(cpu0);
process.stderr.write(JSON.stringify({
  cpu_ns: (cpu.user + cpu.system) * 1000,
  wall_ns: wallNs,
  compile_ns: compileNs,
  exit: code === undefined ? 0 : code,
}) + '\n');
