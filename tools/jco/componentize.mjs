// Makes a component of a WIT world from a JavaScript module: the module runs
// on StarlingMonkey (SpiderMonkey built for WebAssembly), is evaluated once at
// build time and snapshotted (wizer), and the world's imports and exports are
// bound to it. Build and example tooling only; the host never runs it.
//
//   node tools/jco/componentize.mjs --wit wit/host.wit --world component app.js -o app.wasm
//
// componentize-js is called directly with the WIT as text: `jco componentize
// --wit` runs its WIT tooling in a WASI sandbox with no preopened directory,
// so it cannot read the file. By default the component is "pure": it imports
// the world's interfaces and nothing else (no WASI). --enable adds engine
// features that import WASI 0.2 interfaces (stdio: console.* and uncaught
// errors on stderr; random: Math.random and crypto from wasi:random; clocks:
// Date.now, timers; http: fetch over wasi:http).
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve, basename } from 'node:path';
import { componentize } from '@bytecodealliance/componentize-js';

const FEATURES = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];

function usage(message) {
  if (message) console.error(`componentize.mjs: ${message}`);
  console.error('usage: node componentize.mjs --wit FILE.wit --world NAME [--enable FEATURE,...] APP.js -o OUT.wasm');
  console.error(`  features: ${FEATURES.join(', ')} (none by default: the component imports only the world)`);
  process.exit(2);
}

const args = process.argv.slice(2);
const opts = { enable: [] };
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const value = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
  if (a === '--wit') opts.wit = value();
  else if (a === '--world') opts.world = value();
  else if (a === '--enable') opts.enable.push(...value().split(',').filter((f) => f !== ''));
  else if (a === '-o' || a === '--output') opts.output = value();
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (opts.input) usage(`one JavaScript module only (${opts.input}, ${a})`);
  else opts.input = a;
}
if (!opts.wit || !opts.world || !opts.input || !opts.output) usage('--wit, --world, the module and -o are required');
for (const f of opts.enable) {
  if (!FEATURES.includes(f)) usage(`unknown feature ${f} (${FEATURES.join(', ')})`);
}

const source = resolve(opts.input);
const output = resolve(opts.output);
const witWorld = await readFile(resolve(opts.wit), 'utf8');
// The module's directory is the root the engine sees while it evaluates the
// module: relative imports within it resolve, and error locations name the
// file by its base name, whatever directory the build runs in.
process.chdir(dirname(source));
try {
  const { component } = await componentize({
    sourcePath: source,
    sourceName: basename(source),
    witWorld,
    worldName: opts.world,
    disableFeatures: FEATURES.filter((f) => !opts.enable.includes(f)),
  });
  await writeFile(output, component);
} catch (e) {
  console.error(`componentize.mjs: ${opts.input}: ${e.message ?? e}`);
  process.exit(1);
}
