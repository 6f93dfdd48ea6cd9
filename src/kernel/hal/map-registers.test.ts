import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GIB } from '../../bus/index.ts';
import { Kernel } from '../kernel.ts';
import { MapRegisterFile } from './map-registers.ts';

describe('MapRegisterFile', () => {
  it('property: registers are never held twice, bounce pages are distinct and in reach, and release gives everything back', () => {
    const k = Kernel.boot({ ramBytes: 5 * GIB, nolowmem: true, name: 'mr' });
    const owner = k.mm.owners.register('bounce', 'test');
    const boot = k.mm.counters();
    const highestPfn = 0xf_ffff; // below 4 GiB
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.oneof(fc.record({ op: fc.constant('get' as const), n: fc.integer({ min: 0, max: 20 }) }),
          fc.record({ op: fc.constant('put' as const), i: fc.nat() })), { maxLength: 40 }),
        (capacity, steps) => {
          const file = new MapRegisterFile(k, capacity);
          const held: Int32Array[] = [];
          let nextHolder = 1;
          for (const s of steps) {
            if (s.op === 'get') {
              const targets = Array.from({ length: s.n }, (_, i) => 0x10_0000 + i);
              const regs = file.allocate(targets, highestPfn, nextHolder++, owner, 'test:bounce');
              if (s.n > file.free + (regs ? s.n : 0)) expect(regs).toBeNull();
              if (regs) held.push(regs);
            } else if (held.length > 0) {
              file.release(held.splice(s.i % held.length, 1)[0]!);
            }
            const all = held.flatMap((r) => Array.from(r));
            expect(new Set(all).size).toBe(all.length);
            expect(file.inUse).toBe(all.length);
            expect(file.inUse + file.free).toBe(capacity);
            const bounces = all.map((r) => file.bounceOf(r));
            expect(new Set(bounces).size).toBe(bounces.length);
            for (const b of bounces) expect(b).toBeLessThanOrEqual(highestPfn);
          }
          for (const r of held) file.release(r);
          expect(file.inUse).toBe(0);
          expect(k.mm.counters()).toEqual(boot);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('bounce pages come as one run when memory allows; the run is freed whole', () => {
    const k = Kernel.boot({ ramBytes: 5 * GIB, nolowmem: false, name: 'mr3' });
    const owner = k.mm.owners.register('bounce', 'test');
    const boot = k.mm.counters();
    const file = new MapRegisterFile(k, 16);
    const regs = file.allocate([0x10_0000, 0x10_0001, 0x10_0002], 0xf_ffff, 1, owner, 'x:bounce')!;
    expect([1, 2].map((i) => file.bounceOf(regs[i]!) - file.bounceOf(regs[0]!))).toEqual([1, 2]);
    file.release(regs);
    expect(k.mm.counters()).toEqual(boot);
  });

  it('on fragmented low memory pages are taken one by one; running out half-way gives back what was taken', () => {
    // 64 MiB, all below 4 GiB: fill it, then free every other page so no 2-page run exists.
    const k = Kernel.boot({ ramBytes: 64 * 1024 * 1024, nolowmem: false, name: 'mr2' });
    const owner = k.mm.owners.register('bounce', 'test');
    const taken: number[] = [];
    for (let p = k.mm.allocatePage(owner, 'fill'); p >= 0; p = k.mm.allocatePage(owner, 'fill')) taken.push(p);
    for (let i = 0; i < taken.length; i += 2) k.mm.freePage(taken[i]!);
    const boot = k.mm.counters();
    const file = new MapRegisterFile(k, 16);
    const regs = file.allocate([1, 2, 3, 4], 0xf_ffff, 1, owner, 'x:bounce')!;
    expect(regs).not.toBeNull();
    const bounces = Array.from(regs, (r) => file.bounceOf(r));
    expect(new Set(bounces).size).toBe(4);
    file.release(regs);
    expect(k.mm.counters()).toEqual(boot);
    k.faults.setPolicy({ kind: 'nth', n: 3 }, { sites: ['x:bounce'] });
    expect(file.allocate([1, 2, 3, 4], 0xf_ffff, 1, owner, 'x:bounce')).toBeNull();
    expect(file.inUse).toBe(0);
    expect(k.mm.counters()).toEqual(boot);
  });
});
