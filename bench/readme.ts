/**
 * The README's benchmark table, written from one `sanproxy bench all --runs N --json` document
 * (scripts/bench-readme.mjs runs it and puts this text between the README's bench markers).
 *
 * Every figure is a min–max range over the runs, and every target is judged on the WORST run:
 * a target the slowest run misses is "not met", whatever the others did. The machine, the date
 * and the number of runs are written beside the table, so a reader can tell what the figures
 * are of. Nothing here is typed by hand: a fresh run of the same command rewrites all of it.
 *
 * The targets, as the project's issues set them: footprint of a 64 GiB host boots in < 1 s, grows RSS by < 200 MB and
 * keeps <= 8 B of metadata per page; the contiguous search is >= 100× the linear walk and
 * < 20 µs; registration runs at >= 40 GB/s from 1 MiB; RDMA reaches >= 0.7 of memcpy from
 * 64 KiB; on the RoCEv2 wire at >= 1 MiB, with every packet built and checked, >= 0.15 of
 * memcpy, and with 1% loss a goodput >= 0.5 of the lossless link's (issue 16); the SAN socket
 * path reaches >= 0.5 of memcpy from 1 MiB and beats the TCP-like path.
 */
import type { ContiguousResult, ContiguousRow } from './contiguous.ts';
import { machineText, type BenchDocument } from './document.ts';
import type { FootprintResult } from './footprint.ts';
import type { IoctlResult, IoctlRow } from './ioctl.ts';
import type { RdmaResult, RdmaRow, RdmaWireRow } from './rdma.ts';
import type { RegisterResult, RegisterRow } from './register.ts';
import type { SocketResult, SocketRow } from './socket.ts';
import { durationRangeText, durationText, plain, rangeText, signedRangeText, sizeText } from './stats.ts';
import { SUITES } from './suite.ts';

export const BEGIN_MARKER = '<!-- bench:begin';
export const END_MARKER = '<!-- bench:end -->';

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** One line of the README's table. `met` is null for a row without a target. */
export interface ReadmeRow {
  suite: string;
  /** A few words naming the row in the line of targets not met ("rdma 64 KiB"). */
  name: string;
  measure: string;
  result: string;
  target: string;
  worst: string;
  met: boolean | null;
}

/** Row `i` of every run, the same case in each (checked). */
function rowsAt<R>(runs: readonly { rows: readonly R[] }[], key: (r: R) => string): R[][] {
  return runs[0]!.rows.map((row, i) => {
    const all = runs.map((r) => r.rows[i]);
    if (all.some((x) => x === undefined || key(x) !== key(row))) throw new Error(`bench readme: the runs measured different rows (${key(row)})`);
    return all as R[];
  });
}

const min = (xs: readonly number[]) => Math.min(...xs);
const max = (xs: readonly number[]) => Math.max(...xs);

function footprintRows(runs: readonly FootprintResult[]): ReadmeRow[] {
  const ram = sizeText(runs[0]!.ramBytes);
  const boot = runs.map((r) => r.bootMs);
  const rss = runs.map((r) => r.rssDeltaBytes);
  const meta = runs.map((r) => r.metadataBytesPerPage);

  return [
    { suite: 'footprint', name: 'footprint boot', measure: `boot a ${ram} host`, result: rangeText(boot, plain, ' ms'), target: '< 1 s', worst: `${plain(max(boot))} ms`, met: max(boot) < 1000 },
    {
      suite: 'footprint', name: 'footprint RSS', measure: 'resident memory the boot adds (RSS, after a full GC)', result: signedRangeText(rss.map((b) => b / MIB), ' MiB'),
      target: '< 200 MB (190.7 MiB)', worst: signedRangeText([max(rss) / MIB], ' MiB'), met: max(rss) < 200e6,
    },
    { suite: 'footprint', name: 'footprint metadata', measure: 'PFN database and free-run index per page', result: rangeText(meta, String, ' B'), target: '<= 8 B', worst: `${max(meta)} B`, met: max(meta) <= 8 },
  ];
}

function contiguousRows(runs: readonly ContiguousResult[]): ReadmeRow[] {
  return rowsAt(runs, (r: ContiguousRow) => `${r.bytes} ${r.highest}`).map((all) => {
    const r = all[0]!;
    const unsatisfiable = all.every((x) => !x.satisfied);
    const where = r.highest === '4G' ? 'below 4 GiB' : 'anywhere';
    const measure = unsatisfiable
      ? `${sizeText(r.bytes)} (one page more than the longest free run): search vs linear walk`
      : `${sizeText(r.bytes)} ${where}: search vs linear walk`;
    const ours = all.map((x) => x.medianNs);
    const speedup = all.map((x) => x.speedup);
    return {
      suite: 'contiguous',
      name: `contiguous ${unsatisfiable ? 'unsatisfiable' : `${sizeText(r.bytes)} ${where}`}`,
      measure,
      result: `${durationRangeText(ours)} vs ${durationRangeText(all.map((x) => x.baselineMedianNs))} = ${rangeText(speedup, plain, '×')}`,
      target: '>= 100× and < 20 µs',
      worst: `${plain(min(speedup))}×, ${durationText(max(ours))}`,
      met: min(speedup) >= 100 && max(ours) < 20_000,
    };
  });
}

function registerRows(runs: readonly RegisterResult[]): ReadmeRow[] {
  return rowsAt(runs, (r: RegisterRow) => String(r.bytes)).map((all) => {
    const bytes = all[0]!.bytes;
    const gb = all.map((x) => x.gbPerSec);
    const targeted = bytes >= MIB;
    return {
      suite: 'register',
      name: `register ${sizeText(bytes)}`,
      measure: `lock and unlock ${sizeText(bytes)}`,
      result: `${rangeText(gb, plain, ' GB/s')} (${rangeText(all.map((x) => x.nsPerPage), plain, ' ns/page')})`,
      target: targeted ? '>= 40 GB/s' : '— (from 1 MiB)',
      worst: `${plain(min(gb))} GB/s`,
      met: targeted ? min(gb) >= 40 : null,
    };
  });
}

function ioctlRows(runs: readonly IoctlResult[]): ReadmeRow[] {
  const rows = rowsAt(runs, (r: IoctlRow) => `${r.op} ${r.config}`);
  const of = (op: IoctlRow['op'], config: IoctlRow['config']) => rows.find((all) => all[0]!.op === op && all[0]!.config === config)!;
  return (['invalidate+revalidate', 'register+deregister'] as const).map((op) => {
    const before = of(op, 'pool');
    const after = of(op, 'lookaside');
    const us = (all: readonly IoctlRow[]) => rangeText(all.map((x) => x.medianNs / 1000), plain, ' µs');
    const speedup = before.map((x, i) => x.medianNs / after[i]!.medianNs);
    return {
      suite: 'ioctl',
      name: `ioctl ${op}`,
      measure: `${op.toUpperCase().replace('+', ' + ')} pair: pool only (before) vs lookaside lists (after)`,
      result: `${us(before)} vs ${us(after)}; pool allocations ${rangeText(before.map((x) => x.poolAllocationsPerPair))} vs ${rangeText(after.map((x) => x.poolAllocationsPerPair))} per pair`,
      target: '—',
      worst: `${plain(min(speedup))}× faster with lookasides`,
      met: null,
    };
  });
}

function rdmaRows(runs: readonly RdmaResult[]): ReadmeRow[] {
  const rows = rowsAt(runs, (r: RdmaRow) => `${r.op} ${r.bytes}`);
  const sizes = [...new Set(rows.map((all) => all[0]!.bytes))];
  const out: ReadmeRow[] = [];
  for (const bytes of sizes) {
    if (bytes < 64 * 1024) continue;
    const ops = rows.filter((all) => all[0]!.bytes === bytes);
    const worst = ops.map((all) => ({ op: all[0]!.op, ratio: min(all.map((x) => x.ratio)) })).sort((a, b) => a.ratio - b.ratio)[0]!;
    out.push({
      suite: 'rdma',
      name: `rdma ${sizeText(bytes)}`,
      measure: `${sizeText(bytes)} write / read / send, ÷ Buffer copy`,
      result: ops.map((all) => rangeText(all.map((x) => x.ratio))).join(' / '),
      target: '>= 0.7 of memcpy',
      worst: `${plain(worst.ratio)} (${worst.op})`,
      met: worst.ratio >= 0.7,
    });
  }
  return out.concat(rdmaWireRows(runs));
}

/** Issue 16's wire targets, per size: write / read with every packet built, then with 1% loss. */
function rdmaWireRows(runs: readonly RdmaResult[]): ReadmeRow[] {
  if (!runs.every((r) => (r.wire ?? []).length > 0)) return [];
  const rows = rowsAt(runs.map((r) => ({ rows: r.wire })), (r: RdmaWireRow) => `${r.op} ${r.bytes}`);
  const out: ReadmeRow[] = [];
  for (const bytes of [...new Set(rows.map((all) => all[0]!.bytes))]) {
    const ops = rows.filter((all) => all[0]!.bytes === bytes);
    const judge = (name: string, measure: string, value: (r: RdmaWireRow) => number, target: number, targetText: string): ReadmeRow => {
      const worst = ops.map((all) => ({ op: all[0]!.op, v: min(all.map(value)) })).sort((a, b) => a.v - b.v)[0]!;
      return {
        suite: 'rdma',
        name: `rdma ${sizeText(bytes)} ${name}`,
        measure: `${sizeText(bytes)} write / read ${measure}`,
        result: ops.map((all) => rangeText(all.map(value))).join(' / '),
        target: targetText,
        worst: `${plain(worst.v)} (${worst.op})`,
        met: worst.v >= target,
      };
    };
    const loss = `${plain(ops[0]![0]!.loss * 100)}%`;
    out.push(judge('built', 'with every packet built and checked (capture on), ÷ Buffer copy', (r) => r.builtRatio, 0.15, '>= 0.15 of memcpy'));
    out.push(judge(`${loss} loss`, `with ${loss} of the frames lost, goodput ÷ the lossless link's`, (r) => r.lossyOfLossless, 0.5, '>= 0.5 of lossless'));
  }
  return out;
}

function socketRows(runs: readonly SocketResult[]): ReadmeRow[] {
  const rows = rowsAt(runs, (r: SocketRow) => `${r.path} ${r.bytes}`);
  const of = (path: 'san' | 'tcp', bytes: number) => rows.find((all) => all[0]!.path === path && all[0]!.bytes === bytes);
  const gb = (mbPerSec: number) => plain(mbPerSec / 1000);
  const out: ReadmeRow[] = [];
  const smallest = min(rows.map((all) => all[0]!.bytes));
  const sanSmall = of('san', smallest);
  const tcpSmall = of('tcp', smallest);
  if (sanSmall && tcpSmall) {
    out.push({
      suite: 'socket',
      name: `socket ${sizeText(smallest)} round trip`,
      measure: `${sizeText(smallest)} round trip, SAN vs TCP-like path`,
      result: `${rangeText(sanSmall.map((x) => x.rttUs), plain, ' µs')} vs ${rangeText(tcpSmall.map((x) => x.rttUs), plain, ' µs')}`,
      target: '—',
      worst: `${plain(max(sanSmall.map((x) => x.rttUs)))} µs vs ${plain(max(tcpSmall.map((x) => x.rttUs)))} µs`,
      met: null,
    });
  }
  for (const bytes of [...new Set(rows.map((all) => all[0]!.bytes))].filter((b) => b >= MIB)) {
    const san = of('san', bytes);
    const tcp = of('tcp', bytes);
    if (!san || !tcp) continue;
    const ofMemcpy = san.map((x) => x.mbPerSec / x.memcpyMbPerSec);
    const overTcp = san.map((x, i) => x.mbPerSec / tcp[i]!.mbPerSec);
    out.push({
      suite: 'socket',
      name: `socket ${sizeText(bytes)}`,
      measure: `${sizeText(bytes)} messages: SAN path (÷ memcpy), TCP-like path`,
      result: `SAN ${rangeText(san.map((x) => x.mbPerSec), gb, ' GB/s')} (${rangeText(ofMemcpy)} of memcpy); TCP-like ${rangeText(tcp.map((x) => x.mbPerSec), gb, ' GB/s')}`,
      target: 'SAN >= 0.5 of memcpy, above TCP-like',
      worst: `${plain(min(ofMemcpy))} of memcpy, ${plain(min(overTcp))}× TCP-like`,
      met: min(ofMemcpy) >= 0.5 && min(overTcp) > 1,
    });
  }
  return out;
}

export function readmeRows(doc: BenchDocument): ReadmeRow[] {
  const s = doc.suites;
  return [
    ...(s.footprint ? footprintRows(s.footprint.runs) : []),
    ...(s.contiguous ? contiguousRows(s.contiguous.runs) : []),
    ...(s.register ? registerRows(s.register.runs) : []),
    ...(s.ioctl ? ioctlRows(s.ioctl.runs) : []),
    ...(s.rdma ? rdmaRows(s.rdma.runs) : []),
    ...(s.socket ? socketRows(s.socket.runs) : []),
  ];
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** The markdown between the markers: the machine and runs, the table, the verdict count. */
export function readmeSection(doc: BenchDocument): string {
  const missing = SUITES.filter((s) => !doc.suites[s]);
  if (missing.length > 0) throw new Error(`bench readme: the document lacks ${missing.join(', ')} (run bench all)`);
  const rows = readmeRows(doc);
  const judged = rows.filter((r) => r.met !== null);
  const notMet = judged.filter((r) => r.met === false);
  const runs = doc.runs;
  const elapsed = Object.values(doc.suites).reduce((t, x) => t + x!.elapsedMs.reduce((a, b) => a + b, 0), 0);
  const lines = [
    `Measured on ${machineText(doc.machine)}, ${(doc.machine.memoryBytes / GIB).toFixed(0)} GiB RAM; sanproxy ${doc.sanproxy}.`,
    `Each suite ran ${runs} ${runs === 1 ? 'time' : 'times'}, every run in a Node process of its own (${(elapsed / 60_000).toFixed(1)} minutes in all).`,
    `Results are min–max over the runs; a target is met only if the worst run meets it.`,
    `${judged.length - notMet.length} of ${judged.length} targets met${notMet.length > 0 ? `; not met: ${notMet.map((r) => r.name).join(', ')}` : ''}.`,
    '',
    `| suite | measure | result, min–max over ${runs} ${runs === 1 ? 'run' : 'runs'} | target | worst run | |`,
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.suite}\` | ${cell(r.measure)} | ${cell(r.result)} | ${cell(r.target)} | ${cell(r.worst)} | ${r.met === null ? '' : r.met ? 'met' : '**not met**'} |`),
  ];
  return lines.join('\n');
}

/** `readme` with the text between its bench markers replaced by `section` (markers kept). */
export function replaceSection(readme: string, section: string): string {
  const begin = readme.indexOf(BEGIN_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (begin < 0 || end < 0 || end < begin || readme.indexOf(BEGIN_MARKER, begin + 1) >= 0 || readme.indexOf(END_MARKER, end + 1) >= 0) {
    throw new Error(`bench readme: README.md must hold exactly one '${BEGIN_MARKER} ... -->' line and one '${END_MARKER}' line after it`);
  }
  const afterBegin = readme.indexOf('\n', begin);
  if (afterBegin < 0 || afterBegin > end) throw new Error('bench readme: the begin marker must be a line of its own');
  return `${readme.slice(0, afterBegin + 1)}${section}\n${readme.slice(end)}`;
}
