// Embeds the component type of a WIT world into a core module, the step
// between a core module built for a world and `jco new`, which makes the
// component. Test and build tooling only; the host never runs it.
//
//   node tools/jco/embed.mjs --wit wit/host.wit --world component in.wasm -o out.wasm
//
// The WIT is read here and handed over as text: jco's own `embed` command
// cannot read files outside its sandbox.
import { readFile, writeFile } from 'node:fs/promises';
import { componentEmbed } from '@bytecodealliance/jco';

function usage(message) {
  if (message) console.error(`embed.mjs: ${message}`);
  console.error('usage: node embed.mjs --wit FILE.wit --world NAME [--encoding utf8|utf16|compact-utf16] CORE.wasm -o OUT.wasm');
  process.exit(2);
}

const args = process.argv.slice(2);
const opts = { encoding: 'utf8' };
for (let i = 0; i < args.length; ++i) {
  const a = args[i];
  const value = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
  if (a === '--wit') opts.wit = value();
  else if (a === '--world') opts.world = value();
  else if (a === '--encoding') opts.encoding = value();
  else if (a === '-o' || a === '--output') opts.output = value();
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('-')) usage(`unknown option ${a}`);
  else if (opts.input) usage(`one core module only (${opts.input}, ${a})`);
  else opts.input = a;
}
if (!opts.wit || !opts.world || !opts.input || !opts.output) usage('--wit, --world, the module and -o are required');

try {
  const out = await componentEmbed({
    binary: await readFile(opts.input),
    witSource: await readFile(opts.wit, 'utf8'),
    world: opts.world,
    stringEncoding: opts.encoding,
  });
  await writeFile(opts.output, out);
} catch (e) {
  console.error(`embed.mjs: ${opts.input}: ${e.message ?? e}`);
  process.exit(1);
}
