/** Shared helpers for the memory-manager DDI tests. */
import { expect } from 'vitest';
import { FOUR_GIB, GIB, MIB } from '../../src/bus/index.ts';
import { BugCheck } from '../../src/kernel/bugcheck.ts';
import { Kernel } from '../../src/kernel/kernel.ts';

export const small = (nolowmem = false) =>
  nolowmem
    ? Kernel.boot({ ramBytes: 48 * MIB, nolowmem: true, mmioHoleBytes: FOUR_GIB - 32 * MIB })
    : Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
export const big = (nolowmem = false) => Kernel.boot({ ramBytes: 6 * GIB, nolowmem });

/** Run `fn`, expect a bug check with `code` and P1 (when given); returns it. */
export function expectBugCheck(fn: () => unknown, code: number, p1?: number): BugCheck {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(BugCheck);
  const b = caught as BugCheck;
  expect(b.code).toBe(code);
  if (p1 !== undefined) expect(b.parameters[0]).toBe(p1);
  return b;
}

/** A cheap fingerprint of the PFN database and index (equal before/after = nothing changed). */
export function fingerprint(k: Kernel): string {
  let h = 0;
  const mix = (a: ArrayLike<number>) => {
    for (let i = 0; i < a.length; i++) h = (Math.imul(h, 31) + a[i]!) | 0;
  };
  mix(k.mm.pfn.state);
  mix(k.mm.pfn.flags);
  mix(k.mm.pfn.owner);
  mix(k.mm.pfn.lockCount);
  mix(k.mm.index.bitmap);
  return `${h}:${JSON.stringify(k.mm.counters())}:${k.mm.owners.liveCount}`;
}

/**
 * Pool blocks in use: outstanding blocks less those a lookaside list holds in its cache (an IRP or
 * MDL the I/O manager's lists keep is the list's, not the caller's: src/host/accounting.ts).
 */
export const poolBlocksInUse = (k: Kernel): number => k.mm.pool.outstandingBlocks - k.mm.pool.lookasideCachedBlocks;
