/**
 * The index of free pages that makes every physical search cost about log(pages).
 *
 * Implementation notes
 * - A free bitmap (bit set = page free), 32 pages per Uint32 word, page p in word p >>> 5,
 *   bit p & 31 (low pages in low bits, so "left" in the tree is low addresses).
 * - Over the words, a complete binary segment tree in heap order (root 1, leaf of word w at
 *   `leaves + w`) whose nodes keep, for the pages they cover: `pre` (free run starting at the
 *   node's first page), `suf` (free run ending at its last page) and `max` (longest free run
 *   inside), interleaved in one Int32Array (3 entries per node, 2 × leaves nodes): 0.75 bytes
 *   per page.
 * - findRunDown (contiguous memory) returns the highest fit, as Windows places contiguous
 *   memory high to keep low memory for those who need it. Without a boundary it starts at the
 *   word holding hi and climbs, looking at the left sibling of each node on the way (the memory
 *   just below what has been searched) with the free run carried across the edge; the first
 *   sibling that completes or holds a run is descended. The cost is about log(distance from
 *   hi to the answer): on fragmented memory a fit near the top takes a few levels. A next-fit
 *   hint per size (see hintTop) starts a burst of same-size allocations where the last ended.
 * - With a boundary B (pages, power of two) a run may not cross a multiple of B: a recursive
 *   walk from the root, right to left, descends every node larger than B and resets the carry
 *   at each multiple of B. An unsatisfiable request stops at the root (max < n) or after
 *   O(log) partial nodes.
 * - findFirstFree (single pages) walks left to right to the lowest free page in a range.
 * - Updates touch the changed words and then their ancestors level by level: O(words + log).
 */
export const FIND_FAILED = -1;

/** Request sizes (pages) that keep a next-fit hint: up to 4 MiB. */
const HINT_SIZES = 1025;

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
  readonly bitmap: Uint32Array;
  /** Node i's summary at 3i: pre, suf, max (interleaved so one node is one cache line). */
  private readonly t: Int32Array;
  /** Number of free pages. */
  freeCount = 0;

  // Search state (kept on the instance so the recursive walk allocates nothing).
  /**
   * Next-fit hints, the free-area cache of old Linux top-down mmap: for a request of n pages
   * (n < HINT_SIZES), hintTop[n] is a page above which no run of n free pages exists. It holds
   * while nothing has been freed since it was learned (hintEpoch[n] === freeEpoch): taking
   * pages only shortens runs. A burst of same-size allocations then starts each search where
   * the last one ended instead of at hi. Any free invalidates every hint in O(1).
   */
  private readonly hintTop = new Int32Array(HINT_SIZES);
  private readonly hintEpoch = new Float64Array(HINT_SIZES);
  private freeEpoch = 1;

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
    while (leaves < this.words) {
      leaves *= 2;
    }
    this.leaves = leaves;
    this.bitmap = new Uint32Array(this.words);
    this.t = new Int32Array(3 * 2 * leaves);
  }

  /** Bytes of index per page frame (bitmap + tree). */
  get bytesPerPage(): number {
    return (this.bitmap.byteLength + this.t.byteLength) / this.pageCount;
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
    if (free) this.freeEpoch++;
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
      this.t[3 * i] = 32;
      this.t[3 * i + 1] = 32;
      this.t[3 * i + 2] = 32;
    } else if (w === 0) {
      this.t[3 * i] = 0;
      this.t[3 * i + 1] = 0;
      this.t[3 * i + 2] = 0;
    } else {
      const inv = ~w >>> 0;
      this.t[3 * i] = ctz32(inv);
      this.t[3 * i + 1] = Math.clz32(inv);
      this.t[3 * i + 2] = longestRun(w);
    }
  }

  /** Combine the children of node i, each covering `half` pages. */
  private combine(i: number, half: number): void {
    const l = 2 * i;
    const r = l + 1;
    const pl = this.t[3 * l]!;
    const sr = this.t[3 * r + 1]!;
    this.t[3 * i] = pl === half ? half + this.t[3 * r]! : pl;
    this.t[3 * i + 1] = sr === half ? half + this.t[3 * l + 1]! : sr;
    const m = Math.max(this.t[3 * l + 2]!, this.t[3 * r + 2]!);
    const across = this.t[3 * l + 1]! + this.t[3 * r]!;
    this.t[3 * i + 2] = across > m ? across : m;
  }

  /** Rebuild every summary from the bitmap in O(words) (boot). */
  rebuild(): void {
    this.freeEpoch++;
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
    return this.t[3 * 1 + 2]!;
  }

  /**
   * Highest-addressed run of `n` free pages inside [lo, hi] (inclusive PFNs) that does not
   * cross a multiple of `boundary` pages (0 = no boundary; else a power of two >= n).
   * Returns its first PFN or FIND_FAILED.
   */
  findRunDown(n: number, lo: number, hi: number, boundary: number): number {
    if (hi > this.pageCount - 1) hi = this.pageCount - 1;
    if (lo < 0) lo = 0;
    if (n <= 0 || lo > hi || hi - lo + 1 < n || this.t[3 * 1 + 2]! < n) return FIND_FAILED;
    if (boundary === 0) return this.findRunDownHinted(n, lo, hi);
    if (boundary < n || (boundary & (boundary - 1)) !== 0) {
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

  /** climbDown below the next-fit hint for n, learning a new hint when the search saw the top. */
  private findRunDownHinted(n: number, lo: number, hi: number): number {
    if (n >= HINT_SIZES) return this.climbDown(n, lo, hi);
    let sawTop = hi === this.pageCount - 1;
    if (this.hintEpoch[n] === this.freeEpoch) {
      const top = this.hintTop[n]!;
      if (hi >= top) {
        hi = top;
        sawTop = true;
      }
    }
    const f = lo > hi || hi - lo + 1 < n ? FIND_FAILED : this.climbDown(n, lo, hi);
    if (sawTop && (f !== FIND_FAILED || lo === 0)) {
      this.hintTop[n] = f === FIND_FAILED ? -1 : f + n - 1;
      this.hintEpoch[n] = this.freeEpoch;
    }
    return f;
  }

  /**
   * The search without a boundary, bottom-up from `hi`: scan the word holding hi, then climb
   * the tree, looking at the left sibling of each node on the way (the memory just below what
   * has been searched). The first sibling whose top run, joined to the carry, is long enough
   * gives the answer directly; the first that holds a long enough run is descended. The cost
   * grows with log(distance from hi to the answer), not log(memory): on fragmented memory a
   * fit near the top is found after a few levels. Only the lowest answer is checked against
   * lo: the highest fit below hi lies under lo only if nothing fits in [lo, hi].
   */
  private climbDown(n: number, lo: number, hi: number): number {
    const t = this.t;
    const w = hi >>> 5;
    const topBit = hi & 31;
    let x = this.bitmap[w]! | 0; // int32 arithmetic throughout: the JIT keeps it in registers
    if (topBit !== 31) x &= (1 << (topBit + 1)) - 1;
    let edge = w * 32; // everything in [edge, hi] has been searched
    if (n <= 32) {
      const s = highestRunStart(x, n);
      if (s >= 0) return edge + s >= lo ? edge + s : FIND_FAILED;
    }
    // Free pages from edge upwards: the run a lower fit may continue into.
    let carry = x === -1 ? 32 : ctz32(~x);
    let i = this.leaves + w;
    let len = 32;
    while (i > 1) {
      if ((i & 1) === 1) {
        if (edge <= lo) return FIND_FAILED;
        const j = i - 1; // covers [edge - len, edge - 1]
        let f = FIND_FAILED;
        if (t[3 * j + 1]! + carry >= n) f = edge + carry - n;
        else if (t[3 * j + 2]! >= n) f = this.descendDown(j, edge - len, len, carry, n);
        else {
          const p = t[3 * j]!;
          carry = p === len ? len + carry : p;
          edge -= len;
        }
        if (f !== FIND_FAILED) return f >= lo ? f : FIND_FAILED;
      }
      i >>>= 1;
      len *= 2;
    }
    return FIND_FAILED;
  }

  /**
   * Highest fit inside node j (first page a, `len` pages) given `carry` free pages just above
   * it. Precondition: t[3 * j + 2] >= n or t[3 * j + 1] + carry >= n, so the walk always ends in a fit.
   */
  private descendDown(j: number, a: number, len: number, carry: number, n: number): number {
    const { t, leaves } = this;
    while (j < leaves) {
      const h = len >>> 1;
      const r = 2 * j + 1;
      if (t[3 * r + 1]! + carry >= n) return a + len + carry - n;
      if (t[3 * r + 2]! >= n) {
        j = r;
        a += h;
      } else {
        const p = t[3 * r]!;
        carry = p === h ? h + carry : p;
        j = r - 1;
      }
      len = h;
    }
    const x = this.bitmap[j - leaves]! | 0;
    if (Math.clz32(~x) + carry >= n) return a + 32 + carry - n;
    return a + highestRunStart(x, n);
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
        if (this.t[3 * i + 1]! + this.carry >= n) {
          this.found = a + len + this.carry - n;
          return FOUND;
        }
        if (this.t[3 * i + 2]! < n) {
          const p = this.t[3 * i]!;
          this.carry = p === len ? len + this.carry : p;
          if (B !== 0 && a % B === 0) this.carry = 0;
          return CONTINUE;
        }
      } else if (this.t[3 * i + 2]! < n) {
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
    if (lo > hi || this.t[3 * 1 + 2]! === 0) return FIND_FAILED;
    return this.up(1, 0, this.leaves * 32, lo, hi);
  }

  private up(i: number, a: number, len: number, lo: number, hi: number): number {
    const b = a + len - 1;
    if (b < lo || a > hi || this.t[3 * i + 2]! === 0) return FIND_FAILED;
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

/**
 * Bit index of the highest run of n set bits in x (n in 1..32), or -1. Doubling: after the
 * loop, bit i of y says bits i..i+s-1 of x are set; one more shift covers i..i+n-1.
 */
export function highestRunStart(x: number, n: number): number {
  let y = x;
  let s = 1;
  while (s * 2 <= n) {
    y &= y >>> s;
    s *= 2;
  }
  if (s < n) y &= y >>> (n - s);
  return y === 0 ? -1 : 31 - Math.clz32(y);
}

export function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
}
