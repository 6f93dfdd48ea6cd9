/**
 * A small table of NIC objects (endpoints, completion queues) named by index + generation
 * handles, like the TPT, so a handle of a destroyed object never reaches its successor.
 */
import { GENERATION_SPAN, keyIndex, makeKey, nextGeneration } from './keys.ts';

export class ObjectTable<T> {
  private readonly objects: (T | null)[];
  private readonly generation: Uint16Array;
  private readonly freeRing: Int32Array;
  private freeHead = 0;
  private freeCount: number;
  count = 0;

  constructor(readonly capacity: number, salt: number) {
    this.objects = new Array<T | null>(capacity).fill(null);
    this.generation = new Uint16Array(capacity);
    this.freeRing = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) {
      this.freeRing[i] = i;
      this.generation[i] = ((i + 1) * salt) % (GENERATION_SPAN - 1) + 1;
    }
    this.freeCount = capacity;
  }

  /** Reserve a slot and return the handle it will have, or 0 when full. */
  nextHandle(): number {
    if (this.freeCount === 0) return 0;
    const index = this.freeRing[this.freeHead]!;
    return makeKey(index, this.generation[index]!);
  }

  /** Insert the object built for `nextHandle()`'s handle (visible only once fully set up). */
  insert(object: T): void {
    const index = this.freeRing[this.freeHead]!;
    this.freeHead = (this.freeHead + 1) % this.capacity;
    this.freeCount--;
    this.objects[index] = object;
    this.count++;
  }

  get(handle: unknown): T | null {
    if (typeof handle !== 'number') return null;
    const index = keyIndex(handle);
    if (index < 0 || index >= this.capacity) return null;
    const o = this.objects[index]!;
    return o !== null && makeKey(index, this.generation[index]!) === handle ? o : null;
  }

  remove(handle: number): void {
    const index = keyIndex(handle);
    this.objects[index] = null;
    this.generation[index] = nextGeneration(this.generation[index]!);
    this.freeRing[(this.freeHead + this.freeCount) % this.capacity] = index;
    this.freeCount++;
    this.count--;
  }

  *values(): IterableIterator<T> {
    for (const o of this.objects) if (o !== null) yield o;
  }
}
