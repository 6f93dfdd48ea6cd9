/**
 * Every benchmark suite, run small and in-process from its sources: the result has the
 * documented shape and the work really happened (pages locked and unlocked, bytes moved and
 * checked, allocations made and compared with the linear walk). Counts only: no timed value is
 * compared with a number here (a loaded machine must not fail a test), only checked to be a
 * number in the JSON.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/bus/index.ts';
import { run as runContiguous } from '../../bench/contiguous.ts';
import { run as runFootprint } from '../../bench/footprint.ts';
import { IOCTL_CONFIGS, IOCTL_OPS, run as runIoctl } from '../../bench/ioctl.ts';
import { run as runRdma, WIRE_SIZES } from '../../bench/rdma.ts';
import { run as runRegister } from '../../bench/register.ts';
import { run as runSocket } from '../../bench/socket.ts';
import { RDMA_SIZES, REGISTER_SIZES, SOCKET_SIZES } from '../../bench/suite.ts';

const KIB = 1024;
const MIB = 1024 * KIB;

/** A timed figure: present, a number, and not lost in the JSON (Infinity and NaN become null). */
function expectMeasured(...values: unknown[]): void {
  for (const v of values) {
    expect(typeof v).toBe('number');
    expect(JSON.parse(JSON.stringify(v))).toBe(v);
  }
}

describe('bench footprint', () => {
  it('boots exactly the RAM it was asked for and reports it read back from the kernel', async () => {
    const steps: string[] = [];
    const r = await runFootprint({ ramBytes: 64 * MIB, onProgress: (_d, _t, detail) => steps.push(detail) });
    expect(r.suite).toBe('footprint');
    expect(r.ramBytes).toBe(64 * MIB);
    expect(r.usablePages).toBeGreaterThan(0);
    expect(r.usablePages).toBeLessThanOrEqual(64 * MIB / PAGE_SIZE);
    expect(r.metadataBytesPerPage).toBeGreaterThan(0);
    expect(Number.isSafeInteger(r.rssDeltaBytes)).toBe(true);
    expectMeasured(r.bootMs);
    expect(steps.length).toBeGreaterThan(0);
  });
});

describe('bench register', () => {
  it('locks and unlocks every page of each buffer, iteration after iteration, and checks the MDL describes the buffer', async () => {
    const sizes = [4 * KIB, 64 * KIB, MIB];
    const r = await runRegister({ sizes, minMs: 0, minIters: 3 });
    expect(r.suite).toBe('register');
    expect(r.rows.map((x) => x.bytes)).toEqual(sizes);
    for (const row of r.rows) {
      const pages = row.bytes / PAGE_SIZE;
      expect(row.iterations).toBe(3); // minMs 0: exactly minIters
      expect(row.pagesLocked).toBe(row.iterations * pages);
      expect(row.verifiedPages).toBe(pages);
      expectMeasured(row.gbPerSec, row.pagesPerSec, row.nsPerPage);
    }
  });

  it('measures 4 KiB to 1 GiB by default', () => {
    expect(REGISTER_SIZES).toEqual([4 * KIB, 64 * KIB, MIB, 64 * MIB, 1024 * MIB]);
  });
});

describe('bench rdma', () => {
  it('moves and checks the bytes of every operation and size, and counts every completion', async () => {
    const sizes = [2, 64 * KIB];
    const r = await runRdma({ sizes, trials: 2, iterations: 128 });
    expect(r.suite).toBe('rdma');
    expect(r.trials).toBe(2);
    expect(r.rows.map((x) => `${x.op} ${x.bytes}`)).toEqual(['write 2', 'write 65536', 'read 2', 'read 65536', 'send 2', 'send 65536']);
    for (const row of r.rows) {
      expect(row.iterations).toBe(128);
      expect(row.operations).toBe(128 + 2 * 128); // warm-up, then two trials
      expect(row.verified).toBe(true);
      expectMeasured(row.mbPerSec, row.msgRateMpps, row.memcpyMbPerSec, row.ratio);
    }
  });

  it('wire rows: write and read over the lossless link, with every packet built, and with 1% loss, each trial verified', async () => {
    const r = await runRdma({ sizes: [2], wireSizes: [64 * KIB], trials: 2, iterations: 8 });
    expect(r.wire.map((x) => `${x.op} ${x.bytes}`)).toEqual(['write 65536', 'read 65536']);
    for (const row of r.wire) {
      expect(row.operations).toBe(3 * (8 + 2 * 8)); // three modes: warm-up, then two trials each
      expect(row.verified).toBe(true);
      expect(row.loss).toBe(0.01);
      expectMeasured(row.memcpyMbPerSec, row.losslessMbPerSec, row.builtMbPerSec, row.builtRatio, row.lossyMbPerSec, row.lossyOfLossless, row.lossyRatio);
      expect(row.framesLost).toBeGreaterThanOrEqual(0);
    }
  });

  it('wire rows are at >= 1 MiB by default (issue 16: 1 and 4 MiB)', () => {
    expect(WIRE_SIZES).toEqual([MIB, 4 * MIB]);
  });

  it('measures every power of two from 2 B to 8 MiB by default, 64 KiB included', () => {
    expect(RDMA_SIZES[0]).toBe(2);
    expect(RDMA_SIZES[RDMA_SIZES.length - 1]).toBe(8 * MIB);
    expect(RDMA_SIZES).toContain(64 * KIB);
    for (let i = 1; i < RDMA_SIZES.length; i++) expect(RDMA_SIZES[i]).toBe(2 * RDMA_SIZES[i - 1]!);
  });
});

describe('bench ioctl', () => {
  it('runs every pair in every configuration; the lookaside lists take the pool allocations of a pair away (counted, not timed)', async () => {
    const r = await runIoctl({ rounds: 2, batch: 4 });
    expect(r.suite).toBe('ioctl');
    expect(r.rows.map((x) => `${x.op} ${x.config}`)).toEqual(IOCTL_OPS.flatMap((op) => IOCTL_CONFIGS.map((c) => `${op} ${c}`)));
    const of = (op: string, config: string) => r.rows.find((x) => x.op === op && x.config === config)!;
    for (const op of IOCTL_OPS) {
      // Before: every IRP and system buffer (and MDL and record) is a pool block; after: none is.
      expect(of(op, 'pool').poolAllocationsPerPair).toBeGreaterThanOrEqual(2);
      expect(of(op, 'lookaside').poolAllocationsPerPair).toBeLessThan(of(op, 'pool').poolAllocationsPerPair);
      for (const row of r.rows) {
        expect(row.pairs).toBe(4);
        expectMeasured(row.medianNs, row.cpuNsPerPair);
      }
    }
  });
});

describe('bench socket', () => {
  it('sends, receives and checks every message of both paths', async () => {
    const sizes = [KIB, 64 * KIB];
    const r = await runSocket({ sizes, minMs: 0 });
    expect(r.suite).toBe('socket');
    expect(r.rows.map((x) => `${x.path} ${x.bytes}`)).toEqual(['san 1024', 'san 65536', 'tcp 1024', 'tcp 65536']);
    for (const row of r.rows) {
      // With no minimum time: one warm-up message, 7 windows of 3, 5 round trips of 2.
      expect(row.messages).toBe(1 + 7 * 3 + 5 * 2);
      expect(row.verified).toBe(true);
      expectMeasured(row.mbPerSec, row.rttUs, row.memcpyMbPerSec);
    }
  });

  it('measures 1 KiB to 8 MiB by default', () => {
    expect(SOCKET_SIZES[0]).toBe(KIB);
    expect(SOCKET_SIZES[SOCKET_SIZES.length - 1]).toBe(8 * MIB);
  });
});

describe('bench contiguous', () => {
  it('makes every burst allocation through the index, checks every tenth against the linear walk, and finds nothing for the unsatisfiable request', async () => {
    const r = await runContiguous({ ramBytes: 1024 * MIB, seed: 7 });
    expect(r.suite).toBe('contiguous');
    expect(r.ramBytes).toBe(1024 * MIB);
    expect(r.seed).toBe(7);
    expect(r.fragmentation).toBeGreaterThan(0.3);
    expect(r.fragmentation).toBeLessThan(0.7);
    expect(r.rows.map((x) => `${x.bytes} ${x.highest}`).slice(0, 6)).toEqual([
      `${64 * KIB} 4G`, `${64 * KIB} max`, `${MIB} 4G`, `${MIB} max`, `${16 * MIB} 4G`, `${16 * MIB} max`,
    ]);
    for (const row of r.rows.slice(0, 6)) {
      expect(row.satisfied).toBe(true);
      expect(row.allocations).toBeGreaterThan(0);
      expect(row.allocations).toBeLessThanOrEqual(101);
      // The walk checks steps 0, 10, 20, ... of the burst, the failed step included.
      const steps = Math.min(101, row.allocations + (row.allocations < 101 ? 1 : 0));
      expect(row.linearChecks).toBe(Math.ceil(steps / 10));
      expectMeasured(row.medianNs, row.baselineMedianNs, row.speedup, row.roundTripMedianNs);
    }
    const last = r.rows[6]!;
    expect(last.satisfied).toBe(false);
    expect(last.allocations).toBe(0);
    expect(last.linearChecks).toBe(1);
  });
});
