// Reference calls of the component text files (tests/components/cm/*.wat):
// jco transpiles the assembled component to JavaScript and Node.js calls its
// exports through the canonical ABI as jco implements it. The values checked
// here are what the host's own instantiation of the same components must give.
//
//   node cm_reference.mjs NAME --jco JCO --components DIR
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [name, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, "")] = rest[i + 1];

const checks = {
  strings(m) {
    assert.equal(m.greet("world"), "Hello, world!");
    assert.equal(m.greet(""), "Hello, !");
    assert.equal(m.greet("wörld ✓"), "Hello, wörld ✓!");
    assert.equal(m.countBytes("héllo"), 6);
    assert.equal(m.countBytes(""), 0);
    assert.equal(m.countBytes("x".repeat(100000)), 100000);
    assert.equal(m.upper("abc-Déf"), "ABC-DéF");
    assert.equal(m.upper("z".repeat(70000)), "Z".repeat(70000));
    // greet, greet, greet, upper, upper: one post-return call per string result.
    assert.equal(m.postReturns(), 5);
  },
  records(mod) {
    const m = mod.records;
    assert.deepEqual(m.sum([{ x: 1, y: 2 }, { x: 3, y: -4 }]), { x: 4, y: -2 });
    assert.deepEqual(m.sum([]), { x: 0, y: 0 });
    assert.deepEqual(m.scale({ x: 2, y: -3 }, 5), { x: 10, y: -15 });
    assert.deepEqual([...m.reverse(new Uint32Array([1, 2, 3, 4294967295]))], [4294967295, 3, 2, 1]);
    assert.deepEqual([...m.reverse(new Uint32Array([]))], []);
    const many = Array.from({ length: 1000 }, (_, i) => ({ x: i, y: -i }));
    assert.deepEqual(m.sum(many), { x: 499500, y: -499500 });
    assert.equal(m.find(many, 999), 999);
    assert.equal(m.find([{ x: 1, y: 2 }, { x: 7, y: 0 }], 7), 1);
    assert.equal(m.find([], 7), undefined);
  },
  resource(mod) {
    const m = mod.counters;
    const c = new m.Counter(5);
    assert.equal(c.increment(3), 8);
    assert.equal(c.increment(2), 10);
    assert.equal(c.value(), 10);
    assert.equal(m.dropped(), 0);
    const d = new m.Counter(40);
    // consume takes the handle: its value comes back, the destructor runs.
    assert.equal(m.Counter.consume(d), 40);
    assert.equal(m.dropped(), 1);
    assert.throws(() => d.value(), /resource/i, "a consumed handle is no longer valid");
    c[Symbol.dispose]();
    assert.equal(m.dropped(), 2);
    assert.throws(() => c.value(), /resource/i, "a dropped handle is no longer valid");
  },
};

if (!checks[name] || !opt.jco || !opt.components) {
  console.error(`usage: cm_reference.mjs (${Object.keys(checks).join("|")}) --jco JCO --components DIR`);
  process.exit(2);
}
const wasm = path.join(opt.components, "cm", `${name}.wasm`);
if (!fs.existsSync(wasm)) {
  console.error(`reference: ${wasm} is missing (built by the test_components_jco target)`);
  process.exit(1);
}
const out = fs.mkdtempSync(path.join(os.tmpdir(), `airssys-cm-${name}-`));
try {
  const r = spawnSync(opt.jco, ["transpile", wasm, "-o", out, "--no-typescript", "-q"], {
    encoding: "utf8",
    timeout: 120_000,
  });
  if (r.error || r.status !== 0) {
    console.error(`jco transpile ${wasm} failed: ${r.error?.message ?? ""}\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  fs.writeFileSync(path.join(out, "package.json"), '{"type":"module"}');
  const mod = await import(pathToFileURL(path.join(out, `${name}.js`)).href);
  checks[name](mod);
  console.log(`${name}: every export gives the expected values`);
  console.log("1 passed, 0 failed");
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
