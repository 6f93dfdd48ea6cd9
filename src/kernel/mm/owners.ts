/**
 * Who owns a page: a small table of owners (kind + label + driver). The PFN database stores
 * the 16-bit OwnerId per page, so the table has at most 65535 live owners. Each owner keeps
 * a page count (maintained by the page allocator), so "who holds how much" costs no scan.
 *
 * An owner released while some of its pages are still held (freed while locked, freed at the
 * last unlock) keeps its id until the count reaches zero, so a PFN never names a reused id.
 */
export type OwnerKind =
  | 'system'
  | 'pool-nonpaged'
  | 'pool-paged'
  | 'contiguous'
  | 'process'
  | 'mdl-pages'
  | 'common-buffer'
  | 'bounce'
  | 'page-table';

export interface OwnerInfo {
  kind: OwnerKind;
  label: string;
  driver?: string;
}

export const MAX_OWNERS = 0xffff;

export class OwnerTable {
  private readonly info: (OwnerInfo | undefined)[] = [undefined];
  private readonly released: boolean[] = [false];
  /** Pages held per owner id. */
  readonly pages = new Int32Array(MAX_OWNERS + 1);
  private readonly freeIds: number[] = [];
  private live = 0;

  /** Register an owner; returns its id (1..65535) or 0 when the table is full. */
  register(kind: OwnerKind, label: string, driver?: string): number {
    let id: number;
    if (this.freeIds.length > 0) id = this.freeIds.pop()!;
    else if (this.info.length <= MAX_OWNERS) id = this.info.length;
    else return 0;
    this.info[id] = driver === undefined ? { kind, label } : { kind, label, driver };
    this.released[id] = false;
    this.pages[id] = 0;
    this.live++;
    return id;
  }

  /** The owner gives up its id; it is recycled once it holds no page. */
  release(id: number): void {
    if (!this.isLive(id)) throw new Error(`OwnerTable.release: ${id} is not a live owner`);
    this.released[id] = true;
    this.live--;
    if (this.pages[id] === 0) this.recycle(id);
  }

  get(id: number): OwnerInfo | undefined {
    return Number.isInteger(id) && id > 0 ? this.info[id] : undefined;
  }

  isLive(id: number): boolean {
    return Number.isInteger(id) && id > 0 && id < this.info.length && this.info[id] !== undefined && !this.released[id];
  }

  get liveCount(): number {
    return this.live;
  }

  /** Called by the page allocator. */
  addPages(id: number, delta: number): void {
    const n = this.pages[id]! + delta;
    if (n < 0 || this.info[id] === undefined) throw new Error(`OwnerTable invariant: owner ${id} page count ${n}`);
    this.pages[id] = n;
    if (n === 0 && this.released[id]) this.recycle(id);
  }

  private recycle(id: number): void {
    this.info[id] = undefined;
    this.released[id] = false;
    this.freeIds.push(id);
  }
}
