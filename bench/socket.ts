/**
 * Benchmark "socket": application-level send/recv through the Windows Sockets switch, SAN path
 * (session protocol: control messages below the RDMA threshold, RDMA above) against the
 * TCP-like path (every byte copied twice through socket buffers), with the machine's memcpy
 * (Uint8Array.set of the same size) measured in the same run.
 *
 * Prints {"suite":"socket","rows":[{"path","bytes","mbPerSec","rttUs","memcpyMbPerSec"}]}.
 * mbPerSec: one-way throughput (10^6 bytes/s) of back-to-back messages, each sent and fully
 * received; rttUs: median ping-pong round trip of one message of that size (A → B → A).
 * Buffers are reused, as an application's would be, so the registration cache is warm: a large
 * send re-exposes its cached buffer by binding a memory window and hides it again by
 * invalidating the window, both from user mode (no driver request per send).
 * Throughput is the median of WINDOWS measuring windows after a warm-up, for both paths and for
 * memcpy. Target: SAN >= 0.5 of memcpy at >= 1 MiB and above the TCP stand-in path.
 * What bounds the SAN path at 1 MiB: a fixed amount of work per message (two control messages,
 * one RDMA read, two registrations from the cache, completions, all on one JS thread for both
 * hosts) next to the copy itself; the table's figures say how the two compare on the machine at
 * hand. `paths` limits a run to one path (profiling).
 *
 * The work is checked, not assumed: before each row the sender's and the receiver's buffers get
 * patterns that differ in every byte and from every other row's; after the row each receiver
 * must hold its sender's bytes. `messages` counts the messages the row sent and fully received.
 */
import { PATTERN_FLIP, testPattern } from '../src/bus/index.ts';
import { createCluster, type Host } from '../src/host/index.ts';
import type { Process } from '../src/kernel/ps/process.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../src/kernel/mm/virtual-memory.ts';
import { WindowsSocketsSwitch } from '../src/switch/index.ts';
import { median, sig, sizeText } from './stats.ts';
import { SOCKET_MAX, SOCKET_SIZES, type ProgressFn } from './suite.ts';

export { SOCKET_SIZES } from './suite.ts';

const MIB = 1024 * 1024;

export type SocketPath = 'san' | 'tcp';

export interface SocketRow {
  path: SocketPath;
  bytes: number;
  mbPerSec: number;
  rttUs: number;
  memcpyMbPerSec: number;
  /** Messages sent and fully received in the row (warm-up, windows and round trips). */
  messages: number;
  /** Both receivers held their senders' bytes after the row (the run throws otherwise). */
  verified: true;
}

export interface SocketResult {
  suite: 'socket';
  rows: SocketRow[];
}

export interface SocketOptions {
  sizes?: readonly number[];
  /** Least time per row for the warm-up and for the measuring windows together (default 200). */
  minMs?: number;
  paths?: readonly SocketPath[];
  onProgress?: ProgressFn;
}

/** Windows per throughput figure (their median is reported). */
const WINDOWS = 7;

/**
 * The machine's memcpy of `bytes`. Source and destination are the two halves of one allocation,
 * so they are aligned alike (as in bench rdma): two separate typed arrays of 64..256 KiB came
 * out mutually misaligned on this machine and copied at a tenth of the speed, which made the
 * baseline, not the path, the figure.
 */
function memcpyMbPerSec(bytes: number, minMs: number): number {
  const arena = new Uint8Array(2 * bytes);
  const a = arena.subarray(0, bytes).fill(7);
  const b = arena.subarray(bytes);
  const windows: number[] = [];
  for (let w = 0; w < WINDOWS; w++) {
    let n = 0;
    const t0 = performance.now();
    while (n < 3 || performance.now() - t0 < minMs / WINDOWS) {
      b.set(a);
      a[n % bytes] = n & 255;
      n++;
    }
    windows.push((bytes * n) / ((performance.now() - t0) / 1000) / 1e6);
  }
  return median(windows);
}

function expectBytes(p: Process, va: number, expected: Uint8Array, what: string): void {
  const got = new Uint8Array(expected.length);
  p.readMemory(va, got);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== expected[i]) throw new Error(`bench socket: ${what}: byte ${i} is ${got[i]}, the sender's is ${expected[i]}`);
  }
}

async function runPath(path: SocketPath, sizes: readonly number[], minMs: number, progress: (detail: string) => void): Promise<SocketRow[]> {
  const cluster = createCluster({
    hosts: [
      { name: 'a', ramBytes: 4 * 1024 * MIB, nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.1' }] },
      { name: 'b', ramBytes: 4 * 1024 * MIB, nolowmem: true, nics: [{ addressBits: 64, ip: '10.0.0.2' }] },
    ],
  });
  const [ha, hb] = cluster.hosts as [Host, Host];
  if (ha.loadProxy() !== 0 || hb.loadProxy() !== 0) throw new Error('bench socket: the proxy did not load');
  const pa = ha.createProcess('bench-client');
  const pb = hb.createProcess('bench-server');
  const a = new WindowsSocketsSwitch({ host: ha, process: pa, san: path === 'san' });
  const b = new WindowsSocketsSwitch({ host: hb, process: pb, san: path === 'san' });
  const listener = b.socket();
  b.bind(listener, { ip: '10.0.0.2', port: 6000 });
  b.listen(listener);
  const c = a.socket();
  const accepting = b.accept(listener);
  await a.connect(c, { ip: '10.0.0.2', port: 6000 });
  const s = await accepting;
  if (a.pathOf(c) !== path) throw new Error(`bench socket: wanted the ${path} path, got ${a.pathOf(c)}`);
  const max = Math.max(...sizes);
  const alloc = (p: typeof pa) => {
    const va = p.VirtualAlloc(0, max, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (va === 0) throw new Error('bench socket: VirtualAlloc failed');
    p.writeMemory(va, new Uint8Array(max).fill(0x5a));
    return va;
  };
  const [sa, ra, sb, rb] = [alloc(pa), alloc(pa), alloc(pb), alloc(pb)];
  const recvAll = async (sw: WindowsSocketsSwitch, sock: number, va: number, n: number) => {
    for (let got = 0; got < n; ) {
      const k = await sw.recv(sock, va + got, n - got);
      if (k === 0) throw new Error('bench socket: connection closed');
      got += k;
    }
  };
  const rows: SocketRow[] = [];
  for (const [row, bytes] of sizes.entries()) {
    progress(`${path} ${sizeText(bytes)}`);
    const seed = 2 * row + (path === 'san' ? 1 : 2) * 1000;
    const forward = testPattern(bytes, seed);
    const back = testPattern(bytes, seed + 1);
    pa.writeMemory(sa, forward);
    pb.writeMemory(rb, testPattern(bytes, seed, PATTERN_FLIP));
    pb.writeMemory(sb, back);
    pa.writeMemory(ra, testPattern(bytes, seed + 1, PATTERN_FLIP));
    let messages = 0;
    // Warm-up, by time: registration cache, pools and the JIT (a row measured right after
    // start-up would time the compiler, not the path).
    for (let w = 0, t = performance.now(); w < 1 || performance.now() - t < minMs; w++) {
      await Promise.all([a.send(c, sa, bytes), recvAll(b, s, rb, bytes)]);
      messages++;
    }
    // Throughput: the median of WINDOWS back-to-back windows, so one garbage collection or
    // scheduler hiccup in a window does not decide the row (memcpy is measured the same way).
    const windows: number[] = [];
    for (let w = 0; w < WINDOWS; w++) {
      let n = 0;
      const t0 = performance.now();
      while (n < 3 || performance.now() - t0 < minMs / WINDOWS) {
        await Promise.all([a.send(c, sa, bytes), recvAll(b, s, rb, bytes)]);
        n++;
      }
      messages += n;
      windows.push((bytes * n) / ((performance.now() - t0) / 1000) / 1e6);
    }
    const mbPerSec = median(windows);
    const rtts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await Promise.all([a.send(c, sa, bytes), recvAll(b, s, rb, bytes)]);
      await Promise.all([b.send(s, sb, bytes), recvAll(a, c, ra, bytes)]);
      rtts.push((performance.now() - t) * 1000);
      messages += 2;
    }
    expectBytes(pb, rb, forward, `${path} ${sizeText(bytes)} from a to b`);
    expectBytes(pa, ra, back, `${path} ${sizeText(bytes)} from b to a`);
    rows.push({
      path,
      bytes,
      mbPerSec: sig(mbPerSec),
      rttUs: sig(median(rtts)),
      memcpyMbPerSec: sig(memcpyMbPerSec(bytes, Math.min(minMs, 100))),
      messages,
      verified: true,
    });
  }
  await a.WSACleanup();
  await b.WSACleanup();
  return rows;
}

export async function run(opts: SocketOptions = {}): Promise<SocketResult> {
  const sizes = opts.sizes ?? SOCKET_SIZES;
  const minMs = opts.minMs ?? 200;
  for (const bytes of sizes) {
    if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > SOCKET_MAX) throw new Error(`bench socket: ${bytes}: a message size is 1 B to ${sizeText(SOCKET_MAX)}`);
  }
  const paths = opts.paths ?? (['san', 'tcp'] as const);
  const total = paths.length * sizes.length;
  let done = 0;
  const rows: SocketRow[] = [];
  for (const path of paths) {
    rows.push(...(await runPath(path, sizes, minMs, (detail) => opts.onProgress?.(done++, total, detail))));
  }
  opts.onProgress?.(total, total, 'done');
  return { suite: 'socket', rows };
}
