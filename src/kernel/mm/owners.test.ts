import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OwnerTable } from './owners.ts';

describe('OwnerTable', () => {
  it('ids are unique among live owners and an id holding pages is never recycled (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('reg', 'rel', 'add', 'drop'), fc.nat()), { maxLength: 200 }), (ops) => {
        const t = new OwnerTable();
        const live: number[] = [];
        const held = new Map<number, number>(); // released ids still holding pages
        for (const [op, i] of ops) {
          if (op === 'reg') {
            const id = t.register('process', `p${i}`);
            expect(live.includes(id) || held.has(id)).toBe(false);
            live.push(id);
          } else if (op === 'rel' && live.length) {
            const id = live.splice(i % live.length, 1)[0]!;
            if (t.pages[id]! > 0) held.set(id, t.pages[id]!);
            t.release(id);
            expect(t.isLive(id)).toBe(false);
          } else if (op === 'add' && live.length) t.addPages(live[i % live.length]!, 1 + (i % 3));
          else if (op === 'drop' && held.size) {
            const [id, n] = [...held][i % held.size]!;
            t.addPages(id, -n);
            held.delete(id);
            expect(t.get(id)).toBeUndefined();
          }
        }
        expect(t.liveCount).toBe(live.length);
      }),
    );
  });

  it('refuses to release a dead owner and to drive a page count negative', () => {
    const t = new OwnerTable();
    const id = t.register('contiguous', 'x', 'drv.sys');
    expect(t.get(id)).toEqual({ kind: 'contiguous', label: 'x', driver: 'drv.sys' });
    expect(() => t.addPages(id, -1)).toThrow(/invariant/);
    t.release(id);
    expect(() => t.release(id)).toThrow(/not a live owner/);
  });
});
