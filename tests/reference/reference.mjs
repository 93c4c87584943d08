// Reference runs: each WASI command of the test components runs three times,
// as the core module under `airssys-wasm run`, as the command component that
// jco made from it (preview 1 adapter) under `jco run` on Node.js, and as that
// component under `airssys-wasm run` (its WASI 0.2), with the same arguments,
// environment and directories. The core module and jco's run must give the
// same stdout and stderr and the same exit class (zero or not: the adapter
// reports a failure as exit(err), which Node turns into status 1): the
// components are faithful to their programs. The component under
// airssys-wasm must give exactly what jco's run gave, exit status included.
//
//   node reference.mjs CASE --cli AIRSSYS_WASM --jco JCO --components DIR --examples DIR
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [caseName, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, "")] = rest[i + 1];
for (const key of ["cli", "jco", "components", "examples"]) {
  if (!opt[key]) {
    console.error(`reference: --${key} is required`);
    process.exit(2);
  }
}

// Each case: the program, its runs (arguments), its environment, and whether
// it gets a data directory granted for reading and writing. `d` is that
// directory, the same absolute path on both sides. The core module is
// <components>/<program>.wasm unless the case names another.
const cases = {
  hello: {
    program: "hello",
    core: path.join(opt.examples, "hello", "component.wasm"),
    runs: () => [["x", "y z"], []],
  },
  wasi_probe: {
    program: "wasi_probe",
    env: { GREETING: "hi there", MODE: "reference" },
    runs: () => [["hello", "two words", ""]],
  },
  exit_code: { program: "exit_code", runs: () => [["0"], ["42"]] },
  files: {
    program: "files",
    env: { MODE: "reference" },
    data: true,
    runs: (d) => [
      [
        "read", `${d}/hello.txt`,
        "mkdir", `${d}/reports`,
        "write", `${d}/reports/a.txt`, "alpha",
        "append", `${d}/reports/a.txt`, "+beta",
        "seek", `${d}/reports/a.txt`, "3",
        "rename", `${d}/reports/a.txt`, `${d}/reports/b.txt`,
        "list", `${d}/reports`,
        "stat", `${d}/reports/b.txt`,
        "stat", `${d}/reports`,
        "read", `${d}/reports/b.txt`,
        "read", `${d}/missing.txt`,
        "mkdir", `${d}/reports`,
        "remove", `${d}/reports/b.txt`,
        "rmdir", `${d}/reports`,
        "list", d,
        "env", "MODE",
        "env", "UNSET",
      ],
    ],
  },
};

const spec = cases[caseName];
if (!spec) {
  console.error(`reference: unknown case ${caseName} (${Object.keys(cases).join(", ")})`);
  process.exit(2);
}
const core = spec.core ?? path.join(opt.components, `${spec.program}.wasm`);
const component = path.join(opt.components, `${spec.program}.component.wasm`);
for (const file of [core, component]) {
  if (!fs.existsSync(file)) {
    console.error(`reference: ${file} is missing (built by the test_components_jco target)`);
    process.exit(1);
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), `airssys-reference-${caseName}-`));
const data = path.join(work, "data");
const home = path.join(work, "home");
fs.mkdirSync(home, { mode: 0o700 });

// The data directory, laid out anew before each side runs.
function freshData() {
  fs.rmSync(data, { recursive: true, force: true });
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, "hello.txt"), "hello");
}

const limitMs = 120_000;  // only bounds a hang
function run(argv, env) {
  const r = spawnSync(argv[0], argv.slice(1), {
    env,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: limitMs,
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new Error(`${argv.join(" ")}: ${r.error.message}`);
  return { out: r.stdout, err: r.stderr, status: r.status, signal: r.signal };
}

// The core module (or, given `file`, the component) under airssys-wasm: a
// component folder whose manifest asks for exactly the case's environment and
// data directory, approved for the run.
function runCore(args, file = core) {
  const dir = path.join(work, file === core ? "core" : "component");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  fs.copyFileSync(file, path.join(dir, "component.wasm"));
  let manifest = `[component]\nname = "reference-${spec.program.replace(/_/g, "-")}"\nversion = "1.0.0"\n`;
  if (spec.data) {
    manifest += `\n[capabilities]\nfilesystem.read = [${JSON.stringify(data + "/**")}]\n`;
    manifest += `filesystem.write = [${JSON.stringify(data + "/**")}]\n`;
  }
  if (spec.env) {
    manifest += "\n[config.env]\n";
    for (const [k, v] of Object.entries(spec.env)) manifest += `${k} = ${JSON.stringify(v)}\n`;
  }
  fs.writeFileSync(path.join(dir, "Component.toml"), manifest);
  return run([opt.cli, "run", "--approve", dir, "--", ...args], {
    PATH: process.env.PATH,
    AIRSSYS_HOME: home,
  });
}

// The component under jco run: a module imported before the component sets
// what preview2-shim gives it (by default Node's own environment, and
// argv[0] the component's name): the same argv[0] as airssys-wasm gives, the
// same environment (sorted by name, as airssys-wasm sorts it), and the data
// directory preopened under its own path.
function runComponent(args, argv0) {
  const dir = path.join(work, "jco");
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  const env = Object.fromEntries(Object.entries(spec.env ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
  const preopens = spec.data ? { [data]: data } : {};
  fs.writeFileSync(
    path.join(dir, "setup.mjs"),
    `import { _setArgs, _setEnv } from "@bytecodealliance/preview2-shim/cli";
import { _setPreopens } from "@bytecodealliance/preview2-shim/filesystem";
_setArgs([${JSON.stringify(argv0)}, ...process.argv.slice(2)]);
_setEnv(${JSON.stringify(env)});
_setPreopens(${JSON.stringify(preopens)});
`,
  );
  return run(
    [opt.jco, "run", "--jco-dir", dir, "--jco-import", path.join(dir, "setup.mjs"), component, ...args],
    { PATH: process.env.PATH, HOME: process.env.HOME ?? work },
  );
}

// airssys-wasm reports the run's denials on stderr after the component's own
// output, one `denied: ...` line each (a flood counted on a line of its own;
// docs/commands.md#run). They are the host's, not the program's: taken off.
function withoutDenials(r) {
  const lines = r.err.split("\n");
  let end = lines.length - (lines[lines.length - 1] === "" ? 1 : 0);
  let denials = 0;
  while (end > 0 && /^(denied: |  \.\.\. the same denial )/.test(lines[end - 1])) {
    --end;
    ++denials;
  }
  const err = lines.slice(0, end).join("\n") + (end > 0 ? "\n" : "");
  return { ...r, err, denials };
}

function show(label, r) {
  return `${label}: exit ${r.status}${r.signal ? ` signal ${r.signal}` : ""}\n` +
    `--- stdout\n${r.out}--- stderr\n${r.err}---`;
}

let failed = 0;
let passed = 0;
try {
  for (const args of spec.runs(data)) {
    const label = `${caseName} ${JSON.stringify(args)}`;
    if (spec.data) freshData();
    const a = withoutDenials(runCore(args));
    if (spec.data) freshData();
    // argv[0] as airssys-wasm gives it: the module's file name.
    const b = runComponent(args, "component.wasm");
    const problems = [];
    if (a.signal || b.signal) problems.push("a side ended by a signal");
    if (a.out !== b.out) problems.push("stdout differs");
    if (a.err !== b.err) problems.push("stderr differs");
    if ((a.status === 0) !== (b.status === 0)) problems.push("exit class differs");
    // The same component under airssys-wasm (its WASI 0.2) and under jco:
    // the same output and the very same exit status.
    if (spec.data) freshData();
    const c = withoutDenials(runCore(args, component));
    if (c.signal) problems.push("the component under airssys-wasm ended by a signal");
    if (c.out !== b.out) problems.push("the component's stdout differs between airssys-wasm and jco");
    if (c.err !== b.err) problems.push("the component's stderr differs between airssys-wasm and jco");
    if (c.status !== b.status) problems.push("the component's exit status differs between airssys-wasm and jco");
    if (problems.length) {
      ++failed;
      console.log(`FAIL ${label}: ${problems.join(", ")}\n${show("airssys-wasm run (core module)", a)}\n` +
        `${show("jco run", b)}\n${show("airssys-wasm run (component)", c)}`);
    } else {
      ++passed;
      console.log(`same ${label}: exit ${a.status} (component ${b.status} under jco, ${c.status} here), ` +
        `${a.out.length} bytes stdout, ${a.err.length} bytes stderr` +
        (a.denials ? ` (and ${a.denials} denial lines of airssys-wasm)` : ""));
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
