// Reference runs of the JavaScript examples (examples/js/echo and the
// pipeline's validator-js, as the build made them): jco transpiles each
// component to JavaScript and Node.js calls its handlers as the host does,
// with a host of this script behind the world's imports that records what
// the component asks and refuses what the test says (a refusal is the WIT
// error, which jco's bindings carry as an exception's `payload`). The
// answers checked here are the C examples' answers.
//
//   node js_reference.mjs (echo|validator) --jco JCO --examples DIR
import { spawnSync } from "node:child_process";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [name, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, "")] = rest[i + 1];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The world's imports. `refuse` names the functions that answer with an
// error, and the error's case.
function makeHost() {
  const host = { lines: [], replies: new Map(), awaiting: new Set(), kv: new Map(), refuse: {} };
  const error = (tag) => Object.assign(new Error(tag), { payload: { tag } });
  const refused = (fn) => {
    if (host.refuse[fn]) throw error(host.refuse[fn]);
  };
  const unexpected = (fn) => () => assert.fail(`the component called ${fn}`);
  host.imports = {
    "airssys:host/types": {},
    "airssys:host/messaging": {
      selfId: unexpected("self-id"),
      send: unexpected("send"),
      request: unexpected("request"),
      publish: unexpected("publish"),
      subscribe: unexpected("subscribe"),
      unsubscribe: unexpected("unsubscribe"),
      reply(id, payload) {
        refused("reply");
        assert.ok(payload instanceof Uint8Array);
        if (!host.awaiting.delete(id)) throw error("no-request");
        host.replies.set(id, decoder.decode(payload));
      },
    },
    "airssys:host/kv": {
      get(key) {
        refused("get");
        return host.kv.get(key);
      },
      set(key, value) {
        refused("set");
        assert.ok(value instanceof Uint8Array);
        host.kv.set(key, value.slice());
      },
      delete: unexpected("delete"),
      exists: unexpected("exists"),
      list: unexpected("list"),
      usage: unexpected("usage"),
    },
    "airssys:host/http": { fetch: unexpected("fetch") },
    "airssys:host/logging": {
      log(level, message) {
        refused("log");
        host.lines.push(`${level} ${message}`);
      },
    },
  };
  return host;
}

let nextId = 100n;
function message(kind, sender, text, topic) {
  return { kind, correlationId: kind === "request" ? ++nextId : 0n, sender, topic, payload: encoder.encode(text) };
}

// `text` as a request; the component's reply, or undefined.
function ask(host, handler, sender, text) {
  const m = message("request", sender, text);
  host.awaiting.add(m.correlationId);
  handler.handleMessage(m);
  return host.replies.get(m.correlationId);
}

const checks = {
  echo(handler, host) {
    handler.init("{}");
    assert.equal(ask(host, handler, "host", "hello"), "hello");
    assert.equal(ask(host, handler, "host", "wörld ✓"), "wörld ✓");
    handler.handleMessage(message("send", "host", "no answer"));
    handler.handleMessage(message("publish", "orders", "news", "orders.accepted"));
    assert.equal(host.replies.size, 2);
    assert.equal(decoder.decode(host.kv.get("echo:count")), "4");
    assert.ok(host.lines.includes("info #3 send from host: no answer"), host.lines.join("\n"));
    assert.ok(host.lines.includes("info #4 publish from orders on orders.accepted: news"), host.lines.join("\n"));
    // A refused store: the message is still answered, the refusal logged.
    host.refuse.set = "quota";
    assert.equal(ask(host, handler, "host", "still here"), "still here");
    assert.ok(host.lines.includes("warn message not counted: quota"), host.lines.join("\n"));
    assert.equal(decoder.decode(host.kv.get("echo:count")), "4");
    // A refused reply is logged, not thrown; a refused log line is dropped.
    host.refuse = { reply: "denied" };
    ask(host, handler, "host", "lost");
    assert.ok(host.lines.includes("warn reply to host not delivered: denied"), host.lines.join("\n"));
    host.refuse = { log: "quota" };
    assert.equal(ask(host, handler, "host", "quiet"), "quiet");
    assert.deepEqual(handler.health(), { tag: "healthy" });
    handler.shutdown();
  },
  validator(handler, host) {
    handler.init("{}");
    const verdicts = {
      "order 1 widget 3": "ok",
      "order 2 gadget 500": "rejected: quantity must be 1 to 100",
      "order 3 sprocket 1": "rejected: unknown item",
      "order 4 gizmo 7": "ok",
      "order 5 widget 2": "ok",
      "order 6 gizmo 0": "rejected: quantity must be 1 to 100",
      "order 7widget 3": "ok",
      "order7 widget 3 ": "ok",
      "order 712 3": "rejected: not an order",
      "order 7 widget3": "rejected: not an order",
      "order 1 widget 3 more": "rejected: not an order",
      "  order 1 widget 3": "rejected: not an order",
      [`order 1 ${"a".repeat(31)}5`]: "rejected: unknown item",
      [`order 1 ${"a".repeat(32)}5 6`]: "rejected: not an order",
      [`order 1 widget ${" ".repeat(120)}3`]: "rejected: not an order",
      "order 1 widget 3\0junk": "ok",
      "": "rejected: not an order",
    };
    for (const [text, verdict] of Object.entries(verdicts)) {
      assert.equal(ask(host, handler, "orders", text), verdict, JSON.stringify(text));
    }
    assert.ok(host.lines.includes("info validator: orders asked about order 1, answered: ok"), host.lines.join("\n"));
    // Only requests are answered.
    const before = host.replies.size;
    handler.handleMessage(message("send", "orders", "order 1 widget 3"));
    assert.equal(host.replies.size, before);
    // A reply the host refuses is logged.
    host.refuse.reply = "no-request";
    ask(host, handler, "orders", "order 9 widget 1");
    assert.ok(host.lines.includes("info validator: orders asked about order 9, answer not delivered: no-request"),
      host.lines.join("\n"));
    assert.deepEqual(handler.health(), { tag: "healthy" });
  },
};

if (!checks[name] || !opt.jco || !opt.examples) {
  console.error(`usage: js_reference.mjs (${Object.keys(checks).join("|")}) --jco JCO --examples DIR`);
  process.exit(2);
}
const wasm = path.join(opt.examples, name, "component.wasm");
if (!fs.existsSync(wasm)) {
  console.error(`reference: ${wasm} is missing (built by the examples_js target)`);
  process.exit(1);
}
const out = fs.mkdtempSync(path.join(os.tmpdir(), `airssys-js-${name}-`));
try {
  const r = spawnSync(opt.jco, ["transpile", wasm, "-o", out, "--no-typescript", "-q",
                                "--instantiation", "async", "--name", "component"], {
    encoding: "utf8",
    timeout: 240_000,
  });
  if (r.error || r.status !== 0) {
    console.error(`jco transpile ${wasm} failed: ${r.error?.message ?? ""}\n${r.stdout}${r.stderr}`);
    process.exit(1);
  }
  fs.writeFileSync(path.join(out, "package.json"), '{"type":"module"}');
  const mod = await import(pathToFileURL(path.join(out, "component.js")).href);
  const host = makeHost();
  const instance = await mod.instantiate(
    async (file) => WebAssembly.compile(fs.readFileSync(path.join(out, file))),
    host.imports);
  checks[name](instance.handler, host);
  console.log(`${name}: every handler answers as expected`);
  console.log("1 passed, 0 failed");
} finally {
  fs.rmSync(out, { recursive: true, force: true });
}
