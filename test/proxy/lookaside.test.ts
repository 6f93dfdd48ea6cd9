/**
 * The proxy's per-request records from its own lookaside lists, and leak accounting that
 * understands caches.
 * Sources: WDK "Using Lookaside Lists" (a driver that allocates fixed-size blocks per request keeps
 * them on a lookaside list it initializes in DriverEntry and deletes before unload),
 * "ExInitializeLookasideListEx function (wdm.h)", "ExDeleteLookasideListEx function (wdm.h)"
 * ("the caller must free every entry it allocated before deleting the list"), "Bug Check 0xCE"
 * (lookaside lists a driver failed to delete before unload); src/host/accounting.ts for the rule
 * that a list's cached entries, and the pages only they hold, are the list's and not a leak.
 */
import { describe, expect, it } from 'vitest';
import { GIB, PAGE_SIZE } from '../../src/bus/index.ts';
import { createCluster, leakedCounters, snapshot, type Host } from '../../src/host/index.ts';
import { RawProxyClient } from '../../src/host/reliability/index.ts';
import { ExAllocateFromLookasideListEx, lookasideCachedCount, lookasideOutstandingCount } from '../../src/kernel/ex/index.ts';
import { MEM_COMMIT, MEM_RESERVE, NonPagedPoolNx, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import { STATUS_INVALID_PARAMETER } from '../../src/kernel/status.ts';
import {
  LOOKASIDE_LISTS_OFF, RECORD_BYTES, SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_PARAMETERS_KEY, TAG_ALLOCATION, TAG_REGISTRATION,
  sanProxyState,
} from '../../src/proxy/index.ts';

const RW = SANPROXY_LOCAL_READ | SANPROXY_LOCAL_WRITE;

function host(opts: { verifier?: boolean; lookasideLists?: number; load?: boolean } = {}): Host {
  const cluster = createCluster({
    hosts: [{ name: 'h', ramBytes: 2 * GIB, nolowmem: false, verifier: opts.verifier ?? false, nics: [{ addressBits: 64, ip: '10.9.0.1' }] }],
  });
  const h = cluster.hosts[0]!;
  if (opts.lookasideLists !== undefined) h.kernel.registry.setValue(SANPROXY_PARAMETERS_KEY, 'LookasideLists', opts.lookasideLists);
  if (opts.load ?? true) expect(h.loadProxy()).toBe(0);
  return h;
}

function client(h: Host) {
  const c = new RawProxyClient(h, h.createProcess('app'));
  const buf = c.process.VirtualAlloc(0, 4 * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  c.process.writeMemory(buf, new Uint8Array(4 * PAGE_SIZE).fill(7));
  return { c, buf };
}

const poolOfTag = (h: Host, tag: number) => h.kernel.mm.pool.tags().filter((t) => t.tag === tag).reduce((s, t) => s + t.bytes, 0);

describe('SAN proxy driver: per-request records from its lookaside lists', () => {
  it('DriverEntry initializes a LOOKASIDE_LIST_EX per record kind (nonpaged NX, 64 bytes, SpRg / SpAl); DriverUnload deletes them with nothing outstanding', () => {
    const h = host();
    const k = h.kernel;
    const records = sanProxyState(k)!.records;
    expect(records.active).toBe(true);
    expect(k.lookaside.counters().activeLists).toBe(2);
    for (const [list, tag] of [[records.registrations, TAG_REGISTRATION], [records.allocations, TAG_ALLOCATION]] as const) {
      expect([list.L.Type, list.L.Size, list.L.Tag]).toEqual([NonPagedPoolNx, RECORD_BYTES, tag]);
    }
    const { c, buf } = client(h);
    for (let i = 0; i < 3; i++) {
      const r = c.register(0, RW, buf, 2 * PAGE_SIZE);
      const a = c.allocate(0, RW, 5000);
      expect(r.ok && a.ok).toBe(true);
      expect(c.deregister(r.id).ok && c.release(a.id).ok).toBe(true);
    }
    expect(lookasideCachedCount(k, records.registrations)).toBe(1);
    expect(lookasideCachedCount(k, records.allocations)).toBe(1);
    expect(lookasideOutstandingCount(k, records.registrations) + lookasideOutstandingCount(k, records.allocations)).toBe(0);
    expect(c.close()).toBe(true);
    expect(h.unloadProxy()).toBe(0);
    // Deleted: no list left active (a scan would stop with 0xCE otherwise), the cached records freed.
    expect(k.lookaside.counters()).toEqual({ activeLists: 0, cachedEntries: 0 });
    expect(records.active).toBe(false);
    expect(poolOfTag(h, TAG_REGISTRATION) + poolOfTag(h, TAG_ALLOCATION)).toBe(0);
    k.lookaside.balanceSetManagerScan();
    expect(k.bugcheck.crashed).toBeNull();
  });

  it('REGISTER_BUFFER takes its record from the list: a miss first, then the record the last DEREGISTER freed (a hit)', () => {
    const h = host();
    const k = h.kernel;
    const list = sanProxyState(k)!.records.registrations;
    const { c, buf } = client(h);
    const first = c.register(0, RW, buf, PAGE_SIZE);
    expect([list.L.TotalAllocates, list.L.AllocateMisses]).toEqual([1, 1]);
    const record = k.mm.pool.outstanding().find((b) => b.tag === TAG_REGISTRATION)!.address;
    expect(c.deregister(first.id).ok).toBe(true);
    expect([list.L.TotalFrees, list.L.FreeMisses]).toEqual([1, 0]);
    expect(k.mm.pool.blockAt(record)!.lookaside).not.toBe(0);
    const second = c.register(0, RW, buf, PAGE_SIZE);
    expect(second.ok).toBe(true);
    expect([list.L.TotalAllocates, list.L.AllocateMisses]).toEqual([2, 1]);
    expect(k.mm.pool.blockAt(record)).toMatchObject({ tag: TAG_REGISTRATION, lookaside: 0 });
  });

  it('Parameters\\LookasideLists = 0: no lists, every record is an ExAllocatePool2 block freed at once; any value but 0 or 1 fails DriverEntry', () => {
    const h = host({ lookasideLists: LOOKASIDE_LISTS_OFF });
    const k = h.kernel;
    expect(sanProxyState(k)!.records.active).toBe(false);
    expect(k.lookaside.counters().activeLists).toBe(0);
    const { c, buf } = client(h);
    const r = c.register(0, RW, buf, PAGE_SIZE);
    expect(poolOfTag(h, TAG_REGISTRATION)).toBe(RECORD_BYTES);
    expect(c.deregister(r.id).ok).toBe(true);
    expect(poolOfTag(h, TAG_REGISTRATION)).toBe(0);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(k.lookaside.systemCounters().reduce((s, l) => s + l.cachedEntries, 0));

    const bad = host({ lookasideLists: 2, load: false });
    expect(bad.loadProxy()).toBe(STATUS_INVALID_PARAMETER);
    expect(bad.kernel.lookaside.counters().activeLists).toBe(0);
  });

  it('under Driver Verifier the lists keep Depth 0: every record goes back to pool, and unload finds no pool left (no 0xC4/0x62)', () => {
    const h = host({ verifier: true });
    const k = h.kernel;
    const records = sanProxyState(k)!.records;
    expect(records.registrations.L.Depth).toBe(0);
    const { c, buf } = client(h);
    const r = c.register(0, RW, buf, PAGE_SIZE);
    expect(c.deregister(r.id).ok).toBe(true);
    expect(records.registrations.L.FreeMisses).toBe(1);
    expect(k.mm.pool.lookasideCachedBlocks).toBe(0);
    expect(c.close()).toBe(true);
    expect(h.unloadProxy()).toBe(0);
    expect(k.bugcheck.crashed).toBeNull();
    expect(k.verifier!.findings().filter((f) => f.rule.startsWith('lookaside') || f.rule === 'pool-leaked-at-unload')).toEqual([]);
  });
});

describe('leak accounting understands lookaside caches (src/host/accounting.ts)', () => {
  it('blocks the lists cache — the proxy\'s records, the I/O manager\'s IRPs and MDLs — and the pages only they hold are not leaks', () => {
    const h = host();
    const k = h.kernel;
    const { c, buf } = client(h);
    // Fault in the client's scratch pages (input and output) before the baseline: they are the
    // process's pages, not the driver's.
    expect(c.queryAddresses().ok && !c.deregister(999_999).ok).toBe(true);
    const before = snapshot(h);
    const rawBefore = { blocks: k.mm.pool.outstandingBlocks, free: k.mm.counters().freePages, mappings: k.mm.counters().systemMappings };
    const cachedBefore = k.mm.pool.lookasideReclaimable(); // the open's IRP_MJ_CREATE packet, already cached
    for (let i = 0; i < 5; i++) {
      const r = c.register(0, RW, buf, 3 * PAGE_SIZE);
      const a = c.allocate(0, RW, 3 * PAGE_SIZE);
      expect(c.deregister(r.id).ok && c.release(a.id).ok).toBe(true);
    }
    // The caches hold blocks (records, IRPs, MDLs) on pages that were free before: counted raw, the
    // pool and the free pages would differ — the accounting must not call that a leak.
    const cached = k.mm.pool.lookasideReclaimable();
    expect(cached.blocks - cachedBefore.blocks).toBeGreaterThanOrEqual(3);
    expect(cached.pages - cachedBefore.pages).toBeGreaterThan(0);
    expect(k.mm.pool.outstandingBlocks - rawBefore.blocks).toBe(cached.blocks - cachedBefore.blocks);
    expect(rawBefore.free - k.mm.counters().freePages).toBe(cached.pages - cachedBefore.pages);
    expect(k.mm.counters().systemMappings - rawBefore.mappings).toBe(cached.mappings - cachedBefore.mappings);
    expect(leakedCounters(before, snapshot(h))).toEqual([]);
  });

  it('a real leak still shows while the lists cache blocks: a record taken from the list and never given back, and a plain pool block', () => {
    const h = host();
    const k = h.kernel;
    const { c, buf } = client(h);
    // Warm the caches first, so the leak sits beside cached entries.
    const warm = c.register(0, RW, buf, PAGE_SIZE);
    expect(c.deregister(warm.id).ok).toBe(true);
    const before = snapshot(h);
    const records = sanProxyState(k)!.records;
    // A driver bug: a record taken from the list (the cached one) and never freed.
    const leaked = ExAllocateFromLookasideListEx(k, records.registrations);
    expect(leaked).not.toBeNull();
    const leaks = leakedCounters(before, snapshot(h));
    expect(leaks).toContain('poolBlocks +1');
    expect(leaks).toContain(`poolBytes +${RECORD_BYTES}`);
    // And the proxy's unload then refuses: a record is still out of its list.
    expect(lookasideOutstandingCount(k, records.registrations)).toBe(1);
  });
});
