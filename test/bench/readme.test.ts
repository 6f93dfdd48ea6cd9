/**
 * The README's benchmark table (bench/readme.ts) and the text tables (bench/tables.ts), from
 * made-up documents: ranges over runs, targets judged on the worst run, headers and units, and
 * the README rewritten only between its markers.
 */
import { describe, expect, it } from 'vitest';
import type { ContiguousResult } from '../../bench/contiguous.ts';
import type { BenchDocument } from '../../bench/document.ts';
import type { FootprintResult } from '../../bench/footprint.ts';
import type { IoctlResult, IoctlRow } from '../../bench/ioctl.ts';
import type { RdmaResult, RdmaRow, RdmaWireRow } from '../../bench/rdma.ts';
import { readmeRows, readmeSection, replaceSection } from '../../bench/readme.ts';
import type { RegisterResult } from '../../bench/register.ts';
import type { SocketResult, SocketRow } from '../../bench/socket.ts';
import { formatSuite } from '../../bench/tables.ts';

const KIB = 1024;
const MIB = KIB * KIB;
const GIB = KIB * MIB;

const footprint = (bootMs: number, rssMiB: number): FootprintResult => ({
  suite: 'footprint', ramBytes: 64 * GIB, usablePages: 16_000_000, bootMs, rssDeltaBytes: rssMiB * MIB, metadataBytesPerPage: 7.602, gc: true,
});

const contiguous = (ns: number, speedup: number): ContiguousResult => ({
  suite: 'contiguous', ramBytes: 64 * GIB, seed: 1449, fragmentation: 0.5,
  rows: [
    { bytes: 64 * KIB, highest: 'max', medianNs: ns, baselineMedianNs: ns * speedup, speedup, satisfied: true, roundTripMedianNs: 7000, allocations: 101, linearChecks: 11 },
    { bytes: 13 * GIB, highest: 'max', medianNs: 40, baselineMedianNs: 1e8, speedup: 2.5e6, satisfied: false, roundTripMedianNs: 400, allocations: 0, linearChecks: 1 },
  ],
});

const register = (gbAt1M: number): RegisterResult => ({
  suite: 'register', ramBytes: 4 * GIB,
  rows: [
    { bytes: 4 * KIB, gbPerSec: 3, pagesPerSec: 7e5, nsPerPage: 1380, iterations: 1e5, pagesLocked: 1e5, verifiedPages: 1 },
    { bytes: MIB, gbPerSec: gbAt1M, pagesPerSec: 3e7, nsPerPage: 33, iterations: 3e4, pagesLocked: 3e4 * 256, verifiedPages: 256 },
  ],
});

const rdmaRow = (op: RdmaRow['op'], bytes: number, ratio: number): RdmaRow => ({
  op, bytes, iterations: 128, mbPerSec: 30_000 * ratio, msgRateMpps: 0.1, memcpyMbPerSec: 30_000, ratio, operations: 1024, verified: true,
});
const wireRow = (op: RdmaWireRow['op'], builtRatio: number, lossyOfLossless: number): RdmaWireRow => ({
  op, bytes: MIB, iterations: 128, memcpyMbPerSec: 10_000, losslessMbPerSec: 8_000, builtMbPerSec: 10_000 * builtRatio, builtRatio,
  lossyMbPerSec: 8_000 * lossyOfLossless, lossyOfLossless, lossyRatio: 0.8 * lossyOfLossless, loss: 0.01, seed: 7, framesLost: 300, retransmitted: 900,
  operations: 1000, verified: true,
});
const rdma = (at64k: number, builtRead = 0.2, lossyWrite = 0.6): RdmaResult => ({
  suite: 'rdma', trials: 7,
  rows: (['write', 'read', 'send'] as const).flatMap((op) => [rdmaRow(op, 32 * KIB, 0.5), rdmaRow(op, 64 * KIB, op === 'send' ? at64k : 0.8)]),
  wire: [wireRow('write', 0.3, lossyWrite), wireRow('read', builtRead, 0.7)],
});

const socketRow = (path: SocketRow['path'], bytes: number, mbPerSec: number, memcpyMbPerSec: number): SocketRow => ({
  path, bytes, mbPerSec, rttUs: 20, memcpyMbPerSec, messages: 32, verified: true,
});
const socket = (sanAt1M: number): SocketResult => ({
  suite: 'socket',
  rows: [
    socketRow('san', KIB, 80, 10_000), socketRow('san', MIB, sanAt1M, 30_000),
    socketRow('tcp', KIB, 120, 10_000), socketRow('tcp', MIB, 2_000, 30_000),
  ],
});

const ioctlRow = (op: IoctlRow['op'], config: IoctlRow['config'], medianNs: number, poolAllocationsPerPair: number): IoctlRow => ({
  op, config, medianNs, cpuNsPerPair: medianNs, pairs: 1500, poolAllocationsPerPair, systemMappingsPerPair: 0,
});
const ioctl = (poolNs: number, lookasideNs: number): IoctlResult => ({
  suite: 'ioctl', registeredBytes: 64 * KIB, registerBytes: 4 * KIB,
  rows: (['invalidate+revalidate', 'register+deregister'] as const).flatMap((op) => [
    ioctlRow(op, 'pool', poolNs, 4), ioctlRow(op, 'driver-lists-off', poolNs, 2), ioctlRow(op, 'lookaside', lookasideNs, 0),
  ]),
});

function doc(runs: { footprint: FootprintResult[]; contiguous: ContiguousResult[]; register: RegisterResult[]; rdma: RdmaResult[]; socket: SocketResult[]; ioctl?: IoctlResult[] }): BenchDocument {
  const n = runs.footprint.length;
  const entry = <T>(r: T[]) => ({ options: {}, elapsedMs: r.map(() => 1000), runs: r });
  return {
    sanproxy: '0.1.0',
    machine: { cores: 2, cpu: 'Test CPU', node: 'v20.0.0', platform: 'linux', arch: 'x64', memoryBytes: 8 * GIB, date: '2026-12-01T10:00:00.000Z' },
    runs: n,
    suites: {
      footprint: entry(runs.footprint), contiguous: entry(runs.contiguous), register: entry(runs.register), ioctl: entry(runs.ioctl ?? runs.footprint.map(() => ioctl(8000, 6000))), rdma: entry(runs.rdma), socket: entry(runs.socket),
    },
  } as BenchDocument;
}

const twoRuns = doc({
  footprint: [footprint(41, 59), footprint(48, 63)],
  contiguous: [contiguous(51, 300), contiguous(98, 90)],
  register: [register(120), register(39)],
  rdma: [rdma(0.75, 0.2, 0.6), rdma(0.69, 0.12, 0.55)],
  socket: [socket(14_000), socket(11_700)],
});

describe('the README table', () => {
  it('judges each target on the worst run and shows the range over the runs', () => {
    const rows = readmeRows(twoRuns);
    const find = (suite: string, measure: RegExp) => rows.find((r) => r.suite === suite && measure.test(r.measure))!;
    expect(find('footprint', /^boot/)).toMatchObject({ result: '41–48 ms', met: true, worst: '48 ms' });
    expect(find('footprint', /resident/)).toMatchObject({ result: '+59–63 MiB', met: true });
    // 300× in one run, 90× in the other: not met.
    expect(find('contiguous', /^64 KiB anywhere/)).toMatchObject({ met: false, worst: '90×, 98 ns' });
    expect(find('contiguous', /^64 KiB anywhere/)!.result).toMatch(/^51–98 ns vs .* = 90–300×$/);
    expect(find('contiguous', /longest free run/)).toMatchObject({ met: true });
    expect(find('register', /4 KiB/)).toMatchObject({ met: null });
    expect(find('register', /1 MiB/)).toMatchObject({ result: '39–120 GB/s (33 ns/page)', met: false, worst: '39 GB/s' });
    // Only sizes from 64 KiB carry the RDMA target; the worst operation names itself.
    expect(rows.filter((r) => r.suite === 'rdma').map((r) => r.measure)).toEqual([
      '64 KiB write / read / send, ÷ Buffer copy',
      '1 MiB write / read with every packet built and checked (capture on), ÷ Buffer copy',
      "1 MiB write / read with 1% of the frames lost, goodput ÷ the lossless link's",
    ]);
    expect(find('rdma', /64 KiB/)).toMatchObject({ result: '0.8 / 0.8 / 0.69–0.75', worst: '0.69 (send)', met: false });
    // The wire targets (issue 16): built ÷ memcpy >= 0.15, 1% loss ÷ lossless >= 0.5, worst run and op.
    expect(find('rdma', /every packet built/)).toMatchObject({ result: '0.3 / 0.12–0.2', worst: '0.12 (read)', target: '>= 0.15 of memcpy', met: false });
    expect(find('rdma', /frames lost/)).toMatchObject({ result: '0.55–0.6 / 0.7', worst: '0.55 (write)', target: '>= 0.5 of lossless', met: true });
    expect(find('socket', /1 MiB/)).toMatchObject({ met: false, worst: '0.39 of memcpy, 5.85× TCP-like' });
    expect(find('socket', /1 KiB round trip/)).toMatchObject({ met: null });
    // Before (pool only) against after (lookaside lists), no target: the speedup of the worst run.
    expect(find('ioctl', /^INVALIDATE \+ REVALIDATE/)).toMatchObject({
      result: '8 µs vs 6 µs; pool allocations 4 vs 0 per pair', worst: '1.33× faster with lookasides', met: null,
    });
  });

  it('a target met by every run is met', () => {
    const good = doc({
      footprint: [footprint(41, 59)], contiguous: [contiguous(40, 500)], register: [register(120)], rdma: [rdma(0.75)], socket: [socket(16_000)],
    });
    expect(readmeRows(good).every((r) => r.met !== false)).toBe(true);
    expect(readmeSection(good)).toMatch(/\b(\d+) of \1 targets met\.$/m);
  });

  it('names the machine, the runs and what was not met beside the table', () => {
    const text = readmeSection(twoRuns);
    expect(text).toContain('Measured on 2 cores (Test CPU), Node v20.0.0, linux x64, 2026-12-01');
    expect(text).toContain('Each suite ran 2 times, every run in a Node process of its own');
    expect(text).toMatch(/; not met: contiguous 64 KiB anywhere, register 1 MiB, rdma 64 KiB, rdma 1 MiB built, socket 1 MiB\.$/m);
    expect(text).toContain('| suite | measure | result, min–max over 2 runs | target | worst run | |');
    expect(text).toContain('| **not met** |');
  });

  it('refuses a document without every suite', () => {
    const partial = { ...twoRuns, suites: { footprint: twoRuns.suites.footprint } } as BenchDocument;
    expect(() => readmeSection(partial)).toThrow(/lacks contiguous, register, ioctl, rdma, socket/);
  });

  it('replaces only the text between the markers', () => {
    const readme = 'intro\n<!-- bench:begin (generated) -->\nold table\n<!-- bench:end -->\nafter\n';
    expect(replaceSection(readme, 'new table')).toBe('intro\n<!-- bench:begin (generated) -->\nnew table\n<!-- bench:end -->\nafter\n');
    expect(replaceSection(replaceSection(readme, 'a'), 'b')).toBe(replaceSection(readme, 'b'));
    expect(() => replaceSection('no markers', 'x')).toThrow(/exactly one/);
    expect(() => replaceSection(`${readme}${readme}`, 'x')).toThrow(/exactly one/);
  });
});

describe('the text tables', () => {
  it('head every column with its unit and print sizes as KiB, MiB and GiB', () => {
    const reg = formatSuite('register', twoRuns.suites.register!.runs).split('\n');
    expect(reg[1]).toMatch(/^buffer\s+GB\/s\s+ns\/page\s+M pages\/s\s+iterations$/);
    expect(reg[2]).toMatch(/^4 KiB\s+3\s/);
    expect(reg[3]).toMatch(/^1 MiB\s+39–120\s/);
    const fp = formatSuite('footprint', twoRuns.suites.footprint!.runs);
    expect(fp).toMatch(/RAM\s+boot\s+RSS growth\s+PFN metadata per page\n64 GiB\s+41–48 ms\s+\+59–63 MiB\s+7\.602 B/);
    expect(fp).toContain('min–max over 2 runs');
  });

  it('label the TCP-like rows as such, with each path divided by memcpy', () => {
    const lines = formatSuite('socket', [socket(14_000)]).split('\n');
    expect(lines[1]).toMatch(/^path\s+message\s+MB\/s\s+round trip µs\s+memcpy MB\/s\s+path ÷ memcpy$/);
    expect(lines.filter((l) => l.startsWith('TCP-like'))).toHaveLength(2);
    expect(lines.find((l) => l.startsWith('TCP-like') && l.includes('1 MiB'))).toMatch(/0\.0667$/);
    expect(lines.join('\n')).not.toContain('SAN/memcpy');
  });

  it('print the perftest columns for each RDMA operation with a 64 KiB row', () => {
    const text = formatSuite('rdma', [rdma(0.75)]);
    for (const op of ['WRITE', 'READ', 'SEND']) expect(text).toContain(`RDMA_${op} BW test`);
    expect(text).toMatch(/#bytes\s+#iterations\s+BW average\[MB\/sec\]\s+MsgRate\[Mpps\]\s+memcpy\[MB\/sec\]\s+ratio/);
    expect(text.split('\n').filter((l) => l.startsWith('64 KiB'))).toHaveLength(3);
  });

  it('print the wire rows: lossless, every packet built, 1% loss, each with its ratio', () => {
    const lines = formatSuite('rdma', [rdma(0.75), rdma(0.75, 0.1, 0.5)]).split('\n');
    const head = lines.findIndex((l) => l.startsWith('RoCEv2 wire'));
    expect(lines[head]).toContain('1% loss (seed 7)');
    expect(lines[head + 1]).toMatch(/^op\s+#bytes\s+memcpy\[MB\/sec\]\s+lossless\[MB\/sec\]\s+built\[MB\/sec\]\s+built ÷ memcpy\s+loss\[MB\/sec\]\s+loss ÷ lossless\s+lost\s+resent$/);
    expect(lines[head + 2]).toMatch(/^write\s+1 MiB\s.*\s0\.3\s.*\s0\.5–0\.6\s+300\s+900$/);
    expect(lines[head + 3]).toMatch(/^read\s+1 MiB\s.*\s0\.1–0\.2\s/);
  });
});
