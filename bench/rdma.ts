/**
 * `sanproxy bench rdma`: perftest-style bandwidth (ib_write_bw / ib_read_bw / ib_send_bw
 * columns) between two in-process hosts, with the machine's own Buffer copy of the same
 * sizes measured in the same run. MB = 2^20 bytes, as perftest reports by default. Sizes are
 * perftest's `-a`: every power of two from 2 B to 8 MiB.
 *
 * The work is checked, not assumed: before each row the first `bytes` of the source and the
 * destination get two patterns that differ in every byte and from every other row's; after the
 * row the destination must hold the source's pattern (write and send: host B's region, read:
 * host A's). `operations` counts the completions the row polled, warm-up included.
 *
 * Each side is a process with its user port on its NIC (what perftest's verbs library has);
 * the benchmark owns the machine and drives its scheduler by hand between batches, as a
 * perftest loop spins on the completion queue.
 */
import { DeviceDmaView, PAGE_SIZE, PhysicalMemory, addressOfPfn, pfnOf, testPattern, PATTERN_FLIP } from '../src/bus/index.ts';
import { CompletionBatch, Fabric, NicAccess, NicStatus, SanNic, WcStatus } from '../src/nic/index.ts';
import { sig, sizeText } from './stats.ts';
import { RDMA_MAX, RDMA_SIZES, type ProgressFn } from './suite.ts';

export type RdmaOp = 'write' | 'read' | 'send';

export interface RdmaRow {
  op: RdmaOp;
  bytes: number;
  iterations: number;
  mbPerSec: number;
  msgRateMpps: number;
  memcpyMbPerSec: number;
  ratio: number;
  /** Completions polled in the row: warm-up plus `trials` × `iterations`. */
  operations: number;
  /** The destination held the source's bytes after the row (the run throws otherwise). */
  verified: true;
}

export interface RdmaResult {
  suite: 'rdma';
  /** Timed trials per row (each side keeps its best). */
  trials: number;
  rows: RdmaRow[];
}

export interface RdmaOptions {
  sizes?: readonly number[];
  /** Trials per row (default 7). */
  trials?: number;
  /** Operations per trial; by default each row moves about 512 MiB (128 to 20 000 operations). */
  iterations?: number;
  onProgress?: ProgressFn;
}

const MIB = 1024 * 1024;
const MAX = RDMA_MAX;
const BASE = 0x100_0000; // 16 MiB into each host's RAM
const TX_DEPTH = 128;
const PA = 1;
const PB = 2;

export const SIZES: readonly number[] = RDMA_SIZES;

function check(status: number, what: string): void {
  if (status !== NicStatus.SUCCESS) throw new Error(`bench rdma: ${what} failed with NicStatus ${status}`);
}

function host(name: string) {
  const ramBytes = BASE + MAX + MIB;
  const memory = new PhysicalMemory(ramBytes);
  const dma = new DeviceDmaView(memory, [{ base: 0, length: ramBytes }], { name, addressBits: 64 });
  const nic = new SanNic({
    name,
    dma,
    capabilities: { sendQueueDepth: TX_DEPTH, recvQueueDepth: TX_DEPTH, completionQueueDepth: 4 * TX_DEPTH },
  });
  // Real bytes on both sides, so no copy is skipped as "never written".
  memory.write(BASE, testPattern(MAX, name === 'benchA' ? 1 : 2));
  return { memory, nic };
}

function setup() {
  const fabric = new Fabric('bench');
  const a = host('benchA');
  const b = host('benchB');
  fabric.attach(a.nic);
  fabric.attach(b.nic);
  const portA = a.nic.openUserPort(PA);
  const portB = b.nic.openUserPort(PB);
  const cqA = portA.createCompletionQueue(4 * TX_DEPTH).cq;
  const cqB = portB.createCompletionQueue(4 * TX_DEPTH).cq;
  const epA = portA.createEndpoint(cqA).endpoint;
  const epB = portB.createEndpoint(cqB).endpoint;
  check(portB.listen(18515), 'listen');
  check(portA.connect(epA, b.nic.sanAddress, 18515), 'connect');
  fabric.scheduler.runUntilIdle();
  check(portB.accept(18515, epB), 'accept');
  fabric.scheduler.runUntilIdle();
  const firstPfn = pfnOf(BASE);
  const pages = Float64Array.from({ length: MAX / PAGE_SIZE }, (_, i) => addressOfPfn(firstPfn + i));
  const all = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE | NicAccess.REMOTE_READ | NicAccess.REMOTE_WRITE;
  // Registration is the driver's (privileged) job: the NIC itself, not a port.
  const src = a.nic.registerRegion({ owner: PA, pages, firstByteOffset: 0, length: MAX, access: all });
  const dst = b.nic.registerRegion({ owner: PB, pages, firstByteOffset: 0, length: MAX, access: all });
  check(src.status, 'register A');
  check(dst.status, 'register B');
  check(b.nic.bindRegion(dst.handle, epB), 'bind');
  return { fabric, a, b, portA, portB, cqA, cqB, epA, epB, src, dst };
}

type World = ReturnType<typeof setup>;

/** perftest runs a fixed count; ours moves ~512 MiB per row (at least 128, at most 20 000 ops). */
function iterationsFor(bytes: number): number {
  return Math.max(128, Math.min(20_000, Math.floor((512 * MIB) / bytes)));
}

/** Trials per row; each side keeps its best. RDMA and memcpy trials alternate, so load from
 *  other processes on the machine hits both sides alike. */
const TRIALS = 7;

/** The destination of `op`'s data: write and send place into host B, read into host A. */
function endsOf(w: World, op: RdmaOp) {
  return op === 'read' ? { from: w.b.memory, to: w.a.memory } : { from: w.a.memory, to: w.b.memory };
}

/** Before a row: distinct source and destination bytes (this row's seed). */
function prepareRow(w: World, op: RdmaOp, bytes: number, seed: number): Uint8Array {
  const expected = testPattern(bytes, seed);
  const { from, to } = endsOf(w, op);
  from.write(BASE, expected);
  to.write(BASE, testPattern(bytes, seed, PATTERN_FLIP));
  return expected;
}

/** After a row: the destination holds the source's bytes. */
function verifyRow(w: World, op: RdmaOp, bytes: number, expected: Uint8Array): void {
  const got = new Uint8Array(bytes);
  endsOf(w, op).to.read(BASE, got);
  for (let i = 0; i < bytes; i++) {
    if (got[i] !== expected[i]) throw new Error(`bench rdma: ${op} of ${sizeText(bytes)}: byte ${i} is ${got[i]}, the source's is ${expected[i]}`);
  }
}

/** Run `iterations` operations of `bytes`, TX_DEPTH in flight at most; returns seconds and completions. */
const polled = new CompletionBatch(TX_DEPTH);
const received = new CompletionBatch(TX_DEPTH);

function measure(w: World, op: RdmaOp, bytes: number, iterations: number): { seconds: number; completed: number } {
  const elements = [{ localHandle: w.src.handle, offset: 0, length: bytes }];
  const wr = { context: 0, elements, remote: { remoteKey: w.dst.remoteKey, address: 0, length: bytes } };
  const recv = { context: 0, elements: [{ localHandle: w.dst.handle, offset: 0, length: bytes }] };
  let posted = 0;
  let completed = 0;
  const t0 = process.hrtime.bigint();
  while (completed < iterations) {
    const batch = Math.min(TX_DEPTH, iterations - posted);
    for (let i = 0; i < batch; i++) {
      wr.context = posted;
      let s: number;
      if (op === 'write') s = w.portA.postRdmaWrite(w.epA, wr);
      else if (op === 'read') s = w.portA.postRdmaRead(w.epA, wr);
      else {
        check(w.portB.postRecv(w.epB, recv), 'postRecv');
        s = w.portA.postSend(w.epA, wr);
      }
      if (s !== NicStatus.SUCCESS) check(s, `post ${op}`); // no message string per post
      posted++;
    }
    w.fabric.scheduler.runUntilIdle();
    // Polled into reused typed arrays, as perftest polls into its own ibv_wc array: an object
    // per completion would time the benchmark's allocations, not the NIC.
    check(w.portA.pollInto(w.cqA, polled), 'poll');
    for (let k = 0; k < polled.count; k++) {
      if (polled.status[k] !== WcStatus.SUCCESS) throw new Error(`bench rdma: ${op} completed with status ${polled.status[k]}`);
    }
    completed += polled.count;
    if (op === 'send') {
      check(w.portB.pollInto(w.cqB, received), 'poll receives');
      for (let k = 0; k < received.count; k++) {
        if (received.status[k] !== WcStatus.SUCCESS) throw new Error(`bench rdma: a receive completed with status ${received.status[k]}`);
      }
    }
  }
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, completed };
}

/**
 * The memcpy baseline: Buffer.copy of the first `bytes` of one 8 MiB buffer into another,
 * the same bytes every time, exactly as the RDMA rows move the first `bytes` of an 8 MiB
 * region each time (hot in cache at small sizes, streaming at large ones). Both halves of one
 * allocation, 8 MiB apart, so they are aligned alike: a copy between mutually misaligned
 * buffers runs up to 40% slower, which would flatter the ratio.
 */
function memcpyBuffers(): { src: Buffer; dst: Buffer } {
  const arena = Buffer.alloc(2 * MAX);
  const src = arena.subarray(0, MAX);
  const dst = arena.subarray(MAX);
  for (let i = 0; i < MAX; i++) src[i] = (i * 7 + 1) & 0xff;
  dst.fill(0x5a);
  return { src, dst };
}

function memcpySeconds(m: { src: Buffer; dst: Buffer }, bytes: number, iterations: number): number {
  // Views of exactly `bytes`: Buffer.copy of a whole view makes no per-call temporary view.
  const src = m.src.subarray(0, bytes);
  const dst = m.dst.subarray(0, bytes);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) src.copy(dst, 0, 0, bytes);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function run(opts: RdmaOptions = {}): Promise<RdmaResult> {
  const sizes = opts.sizes ?? SIZES;
  const trials = opts.trials ?? TRIALS;
  for (const bytes of sizes) {
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX) throw new Error(`bench rdma: ${bytes}: a message size is 1 B to ${sizeText(MAX)}`);
  }
  const w = setup();
  const m = memcpyBuffers();
  const rows: RdmaRow[] = [];
  const ops = ['write', 'read', 'send'] as const;
  for (const [o, op] of ops.entries()) {
    for (const [i, bytes] of sizes.entries()) {
      const row = o * sizes.length + i;
      opts.onProgress?.(row, ops.length * sizes.length, `${op} ${sizeText(bytes)}`);
      const iterations = opts.iterations ?? iterationsFor(bytes);
      const expected = prepareRow(w, op, bytes, row + 1);
      let operations = measure(w, op, bytes, Math.min(iterations, 256)).completed; // warm-up
      memcpySeconds(m, bytes, Math.min(iterations, 256));
      let seconds = Number.POSITIVE_INFINITY;
      let memcpy = Number.POSITIVE_INFINITY;
      for (let t = 0; t < trials; t++) {
        const trial = measure(w, op, bytes, iterations);
        operations += trial.completed;
        seconds = Math.min(seconds, trial.seconds);
        memcpy = Math.min(memcpy, memcpySeconds(m, bytes, iterations));
      }
      verifyRow(w, op, bytes, expected);
      const mbPerSec = (bytes * iterations) / seconds / MIB;
      const memcpyMbPerSec = (bytes * iterations) / memcpy / MIB;
      rows.push({
        op,
        bytes,
        iterations,
        mbPerSec: sig(mbPerSec),
        msgRateMpps: sig(iterations / seconds / 1e6),
        memcpyMbPerSec: sig(memcpyMbPerSec),
        ratio: sig(mbPerSec / memcpyMbPerSec),
        operations,
        verified: true,
      });
      await new Promise((r) => setImmediate(r)); // let the event loop breathe between rows
    }
  }
  opts.onProgress?.(ops.length * sizes.length, ops.length * sizes.length, 'done');
  return { suite: 'rdma', trials, rows };
}
