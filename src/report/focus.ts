/**
 * Where things happen on a host's map: the zoom strips, chosen from the data.
 *
 * A full map of 8 GiB or 256 GiB is almost all free memory; the proxy's low memory, the
 * registered (locked) user pages and the common buffers are slivers on it. The report
 * therefore draws, under the full map, one strip per place where such pages lie, each to its
 * own scale, so every allocation there is several pixels wide.
 *
 * Implementation notes
 * - "Interesting" pages are what an allocation of the run holds: process pages, locked and
 *   registered user pages, MDL pages, contiguous memory, common buffers, bounce pages, and
 *   any active page whose owner is unknown. Kernel pool, page tables, the kernel image,
 *   firmware-reserved RAM, the MMIO hole and free pages are context, not a reason to zoom.
 * - The strips are the same for every snapshot of a host (chosen from the union of their
 *   interesting runs), so switching snapshots compares like with like.
 * - Clustering is over runs, never pages: interesting runs are sorted by start, touching ones
 *   joined, then neighbours merged while the gap between them is at most 1 MiB or at most the
 *   two clusters' combined span (a strip stays at least half filled by what it is about).
 *   Past `maxStrips`, the two neighbours with the smallest gap merge until the cap holds.
 * - Each strip is padded by a few percent (at least 64 KiB) on both sides for context, and
 *   is at least 256 KiB long, so one page never fills a whole strip. Padding never crosses
 *   4 GiB: a strip of low memory stays below the line a 32-bit NIC cannot pass.
 */
import { FOUR_GIB, PAGE_SIZE } from '../bus/index.ts';
import { CATEGORIES } from './categories.ts';
import type { PageRuns } from './page-runs.ts';

/** One zoom strip: the byte range [base, end), page aligned. */
export interface FocusStrip {
  base: number;
  end: number;
}

/** Category keys that draw a strip (see the implementation notes). */
export const FOCUS_CATEGORIES: readonly string[] = ['process', 'locked', 'mdl', 'contiguous', 'common', 'bounce', 'unknown'];

const FOCUS = new Uint8Array(CATEGORIES.length);
for (const key of FOCUS_CATEGORIES) FOCUS[CATEGORIES.findIndex((c) => c.key === key)] = 1;

/** Whether runs of category index `cat` draw a strip. */
export function isFocusCategory(cat: number): boolean {
  return FOCUS[cat] === 1;
}

export interface FocusOptions {
  /** Most strips per host (default 4). */
  maxStrips?: number;
}

const MERGE_GAP_PAGES = 256; // 1 MiB
const FOUR_GIB_PAGES = FOUR_GIB / PAGE_SIZE;
const MIN_PAD_PAGES = 16; // 64 KiB
const MIN_SPAN_PAGES = 64; // 256 KiB

/**
 * The strips for one host: `views` are its snapshots' runs with the category index of each run
 * (html.ts categorize), `pageCount` the number of PFNs (top of memory / page size).
 */
export function focusStrips(views: readonly { runs: PageRuns; cats: Uint8Array }[], pageCount: number, opts: FocusOptions = {}): FocusStrip[] {
  const maxStrips = opts.maxStrips ?? 4;
  if (!Number.isSafeInteger(maxStrips) || maxStrips < 1) throw new RangeError(`focusStrips: maxStrips must be an integer >= 1, got ${String(maxStrips)}`);
  if (!Number.isSafeInteger(pageCount) || pageCount < 1) throw new RangeError(`focusStrips: pageCount must be an integer >= 1, got ${String(pageCount)}`);

  // Interesting runs of every snapshot as [start, end) page pairs, sorted by start.
  let n = 0;
  for (const v of views) for (let i = 0; i < v.runs.count; i++) if (FOCUS[v.cats[i]!] === 1) n++;
  if (n === 0) return [];
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  const order = new Uint32Array(n);
  let k = 0;
  for (const v of views) {
    for (let i = 0; i < v.runs.count; i++) {
      if (FOCUS[v.cats[i]!] !== 1) continue;
      starts[k] = v.runs.start[i]!;
      ends[k] = v.runs.start[i]! + v.runs.length[i]!;
      order[k] = k;
      k++;
    }
  }
  order.sort((a, b) => starts[a]! - starts[b]!);

  // Union of overlapping or touching runs (snapshots overlap each other).
  const cs: number[] = [];
  const ce: number[] = [];
  for (let j = 0; j < n; j++) {
    const s = starts[order[j]!]!;
    const e = ends[order[j]!]!;
    const last = cs.length - 1;
    if (last >= 0 && s <= ce[last]!) ce[last] = Math.max(ce[last]!, e);
    else {
      cs.push(s);
      ce.push(e);
    }
  }

  // Merge neighbours that are close, by the clusters' own sizes.
  let i = 0;
  while (i + 1 < cs.length) {
    const gap = cs[i + 1]! - ce[i]!;
    if (gap <= MERGE_GAP_PAGES || gap <= ce[i]! - cs[i]! + (ce[i + 1]! - cs[i + 1]!)) {
      ce[i] = ce[i + 1]!;
      cs.splice(i + 1, 1);
      ce.splice(i + 1, 1);
      // The grown cluster may now reach its left neighbour too.
      if (i > 0) i--;
    } else i++;
  }
  // The cap: merge the closest neighbours.
  while (cs.length > maxStrips) {
    let best = 0;
    for (let j = 1; j + 1 < cs.length; j++) if (cs[j + 1]! - ce[j]! < cs[best + 1]! - ce[best]!) best = j;
    ce[best] = ce[best + 1]!;
    cs.splice(best + 1, 1);
    ce.splice(best + 1, 1);
  }

  // Pad, enforce the minimum span, clip to the address space, and join strips that now overlap.
  const out: FocusStrip[] = [];
  for (let j = 0; j < cs.length; j++) {
    const span = ce[j]! - cs[j]!;
    const pad = Math.max(MIN_PAD_PAGES, Math.ceil(span * 0.04), Math.ceil((MIN_SPAN_PAGES - span) / 2));
    // Padding stays on the cluster's side of 4 GiB, so a strip says "below" or "above" truly.
    const floor = cs[j]! >= FOUR_GIB_PAGES ? FOUR_GIB_PAGES : 0;
    const ceiling = ce[j]! <= FOUR_GIB_PAGES ? Math.min(pageCount, FOUR_GIB_PAGES) : pageCount;
    let first = Math.max(floor, cs[j]! - pad);
    let end = Math.min(ceiling, ce[j]! + pad);
    // Near an edge of the address space the padding goes to the other side.
    const want = Math.min(ceiling - floor, Math.max(span + 2 * pad, MIN_SPAN_PAGES));
    if (end - first < want) {
      if (first === floor) end = Math.min(ceiling, first + want);
      else first = Math.max(floor, end - want);
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && first * PAGE_SIZE <= prev.end) prev.end = Math.max(prev.end, end * PAGE_SIZE);
    else out.push({ base: first * PAGE_SIZE, end: end * PAGE_SIZE });
  }
  return out;
}
