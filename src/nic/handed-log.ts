/**
 * The log of every page address a NIC was handed by a registration: what lets tests, reports
 * and the verifier prove what a 32-bit NIC was given (an address at or above 2^addressBits
 * truncates on the bus; the NIC never refuses it).
 *
 * The counters (`pages`, `highest`, `aboveLimit`) count everything; the list itself keeps
 * only the first HANDED_LOG_LIMIT addresses, so a long run (cache re-exposures hand the same
 * pages again and again) cannot grow it without bound.
 */

/** Entries kept in the handed-address log (8 bytes each). */
export const HANDED_LOG_LIMIT = 1 << 20;

export class HandedAddressLog {
  private log = new Float64Array(256);
  private count = 0;
  /** Page addresses handed, in all. */
  pages = 0;
  /** The highest page address ever handed (-1: none). */
  highest = -1;
  /** Pages handed at or above 2^addressBits. */
  aboveLimit = 0;
  private readonly limit: number;

  constructor(addressBits: number) {
    this.limit = 2 ** addressBits;
  }

  /** Record the page addresses of one registration. */
  record(pages: Float64Array): void {
    let highest = this.highest;
    for (let i = 0; i < pages.length; i++) {
      const p = pages[i]!;
      if (p >= this.limit) this.aboveLimit++;
      if (p > highest) highest = p;
    }
    this.highest = highest;
    this.pages += pages.length;
    if (this.count >= HANDED_LOG_LIMIT) return;
    if (this.count + pages.length > HANDED_LOG_LIMIT) pages = pages.subarray(0, HANDED_LOG_LIMIT - this.count);
    if (this.count + pages.length > this.log.length) {
      let size = this.log.length * 2;
      while (size < this.count + pages.length) size *= 2;
      const next = new Float64Array(size);
      next.set(this.log.subarray(0, this.count));
      this.log = next;
    }
    this.log.set(pages, this.count);
    this.count += pages.length;
  }

  /** The logged addresses in order (a copy). */
  addresses(): Float64Array {
    return this.log.slice(0, this.count);
  }
}
