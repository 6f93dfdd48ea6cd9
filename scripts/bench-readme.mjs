#!/usr/bin/env node
// `npm run bench:readme`: measure every benchmark suite RUNS times (default 3), each run in a
// Node process of its own, and write the README's benchmark table between its markers
//   <!-- bench:begin ... -->  and  <!-- bench:end -->
// from the JSON of `sanproxy bench all --runs RUNS --json` (ranges over the runs; targets judged
// on the worst run; the machine beside the table). Plain Node on the compiled dist/ (npm run
// build, which the npm script runs first).
//
//   node scripts/bench-readme.mjs [--runs N] [--from bench.json] [--save bench.json]
//
// --from renders a document saved earlier instead of measuring; --save keeps the one measured.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const readmePath = `${root}README.md`;
const cli = `${root}bin/sanproxy.mjs`;
const renderer = `${root}dist/bench/readme.js`;

function fail(message) {
  process.stderr.write(`bench:readme: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { runs: 3, from: null, save: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--runs' && value !== undefined && /^\d+$/.test(value) && Number(value) >= 1) args.runs = Number(value);
    else if (flag === '--from' && value !== undefined) args.from = value;
    else if (flag === '--save' && value !== undefined) args.save = value;
    else fail(`unexpected argument ${JSON.stringify(flag)}; usage: node scripts/bench-readme.mjs [--runs N] [--from bench.json] [--save bench.json]`);
    i++;
  }
  return args;
}

/** `sanproxy bench all --runs N --json`: progress on our stderr, the document from its stdout. */
function measure(runs) {
  return new Promise((resolve) => {
    const args = [cli, 'bench', 'all', '--runs', String(runs), '--json'];
    process.stderr.write(`bench:readme: node ${args.map((a) => a.replace(root, '')).join(' ')}\n`);
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => (out += s));
    child.on('error', (e) => fail(`could not run ${cli}: ${e.message}`));
    child.on('close', (code) => {
      if (code !== 0) fail(`sanproxy bench all exited with status ${code}; README.md left as it was`);
      resolve(out);
    });
  });
}

const args = parseArgs(process.argv.slice(2));
if (!existsSync(renderer)) fail(`${renderer} is missing: run 'npm run build' first`);
const { readmeSection, replaceSection } = await import(pathToFileURL(renderer).href);
const text = args.from !== null ? readFileSync(args.from, 'utf8') : await measure(args.runs);
let doc;
try {
  doc = JSON.parse(text);
} catch {
  fail('sanproxy bench all printed no JSON document; README.md left as it was');
}
if (args.save !== null) writeFileSync(args.save, text);
const updated = replaceSection(readFileSync(readmePath, 'utf8'), readmeSection(doc));
// Write beside and rename, so a reader never sees half a README.
writeFileSync(`${readmePath}.tmp`, updated);
renameSync(`${readmePath}.tmp`, readmePath);
process.stderr.write(`bench:readme: README.md updated (${doc.runs} runs of each suite, ${doc.machine.date})\n`);
