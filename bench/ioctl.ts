/**
 * Benchmark "ioctl": the cost of one request pair through the whole kernel path a SAN service
 * provider drives — DeviceIoControl, the I/O manager (IRP, system buffer, completion), the SAN
 * proxy's dispatch — with and without lookaside lists, side by side in one run.
 *
 * Pairs, each through RawProxyClient on a host of its own (verifier off):
 * - INVALIDATE + REVALIDATE of a registered 64 KiB buffer: the per-request allocations are the
 *   I/O manager's (an IRP and a METHOD_BUFFERED system buffer per request); the driver allocates
 *   nothing for them.
 * - REGISTER + DEREGISTER of a touched 4 KiB buffer: adds the driver's registration record and
 *   the MDL it locks the pages with.
 *
 * Configurations, three hosts in this one process:
 * - `pool`: no lookaside list caches anything (ExMinimumLookasideDepth 0, applied by a balance-set
 *   scan before any request — what Driver Verifier does, without its checks — and the driver's
 *   Parameters\LookasideLists = 0): every IRP, MDL and record is a pool block, freed at once.
 *   This is the "before" figure.
 * - `driver-lists-off`: the I/O manager's IRP and MDL lists on, the driver's lists off.
 * - `lookaside`: everything on (the default). The "after" figure.
 *
 * Each pair is timed on its own; a row reports the median pair. The configurations take turns in
 * rounds (the order rotating), with a full GC before each batch when the process has one
 * (--expose-gc, as `sanproxy bench` starts every suite), so a burst of load or another
 * configuration's garbage lands on no configuration alone. Counted, not timed: pool allocations
 * per pair (every tag's allocation counter) and system mappings per pair (pool slabs and pages
 * made and unmade — the churn the caches remove). The work is checked: every request must
 * succeed, and after the rounds every host's resource snapshot (host/accounting.ts, which counts
 * cached blocks as their lists') must equal the one taken before; the proxy then unloads with
 * its lists deleted.
 */
import { GIB } from '../src/bus/index.ts';
import { createCluster, leakedCounters, snapshot, type Host, type ResourceSnapshot } from '../src/host/index.ts';
import { RawProxyClient } from '../src/host/reliability/index.ts';
import type { Kernel } from '../src/kernel/kernel.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../src/kernel/mm/index.ts';
import {
  LOOKASIDE_LISTS_OFF, SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_PARAMETERS_KEY,
} from '../src/proxy/index.ts';
import { median, sig } from './stats.ts';
import type { ProgressFn } from './suite.ts';

export const IOCTL_OPS = ['invalidate+revalidate', 'register+deregister'] as const;
export type IoctlOp = (typeof IOCTL_OPS)[number];
export const IOCTL_CONFIGS = ['pool', 'driver-lists-off', 'lookaside'] as const;
export type IoctlConfig = (typeof IOCTL_CONFIGS)[number];

export interface IoctlRow {
  op: IoctlOp;
  config: IoctlConfig;
  /** Median time of one pair (two DeviceIoControl calls), wall clock. */
  medianNs: number;
  /**
   * CPU time of one pair (user + system, this process), the median over the batches: what the
   * pair costs the machine, less sensitive than the wall clock to other processes' load.
   */
  cpuNsPerPair: number;
  pairs: number;
  /** Pool allocations one pair makes (IRPs, system buffers, MDLs, records: every tag's counter). */
  poolAllocationsPerPair: number;
  /** System mappings one pair makes (pool slab pages taken and given back). */
  systemMappingsPerPair: number;
}

export interface IoctlResult {
  suite: 'ioctl';
  /** Bytes of the buffer INVALIDATE / REVALIDATE work on, and of the one REGISTER locks. */
  registeredBytes: number;
  registerBytes: number;
  rows: IoctlRow[];
}

export interface IoctlOptions {
  /** Rounds; every configuration runs one batch of each operation per round (the first round is a warm-up). */
  rounds?: number;
  /** Pairs per batch. */
  batch?: number;
  onProgress?: ProgressFn;
}

const RW = SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE;
const REGISTERED_BYTES = 64 * 1024;
const REGISTER_BYTES = 4 * 1024;
const RAM_BYTES = 2 * GIB;

interface Rig {
  config: IoctlConfig;
  host: Host;
  k: Kernel;
  client: RawProxyClient;
  registeredId: number;
  registerVa: number;
  baseline: ResourceSnapshot;
  times: Record<IoctlOp, number[]>;
  /** CPU time (user + system) per pair of each batch. */
  cpu: Record<IoctlOp, number[]>;
  allocations: Record<IoctlOp, number>;
  mappings: Record<IoctlOp, number>;
}

function fail(rig: Rig, what: string, lastError: number): never {
  throw new Error(`bench ioctl (${rig.config}): ${what} failed, last error ${lastError}`);
}

/** One pair of requests; throws when a request fails (the benchmark measures work that happened). */
function pair(rig: Rig, op: IoctlOp): void {
  const c = rig.client;
  if (op === 'invalidate+revalidate') {
    const a = c.invalidate(rig.registeredId);
    if (!a.ok) fail(rig, 'INVALIDATE', a.lastError);
    const b = c.revalidate(rig.registeredId, RW);
    if (!b.ok) fail(rig, 'REVALIDATE', b.lastError);
    return;
  }
  const r = c.register(0, RW, rig.registerVa, REGISTER_BYTES);
  if (!r.ok) fail(rig, 'REGISTER_BUFFER', r.lastError);
  const d = c.deregister(r.id);
  if (!d.ok) fail(rig, 'DEREGISTER_BUFFER', d.lastError);
}

function touchedBuffer(rig: Pick<Rig, 'client' | 'config'>, bytes: number): number {
  const p = rig.client.process;
  const va = p.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (va === 0) throw new Error(`bench ioctl (${rig.config}): VirtualAlloc(${bytes}) failed, last error ${p.lastError}`);
  p.writeMemory(va, new Uint8Array(bytes).fill(0x5a));
  return va;
}

function setUp(config: IoctlConfig): Rig {
  const cluster = createCluster({
    hosts: [{ name: `ioctl-${config}`, ramBytes: RAM_BYTES, nolowmem: false, verifier: false, nics: [{ addressBits: 64, ip: '10.77.0.1' }] }],
  });
  const host = cluster.hosts[0]!;
  const k = host.kernel;
  if (config === 'pool') {
    // ExMinimumLookasideDepth 0 before any request: every list — the I/O manager's, and the
    // driver's when it initializes them — stays at Depth 0 and caches nothing.
    k.lookaside.setMinimumDepth(0);
    k.lookaside.balanceSetManagerScan();
  }
  if (config !== 'lookaside') k.registry.setValue(SANPROXY_PARAMETERS_KEY, 'LookasideLists', LOOKASIDE_LISTS_OFF);
  const status = host.loadProxy();
  if (status !== 0) throw new Error(`bench ioctl (${config}): loading the proxy failed, status 0x${status.toString(16)}`);
  const client = new RawProxyClient(host, host.createProcess('bench.exe'));
  if (!client.usable) throw new Error(`bench ioctl (${config}): opening the proxy failed, last error ${client.openError}`);
  const partial = { config, client };
  const registeredVa = touchedBuffer(partial, REGISTERED_BYTES);
  const registerVa = touchedBuffer(partial, REGISTER_BYTES);
  const registered = client.register(0, RW, registeredVa, REGISTERED_BYTES);
  const rig: Rig = {
    config, host, k, client, registeredId: registered.id, registerVa, baseline: snapshot(host),
    times: { 'invalidate+revalidate': [], 'register+deregister': [] },
    cpu: { 'invalidate+revalidate': [], 'register+deregister': [] },
    allocations: { 'invalidate+revalidate': 0, 'register+deregister': 0 },
    mappings: { 'invalidate+revalidate': 0, 'register+deregister': 0 },
  };
  if (!registered.ok) fail(rig, 'REGISTER_BUFFER of the 64 KiB buffer', registered.lastError);
  // The client's scratch pages are faulted in and the caches filled by a few pairs of each kind;
  // the baseline is taken after them.
  for (const op of IOCTL_OPS) for (let i = 0; i < 8; i++) pair(rig, op);
  rig.baseline = snapshot(host);
  return rig;
}

const poolAllocations = (k: Kernel): number => k.mm.pool.tags().reduce((s, t) => s + t.allocs, 0);

function batch(rig: Rig, op: IoctlOp, n: number, record: boolean): void {
  const k = rig.k;
  const allocs0 = poolAllocations(k);
  const maps0 = k.mm.system.mappingsMade;
  const times = rig.times[op];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    pair(rig, op);
    if (record) times.push(Number(process.hrtime.bigint() - t0));
  }
  if (record) {
    const cpu = process.cpuUsage(cpu0);
    rig.cpu[op].push(((cpu.user + cpu.system) * 1000) / n);
    rig.allocations[op] += poolAllocations(k) - allocs0;
    rig.mappings[op] += k.mm.system.mappingsMade - maps0;
  }
}

function tearDown(rig: Rig): void {
  const leaks = leakedCounters(rig.baseline, snapshot(rig.host));
  if (leaks.length > 0) throw new Error(`bench ioctl (${rig.config}): the runs leaked: ${leaks.join(', ')}`);
  const d = rig.client.deregister(rig.registeredId);
  if (!d.ok) fail(rig, 'DEREGISTER_BUFFER of the 64 KiB buffer', d.lastError);
  if (!rig.client.close()) throw new Error(`bench ioctl (${rig.config}): CloseHandle failed`);
  rig.k.ps.terminateProcess(rig.client.process, 0);
  const status = rig.host.unloadProxy();
  if (status !== 0) throw new Error(`bench ioctl (${rig.config}): unloading the proxy failed, status 0x${status.toString(16)}`);
  if (rig.k.lookaside.counters().activeLists !== 0) throw new Error(`bench ioctl (${rig.config}): the driver left lookaside lists active`);
}

export async function run(opts: IoctlOptions = {}): Promise<IoctlResult> {
  const rounds = opts.rounds ?? 31;
  const size = opts.batch ?? 50;
  if (!Number.isSafeInteger(rounds) || rounds < 2 || !Number.isSafeInteger(size) || size < 1) {
    throw new Error(`bench ioctl: rounds must be an integer >= 2 (got ${rounds}) and batch >= 1 (got ${size})`);
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  const rigs = IOCTL_CONFIGS.map(setUp);
  const total = rounds * rigs.length * IOCTL_OPS.length;
  let done = 0;
  for (let round = 0; round < rounds; round++) {
    // Rotate which configuration goes first, so none always runs right after another's garbage.
    for (let i = 0; i < rigs.length; i++) {
      const rig = rigs[(i + round) % rigs.length]!;
      for (const op of IOCTL_OPS) {
        opts.onProgress?.(done++, total, `${rig.config} ${op}`);
        gc?.();
        batch(rig, op, size, round > 0);
      }
    }
  }
  opts.onProgress?.(total, total, 'done');
  const rows: IoctlRow[] = [];
  for (const op of IOCTL_OPS) {
    for (const rig of rigs) {
      const pairs = rig.times[op].length;
      rows.push({
        op, config: rig.config, medianNs: Math.round(median(rig.times[op])), cpuNsPerPair: Math.round(median(rig.cpu[op])), pairs,
        poolAllocationsPerPair: sig(rig.allocations[op] / pairs), systemMappingsPerPair: sig(rig.mappings[op] / pairs),
      });
    }
  }
  for (const rig of rigs) tearDown(rig);
  return { suite: 'ioctl', registeredBytes: REGISTERED_BYTES, registerBytes: REGISTER_BYTES, rows };
}

/** Median of `config` over `lookaside` for `op` in one result (the speedup the caches give). */
export function poolOverLookaside(r: IoctlResult, op: IoctlOp): number {
  const of = (config: IoctlConfig) => r.rows.find((x) => x.op === op && x.config === config)!.medianNs;
  return of('pool') / of('lookaside');
}
