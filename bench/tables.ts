/**
 * The text tables `sanproxy bench` prints without --json: one per suite, every column headed
 * and with its unit, sizes as 4 KiB / 1 MiB / 1 GiB. A suite run several times (--runs) shows
 * each figure as min–max over the runs; rows are matched by position (every run of a suite
 * measures the same rows in the same order).
 */
import type { ContiguousResult } from './contiguous.ts';
import type { FootprintResult } from './footprint.ts';
import type { IoctlResult, IoctlRow } from './ioctl.ts';
import type { RdmaResult, RdmaRow, RdmaWireRow } from './rdma.ts';
import type { RegisterResult } from './register.ts';
import type { SocketResult } from './socket.ts';
import { durationRangeText, plain, rangeText, signedRangeText, sizeText } from './stats.ts';
import type { SuiteResults } from './document.ts';
import type { SuiteName } from './suite.ts';

type Align = 'left' | 'right';

/** Columns padded to their widest cell, two spaces apart; headers always printed. */
export function textTable(headers: readonly string[], rows: readonly (readonly string[])[], align?: readonly Align[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => ((align?.[c] ?? (c === 0 ? 'left' : 'right')) === 'left' ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Row `i` of every run, checked to describe the same case (same key) in each. */
function rowsAt<R>(runs: readonly { rows: readonly R[] }[], key: (r: R) => string): R[][] {
  const first = runs[0]!.rows;
  return first.map((row, i) => {
    const all = runs.map((r) => r.rows[i]);
    for (const other of all) {
      if (other === undefined || key(other) !== key(row)) throw new Error(`bench: the runs measured different rows (${key(row)})`);
    }
    return all as R[];
  });
}

const values = <R>(rows: readonly R[], f: (r: R) => number) => rows.map(f);
const mib = (bytes: number) => bytes / 2 ** 20;
const runsNote = (n: number) => (n > 1 ? `, min–max over ${n} runs` : '');

export function formatFootprint(runs: readonly FootprintResult[]): string {
  const r = runs[0]!;
  return [
    `footprint: boot one host with NOLOWMEM on${runsNote(runs.length)}${runs.every((x) => x.gc) ? '' : ' (no --expose-gc: RSS not collected first)'}`,
    textTable(
      ['RAM', 'boot', 'RSS growth', 'PFN metadata per page'],
      [[
        sizeText(r.ramBytes),
        rangeText(values(runs, (x) => x.bootMs), plain, ' ms'),
        signedRangeText(values(runs, (x) => mib(x.rssDeltaBytes)), ' MiB'),
        rangeText(values(runs, (x) => x.metadataBytesPerPage), String, ' B'),
      ]],
    ),
  ].join('\n');
}

export function contiguousCase(bytes: number, satisfiable: boolean): string {
  return `${sizeText(bytes)}${satisfiable ? '' : ' (unsatisfiable)'}`;
}

export function formatContiguous(runs: readonly ContiguousResult[]): string {
  const r = runs[0]!;
  const rows = rowsAt(runs, (x) => `${x.bytes} ${x.highest}`).map((all) => {
    const x = all[0]!;
    return [
      contiguousCase(x.bytes, all.some((y) => y.satisfied)),
      x.highest === '4G' ? '< 4 GiB' : 'none',
      durationRangeText(values(all, (y) => y.medianNs)),
      durationRangeText(values(all, (y) => y.baselineMedianNs)),
      rangeText(values(all, (y) => y.speedup), plain, '×'),
      all.every((y) => y.satisfied) ? 'yes' : all.every((y) => !y.satisfied) ? 'no' : 'varies',
      durationRangeText(values(all, (y) => y.roundTripMedianNs)),
    ];
  });
  return [
    `contiguous: search on ${sizeText(r.ramBytes)}, ${rangeText(values(runs, (x) => x.fragmentation * 100), plain, '%')} allocated (seed ${r.seed})${runsNote(runs.length)}`,
    textTable(['size', 'limit', 'indexed search', 'linear walk', 'speedup', 'found', 'alloc+free round trip'], rows, ['left', 'left']),
  ].join('\n');
}

export function formatRegister(runs: readonly RegisterResult[]): string {
  const rows = rowsAt(runs, (x) => String(x.bytes)).map((all) => [
    sizeText(all[0]!.bytes),
    rangeText(values(all, (y) => y.gbPerSec)),
    rangeText(values(all, (y) => y.nsPerPage)),
    rangeText(values(all, (y) => y.pagesPerSec / 1e6)),
    rangeText(values(all, (y) => y.iterations)),
  ]);
  return [
    `register: IoAllocateMdl + MmProbeAndLockPages + MmGetMdlPfnArray + MmUnlockPages + IoFreeMdl, median iteration${runsNote(runs.length)}`,
    textTable(['buffer', 'GB/s', 'ns/page', 'M pages/s', 'iterations'], rows),
  ].join('\n');
}

export function formatRdma(runs: readonly RdmaResult[]): string {
  const lines: string[] = [`rdma: two in-process hosts against Buffer copy, MB = 2^20 B, best of ${runs[0]!.trials} trials${runsNote(runs.length)}`];
  const groups = new Map<string, RdmaRow[][]>();
  for (const all of rowsAt(runs, (x) => `${x.op} ${x.bytes}`)) {
    const op = all[0]!.op;
    if (!groups.has(op)) groups.set(op, []);
    groups.get(op)!.push(all);
  }
  for (const [op, rows] of groups) {
    lines.push('', `RDMA_${op.toUpperCase()} BW test`);
    lines.push(textTable(
      ['#bytes', '#iterations', 'BW average[MB/sec]', 'MsgRate[Mpps]', 'memcpy[MB/sec]', 'ratio'],
      rows.map((all) => [
        sizeText(all[0]!.bytes),
        rangeText(values(all, (y) => y.iterations)),
        rangeText(values(all, (y) => y.mbPerSec)),
        rangeText(values(all, (y) => y.msgRateMpps)),
        rangeText(values(all, (y) => y.memcpyMbPerSec)),
        rangeText(values(all, (y) => y.ratio)),
      ]),
    ));
  }
  const wire = runs.every((r) => (r.wire ?? []).length > 0) ? rowsAt(runs.map((r) => ({ rows: r.wire })), (x: RdmaWireRow) => `${x.op} ${x.bytes}`) : [];
  if (wire.length > 0) {
    const w = wire[0]![0]!;
    lines.push('', `RoCEv2 wire: lossless link / every packet built and checked (capture tap on) / ${plain(w.loss * 100)}% loss (seed ${w.seed}), goodput`);
    lines.push(textTable(
      ['op', '#bytes', 'memcpy[MB/sec]', 'lossless[MB/sec]', 'built[MB/sec]', 'built ÷ memcpy', 'loss[MB/sec]', 'loss ÷ lossless', 'lost', 'resent'],
      wire.map((all) => [
        all[0]!.op,
        sizeText(all[0]!.bytes),
        rangeText(values(all, (y) => y.memcpyMbPerSec)),
        rangeText(values(all, (y) => y.losslessMbPerSec)),
        rangeText(values(all, (y) => y.builtMbPerSec)),
        rangeText(values(all, (y) => y.builtRatio)),
        rangeText(values(all, (y) => y.lossyMbPerSec)),
        rangeText(values(all, (y) => y.lossyOfLossless)),
        rangeText(values(all, (y) => y.framesLost)),
        rangeText(values(all, (y) => y.retransmitted)),
      ]),
      ['left', 'right'],
    ));
  }
  return lines.join('\n');
}

export const SOCKET_PATH_NAMES = { san: 'SAN', tcp: 'TCP-like' } as const;

export function formatSocket(runs: readonly SocketResult[]): string {
  const rows = rowsAt(runs, (x) => `${x.path} ${x.bytes}`).map((all) => [
    SOCKET_PATH_NAMES[all[0]!.path],
    sizeText(all[0]!.bytes),
    rangeText(values(all, (y) => y.mbPerSec)),
    rangeText(values(all, (y) => y.rttUs)),
    rangeText(values(all, (y) => y.memcpyMbPerSec)),
    rangeText(values(all, (y) => y.mbPerSec / y.memcpyMbPerSec)),
  ]);
  return [
    `socket: send/recv through the Windows Sockets switch, MB = 10^6 B, throughput the median of 7 windows${runsNote(runs.length)}`,
    textTable(['path', 'message', 'MB/s', 'round trip µs', 'memcpy MB/s', 'path ÷ memcpy'], rows, ['left', 'right']),
  ].join('\n');
}

export function formatIoctl(runs: readonly IoctlResult[]): string {
  const rows = rowsAt(runs, (x: IoctlRow) => `${x.op} ${x.config}`).map((all) => [
    all[0]!.op,
    all[0]!.config,
    rangeText(values(all, (y) => y.medianNs / 1000)),
    rangeText(values(all, (y) => y.cpuNsPerPair / 1000)),
    rangeText(values(all, (y) => y.poolAllocationsPerPair)),
    rangeText(values(all, (y) => y.systemMappingsPerPair)),
  ]);
  return [
    `ioctl: one request pair through DeviceIoControl, the I/O manager and the proxy; pool = no lookaside list caches (before), lookaside = the default (after)${runsNote(runs.length)}`,
    textTable(['pair', 'lists', 'median µs', 'CPU µs', 'pool allocations', 'system mappings'], rows, ['left', 'left']),
  ].join('\n');
}

/** The table of `suite` from its runs' results (as the children printed them). */
export function formatSuite(suite: SuiteName, runs: readonly SuiteResults[SuiteName][]): string {
  switch (suite) {
    case 'footprint':
      return formatFootprint(runs as readonly FootprintResult[]);
    case 'contiguous':
      return formatContiguous(runs as readonly ContiguousResult[]);
    case 'register':
      return formatRegister(runs as readonly RegisterResult[]);
    case 'ioctl':
      return formatIoctl(runs as readonly IoctlResult[]);
    case 'rdma':
      return formatRdma(runs as readonly RdmaResult[]);
    case 'socket':
      return formatSocket(runs as readonly SocketResult[]);
  }
  throw new Error(`bench: no table for suite ${String(suite)}`);
}
