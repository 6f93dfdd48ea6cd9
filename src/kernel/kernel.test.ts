import { describe, expect, it } from 'vitest';
import { GIB, MIB } from '../bus/index.ts';
import { BugCheck } from './bugcheck.ts';
import { Kernel } from './kernel.ts';
import { ExAllocatePool2, ExFreePool, POOL_FLAG_NON_PAGED, poolTag } from './mm/index.ts';

describe('Kernel', () => {
  it('boots with the configured layout and reports NOLOWMEM state', () => {
    const k = Kernel.boot({ ramBytes: 8 * GIB, nolowmem: true, name: 'A' });
    expect(k.name).toBe('A');
    expect(k.mm.nolowmemActive).toBe(true);
    expect(k.memory.limit).toBe(9 * GIB);
    expect(k.mm.counters().usablePages).toBe((8 * GIB - MIB) / 4096);
    expect(k.currentDriver).toBeNull();
  });

  it('refuses an impossible configuration with a RangeError', () => {
    expect(() => Kernel.boot({ ramBytes: 12345, nolowmem: false })).toThrow(RangeError);
    expect(() => Kernel.boot({ ramBytes: GIB, nolowmem: 'yes' as unknown as boolean })).toThrow(RangeError);
  });

  it('a bug check stops that host only', () => {
    const a = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
    const b = Kernel.boot({ ramBytes: 64 * MIB, nolowmem: false });
    expect(() => ExFreePool(a, 0)).toThrow(BugCheck);
    expect(() => ExAllocatePool2(a, POOL_FLAG_NON_PAGED, 8, poolTag('Tst'))).toThrow(BugCheck);
    expect(ExAllocatePool2(b, POOL_FLAG_NON_PAGED, 8, poolTag('Tst'))).not.toBeNull();
  });
});
