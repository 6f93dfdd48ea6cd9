/**
 * Every counter a leak could show up in, for one host, and the difference between two
 * snapshots. "Nothing leaked" means the difference is zero everywhere: pages, pool, locks,
 * mappings, MDLs, common buffers, scatter/gather lists (made or waiting for map registers),
 * map registers, IOMMU ranges, and NIC registrations and memory windows.
 *
 * Lookaside caches: an entry a lookaside list holds in its cache — an IRP or MDL on
 * the I/O manager's lists, a record on the proxy's — is allocated pool that belongs to the list,
 * not to a leak; the list gives it back when it is flushed or deleted, or when the balance set
 * manager lowers its Depth. So the snapshot leaves cached blocks (and their bytes) out of
 * poolBlocks / poolBytes, and counts the pages that only cached blocks hold as free and their
 * system mappings as gone — the pool keeps that figure exactly (mm counters
 * lookasideReclaimable*). The snapshot does not flush the caches: it must not change what it
 * measures (a flush would also reset what the caches are for, and the lists' hit counters), and
 * Windows' own view is the same — Task Manager's "available" memory counts pages the system can
 * take back without waiting. Driver Verifier, for exact leak hunting, turns the caches off instead
 * (ExMinimumLookasideDepth 0); the reliability harness runs with it. A block a driver took from a
 * list and never gave back is not cached, so it still shows as a leak, and so does a page that a
 * leaked block shares with cached ones.
 */
import { outstandingLogicalRanges } from '../kernel/hal/index.ts';
import { mdlHost } from '../kernel/mm/mdl.ts';
import type { Host } from './host.ts';

export interface ResourceSnapshot {
  freePages: number;
  lockedPages: number;
  deletePendingPages: number;
  poolBytes: number;
  poolBlocks: number;
  systemMappings: number;
  mdls: number;
  commonBuffers: number;
  commonBufferBytes: number;
  sgLists: number;
  mapRegistersInUse: number;
  /** GetScatterGatherList requests waiting for map registers. */
  sgRequestsQueued: number;
  iommuRanges: number;
  nicRegistrations: number;
  nicWindows: number;
}

export function snapshot(host: Host): ResourceSnapshot {
  const k = host.kernel;
  const mm = k.mm.counters();
  const hal = k.hal.counters();
  const pool = k.mm.pool.tags();
  const cached = k.mm.pool.lookasideReclaimable();
  return {
    freePages: mm.freePages + mm.lookasideReclaimablePages,
    lockedPages: mm.lockedPages,
    deletePendingPages: mm.deletePendingPages,
    poolBytes: pool.reduce((s, t) => s + t.bytes, 0) - cached.bytes,
    poolBlocks: pool.reduce((s, t) => s + t.allocs - t.frees, 0) - cached.blocks,
    systemMappings: mm.systemMappings - mm.lookasideReclaimableMappings,
    mdls: mdlHost(k).live,
    commonBuffers: hal.commonBuffers,
    commonBufferBytes: hal.commonBufferBytes,
    sgLists: hal.sgLists,
    mapRegistersInUse: hal.mapRegistersInUse,
    sgRequestsQueued: hal.sgRequestsQueued,
    iommuRanges: outstandingLogicalRanges(k),
    nicRegistrations: host.nics.reduce((s, n) => s + n.nic.regionCount, 0),
    nicWindows: host.nics.reduce((s, n) => s + n.nic.windowCount, 0),
  };
}

/** after − before for every counter (free pages reported as pages lost). */
export function difference(before: ResourceSnapshot, after: ResourceSnapshot): ResourceSnapshot {
  const out = {} as ResourceSnapshot;
  for (const key of Object.keys(before) as (keyof ResourceSnapshot)[]) {
    out[key] = key === 'freePages' ? before[key] - after[key] : after[key] - before[key];
  }
  return out;
}

/** The names of counters that did not return to their earlier value. */
export function leakedCounters(before: ResourceSnapshot, after: ResourceSnapshot): string[] {
  const d = difference(before, after);
  return (Object.keys(d) as (keyof ResourceSnapshot)[]).filter((key) => d[key] !== 0).map((key) => `${key} ${d[key] > 0 ? '+' : ''}${d[key]}`);
}
