/**
 * Fuzz the proxy's IOCTL interface from user mode (fixed seed, bounded count): random and
 * malformed control codes, wrong methods and access bits, lengths off by one or absurd, input
 * fields drawn from the values that break parsers (0, 2^32-1, 2^53-1, kernel addresses,
 * ranges that wrap, unaligned and unmapped buffers, huge sizes), a read-only handle, a closed
 * handle, another process's handle and ids. No request may stop the host or let anything but a
 * Win32 error out of DeviceIoControl; every batch must leave nothing behind after its
 * processes exit.
 */
import { PAGE_SIZE, putU32LE, putU64LE } from '../../bus/index.ts';
import { GENERIC_READ } from '../../kernel/io/index.ts';
import { seededRandom } from '../../kernel/fault-injection.ts';
import { MM_SYSTEM_RANGE_START, MM_USER_PROBE_ADDRESS, MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import { BugCheck } from '../../kernel/bugcheck.ts';
import {
  FILE_DEVICE_SANPROXY,
  LAYOUTS,
  SANPROXY_IOCTLS,
  SANPROXY_REQUESTS as R,
  decodeReply,
  ioctlSpec,
} from '../../proxy/interface.ts';
import type { Cluster } from '../cluster.ts';
import type { Host } from '../host.ts';
import { RawProxyClient } from './client.ts';
import { bootVerified, runOnce } from './harness.ts';
import { ALL_ACCESS, TWO_HOSTS } from './scenario.ts';

const CODES = SANPROXY_IOCTLS;

export interface FuzzReport {
  cases: number;
  /** Cases that stopped a host or let an exception out of DeviceIoControl. */
  crashes: number;
  /** Batches that left anything behind after teardown. */
  leakingBatches: number;
  succeeded: number;
  examples: string[];
}

export interface FuzzOptions {
  cases: number;
  seed: number;
  /** Cases per booted cluster (teardown and leak check between batches). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

class Gen {
  constructor(readonly r: () => number) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
}

interface World {
  host: Host;
  main: RawProxyClient;
  readOnly: RawProxyClient;
  other: RawProxyClient;
  closedHandle: number;
  userBuffer: number;
  /** Ids that belong to `other` (another process). */
  foreignIds: number[];
  ownIds: number[];
}

function setUp(cluster: Cluster): World {
  const host = cluster.hosts[1]!; // B: a 64-bit NIC, common-buffer low memory
  const p1 = host.createProcess('fuzz');
  const p2 = host.createProcess('victim');
  const main = new RawProxyClient(host, p1);
  const readOnly = new RawProxyClient(host, p1, GENERIC_READ);
  const other = new RawProxyClient(host, p2);
  const doomed = new RawProxyClient(host, p1);
  doomed.close();
  const userBuffer = p1.VirtualAlloc(0, 64 * 1024, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  const victimBuffer = p2.VirtualAlloc(0, 16 * 1024, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  const foreignIds: number[] = [];
  const a = other.allocate(0, ALL_ACCESS, PAGE_SIZE);
  if (a.ok) foreignIds.push(a.id);
  const r = other.register(0, ALL_ACCESS, victimBuffer, 16 * 1024);
  if (r.ok) foreignIds.push(r.id);
  const e = other.createEndpoint(0);
  if (e.ok) foreignIds.push(e.endpoint);
  const s = other.secure(victimBuffer, PAGE_SIZE, PAGE_READWRITE);
  if (s.ok) foreignIds.push(s.secureHandle);
  return { host, main, readOnly, other, closedHandle: doomed.handle, userBuffer, foreignIds, ownIds: [] };
}

function value(g: Gen, w: World): number {
  switch (g.int(12)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 0xffff_ffff;
    case 3: return Number.MAX_SAFE_INTEGER;
    case 4: return w.userBuffer + g.int(64 * 1024);
    case 5: return MM_SYSTEM_RANGE_START + g.int(1 << 20) * PAGE_SIZE;
    case 6: return MM_USER_PROBE_ADDRESS - g.int(3) * PAGE_SIZE;
    case 7: return g.pick([2 ** 32, 2 ** 40, 2 ** 52, 4095, 4097, 65536]);
    case 8: return w.foreignIds.length ? g.pick(w.foreignIds) : 0;
    case 9: return w.ownIds.length ? g.pick(w.ownIds) : 2;
    case 10: return g.int(16);
    default: return g.int(2 ** 32) * (g.chance(0.3) ? 2 ** 16 : 1);
  }
}

function input(g: Gen, w: World, code: number): Uint8Array {
  // At least an id's worth: unknown codes and QUERY_ADDRESSES (no input) get stray bytes too.
  const want = Math.max(ioctlSpec(code)?.request.bytes ?? 0, LAYOUTS.idIn.bytes);
  const len = g.chance(0.7) ? want : g.pick([0, want - 1, want + 1, g.int(80), 4096]);
  const bytes = new Uint8Array(Math.max(0, len) + 16);
  // Fill with a mix of u32 and u64 fields from the interesting values.
  for (let at = 0; at + 8 <= bytes.length;) {
    if (g.chance(0.5)) {
      putU32LE(bytes, at, g.chance(0.5) ? g.int(4) : value(g, w) % 2 ** 32);
      at += 4;
    } else {
      putU64LE(bytes, at, Math.min(value(g, w), Number.MAX_SAFE_INTEGER));
      at += 8;
    }
  }
  return bytes.subarray(0, Math.max(0, len));
}

function code(g: Gen): number {
  const base = g.pick(CODES);
  switch (g.int(6)) {
    case 0: return (base ^ g.pick([1, 2, 3])) >>> 0; // wrong method
    case 1: return (base & ~0xc000) >>> 0; // FILE_ANY_ACCESS where access is required
    case 2: return ((FILE_DEVICE_SANPROXY << 16) | (g.int(4) << 14) | (g.int(0x1000) << 2) | g.int(4)) >>> 0;
    case 3: return g.int(2 ** 32);
    default: return base;
  }
}

function oneCase(g: Gen, w: World): { crashed: boolean; ok: boolean; what: string } {
  const c = code(g);
  const client = g.chance(0.08) ? w.readOnly : w.main;
  const handle = g.chance(0.9) ? client.handle : g.pick([w.closedHandle, w.other.handle, g.int(2 ** 16), -1]);
  const what = `code 0x${c.toString(16)} handle ${handle}`;
  try {
    let reply;
    if (g.chance(0.8)) {
      reply = client.ioctl(c, input(g, w, c), g.pick([0, 4, 8, 16, 32, 36, 68, 4096, g.int(100)]), handle);
    } else {
      const inPtr = g.pick([null, 0, client.scratch + 1, client.scratch + 4095, MM_SYSTEM_RANGE_START, 0x1000, w.userBuffer + 60 * 1024]);
      const outPtr = g.pick([null, 0, client.scratch + 4096 + 3, MM_SYSTEM_RANGE_START + 0x10000, 0x7fff_fffe_f000, w.userBuffer]);
      reply = client.raw(c, inPtr, g.pick([0, 8, 24, 4096, 0xffff_ffff]), outPtr, g.pick([0, 8, 32, 4096, 0x8000_0000]), handle);
    }
    const allocated = reply.ok && c === R.allocate.code ? decodeReply(R.allocate.reply, reply.output, reply.bytes) : null;
    if (allocated !== null) w.ownIds.push(allocated.id);
    return { crashed: w.host.kernel.bugcheck.crashed !== null, ok: reply.ok, what };
  } catch (e) {
    return { crashed: true, ok: false, what: `${what}: ${e instanceof BugCheck ? e.message : e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
}

export async function fuzzIoctls(options: FuzzOptions): Promise<FuzzReport> {
  const g = new Gen(seededRandom(options.seed));
  const batch = Math.max(1, options.batch ?? 250);
  const report: FuzzReport = { cases: 0, crashes: 0, leakingBatches: 0, succeeded: 0, examples: [] };
  while (report.cases < options.cases) {
    const n = Math.min(batch, options.cases - report.cases);
    const cluster = bootVerified(TWO_HOSTS);
    let crashedHere = false;
    const result = await runOnce(cluster, async (c) => {
      const w = setUp(c);
      for (let i = 0; i < n; i++) {
        const r = oneCase(g, w);
        report.cases++;
        if (r.ok) report.succeeded++;
        if (r.crashed) {
          report.crashes++;
          crashedHere = true;
          if (report.examples.length < 10) report.examples.push(r.what);
          // The host is down: boot a fresh cluster for the next cases.
          return;
        }
      }
    });
    if (result.leaks.length) {
      report.leakingBatches++;
      if (report.examples.length < 10) report.examples.push(`leak: ${result.leaks.join('; ')}`);
    }
    if (!crashedHere && result.outcome !== 'ok') {
      report.crashes++;
      if (report.examples.length < 10) report.examples.push(`batch: ${result.error ?? result.stops.join('; ')}`);
    }
    options.onProgress?.(report.cases, options.cases);
  }
  return report;
}
