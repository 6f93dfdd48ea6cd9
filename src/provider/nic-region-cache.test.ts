import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NicRegionCache, RDMA_MIN_SHARE, type CachedRegion } from './nic-region-cache.ts';

const region = (kind: 'local' | 'rdma', nicIndex: number, address: number, length: number, flags: number): CachedRegion => ({
  kind, nicIndex, address, length, flags, nicHandle: 1, remoteKey: 1, driverId: 1, shadow: null, window: 0, secureHandle: 1, users: 0,
  invalidated: false, socket: 1,
});

describe('NicRegionCache', () => {
  it('property: find and overlapping answer exactly what a scan of every region answers; the LRU bound counts idle bytes', () => {
    const op = fc.oneof(
      fc.record({ t: fc.constant('add' as const), kind: fc.constantFrom('local' as const, 'rdma' as const), nic: fc.integer({ min: 0, max: 1 }),
        address: fc.integer({ min: 0, max: 200 }), length: fc.integer({ min: 1, max: 80 }), flags: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ t: fc.constant('park' as const), i: fc.nat() }),
      fc.record({ t: fc.constant('use' as const), i: fc.nat() }),
      fc.record({ t: fc.constant('remove' as const), i: fc.nat() }),
      fc.record({ t: fc.constant('find' as const), kind: fc.constantFrom('local' as const, 'rdma' as const), nic: fc.integer({ min: 0, max: 1 }),
        address: fc.integer({ min: 0, max: 250 }), length: fc.integer({ min: 1, max: 60 }), flags: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ t: fc.constant('overlap' as const), address: fc.integer({ min: 0, max: 250 }), length: fc.integer({ min: 1, max: 60 }) }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const cache = new NicRegionCache();
      cache.policy = { maxBytes: 150, maxEntries: 3 };
      const live: CachedRegion[] = [];
      for (const o of ops) {
        switch (o.t) {
          case 'add': {
            const r = region(o.kind, o.nic, o.address, o.length, o.flags);
            cache.add(r);
            cache.use(r);
            live.push(r);
            break;
          }
          case 'park': {
            const r = live[o.i % Math.max(1, live.length)];
            if (r === undefined || r.users !== 1) break;
            r.users = 0;
            cache.park(r);
            for (let v = cache.overBound(); v !== null; v = cache.overBound()) {
              cache.remove(v);
              live.splice(live.indexOf(v), 1);
            }
            break;
          }
          case 'use': {
            const r = live[o.i % Math.max(1, live.length)];
            if (r !== undefined && cache.isIdle(r)) cache.use(r);
            break;
          }
          case 'remove': {
            const r = live[o.i % Math.max(1, live.length)];
            if (r === undefined) break;
            cache.remove(r);
            live.splice(live.indexOf(r), 1);
            break;
          }
          case 'find': {
            const want = live.filter((r) => r.kind === o.kind && r.nicIndex === o.nic && r.address <= o.address &&
              r.address + r.length >= o.address + o.length && (r.flags & o.flags) === o.flags && (o.kind === 'local' || (r.users === 0 && o.length * RDMA_MIN_SHARE >= r.length)));
            const got = cache.find(o.kind, o.nic, o.address, o.length, o.flags);
            if (want.length === 0) expect(got).toBeNull();
            else {
              expect(want).toContain(got);
              expect(got!.length).toBe(Math.min(...want.map((r) => r.length)));
            }
            break;
          }
          case 'overlap': {
            const want = live.filter((r) => r.address < o.address + o.length && r.address + r.length > o.address);
            const got = cache.overlapping(o.address, o.length);
            expect(new Set(got)).toEqual(new Set(want));
            expect(got.length).toBe(want.length);
            break;
          }
        }
        const idle = live.filter((r) => cache.isIdle(r));
        expect(cache.idleCount).toBe(idle.length);
        expect(cache.idleBytes).toBe(idle.reduce((n, r) => n + r.length, 0));
        expect(cache.idleCount).toBeLessThanOrEqual(3);
        expect(cache.all().length).toBe(live.length);
      }
    }), { numRuns: 400 });
  });

  it('a region cannot be parked while used, nor removed twice', () => {
    const cache = new NicRegionCache();
    const r = region('local', 0, 4096, 4096, 3);
    cache.add(r);
    cache.use(r);
    expect(() => cache.park(r)).toThrow(/users/);
    cache.remove(r);
    expect(() => cache.remove(r)).toThrow(/not tracked/);
  });
});
