/**
 * The deliberately simple baseline: find a contiguous run by walking the PFN database one
 * page at a time, as ReactOS's MiFindContiguousPages does (here top-down, so it returns the
 * same run as the indexed search and the two can be compared answer for answer).
 * Bench only — the kernel never uses this.
 */
import { PFN_STATE_FREE } from '../src/kernel/mm/pfn-database.ts';

export function linearFindRunDown(state: Uint8Array, n: number, lo: number, hi: number, boundaryPages: number): number {
  hi = Math.min(hi, state.length - 1);
  let run = 0;
  for (let p = hi; p >= lo; p--) {
    run = state[p] === PFN_STATE_FREE ? run + 1 : 0;
    if (run >= n) return p;
    if (boundaryPages !== 0 && p % boundaryPages === 0) run = 0;
  }
  return -1;
}
