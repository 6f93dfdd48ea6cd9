/**
 * Property: random interleavings of alloc / commit / touch / protect / lock / unlock / free /
 * secure / unsecure / map / unmap / exit across several processes keep the memory manager's
 * invariants, and once every process has exited cleanly the host is back at its boot state.
 */
import { expect, test } from 'vitest';
import fc from 'fast-check';
import { boot, bootState, MIB } from './fixture.ts';
import type { Kernel } from '../../src/kernel/kernel.ts';
import type { Process } from '../../src/kernel/ps/process.ts';
import {
  IoAllocateMdl, IoFreeMdl, KernelMode, MDL_MAPPED_TO_SYSTEM_VA, MmProbeAndLockPages, MmUnlockPages, UserMode, type Mdl,
} from '../../src/kernel/mm/mdl.ts';
import { MmGetSystemAddressForMdlSafe, MmMapLockedPagesSpecifyCache, MmUnmapLockedPages, MmCached } from '../../src/kernel/mm/mdl-mapping.ts';
import { MmSecureVirtualMemory, MmUnsecureVirtualMemory } from '../../src/kernel/mm/secure.ts';
import { MEM_COMMIT, MEM_DECOMMIT, MEM_RELEASE, MEM_RESERVE } from '../../src/kernel/mm/virtual-memory.ts';
import { NtStatusError } from '../../src/kernel/status.ts';
import { PFN_FLAG_DELETE_PENDING, PFN_STATE_ACTIVE } from '../../src/kernel/mm/pfn-database.ts';
import { ref } from '../../src/kernel/ref.ts';

const PAGE = 4096;

type Op =
  | { op: 'alloc'; p: number; pages: number; commit: boolean; prot: number }
  | { op: 'commit'; p: number; r: number; first: number; n: number; prot: number }
  | { op: 'touch'; p: number; r: number; page: number; write: boolean }
  | { op: 'protect'; p: number; r: number; first: number; n: number; prot: number }
  | { op: 'lock'; p: number; r: number; first: number; n: number; off: number; write: boolean }
  | { op: 'unlock'; m: number }
  | { op: 'free'; p: number; r: number; first: number; n: number; release: boolean }
  | { op: 'secure'; p: number; r: number; first: number; n: number; rw: boolean }
  | { op: 'unsecure'; h: number }
  | { op: 'map'; m: number; user: boolean; into: number }
  | { op: 'unmap'; m: number }
  | { op: 'exit'; p: number };

const idx = fc.nat(7);
// Mostly read-write so that locks and touches usually find usable pages.
const prot = fc.constantFrom(4, 4, 4, 2, 1);
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  w(5, fc.record({ op: fc.constant('alloc' as const), p: idx, pages: fc.integer({ min: 1, max: 20 }), commit: fc.boolean(), prot })),
  w(2, fc.record({ op: fc.constant('commit' as const), p: idx, r: idx, first: fc.nat(19), n: fc.integer({ min: 1, max: 8 }), prot })),
  w(4, fc.record({ op: fc.constant('touch' as const), p: idx, r: idx, page: fc.nat(19), write: fc.boolean() })),
  w(2, fc.record({ op: fc.constant('protect' as const), p: idx, r: idx, first: fc.nat(19), n: fc.integer({ min: 1, max: 8 }), prot })),
  w(6, fc.record({ op: fc.constant('lock' as const), p: idx, r: idx, first: fc.nat(19), n: fc.integer({ min: 1, max: 8 }), off: fc.nat(4095), write: fc.boolean() })),
  w(2, fc.record({ op: fc.constant('unlock' as const), m: idx })),
  w(3, fc.record({ op: fc.constant('free' as const), p: idx, r: idx, first: fc.nat(19), n: fc.nat(8), release: fc.boolean() })),
  w(2, fc.record({ op: fc.constant('secure' as const), p: idx, r: idx, first: fc.nat(19), n: fc.integer({ min: 1, max: 8 }), rw: fc.boolean() })),
  w(1, fc.record({ op: fc.constant('unsecure' as const), h: idx })),
  w(3, fc.record({ op: fc.constant('map' as const), m: idx, user: fc.boolean(), into: idx })),
  w(1, fc.record({ op: fc.constant('unmap' as const), m: idx })),
  w(1, fc.record({ op: fc.constant('exit' as const), p: idx })),
);

interface World {
  k: Kernel;
  procs: Process[];
  mdls: Mdl[]; // locked MDLs
  secures: { p: Process; h: number }[];
}

/** How often the interesting paths ran (the property must exercise them, not skip them). */
const stats = { locked: 0, deletePending: 0, userMapped: 0, systemMapped: 0, secured: 0, secureBlocked: 0, exits: 0, touched: 0 };

const pick = <T>(xs: readonly T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);

/** A driver's clean-up for one MDL: unmap, unlock, free. */
function release(w: World, m: Mdl): void {
  if (m.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) MmUnmapLockedPages(w.k, m.MappedSystemVa, m);
  for (const u of [...m.userMappings]) w.k.ps.runInProcess(u.process, () => MmUnmapLockedPages(w.k, u.vad.start + m.ByteOffset, m));
  MmUnlockPages(w.k, m);
  IoFreeMdl(w.k, m);
  w.mdls.splice(w.mdls.indexOf(m), 1);
}

function signature(k: Kernel, p?: Process) {
  return JSON.stringify({ c: k.mm.counters(), r: p?.space.regions.map((v) => [v.start, v.committed, [...v.protect], [...v.pfn]]) });
}

function step(w: World, o: Op): void {
  const { k } = w;
  const p = 'p' in o ? pick(w.procs, o.p) : undefined;
  const region = p && 'r' in o ? pick(p.space.regions, o.r) : undefined;
  const range = (first: number, n: number) => {
    const f = region ? first % region.pageCount : 0;
    return { va: region ? region.start + f * PAGE : 0, bytes: Math.min(n, (region?.pageCount ?? 0) - f) * PAGE };
  };
  switch (o.op) {
    case 'alloc': {
      if (!p) return;
      p.VirtualAlloc(0, o.pages * PAGE, MEM_RESERVE | (o.commit ? MEM_COMMIT : 0), o.prot);
      return;
    }
    case 'commit': {
      if (!region) return;
      const { va, bytes } = range(o.first, o.n);
      p!.VirtualAlloc(va, bytes, MEM_COMMIT, o.prot);
      return;
    }
    case 'touch': {
      if (!region) return;
      const va = region.start + (o.page % region.pageCount) * PAGE + 8;
      const before = signature(k, p);
      try {
        if (o.write) p!.writeMemory(va, new Uint8Array([0x5a]));
        else p!.readMemory(va, new Uint8Array(1));
        stats.touched++;
      } catch (e) {
        expect(e).toBeInstanceOf(NtStatusError);
        expect(signature(k, p)).toBe(before);
      }
      return;
    }
    case 'protect': {
      if (!region) return;
      const { va, bytes } = range(o.first, o.n);
      const before = signature(k, p);
      if (!p!.VirtualProtect(va, bytes, o.prot, ref(0))) expect(signature(k, p)).toBe(before);
      return;
    }
    case 'lock': {
      if (!region) return;
      const { va, bytes } = range(o.first, o.n);
      const m = IoAllocateMdl(k, va + (o.off % PAGE), Math.max(1, bytes - (o.off % PAGE)), false, false, null)!;
      const before = signature(k, p);
      try {
        k.ps.runInProcess(p!, () => MmProbeAndLockPages(k, m, UserMode, o.write ? 1 : 0));
        w.mdls.push(m);
        stats.locked++;
      } catch (e) {
        expect(e).toBeInstanceOf(NtStatusError);
        expect(signature(k, p)).toBe(before);
        IoFreeMdl(k, m);
      }
      return;
    }
    case 'unlock': {
      const m = pick(w.mdls, o.m);
      if (m) release(w, m);
      return;
    }
    case 'free': {
      if (!region) return;
      const before = signature(k, p);
      const ok = o.release ? p!.VirtualFree(region.start, 0, MEM_RELEASE) : (() => {
        const { va, bytes } = range(o.first, o.n);
        return p!.VirtualFree(va, bytes, MEM_DECOMMIT);
      })();
      if (!ok) expect(signature(k, p)).toBe(before);
      if (!ok && p!.lastStatus === 0xc0000045) stats.secureBlocked++;
      if (ok && k.mm.counters().deletePendingPages > 0) stats.deletePending++;
      return;
    }
    case 'secure': {
      if (!region) return;
      const { va, bytes } = range(o.first, o.n);
      const h = k.ps.runInProcess(p!, () => MmSecureVirtualMemory(k, va, bytes, o.rw ? 4 : 2));
      if (h !== null) {
        w.secures.push({ p: p!, h });
        stats.secured++;
      }
      return;
    }
    case 'unsecure': {
      const s = pick(w.secures, o.h);
      if (!s) return;
      k.ps.runInProcess(s.p, () => MmUnsecureVirtualMemory(k, s.h));
      w.secures.splice(w.secures.indexOf(s), 1);
      return;
    }
    case 'map': {
      const m = pick(w.mdls, o.m);
      if (!m) return;
      if (!o.user) {
        if (MmGetSystemAddressForMdlSafe(k, m, 16) !== null) stats.systemMapped++;
        return;
      }
      const into = pick(w.procs, o.into);
      if (into && k.ps.runInProcess(into, () => MmMapLockedPagesSpecifyCache(k, m, UserMode, MmCached, null, false, 16)) !== null) stats.userMapped++;
      return;
    }
    case 'unmap': {
      const m = pick(w.mdls, o.m);
      if (!m) return;
      const u = m.userMappings[0];
      if (u) k.ps.runInProcess(u.process, () => MmUnmapLockedPages(k, u.vad.start + m.ByteOffset, m));
      else if (m.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) MmUnmapLockedPages(k, m.MappedSystemVa, m);
      return;
    }
    case 'exit': {
      if (!p) return;
      exitCleanly(w, p);
      stats.exits++;
      w.procs.push(k.ps.createProcess(`p${w.procs.length}`));
      return;
    }
  }
}

/** The driver releases everything it holds on the process, then the process exits. */
function exitCleanly(w: World, p: Process): void {
  for (const m of [...w.mdls]) if (m.Process === p) release(w, m);
  w.secures = w.secures.filter((s) => s.p !== p);
  expect(w.k.ps.terminateProcess(p, 0)).toBe(0);
  w.procs.splice(w.procs.indexOf(p), 1);
}

function checkInvariants(w: World): void {
  const { k } = w;
  const { state, flags, owner, lockCount } = k.mm.pfn;
  // Lock counts match the outstanding locked MDLs.
  const expected = new Map<number, number>();
  for (const m of w.mdls) for (const f of m.pfnArray) expected.set(f, (expected.get(f) ?? 0) + 1);
  for (let f = 0; f < lockCount.length; f++) {
    if (lockCount[f] !== (expected.get(f) ?? 0)) throw new Error(`frame ${f}: lockCount ${lockCount[f]} != ${expected.get(f) ?? 0} MDL references`);
    if ((flags[f]! & PFN_FLAG_DELETE_PENDING) && lockCount[f] === 0) throw new Error(`frame ${f}: delete pending but unlocked`);
  }
  // No frame owned twice; every mapping points at a live frame.
  const seen = new Set<number>();
  for (const p of w.procs) {
    let locked = 0;
    for (const m of p.lockedMdls) locked += m.pfnArray.length;
    expect(p.lockedPages).toBe(locked);
    for (const v of p.space.regions) {
      for (const f of v.pfn) {
        if (f < 0) continue;
        if (state[f] !== PFN_STATE_ACTIVE) throw new Error(`process ${p.ProcessId} maps frame ${f} in state ${state[f]}`);
        if (v.kind !== 'private') continue;
        if (seen.has(f)) throw new Error(`frame ${f} owned twice`);
        seen.add(f);
        expect(owner[f]).toBe(p.pageOwner);
        expect(flags[f]! & PFN_FLAG_DELETE_PENDING).toBe(0);
      }
    }
  }
  for (const m of w.mdls) {
    if (m.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) {
      const r = k.mm.system.lookup(m.MappedSystemVa)!;
      for (const f of r.pfns) expect(state[f]).toBe(PFN_STATE_ACTIVE);
    }
  }
  expect(k.mm.audit()).toEqual([]);
}

test('random interleavings across processes keep the invariants and tear down to the boot state', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 30, maxLength: 100, size: 'max' }), (ops) => {
      const k = boot({ ramBytes: 64 * MIB });
      const s0 = bootState(k);
      const w: World = { k, procs: [0, 1, 2].map((i) => k.ps.createProcess(`p${i}`)), mdls: [], secures: [] };
      for (const o of ops) {
        step(w, o);
        checkInvariants(w);
      }
      for (const p of [...w.procs]) exitCleanly(w, p);
      expect(w.mdls.length).toBe(0);
      expect(bootState(k)).toEqual(s0);
      expect(k.mm.audit()).toEqual([]);
      expect(k.bugcheck.crashed).toBeNull();
    }),
    { numRuns: 100 },
  );
  for (const [name, n] of Object.entries(stats)) expect(n, `property never exercised: ${name}`).toBeGreaterThan(0);
});

test('KernelMode locks of user buffers follow the same invariants', () => {
  const k = boot({ ramBytes: 64 * MIB });
  const p = k.ps.createProcess('app');
  const va = p.VirtualAlloc(0, 4 * PAGE, MEM_RESERVE | MEM_COMMIT, 4);
  const m = IoAllocateMdl(k, va, 4 * PAGE, false, false, null)!;
  k.ps.runInProcess(p, () => MmProbeAndLockPages(k, m, KernelMode, 0));
  const w: World = { k, procs: [p], mdls: [m], secures: [] };
  checkInvariants(w);
  exitCleanly(w, p);
});
