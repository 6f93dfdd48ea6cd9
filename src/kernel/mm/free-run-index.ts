/**
 * The index of free pages that makes every physical search cost about log(pages).
 *
 * Implementation notes
 * - A free bitmap (bit set = page free), 32 pages per Uint32 word, page p in word p >>> 5,
 *   bit p & 31 (low pages in low bits, so "left" in the tree is low addresses).
 * - Over the words, a complete binary segment tree in heap order (root 1, leaf of word w at
 *   `leaves + w`) whose nodes keep, for the pages they cover: `pre` (free run starting at the
 *   node's first page), `suf` (free run ending at its last page) and `max` (longest free run
 *   inside). Three Int32Arrays of 2 × leaves entries: 0.75 bytes per page.
 * - findRunDown (contiguous memory) walks the tree right to left, i.e. from the highest
 *   addresses down, as Windows does to keep low memory for those who need it. It carries the
 *   length of the free run that starts at the left edge of the part already processed; a node
 *   wholly inside [lo, hi] either completes a run with its suffix, holds one (max >= n: descend,
 *   guaranteed to succeed), or is skipped in O(1). A boundary B (pages, power of two) splits
 *   memory in windows a run may not cross: nodes larger than B are always descended, and the
 *   carry is reset at every multiple of B. An unsatisfiable request stops at the root (max < n)
 *   or after O(log) partial nodes.
 * - findFirstFree (single pages) walks left to right to the lowest free page in a range.
 * - Updates touch the changed words and then their ancestors level by level: O(words + log).
 */
export const FIND_FAILED = -1;

const CONTINUE = 0;
const FOUND = 1;
const EXHAUSTED = 2;

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Longest run of set bits in a 32-bit word. */
function longestRun(w: number): number {
  if (w === -1 || w === 0xffffffff) return 32;
  let k = 0;
  let x = w | 0;
  while (x !== 0) {
    x &= x << 1;
    k++;
  }
  return k;
}

export class FreeRunIndex {
  readonly words: number;
  readonly leaves: number;
  private readonly depth: number;
  readonly bitmap: Uint32Array;
  private readonly pre: Int32Array;
  private readonly suf: Int32Array;
  private readonly mx: Int32Array;
  /** Number of free pages. */
  freeCount = 0;

  // Search state (kept on the instance so the recursive walk allocates nothing).
  private qN = 0;
  private qLo = 0;
  private qHi = 0;
  private qB = 0;
  private carry = 0;
  private found = FIND_FAILED;

  constructor(readonly pageCount: number) {
    if (!Number.isSafeInteger(pageCount) || pageCount <= 0 || pageCount > 0x7fff_ffff) {
      throw new RangeError(`FreeRunIndex: page count must be in [1, 2^31), got ${pageCount}`);
    }
    this.words = Math.ceil(pageCount / 32);
    let leaves = 1;
    let depth = 0;
    while (leaves < this.words) {
      leaves *= 2;
      depth++;
    }
    this.leaves = leaves;
    this.depth = depth;
    this.bitmap = new Uint32Array(this.words);
    this.pre = new Int32Array(2 * leaves);
    this.suf = new Int32Array(2 * leaves);
    this.mx = new Int32Array(2 * leaves);
  }

  /** Bytes of index per page frame (bitmap + tree). */
  get bytesPerPage(): number {
    return (this.bitmap.byteLength + this.pre.byteLength * 3) / this.pageCount;
  }

  isFree(pfn: number): boolean {
    return ((this.bitmap[pfn >>> 5]! >>> (pfn & 31)) & 1) === 1;
  }

  /**
   * Mark [first, first+count) free (`free` true) or used. Every page must currently be in the
   * opposite state: the allocator never frees a free page or takes a used one (asserted).
   */
  setRange(first: number, count: number, free: boolean): void {
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(count) && first >= 0 && count > 0 &&
          first + count <= this.pageCount)) {
      throw new RangeError(`FreeRunIndex.setRange: [${first}, +${count}) outside [0, ${this.pageCount})`);
    }
    const last = first + count - 1;
    const w0 = first >>> 5;
    const w1 = last >>> 5;
    for (let w = w0; w <= w1; w++) {
      const lo = w === w0 ? first & 31 : 0;
      const hi = w === w1 ? last & 31 : 31;
      const mask = hi - lo === 31 ? 0xffffffff : (((1 << (hi - lo + 1)) - 1) << lo) >>> 0;
      const old = this.bitmap[w]!;
      const expected = free ? 0 : mask;
      if (((old & mask) >>> 0) !== expected) {
        throw new Error(
          `FreeRunIndex invariant: pages of word ${w} mask 0x${mask.toString(16)} are not all ${free ? 'used' : 'free'}`,
        );
      }
      this.bitmap[w] = free ? (old | mask) >>> 0 : (old & ~mask) >>> 0;
    }
    this.freeCount += free ? count : -count;
    this.refresh(w0, w1);
  }

  /**
   * Boot: mark [first, first+count) free without updating summaries; call rebuild() after the
   * last range. Whole words are filled at once.
   */
  bootSetFree(first: number, count: number): void {
    const last = first + count - 1;
    if (!(Number.isSafeInteger(first) && count > 0 && first >= 0 && last < this.pageCount)) {
      throw new RangeError(`FreeRunIndex.bootSetFree: [${first}, +${count}) outside [0, ${this.pageCount})`);
    }
    const w0 = first >>> 5;
    const w1 = last >>> 5;
    if (w1 - w0 > 1) this.bitmap.fill(0xffffffff, w0 + 1, w1);
    for (const w of w0 === w1 ? [w0] : [w0, w1]) {
      const lo = w === w0 ? first & 31 : 0;
      const hi = w === w1 ? last & 31 : 31;
      const mask = hi - lo === 31 ? 0xffffffff : (((1 << (hi - lo + 1)) - 1) << lo) >>> 0;
      this.bitmap[w] = (this.bitmap[w]! | mask) >>> 0;
    }
  }

  /** Recompute the summaries of the leaves for words [w0, w1] and all their ancestors. */
  private refresh(w0: number, w1: number): void {
    let lo = this.leaves + w0;
    let hi = this.leaves + w1;
    for (let i = lo; i <= hi; i++) this.leafSummary(i);
    let half = 32;
    while (lo > 1) {
      lo >>>= 1;
      hi >>>= 1;
      for (let i = lo; i <= hi; i++) this.combine(i, half);
      half *= 2;
    }
  }

  private leafSummary(i: number): void {
    const w = i - this.leaves < this.words ? this.bitmap[i - this.leaves]! : 0;
    if (w === 0xffffffff) {
      this.pre[i] = 32;
      this.suf[i] = 32;
      this.mx[i] = 32;
    } else if (w === 0) {
      this.pre[i] = 0;
      this.suf[i] = 0;
      this.mx[i] = 0;
    } else {
      const inv = ~w >>> 0;
      this.pre[i] = ctz32(inv);
      this.suf[i] = Math.clz32(inv);
      this.mx[i] = longestRun(w);
    }
  }

  /** Combine the children of node i, each covering `half` pages. */
  private combine(i: number, half: number): void {
    const l = 2 * i;
    const r = l + 1;
    const pl = this.pre[l]!;
    const sr = this.suf[r]!;
    this.pre[i] = pl === half ? half + this.pre[r]! : pl;
    this.suf[i] = sr === half ? half + this.suf[l]! : sr;
    const m = Math.max(this.mx[l]!, this.mx[r]!);
    const across = this.suf[l]! + this.pre[r]!;
    this.mx[i] = across > m ? across : m;
  }

  /** Rebuild every summary from the bitmap in O(words) (boot). */
  rebuild(): void {
    let free = 0;
    for (let w = 0; w < this.words; w++) {
      const v = this.bitmap[w]!;
      if (v === 0xffffffff) free += 32;
      else if (v !== 0) free += popcount(v);
    }
    this.freeCount = free;
    for (let i = this.leaves; i < 2 * this.leaves; i++) this.leafSummary(i);
    let half = 32;
    for (let levelStart = this.leaves >>> 1; levelStart >= 1; levelStart >>>= 1) {
      for (let i = levelStart; i < 2 * levelStart; i++) this.combine(i, half);
      half *= 2;
    }
  }

  /** Longest free run anywhere (ignoring bounds). */
  get longestFreeRun(): number {
    return this.mx[1]!;
  }

  /**
   * Highest-addressed run of `n` free pages inside [lo, hi] (inclusive PFNs) that does not
   * cross a multiple of `boundary` pages (0 = no boundary; else a power of two >= n).
   * Returns its first PFN or FIND_FAILED.
   */
  findRunDown(n: number, lo: number, hi: number, boundary: number): number {
    if (hi > this.pageCount - 1) hi = this.pageCount - 1;
    if (lo < 0) lo = 0;
    if (n <= 0 || lo > hi || hi - lo + 1 < n || this.mx[1]! < n) return FIND_FAILED;
    if (boundary !== 0 && (boundary < n || (boundary & (boundary - 1)) !== 0)) {
      throw new RangeError(`findRunDown: boundary ${boundary} must be 0 or a power of two >= ${n}`);
    }
    this.qN = n;
    this.qLo = lo;
    this.qHi = hi;
    this.qB = boundary;
    this.carry = 0;
    this.found = FIND_FAILED;
    this.down(1, 0, this.leaves * 32);
    return this.found;
  }

  private down(i: number, a: number, len: number): number {
    const lo = this.qLo;
    const hi = this.qHi;
    if (a > hi) return CONTINUE; // right of the range: nothing here, carry stays 0
    const b = a + len - 1;
    if (b < lo) return EXHAUSTED; // left of the range: everything further left is too
    const n = this.qN;
    const B = this.qB;
    if (i >= this.leaves) return this.scanLeaf(i - this.leaves, a);
    const inside = a >= lo && b <= hi;
    const big = B !== 0 && len > B;
    if (inside) {
      if (!big) {
        if (this.suf[i]! + this.carry >= n) {
          this.found = a + len + this.carry - n;
          return FOUND;
        }
        if (this.mx[i]! < n) {
          const p = this.pre[i]!;
          this.carry = p === len ? len + this.carry : p;
          if (B !== 0 && a % B === 0) this.carry = 0;
          return CONTINUE;
        }
      } else if (this.mx[i]! < n) {
        this.carry = 0; // a is a multiple of len > B, hence of B
        return CONTINUE;
      }
    }
    const h = len / 2;
    const r = this.down(2 * i + 1, a + h, h);
    if (r !== CONTINUE) return r;
    return this.down(2 * i, a, h);
  }

  private scanLeaf(w: number, a: number): number {
    const word = w < this.words ? this.bitmap[w]! : 0;
    const n = this.qN;
    const B = this.qB;
    const top = Math.min(a + 31, this.qHi);
    const bottom = Math.max(a, this.qLo);
    let carry = this.carry;
    for (let p = top; p >= bottom; p--) {
      if ((word >>> (p - a)) & 1) {
        if (++carry >= n) {
          this.found = p;
          return FOUND;
        }
      } else carry = 0;
      if (B !== 0 && p % B === 0) carry = 0;
    }
    this.carry = carry;
    return bottom > a ? EXHAUSTED : CONTINUE;
  }

  /** Lowest free PFN in [lo, hi], or FIND_FAILED. */
  findFirstFree(lo: number, hi: number): number {
    if (hi > this.pageCount - 1) hi = this.pageCount - 1;
    if (lo < 0) lo = 0;
    if (lo > hi || this.mx[1]! === 0) return FIND_FAILED;
    return this.up(1, 0, this.leaves * 32, lo, hi);
  }

  private up(i: number, a: number, len: number, lo: number, hi: number): number {
    const b = a + len - 1;
    if (b < lo || a > hi || this.mx[i]! === 0) return FIND_FAILED;
    if (i >= this.leaves) {
      const w = i - this.leaves;
      let word = this.bitmap[w]!;
      if (a < lo) word = (word & ~((1 << (lo - a)) - 1)) >>> 0; // lo - a <= 31
      if (b > hi) word = (word & (hi - a === 31 ? 0xffffffff : (1 << (hi - a + 1)) - 1)) >>> 0;
      return word === 0 ? FIND_FAILED : a + ctz32(word);
    }
    const h = len / 2;
    const l = this.up(2 * i, a, h, lo, hi);
    if (l !== FIND_FAILED) return l;
    return this.up(2 * i + 1, a + h, h, lo, hi);
  }
}

export function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}
