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
 *
 * The wire rows (`wire`, issue 16 "Done means" 4): WRITE and READ at >= 1 MiB on the same
 * pair of hosts, three ways in alternating trials of one run — the lossless link (messages as
 * GSO packets, link.ts), every packet built and checked (a capture tap on: each packet is
 * serialised with its ICRC by the link and checked in full by the receiver, the path tshark
 * sees), and a seeded 1% loss (every packet built and checked too, go-back-N recovering the
 * losses; the virtual clock is advanced whenever the machine idles with a timer armed, so a
 * retransmit timeout costs no wall time). Every trial of every mode is verified on its own:
 * the destination is overwritten before it and must hold the source's bytes after it.
 */
import { DeviceDmaView, PAGE_SIZE, PhysicalMemory, addressOfPfn, pfnOf, testPattern, PATTERN_FLIP } from '../src/bus/index.ts';
import { CompletionBatch, Fabric, NO_IMPAIRMENTS, NicAccess, NicStatus, SanNic, WcStatus } from '../src/nic/index.ts';
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

/** One wire row: an operation and size over the lossless link, with every packet built and
 *  checked, and with 1% loss; each figure the best of the same run's trials. */
export interface RdmaWireRow {
  op: 'write' | 'read';
  bytes: number;
  iterations: number;
  memcpyMbPerSec: number;
  /** The lossless link (GSO packets, no payload serialised). */
  losslessMbPerSec: number;
  /** A capture tap on: every packet built in bytes with its ICRC and checked by the receiver. */
  builtMbPerSec: number;
  /** builtMbPerSec ÷ memcpyMbPerSec (target >= 0.15). */
  builtRatio: number;
  /** Goodput with `loss` of the frames lost (seeded): every packet built and checked too. */
  lossyMbPerSec: number;
  /** lossyMbPerSec ÷ losslessMbPerSec (target >= 0.5). */
  lossyOfLossless: number;
  /** lossyMbPerSec ÷ memcpyMbPerSec. */
  lossyRatio: number;
  loss: number;
  seed: number;
  /** Over the lossy trials: frames the link lost, packets the NICs sent again. */
  framesLost: number;
  retransmitted: number;
  /** Completions polled in the row, every mode. */
  operations: number;
  /** Every trial of every mode left the source's bytes at the destination (the run throws otherwise). */
  verified: true;
}

export interface RdmaResult {
  suite: 'rdma';
  /** Timed trials per row (each side keeps its best). */
  trials: number;
  rows: RdmaRow[];
  wire: RdmaWireRow[];
}

export interface RdmaOptions {
  sizes?: readonly number[];
  /** Trials per row (default 7). */
  trials?: number;
  /** Operations per trial; by default each row moves about 512 MiB (128 to 20 000 operations). */
  iterations?: number;
  /** Sizes of the wire rows (default WIRE_SIZES; with `sizes` given, those of them >= 1 MiB). */
  wireSizes?: readonly number[];
  onProgress?: ProgressFn;
}

const MIB = 1024 * 1024;
const MAX = RDMA_MAX;
const BASE = 0x100_0000; // 16 MiB into each host's RAM
const TX_DEPTH = 128;
const PA = 1;
const PB = 2;

export const SIZES: readonly number[] = RDMA_SIZES;
/** Sizes of the wire rows: the "at >= 1 MiB". */
export const WIRE_SIZES: readonly number[] = [MIB, 4 * MIB];
/** The lossy wire rows: 1% of the frames lost, decided by this seed. */
export const WIRE_LOSS = 0.01;
export const WIRE_SEED = 0x1605;

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

/** Before a wire trial: the destination differs from the source in every byte again. */
function overwriteDestination(w: World, op: RdmaOp, bytes: number, seed: number): void {
  endsOf(w, op).to.write(BASE, testPattern(bytes, seed, PATTERN_FLIP));
}

/** After a row: the destination holds the source's bytes. */
function verifyRow(w: World, op: RdmaOp, bytes: number, expected: Uint8Array): void {
  const got = new Uint8Array(bytes);
  endsOf(w, op).to.read(BASE, got);
  if (Buffer.compare(got, expected) === 0) return;
  for (let i = 0; i < bytes; i++) {
    if (got[i] !== expected[i]) throw new Error(`bench rdma: ${op} of ${sizeText(bytes)}: byte ${i} is ${got[i]}, the source's is ${expected[i]}`);
  }
}

/** Virtual time the bench lets pass when the machine idles with work outstanding (a timer armed). */
const IDLE_STEP_NS = 1_000_000;

const polled = new CompletionBatch(TX_DEPTH);
const received = new CompletionBatch(TX_DEPTH);

/** Run `iterations` operations of `bytes`, TX_DEPTH in flight at most; returns seconds and completions. */
function measure(w: World, op: RdmaOp, bytes: number, iterations: number): { seconds: number; completed: number } {
  const elements = [{ localHandle: w.src.handle, offset: 0, length: bytes }];
  const wr = { context: 0, elements, remote: { remoteKey: w.dst.remoteKey, address: 0, length: bytes } };
  const recv = { context: 0, elements: [{ localHandle: w.dst.handle, offset: 0, length: bytes }] };
  const scheduler = w.fabric.scheduler;
  let posted = 0;
  let completed = 0;
  const t0 = process.hrtime.bigint();
  while (completed < iterations) {
    const batch = Math.min(TX_DEPTH - (posted - completed), iterations - posted);
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
    scheduler.runUntilIdle();
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
    // Idle with work outstanding: a retransmit timer is armed (a lossy link); virtual time is free.
    if (polled.count === 0 && completed < iterations) {
      if (scheduler.timersArmed === 0) throw new Error(`bench rdma: ${op} of ${sizeText(bytes)}: the machine idles with ${posted - completed} operations outstanding and no timer armed`);
      scheduler.advance(IDLE_STEP_NS);
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

type WireMode = 'lossless' | 'built' | 'lossy';
const WIRE_MODES: readonly WireMode[] = ['lossless', 'built', 'lossy'];

/** Operations per wire trial: about 128 MiB (at least 16). */
const wireIterationsFor = (bytes: number): number => Math.max(16, Math.floor((128 * MIB) / bytes));

/** A capture tap that takes every frame and keeps only counts (a pcap writer without the disk). */
class CountingTap {
  frames = 0;
  bytes = 0;
  frame(_bytes: Uint8Array, length: number): void {
    this.frames++;
    this.bytes += length;
  }
}

/** Set the link up for `mode`: the tap on for `built`, the seeded loss for `lossy`, else neither. */
function linkFor(w: World, mode: WireMode, tap: CountingTap): void {
  const link = w.fabric.link;
  link.tap = mode === 'built' ? tap : null;
  link.impair(mode === 'lossy' ? { ...NO_IMPAIRMENTS, seed: WIRE_SEED, loss: WIRE_LOSS } : NO_IMPAIRMENTS);
}

const retransmittedOf = (w: World): number => w.a.nic.wire.counters.retransmitted + w.b.nic.wire.counters.retransmitted;

/** The wire rows: each size's WRITE and READ, lossless / built / lossy in alternating trials. */
async function runWire(w: World, m: { src: Buffer; dst: Buffer }, sizes: readonly number[], trials: number, first: number, total: number, opts: RdmaOptions): Promise<RdmaWireRow[]> {
  const rows: RdmaWireRow[] = [];
  const tap = new CountingTap();
  const ops = ['write', 'read'] as const;
  for (const [o, op] of ops.entries()) {
    for (const [i, bytes] of sizes.entries()) {
      const row = o * sizes.length + i;
      opts.onProgress?.(first + row, total, `${op} ${sizeText(bytes)} on the wire`);
      const iterations = opts.iterations ?? wireIterationsFor(bytes);
      const seed = 0x100 + row;
      const expected = prepareRow(w, op, bytes, seed);
      const best: Record<WireMode, number> = { lossless: Number.POSITIVE_INFINITY, built: Number.POSITIVE_INFINITY, lossy: Number.POSITIVE_INFINITY };
      let memcpy = Number.POSITIVE_INFINITY;
      let operations = 0;
      let framesLost = 0;
      let retransmitted = 0;
      for (const mode of WIRE_MODES) {
        linkFor(w, mode, tap); // warm-up of every mode
        operations += measure(w, op, bytes, Math.min(iterations, 16)).completed;
      }
      memcpySeconds(m, bytes, Math.min(iterations, 16));
      for (let t = 0; t < trials; t++) {
        for (const mode of WIRE_MODES) {
          linkFor(w, mode, tap);
          overwriteDestination(w, op, bytes, seed);
          const lost = w.fabric.link.faults.lost;
          const resent = retransmittedOf(w);
          const trial = measure(w, op, bytes, iterations);
          operations += trial.completed;
          best[mode] = Math.min(best[mode], trial.seconds);
          if (mode === 'lossy') {
            framesLost += w.fabric.link.faults.lost - lost;
            retransmitted += retransmittedOf(w) - resent;
          }
          verifyRow(w, op, bytes, expected);
        }
        memcpy = Math.min(memcpy, memcpySeconds(m, bytes, iterations));
      }
      linkFor(w, 'lossless', tap);
      const mb = (seconds: number) => (bytes * iterations) / seconds / MIB;
      const memcpyMbPerSec = mb(memcpy);
      rows.push({
        op,
        bytes,
        iterations,
        memcpyMbPerSec: sig(memcpyMbPerSec),
        losslessMbPerSec: sig(mb(best.lossless)),
        builtMbPerSec: sig(mb(best.built)),
        builtRatio: sig(mb(best.built) / memcpyMbPerSec),
        lossyMbPerSec: sig(mb(best.lossy)),
        lossyOfLossless: sig(best.lossless / best.lossy),
        lossyRatio: sig(mb(best.lossy) / memcpyMbPerSec),
        loss: WIRE_LOSS,
        seed: WIRE_SEED,
        framesLost,
        retransmitted,
        operations,
        verified: true,
      });
      await new Promise((r) => setImmediate(r));
    }
  }
  return rows;
}

export async function run(opts: RdmaOptions = {}): Promise<RdmaResult> {
  const sizes = opts.sizes ?? SIZES;
  const trials = opts.trials ?? TRIALS;
  for (const bytes of sizes) {
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX) throw new Error(`bench rdma: ${bytes}: a message size is 1 B to ${sizeText(MAX)}`);
  }
  const wireSizes = opts.wireSizes ?? (opts.sizes === undefined ? WIRE_SIZES : sizes.filter((b) => b >= MIB));
  for (const bytes of wireSizes) {
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > MAX) throw new Error(`bench rdma: ${bytes}: a message size is 1 B to ${sizeText(MAX)}`);
  }
  const w = setup();
  const m = memcpyBuffers();
  const rows: RdmaRow[] = [];
  const ops = ['write', 'read', 'send'] as const;
  const total = ops.length * sizes.length + 2 * wireSizes.length;
  for (const [o, op] of ops.entries()) {
    for (const [i, bytes] of sizes.entries()) {
      const row = o * sizes.length + i;
      opts.onProgress?.(row, total, `${op} ${sizeText(bytes)}`);
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
  const wire = await runWire(w, m, wireSizes, trials, ops.length * sizes.length, total, opts);
  opts.onProgress?.(total, total, 'done');
  return { suite: 'rdma', trials, rows, wire };
}
