/**
 * Runs of physical pages that look the same on a memory map: same PFN state, owner, locked or
 * not, and cache attribute. Extracted in one O(pages) pass over the PFN database's typed
 * arrays, with no object per page, so a 64 GiB host (16 M pages) costs one tight loop; the
 * report then draws runs, never pages.
 */
import { PFN_CACHE_MASK } from '../kernel/mm/pfn-database.ts';

/** The four PFN database arrays (or copies of them, e.g. PfnDatabase.snapshot()). */
export interface PfnArrays {
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly owner: Uint16Array;
  readonly lockCount: Uint16Array;
}

/** Runs as parallel typed arrays, ascending by start PFN, covering every page exactly once. */
export interface PageRuns {
  readonly count: number;
  readonly start: Uint32Array;
  readonly length: Uint32Array;
  readonly state: Uint8Array;
  readonly owner: Uint16Array;
  /** 1 when every page of the run has a lock count above zero. */
  readonly locked: Uint8Array;
  /** MEMORY_CACHING_TYPE (0..5) or 7 = none yet. */
  readonly cache: Uint8Array;
}

/** Split the pages into maximal runs of equal (state, owner, locked, cache). */
export function extractPageRuns(pfn: PfnArrays): PageRuns {
  const { state, flags, owner, lockCount } = pfn;
  const n = state.length;
  if (n === 0 || flags.length !== n || owner.length !== n || lockCount.length !== n) {
    throw new RangeError(`extractPageRuns: PFN arrays must have the same non-zero length, got ${n}/${flags.length}/${owner.length}/${lockCount.length}`);
  }
  let cap = 256;
  let rs = new Uint32Array(cap);
  let rl = new Uint32Array(cap);
  let rst = new Uint8Array(cap);
  let ro = new Uint16Array(cap);
  let rk = new Uint8Array(cap);
  let rc = new Uint8Array(cap);
  let count = 0;
  const push = (first: number, end: number, s: number, o: number, k: number, c: number) => {
    if (count === cap) {
      cap *= 2;
      const grow = <T extends Uint8Array | Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a);
        return b;
      };
      rs = grow(rs, (m) => new Uint32Array(m));
      rl = grow(rl, (m) => new Uint32Array(m));
      rst = grow(rst, (m) => new Uint8Array(m));
      ro = grow(ro, (m) => new Uint16Array(m));
      rk = grow(rk, (m) => new Uint8Array(m));
      rc = grow(rc, (m) => new Uint8Array(m));
    }
    rs[count] = first;
    rl[count] = end - first;
    rst[count] = s;
    ro[count] = o;
    rk[count] = k;
    rc[count] = c;
    count++;
  };
  let first = 0;
  let s = state[0]!;
  let o = owner[0]!;
  let k = lockCount[0]! !== 0 ? 1 : 0;
  let c = flags[0]! & PFN_CACHE_MASK;
  for (let i = 1; i < n; i++) {
    const s2 = state[i]!;
    const o2 = owner[i]!;
    const k2 = lockCount[i]! !== 0 ? 1 : 0;
    const c2 = flags[i]! & PFN_CACHE_MASK;
    if (s2 !== s || o2 !== o || k2 !== k || c2 !== c) {
      push(first, i, s, o, k, c);
      first = i;
      s = s2;
      o = o2;
      k = k2;
      c = c2;
    }
  }
  push(first, n, s, o, k, c);
  return {
    count,
    start: rs.slice(0, count),
    length: rl.slice(0, count),
    state: rst.slice(0, count),
    owner: ro.slice(0, count),
    locked: rk.slice(0, count),
    cache: rc.slice(0, count),
  };
}

/** Index of the run holding `pfn` (binary search), or -1 when outside. */
export function runIndexOf(runs: PageRuns, pfn: number): number {
  let lo = 0;
  let hi = runs.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = runs.start[mid]!;
    if (pfn < s) hi = mid - 1;
    else if (pfn >= s + runs.length[mid]!) lo = mid + 1;
    else return mid;
  }
  return -1;
}
