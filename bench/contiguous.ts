/**
 * bench contiguous: the indexed contiguous search against the linear PFN walk on a host
 * (64 GiB by default, `ramBytes`) fragmented to about half by random allocations of 1..512
 * pages (`seed`).
 *
 * Fragmentation, as a long-running machine gets it: contiguous allocations of random size
 * 1..512 pages are made through the allocator (highest addresses first, as Windows places
 * them) until 3/4 of usable memory is taken, then a random third of them is freed. Memory ends
 * about half allocated, the upper part riddled with holes of every size up to a few hundred
 * pages, the lower part free. Each row then makes 101 consecutive allocations of its size
 * (kept until the row ends, as a driver building its buffers would) and reports the median
 * cost of one search; the linear PFN walk is timed on the same state before every tenth
 * allocation and must return the same PFN. Both are warmed up first. A search of ours costs
 * about as much as reading the clock, so each step's search is repeated on the state before
 * the burst (see timeSteps) and medianNs is the median over the steps. The unsatisfiable row
 * asks for one page more than the longest free run. Times are rounded to 3 significant figures.
 */
import { FOUR_GIB, KIB, MIB, PAGE_SIZE } from '../src/bus/index.ts';
import { seededRandom } from '../src/kernel/fault-injection.ts';
import { Kernel } from '../src/kernel/kernel.ts';
import {
  MAXULONG64, MmAllocateContiguousMemorySpecifyCache, MmCached, MmFreeContiguousMemory,
} from '../src/kernel/mm/index.ts';
import { linearFindRunDown } from './linear-baseline.ts';
import { median, sig, sizeText } from './stats.ts';
import { CONTIGUOUS_RAM, CONTIGUOUS_SEED, type ProgressFn } from './suite.ts';

export interface ContiguousRow {
  bytes: number;
  highest: '4G' | 'max';
  medianNs: number;
  baselineMedianNs: number;
  speedup: number;
  satisfied: boolean;
  /** Median of a full MmAllocateContiguousMemorySpecifyCache + MmFreeContiguousMemory round trip. */
  roundTripMedianNs: number;
  /** Allocations the measured burst made (STEPS, fewer when memory ran out, 0 when unsatisfiable). */
  allocations: number;
  /** Burst steps whose answer the linear walk checked (and timed): every tenth. */
  linearChecks: number;
}

export interface ContiguousOptions {
  ramBytes?: number;
  seed?: number;
  onProgress?: ProgressFn;
}

export interface ContiguousResult {
  suite: 'contiguous';
  ramBytes: number;
  seed: number;
  /** Share of usable pages allocated when the rows ran. */
  fragmentation: number;
  rows: ContiguousRow[];
}

/** Allocations per row (a driver building its buffers), and timed repeats of each search. */
const STEPS = 101;
const REPEATS = 64;

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

export async function run(opts: ContiguousOptions = {}): Promise<ContiguousResult> {
  const ramBytes = opts.ramBytes ?? CONTIGUOUS_RAM;
  const seed = opts.seed ?? CONTIGUOUS_SEED;
  opts.onProgress?.(0, 1, 'fragmenting memory');
  const k = Kernel.boot({ ramBytes, nolowmem: false, name: 'bench' });
  const mm = k.mm;
  const owner = mm.owners.register('system', 'bench fragmentation');
  const rnd = seededRandom(seed);
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
  const index = mm.index;
  /**
   * The burst: STEPS allocations of `pages` below hi through the page allocator (so the PFN
   * database the walk reads is current), then freed again; the answers.
   */
  const burst = (pages: number, hi: number, check: (step: number, ours: number) => void): number[] => {
    const answers: number[] = [];
    for (let i = 0; i < STEPS; i++) {
      const ours = index.findRunDown(pages, 0, hi, 0);
      check(i, ours);
      answers.push(ours);
      if (ours < 0) break;
      mm.pages.takeRun(pages, ours, ours + pages - 1, 0, owner);
    }
    for (const f of answers) if (f >= 0) mm.pages.release(f, pages);
    return answers;
  };
  /**
   * Time each step of a burst without allocating. The burst takes runs top-down, so step i's
   * answer is the highest fit below step i-1's answer in the state before the burst. In the
   * burst itself the index's next-fit hint starts step i's search at step i-1's run; here the
   * same search is bounded there instead. It only reads, so it is repeated REPEATS times
   * between two clock readings (one search costs about as much as reading the clock) and must
   * give the burst's answer each time. Returns the per-step costs.
   */
  const timeSteps = (pages: number, hi: number, answers: number[]): number[] => {
    const ns: number[] = [];
    for (let i = 0; i < answers.length; i++) {
      const bound = i === 0 ? hi : answers[i - 1]! - 1;
      let got = 0;
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < REPEATS; r++) got = index.findRunDown(pages, 0, bound, 0);
      ns.push(Number(process.hrtime.bigint() - t0) / REPEATS);
      if (got !== answers[i]) throw new Error(`bench contiguous: step ${i} found ${got}, the burst ${answers[i]}`);
    }
    return ns;
  };

  // Every row runs twice and only the second pass is kept: the first warms up both searches on
  // exactly the requests timed, so nothing is timed in the interpreter or just after a
  // deoptimisation for a value or branch not seen yet.
  const steps = 2 * cases.length;
  let step = 0;
  for (const pass of ['warm-up', 'measured'] as const) {
    for (const { bytes, highest } of cases) {
      opts.onProgress?.(step++, steps, `${pass} ${sizeText(bytes)}${highest === '4G' ? ' below 4 GiB' : ''}`);
      const pages = bytes / PAGE_SIZE;
      const hi = highest === '4G' ? lowLimit - 1 : pageCount - 1;
      // The burst, checked step by step against the linear walk (timed every 10th step: it is slow).
      const baseNs: number[] = [];
      const answers = burst(pages, hi, (i, ours) => {
        if (i % 10 !== 0) return;
        const t = process.hrtime.bigint();
        const base = linearFindRunDown(mm.pfn.state, pages, 0, hi, 0);
        baseNs.push(Number(process.hrtime.bigint() - t));
        if (ours !== base) {
          throw new Error(`bench contiguous: indexed search found ${ours}, linear walk ${base} for ${bytes} bytes`);
        }
      });
      const oursNs = timeSteps(pages, hi, answers);
      const ours = { ns: median(oursNs), result: answers[0]! };
      const base = { ns: median(baseNs) };
      const h = highest === '4G' ? FOUR_GIB - 1 : MAXULONG64;
      const trip = timeNs(() => {
        const va = MmAllocateContiguousMemorySpecifyCache(k, bytes, 0, h, 0, MmCached);
        if (va !== null) MmFreeContiguousMemory(k, va);
        return va === null ? 0 : 1;
      }, 101);
      if (pass === 'measured') rows.push({
        bytes,
        highest,
        medianNs: sig(ours.ns),
        baselineMedianNs: sig(base.ns),
        // The quotient of the unrounded medians; ours is never below one clock tick per reading.
        speedup: sig(base.ns / Math.max(ours.ns, 1 / REPEATS)),
        satisfied: ours.result >= 0,
        roundTripMedianNs: sig(trip.ns),
        allocations: answers.filter((a) => a >= 0).length,
        linearChecks: baseNs.length,
      });
    }
  }
  opts.onProgress?.(steps, steps, 'done');
  return { suite: 'contiguous', ramBytes, seed, fragmentation: sig(fragmentation), rows };
}
