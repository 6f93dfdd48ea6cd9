/**
 * bench footprint: boot time, resident-memory growth and per-page metadata of one host
 * (64 GiB by default).
 *
 * The RSS figure means something only in a process that has done nothing else: `sanproxy
 * bench` runs every suite in its own child process, started with --expose-gc so the heap is
 * collected before each reading. (Run after other suites in one process, the delta was
 * negative: their garbage was collected during the boot.) `gc` says whether it could.
 */
import { PAGE_SIZE } from '../src/bus/index.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import { sig } from './stats.ts';
import { FOOTPRINT_RAM, type ProgressFn } from './suite.ts';

export interface FootprintOptions {
  ramBytes?: number;
  onProgress?: ProgressFn;
}

export interface FootprintResult {
  suite: 'footprint';
  /** RAM of the booted host, read back from its memory manager (usable + reserved pages). */
  ramBytes: number;
  /** Pages the memory manager can hand out. */
  usablePages: number;
  bootMs: number;
  rssDeltaBytes: number;
  metadataBytesPerPage: number;
  /** Whether the heap was collected before both RSS readings (--expose-gc). */
  gc: boolean;
}

export async function run(opts: FootprintOptions = {}): Promise<FootprintResult> {
  const requested = opts.ramBytes ?? FOOTPRINT_RAM;
  const gc = (globalThis as { gc?: () => void }).gc;
  opts.onProgress?.(0, 1, 'boot');
  gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = process.hrtime.bigint();
  const k = Kernel.boot({ ramBytes: requested, nolowmem: true, name: 'footprint' });
  const bootNs = Number(process.hrtime.bigint() - t0);
  gc?.();
  const rssDeltaBytes = process.memoryUsage().rss - rss0;
  const c = k.mm.counters();
  const ramBytes = (c.usablePages + c.reservedPages) * PAGE_SIZE;
  if (ramBytes !== requested) throw new Error(`bench footprint: asked for ${requested} bytes of RAM, the host has ${ramBytes}`);
  opts.onProgress?.(1, 1, 'boot');
  return {
    suite: 'footprint',
    ramBytes,
    usablePages: c.usablePages,
    bootMs: sig(bootNs / 1e6),
    rssDeltaBytes,
    metadataBytesPerPage: sig(k.mm.metadataBytesPerPage, 4),
    gc: gc !== undefined,
  };
}
