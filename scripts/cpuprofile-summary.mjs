#!/usr/bin/env node
// Summarise a V8 CPU profile (`node --cpu-prof …` writes one .cpuprofile per process): the
// functions that took the most time on their own (self) or with what they called (inclusive),
// or the time per source file. What to read first when a benchmark row is slower than it
// should be; the profiler itself slows the run, so compare shares, not times.
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bin/sanproxy.mjs bench rdma --sizes 256K
//   node scripts/cpuprofile-summary.mjs /tmp/prof/CPU.….cpuprofile [--inclusive | --files] [--top N] [--match src/]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
// The profile is the one argument that is neither an option nor an option's value.
const file = args.find((a, i) => !a.startsWith('--') && !(i > 0 && (args[i - 1] === '--top' || args[i - 1] === '--match')));
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (file === undefined) {
  process.stderr.write('usage: cpuprofile-summary.mjs PROFILE [--inclusive | --files] [--top N] [--match TEXT]\n');
  process.exit(2);
}
const top = Number(option('--top') ?? 40);
const match = option('--match');
const profile = JSON.parse(readFileSync(file, 'utf8'));

const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const where = (url) => url.replace(/^.*\/(src|bench|dist|test)\//, '$1/');
const label = (n) => {
  const f = n.callFrame;
  return args.includes('--files') ? where(f.url) || f.functionName : `${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`;
};

const time = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  if (args.includes('--inclusive')) {
    // Each function once per sample, however deep it recurses.
    const seen = new Set();
    for (let id = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const k = label(nodes.get(id));
      if (!seen.has(k)) {
        seen.add(k);
        time.set(k, (time.get(k) ?? 0) + dt);
      }
    }
  } else {
    const k = label(nodes.get(profile.samples[i]));
    time.set(k, (time.get(k) ?? 0) + dt);
  }
}
const rows = [...time].filter(([k]) => match === undefined || k.includes(match)).sort((a, b) => b[1] - a[1]).slice(0, top);
process.stdout.write(`${(total / 1000).toFixed(0)} ms sampled\n`);
for (const [k, t] of rows) process.stdout.write(`${((100 * t) / total).toFixed(1).padStart(5)}%  ${k}\n`);
