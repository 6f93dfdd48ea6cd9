/** Shared set-up for the I/O manager tests: a small host, a user process with a buffer. */
import { Kernel } from '../../src/kernel/kernel.ts';
import type { Process } from '../../src/kernel/ps/process.ts';
import { mdlHost } from '../../src/kernel/mm/mdl.ts';
import { IoLoadDriver } from '../../src/kernel/io/index.ts';
import { sampleDriver, type SampleDriver } from './sample-driver.ts';

export const GIB = 1024 ** 3;
export const MEM_COMMIT = 0x1000;
export const MEM_RESERVE = 0x2000;
export const PAGE_READONLY = 0x02;
export const PAGE_READWRITE = 0x04;

export function boot(verifier = false): Kernel {
  return Kernel.boot({ ramBytes: 2 * GIB, nolowmem: false, verifier });
}

/**
 * Everything the I/O manager could leak, as numbers to compare before/after. IRPs and MDLs its
 * lookaside lists hold are the lists' (src/host/accounting.ts): not counted as pool, their
 * pages' mappings not counted as mappings.
 */
export function snapshot(k: Kernel) {
  const c = k.io.counters();
  const mm = k.mm.counters();
  return {
    poolBlocks: k.mm.pool.outstandingBlocks - k.mm.pool.lookasideCachedBlocks,
    lockedPages: mm.lockedPages,
    systemMappings: mm.systemMappings - mm.lookasideReclaimableMappings,
    liveMdls: mdlHost(k).live,
    irpsOutstanding: c.irpsOutstanding,
    systemBuffers: c.systemBuffersOutstanding,
    mdls: c.mdlsOutstanding,
    fileObjects: c.fileObjects,
    handles: c.handles,
  };
}

export interface Rig {
  k: Kernel;
  app: Process;
  drv: SampleDriver;
  /** Committed read/write user buffer of `bytes` in app. */
  buf: number;
  bytes: number;
  /** Run as the app process. */
  run<T>(fn: () => T): T;
  write(va: number, data: Uint8Array): void;
  read(va: number, n: number): Uint8Array;
}

export function rig(method: 'buffered' | 'direct' | 'neither', opts: { verifier?: boolean; name?: string; bytes?: number } = {}): Rig {
  const k = boot(opts.verifier ?? false);
  const name = opts.name ?? 'Sample';
  const drv = sampleDriver(name, method);
  const status = IoLoadDriver(k, name, drv.entry);
  if (status !== 0) throw new Error(`load failed 0x${status.toString(16)}`);
  const app = k.ps.createProcess('app.exe');
  const bytes = opts.bytes ?? 64 * 1024;
  const buf = app.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  if (buf === 0) throw new Error('VirtualAlloc failed');
  return {
    k, app, drv, buf, bytes,
    run: (fn) => k.ps.runInProcess(app, fn),
    write: (va, data) => app.writeMemory(va, data),
    read: (va, n) => {
      const b = new Uint8Array(n);
      app.readMemory(va, b);
      return b;
    },
  };
}
