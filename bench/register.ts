/**
 * Benchmark "register": the memory-registration path of a SAN proxy driver on committed,
 * touched user buffers — IoAllocateMdl + MmProbeAndLockPages + MmGetMdlPfnArray +
 * MmUnlockPages + IoFreeMdl — for 4 KiB .. 1 GiB. Prints {"suite":"register","rows":[...]}.
 *
 * Each size runs repeatedly until at least `minMs` of work and `minIters` iterations; the
 * row reports the median iteration. Buffers are set up (committed and touched, i.e. every
 * page already has a frame) outside the timed region, as a registration cache would see.
 */
import { Kernel } from '../src/kernel/kernel.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../src/kernel/mm/virtual-memory.ts';
import {
  IoAllocateMdl,
  IoFreeMdl,
  IoWriteAccess,
  MmGetMdlPfnArray,
  MmProbeAndLockPages,
  MmUnlockPages,
  UserMode,
} from '../src/kernel/mm/mdl.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
export const REGISTER_SIZES = [4 * KIB, 64 * KIB, MIB, 64 * MIB, GIB];

export interface RegisterRow {
  bytes: number;
  gbPerSec: number;
  pagesPerSec: number;
  nsPerPage: number;
  iterations: number;
}

export async function run(opts: { json: boolean; sizes?: number[]; minMs?: number; minIters?: number }): Promise<object> {
  const sizes = opts.sizes ?? REGISTER_SIZES;
  const minMs = opts.minMs ?? 300;
  const minIters = opts.minIters ?? 5;
  const k = Kernel.boot({ ramBytes: 4 * GIB, nolowmem: false, name: 'bench-register' });
  const app = k.ps.createProcess('bench-app');
  const rows: RegisterRow[] = [];
  let checksum = 0;
  for (const bytes of sizes) {
    const va = app.VirtualAlloc(0, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    if (va === 0) throw new Error(`bench register: VirtualAlloc(${bytes}) failed, last error ${app.lastError}`);
    // Touch every page so each has a frame (demand-zero resolved before timing).
    const one = new Uint8Array([1]);
    for (let off = 0; off < bytes; off += 4096) app.writeMemory(va + off, one);
    const times: number[] = [];
    const started = performance.now();
    k.ps.runInProcess(app, () => {
      while (times.length < minIters || performance.now() - started < minMs) {
        const t0 = performance.now();
        const mdl = IoAllocateMdl(k, va, bytes, false, false, null);
        if (!mdl) throw new Error('bench register: IoAllocateMdl failed');
        MmProbeAndLockPages(k, mdl, UserMode, IoWriteAccess);
        const pfns = MmGetMdlPfnArray(mdl);
        checksum = (checksum + pfns[pfns.length - 1]!) | 0;
        MmUnlockPages(k, mdl);
        IoFreeMdl(k, mdl);
        times.push(performance.now() - t0);
      }
    });
    if (app.VirtualFree(va, 0, 0x8000) !== true) throw new Error('bench register: VirtualFree failed');
    times.sort((a, b) => a - b);
    const sec = times[Math.floor(times.length / 2)]! / 1000;
    const pages = bytes / 4096;
    rows.push({
      bytes,
      gbPerSec: round(bytes / sec / 1e9),
      pagesPerSec: Math.round(pages / sec),
      nsPerPage: round((sec * 1e9) / pages),
      iterations: times.length,
    });
  }
  k.ps.terminateProcess(app, 0);
  if (checksum === 0x7fff_ffff) console.error('unlikely checksum'); // keeps the PFN reads observable
  const result = { suite: 'register', rows };
  return result;
}

/** The human-readable table `sanproxy bench register` prints without --json. */
export function formatTable(result: { rows: RegisterRow[] }): string {
  return result.rows
    .map((r) => `${String(r.bytes).padStart(11)} B  ${r.gbPerSec.toFixed(2).padStart(8)} GB/s  ${r.nsPerPage.toFixed(1).padStart(7)} ns/page  (${r.iterations} iterations)`)
    .join('\n');
}

const round = (v: number) => Math.round(v * 100) / 100;

// `npx tsx bench/register.ts [--json]` runs it directly.
if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ json: process.argv.includes('--json') });
}
