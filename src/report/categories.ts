/**
 * What a run of pages is on the map: one category per (state, owner kind, locked) — the
 * legend. `priority` decides which colour a pixel takes when several runs narrower than a
 * pixel share it: the proxy's RDMA memory and locked user pages win over pool, process pages
 * and free memory, so a 64 KiB allocation on a 64 GiB map is still visible as one pixel.
 */
import type { OwnerKind } from '../kernel/mm/owners.ts';
import { PFN_STATE_ACTIVE, PFN_STATE_FREE, PFN_STATE_HOLE, PFN_STATE_RESERVED } from '../kernel/mm/pfn-database.ts';

export interface Category {
  key: string;
  name: string;
  color: string;
  priority: number;
}

export const CATEGORIES: readonly Category[] = [
  { key: 'hole', name: 'MMIO hole / no RAM', color: '#d4d4d8', priority: 1 },
  { key: 'reserved', name: 'firmware reserved', color: '#8b8b94', priority: 2 },
  { key: 'free', name: 'free', color: '#edf5e6', priority: 0 },
  { key: 'system', name: 'kernel (system)', color: '#5b6170', priority: 4 },
  { key: 'pool', name: 'kernel pool', color: '#4e79a7', priority: 5 },
  { key: 'pagetable', name: 'page tables', color: '#76b7b2', priority: 5 },
  { key: 'process', name: 'process pages', color: '#f1c453', priority: 3 },
  { key: 'locked', name: 'locked / registered user pages', color: '#e15759', priority: 9 },
  { key: 'mdl', name: 'MDL pages', color: '#b07aa1', priority: 6 },
  { key: 'contiguous', name: 'contiguous memory', color: '#2f9e44', priority: 8 },
  { key: 'common', name: 'common buffers', color: '#0b7285', priority: 8 },
  { key: 'bounce', name: 'bounce pages', color: '#f08c00', priority: 7 },
  { key: 'unknown', name: 'active, owner unknown', color: '#000000', priority: 10 },
];

const index = new Map(CATEGORIES.map((c, i) => [c.key, i]));
const at = (key: string): number => index.get(key)!;

const BY_KIND: Record<OwnerKind, number> = {
  system: at('system'),
  'pool-nonpaged': at('pool'),
  'pool-paged': at('pool'),
  'page-table': at('pagetable'),
  process: at('process'),
  'mdl-pages': at('mdl'),
  contiguous: at('contiguous'),
  'common-buffer': at('common'),
  bounce: at('bounce'),
};

/** Category index of a run. */
export function categoryOf(state: number, kind: OwnerKind | undefined, locked: boolean): number {
  if (state === PFN_STATE_HOLE) return at('hole');
  if (state === PFN_STATE_RESERVED) return at('reserved');
  if (state === PFN_STATE_FREE) return at('free');
  if (state !== PFN_STATE_ACTIVE || kind === undefined) return at('unknown');
  if (kind === 'process' && locked) return at('locked');
  return BY_KIND[kind];
}

/** MEMORY_CACHING_TYPE names [ddi/wdm ne-wdm-_memory_caching_type]; 7 = no mapping yet. */
export const CACHE_TYPE_NAMES: Record<number, string> = {
  0: 'MmNonCached',
  1: 'MmCached',
  2: 'MmWriteCombined',
  3: 'MmHardwareCoherentCached',
  4: 'MmNonCachedUnordered',
  5: 'MmUSWCCached',
  7: 'none yet',
};
