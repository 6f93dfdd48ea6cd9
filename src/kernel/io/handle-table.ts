/**
 * A process's handle table. [kernel: "Object Handles"; Windows Internals "Object handles and
 * the process handle table"]
 *
 * Implementation notes
 * - Entries live in typed arrays (granted access, generation, free-list link) plus one array
 *   of object references: no object per handle.
 * - A handle value is (generation << 18) | (index << 2): multiples of four like NT handles,
 *   never 0 and never INVALID_HANDLE_VALUE. The generation changes every time a slot is
 *   reused, so a stale (closed) handle whose slot was reused still fails instead of quietly
 *   naming someone else's object. (Windows does reuse handle values; the generation is a
 *   deliberate debugging aid, like the rxe key's generation bits.)
 * - At most 65535 handles per table (Windows allows ~16 M): a full table fails the insert.
 * - Free slots are a LIFO list threaded through `next`, so insert and remove are O(1).
 */

const INDEX_BITS = 16;
export const MAX_HANDLES = (1 << INDEX_BITS) - 1;
const GENERATION_MASK = 0x3fff;

export class HandleTable<T> {
  private objects: (T | null)[] = [null];
  private access = new Uint32Array(16);
  private generation = new Uint16Array(16);
  private next = new Int32Array(16);
  private freeHead = -1;
  private used = 0;

  get count(): number {
    return this.used;
  }

  /** A new handle for `object` with `grantedAccess`, or 0 when the table is full. */
  insert(object: T, grantedAccess: number): number {
    let index: number;
    if (this.freeHead !== -1) {
      index = this.freeHead;
      this.freeHead = this.next[index]!;
    } else {
      index = this.objects.length;
      if (index > MAX_HANDLES) return 0;
      if (index >= this.access.length) this.grow();
      this.objects.push(null);
    }
    // Generation 0 is never handed out, so a small integer is never a valid handle by accident.
    const gen = ((this.generation[index]! + 1) & GENERATION_MASK) || 1;
    this.generation[index] = gen;
    this.objects[index] = object;
    this.access[index] = grantedAccess >>> 0;
    this.used++;
    return ((gen << 18) | (index << 2)) >>> 0;
  }

  /** Slot index of a live handle, or -1. */
  private indexOf(handle: unknown): number {
    if (typeof handle !== 'number' || !Number.isInteger(handle) || handle <= 0 || handle > 0xffffffff || (handle & 3) !== 0) return -1;
    const index = (handle >>> 2) & MAX_HANDLES;
    const gen = (handle >>> 18) & GENERATION_MASK;
    if (index === 0 || index >= this.objects.length) return -1;
    if (this.objects[index] === null || this.generation[index] !== gen) return -1;
    return index;
  }

  lookup(handle: unknown): { object: T; grantedAccess: number } | null {
    const index = this.indexOf(handle);
    return index < 0 ? null : { object: this.objects[index]!, grantedAccess: this.access[index]! };
  }

  /** Remove a live handle; returns its object or null when the handle is not valid. */
  remove(handle: unknown): T | null {
    const index = this.indexOf(handle);
    if (index < 0) return null;
    const object = this.objects[index]!;
    this.objects[index] = null;
    this.access[index] = 0;
    this.next[index] = this.freeHead;
    this.freeHead = index;
    this.used--;
    return object;
  }

  /** Live handles, lowest slot first (process rundown closes them in this order). */
  handles(): number[] {
    const out: number[] = [];
    for (let i = 1; i < this.objects.length; i++) {
      if (this.objects[i] !== null) out.push(((this.generation[i]! << 18) | (i << 2)) >>> 0);
    }
    return out;
  }

  private grow(): void {
    const n = Math.min(this.access.length * 2, MAX_HANDLES + 1);
    const access = new Uint32Array(n);
    access.set(this.access);
    const generation = new Uint16Array(n);
    generation.set(this.generation);
    const next = new Int32Array(n);
    next.set(this.next);
    this.access = access;
    this.generation = generation;
    this.next = next;
  }
}
