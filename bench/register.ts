/**
 * Benchmark "register": the memory-registration path of a SAN proxy driver on committed,
 * touched user buffers — IoAllocateMdl + MmProbeAndLockPages + MmGetMdlPfnArray +
 * MmUnlockPages + IoFreeMdl — for 4 KiB .. 1 GiB on a 4 GiB host.
 *
 * Each size runs repeatedly until at least `minMs` of work and `minIters` iterations, after
 * `warmMs` of untimed ones (the JIT's warm-up); the row reports the median iteration. Buffers are set up (committed and touched, i.e. every
 * page already has a frame) outside the timed region, as a registration cache would see.
 *
 * The work is checked, not assumed: before timing, one lock of the buffer must describe
 * exactly its pages (each page carries its own index, read back through the MDL's PFNs from
 * physical memory); in the timed loop every lock must report the buffer's page count locked
 * in the process and every unlock must bring it back to zero. `pagesLocked` counts the pages
 * the timed locks returned; after each size the kernel's locked-page counter is back where it
 * started.
 */
import { PAGE_SIZE, addressOfPfn, pageOffset } from '../src/bus/index.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import {
  IoAllocateMdl,
  IoFreeMdl,
  IoWriteAccess,
  MmGetMdlPfnArray,
  MmProbeAndLockPages,
  MmUnlockPages,
  UserMode,
} from '../src/kernel/mm/mdl.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../src/kernel/mm/virtual-memory.ts';
import type { Process } from '../src/kernel/ps/process.ts';
import { median, sig, sizeText } from './stats.ts';
import { REGISTER_SIZES, type ProgressFn } from './suite.ts';

export { REGISTER_SIZES } from './suite.ts';

export interface RegisterRow {
  bytes: number;
  gbPerSec: number;
  pagesPerSec: number;
  nsPerPage: number;
  iterations: number;
  /** Pages the timed locks returned in their PFN arrays: iterations × bytes / 4096. */
  pagesLocked: number;
  /** Pages whose frame was checked, before timing, to hold that page's own contents. */
  verifiedPages: number;
}

export interface RegisterResult {
  suite: 'register';
  ramBytes: number;
  rows: RegisterRow[];
}

export interface RegisterOptions {
  sizes?: readonly number[];
  /** Least time spent on each size (ms of iterations). */
  minMs?: number;
  /** Least iterations of each size. */
  minIters?: number;
  /** Untimed iterations before each size's timed ones, by time (ms, default 100). */
  warmMs?: number;
  onProgress?: ProgressFn;
}

const RAM_BYTES = 4 * 1024 ** 3;

/** One registration: lock, read the PFN array, unlock. Returns the PFN array's length. */
function registerOnce(k: Kernel, app: Process, va: number, bytes: number, pages: number, check?: (pfns: ArrayLike<number>) => void): number {
  const mdl = IoAllocateMdl(k, va, bytes, false, false, null);
  if (!mdl) throw new Error(`bench register: IoAllocateMdl(${sizeText(bytes)}) failed`);
  MmProbeAndLockPages(k, mdl, UserMode, IoWriteAccess);
  const pfns = MmGetMdlPfnArray(mdl);
  if (app.lockedPages !== pages || pfns.length !== pages) {
    throw new Error(`bench register: locking ${sizeText(bytes)} locked ${app.lockedPages} pages, PFN array of ${pfns.length}, expected ${pages}`);
  }
  check?.(pfns);
  MmUnlockPages(k, mdl);
  IoFreeMdl(k, mdl);
  if (app.lockedPages !== 0) throw new Error(`bench register: ${app.lockedPages} pages still locked after MmUnlockPages`);
  return pfns.length;
}

export async function run(opts: RegisterOptions = {}): Promise<RegisterResult> {
  const sizes = opts.sizes ?? REGISTER_SIZES;
  const minMs = opts.minMs ?? 300;
  const minIters = opts.minIters ?? 5;
  const warmMs = opts.warmMs ?? 100;
  const k = Kernel.boot({ ramBytes: RAM_BYTES, nolowmem: false, name: 'bench-register' });
  const app = k.ps.createProcess('bench-app');
  const lockedAtStart = k.mm.counters().lockedPages;
  const rows: RegisterRow[] = [];
  for (const [i, bytes] of sizes.entries()) {
    opts.onProgress?.(i, sizes.length, sizeText(bytes));
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || pageOffset(bytes) !== 0) {
      throw new Error(`bench register: ${bytes}: a buffer size is a whole number of 4 KiB pages`);
    }
    const pages = bytes / PAGE_SIZE;
    const va = app.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (va === 0) throw new Error(`bench register: VirtualAlloc(${sizeText(bytes)}) failed, last error ${app.lastError}`);
    // Touch every page so each has a frame (demand-zero resolved before timing), and mark it
    // with its own index so the check below can tell the pages apart.
    const mark = new Uint8Array(4);
    const view = new DataView(mark.buffer);
    for (let p = 0; p < pages; p++) {
      view.setUint32(0, p, true);
      app.writeMemory(va + p * PAGE_SIZE, mark);
    }
    let verifiedPages = 0;
    k.ps.runInProcess(app, () => {
      registerOnce(k, app, va, bytes, pages, (pfns) => {
        for (let p = 0; p < pages; p++) {
          k.memory.read(addressOfPfn(pfns[p]!), mark);
          if (view.getUint32(0, true) !== p) throw new Error(`bench register: the MDL's page ${p} is not the buffer's page ${p}`);
          verifiedPages++;
        }
      });
    });
    // Warm-up, untimed: the first size of a fresh process would otherwise time the JIT
    // compiling the path (most of its iterations ran unoptimised code), not the path.
    k.ps.runInProcess(app, () => {
      for (let w = 0, t = performance.now(); w < 1 || performance.now() - t < warmMs; w++) registerOnce(k, app, va, bytes, pages);
    });
    const times: number[] = [];
    let pagesLocked = 0;
    const started = performance.now();
    k.ps.runInProcess(app, () => {
      while (times.length < minIters || performance.now() - started < minMs) {
        const t0 = process.hrtime.bigint();
        pagesLocked += registerOnce(k, app, va, bytes, pages);
        times.push(Number(process.hrtime.bigint() - t0));
      }
    });
    if (app.VirtualFree(va, 0, MEM_RELEASE) !== true) throw new Error('bench register: VirtualFree failed');
    const lockedNow = k.mm.counters().lockedPages;
    if (lockedNow !== lockedAtStart) throw new Error(`bench register: ${lockedNow - lockedAtStart} pages left locked after ${sizeText(bytes)}`);
    const sec = median(times) / 1e9;
    rows.push({
      bytes,
      gbPerSec: sig(bytes / sec / 1e9),
      pagesPerSec: sig(pages / sec),
      nsPerPage: sig((sec * 1e9) / pages),
      iterations: times.length,
      pagesLocked,
      verifiedPages,
    });
  }
  opts.onProgress?.(sizes.length, sizes.length, 'done');
  k.ps.terminateProcess(app, 0);
  return { suite: 'register', ramBytes: RAM_BYTES, rows };
}
