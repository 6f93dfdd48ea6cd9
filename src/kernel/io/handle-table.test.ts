import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HandleTable, MAX_HANDLES } from './handle-table.ts';

describe('HandleTable', () => {
  it('matches a model under random insert/remove/lookup; stale handles never resolve (property)', () => {
    fc.assert(fc.property(fc.array(fc.oneof(
      fc.record({ op: fc.constant('insert' as const), access: fc.integer({ min: 0, max: 0xffffffff }) }),
      fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
      fc.record({ op: fc.constant('removeStale' as const), pick: fc.nat() }),
    ), { maxLength: 300 }), (ops) => {
      const t = new HandleTable<{ id: number }>();
      const live = new Map<number, { obj: { id: number }; access: number }>();
      const stale: number[] = [];
      let id = 0;
      for (const o of ops) {
        if (o.op === 'insert') {
          const obj = { id: id++ };
          const h = t.insert(obj, o.access);
          expect(h).toBeGreaterThan(0);
          expect(h % 4).toBe(0);
          expect(live.has(h)).toBe(false);
          live.set(h, { obj, access: o.access >>> 0 });
        } else if (o.op === 'remove' && live.size > 0) {
          const h = [...live.keys()][o.pick % live.size]!;
          expect(t.remove(h)).toBe(live.get(h)!.obj);
          live.delete(h);
          stale.push(h);
        } else if (o.op === 'removeStale' && stale.length > 0) {
          const h = stale[o.pick % stale.length]!;
          if (!live.has(h)) expect(t.remove(h)).toBeNull();
        }
        expect(t.count).toBe(live.size);
      }
      for (const [h, v] of live) expect(t.lookup(h)).toEqual({ object: v.obj, grantedAccess: v.access });
      for (const h of stale) if (!live.has(h)) expect(t.lookup(h)).toBeNull();
      expect(t.handles().sort()).toEqual([...live.keys()].sort());
    }));
  });

  it('rejects junk handle values and fails the insert when full', () => {
    const t = new HandleTable<number>();
    for (const junk of [0, -1, 1, 2, 3, 4.5, NaN, Infinity, 2 ** 33, '4', null]) expect(t.lookup(junk)).toBeNull();
    for (let i = 0; i < MAX_HANDLES; i++) expect(t.insert(i, 0)).not.toBe(0);
    expect(t.insert(-1, 0)).toBe(0);
    expect(t.count).toBe(MAX_HANDLES);
  });
});
