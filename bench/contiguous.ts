/**
 * bench contiguous: the indexed contiguous search against the linear PFN walk on a 64 GiB host
 * fragmented to about half by random allocations of 1..512 pages.
 *
 * Fragmentation, as a long-running machine gets it: contiguous allocations of random size
 * 1..512 pages are made through the allocator (highest addresses first, as Windows places
 * them) until 3/4 of usable memory is taken, then a random third of them is freed. Memory ends
 * about half allocated, the upper part riddled with holes of every size up to a few hundred
 * pages, the lower part free. Each row then makes 101 consecutive allocations of its size
 * (kept until the row ends, as a driver building its buffers would) and reports the median
 * cost of one search; the linear PFN walk is timed on the same state before each allocation
 * and must return the same PFN. The unsatisfiable row asks for one page more than the
 * longest free run.
 */
import { FOUR_GIB, GIB, KIB, MIB, PAGE_SIZE } from '../src/bus/index.ts';
import { seededRandom } from '../src/kernel/fault-injection.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import {
  MAXULONG64, MmAllocateContiguousMemorySpecifyCache, MmCached, MmFreeContiguousMemory,
} from '../src/kernel/mm/index.ts';
import { linearFindRunDown } from './linear-baseline.ts';

export interface ContiguousRow {
  bytes: number;
  highest: '4G' | 'max';
  medianNs: number;
  baselineMedianNs: number;
  speedup: number;
  satisfied: boolean;
  /** Median of a full MmAllocateContiguousMemorySpecifyCache + MmFreeContiguousMemory round trip. */
  roundTripMedianNs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

function timeNs(fn: () => number, repeats: number): { ns: number; result: number } {
  // Round trips of the public routine (fault check, owner, search, PFN marking, mapping).
  const samples: number[] = [];
  let result = 0;
  for (let i = 0; i < repeats; i++) {
    const t = process.hrtime.bigint();
    result = fn();
    samples.push(Number(process.hrtime.bigint() - t));
  }
  return { ns: median(samples), result };
}

export async function run(opts: { json: boolean; ramBytes?: number; seed?: number }): Promise<object> {
  const ramBytes = opts.ramBytes ?? 64 * GIB;
  const k = Kernel.boot({ ramBytes, nolowmem: false, name: 'bench' });
  const mm = k.mm;
  const owner = mm.owners.register('system', 'bench fragmentation');
  const rnd = seededRandom(opts.seed ?? 0x5a9);
  const pageCount = mm.pfn.pageCount;
  const lowLimit = FOUR_GIB / PAGE_SIZE;
  const held: [number, number][] = [];
  const target = Math.floor(mm.counters().usablePages * 0.75);
  let used = 0;
  while (used < target) {
    const n = 1 + Math.floor(rnd() * 512);
    const first = mm.pages.takeRun(n, 0, pageCount - 1, 0, owner);
    if (first < 0) break;
    held.push([first, n]);
    used += n;
  }
  for (const [first, n] of held) if (rnd() < 1 / 3) mm.pages.release(first, n);
  const c = mm.counters();
  const fragmentation = c.activePages / c.usablePages;

  const rows: ContiguousRow[] = [];
  const cases: { bytes: number; highest: '4G' | 'max' }[] = [];
  for (const bytes of [64 * KIB, MIB, 16 * MIB]) for (const highest of ['4G', 'max'] as const) cases.push({ bytes, highest });
  // The unsatisfiable request: larger than any free run.
  cases.push({ bytes: (mm.index.longestFreeRun + 1) * PAGE_SIZE, highest: 'max' });
  for (const { bytes, highest } of cases) {
    const pages = bytes / PAGE_SIZE;
    const hi = highest === '4G' ? lowLimit - 1 : pageCount - 1;
    const oursNs: number[] = [];
    const baseNs: number[] = [];
    const taken: number[] = [];
    let firstResult = -1;
    for (let i = 0; i < 101; i++) {
      const t0 = process.hrtime.bigint();
      const ours = mm.index.findRunDown(pages, 0, hi, 0);
      const t1 = process.hrtime.bigint();
      const base = i % 10 === 0 ? linearFindRunDown(mm.pfn.state, pages, 0, hi, 0) : ours;
      const t2 = process.hrtime.bigint();
      if (ours !== base) {
        throw new Error(`bench contiguous: indexed search found ${ours}, linear walk ${base} for ${bytes} bytes`);
      }
      oursNs.push(Number(t1 - t0));
      if (i % 10 === 0) baseNs.push(Number(t2 - t1)); // the walk is slow: time every 10th step
      if (i === 0) firstResult = ours;
      if (ours < 0) break;
      taken.push(mm.pages.takeRun(pages, ours, ours + pages - 1, 0, owner));
    }
    for (const f of taken) mm.pages.release(f, pages);
    const ours = { ns: median(oursNs), result: firstResult };
    const base = { ns: median(baseNs) };
    const h = highest === '4G' ? FOUR_GIB - 1 : MAXULONG64;
    const trip = timeNs(() => {
      const va = MmAllocateContiguousMemorySpecifyCache(k, bytes, 0, h, 0, MmCached);
      if (va !== null) MmFreeContiguousMemory(k, va);
      return va === null ? 0 : 1;
    }, 101);
    rows.push({
      bytes,
      highest,
      medianNs: ours.ns,
      baselineMedianNs: base.ns,
      speedup: Math.round((base.ns / Math.max(ours.ns, 1)) * 10) / 10,
      satisfied: ours.result >= 0,
      roundTripMedianNs: trip.ns,
    });
  }
  return { suite: 'contiguous', ramBytes, fragmentation: Math.round(fragmentation * 1000) / 1000, rows };
}

/** The human-readable table `sanproxy bench contiguous` prints without --json. */
export function formatTable(result: { ramBytes: number; fragmentation: number; rows: ContiguousRow[] }): string {
  return [
    `contiguous search on ${result.ramBytes / GIB} GiB, ${(result.fragmentation * 100).toFixed(1)}% allocated`,
    ...result.rows.map((r) =>
      `  ${String(r.bytes / KIB).padStart(8)} KiB highest=${r.highest.padEnd(3)} ours ${r.medianNs} ns  ` +
      `linear ${r.baselineMedianNs} ns  x${r.speedup}  ${r.satisfied ? 'found' : 'none'}  round trip ${r.roundTripMedianNs} ns`),
  ].join('\n');
}
