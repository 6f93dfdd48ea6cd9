import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENERATION_SPAN, keyIndex, nextGeneration, remoteGeneration } from './keys.ts';
import { DmaRunList } from '../bus/index.ts';
import { NicStatus, Syndrome } from './status.ts';
import { NicAccess, TranslationProtectionTable } from './tpt.ts';

const RW = NicAccess.LOCAL_READ | NicAccess.LOCAL_WRITE;
const spec = (pages = 1, access: number = RW, firstByteOffset = 0, length = pages * 4096 - firstByteOffset) => ({
  pages: Float64Array.from({ length: pages }, (_, i) => (i + 1) * 4096 * 3),
  firstByteOffset,
  length,
  access,
});

describe('keys', () => {
  it('nextGeneration never repeats the previous value and never yields 0', () => {
    for (let g = 1; g < GENERATION_SPAN; g++) {
      expect(nextGeneration(g)).not.toBe(g);
      expect(nextGeneration(g)).toBeGreaterThan(0);
      expect(remoteGeneration(nextGeneration(g))).not.toBe(remoteGeneration(g));
    }
    const seen = new Set<number>();
    for (let g = 1; g < GENERATION_SPAN; g++) seen.add(remoteGeneration(g));
    expect(seen.size).toBe(GENERATION_SPAN - 1); // a bijection
    expect(seen.has(0)).toBe(false);
  });
  it('keyIndex rejects values that cannot be keys', () => {
    for (const v of [0, -1, 1.5, NaN, 2 ** 32, Infinity]) expect(keyIndex(v)).toBe(-1);
  });
});

describe('TranslationProtectionTable.validateSpec (registration command)', () => {
  const t = new TranslationProtectionTable(4, 8 * 4096);
  it('refuses malformed page lists, offsets, lengths and rights', () => {
    expect(t.validateSpec(null)).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec({ ...spec(), pages: [4096] })).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec({ ...spec(), pages: new Float64Array(0) })).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec({ ...spec(), pages: Float64Array.of(4097) })).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec({ ...spec(), pages: Float64Array.of(-4096) })).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec(spec(1, RW, 4096, 1))).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec(spec(1, RW, 0, 0))).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec(spec(1, RW, 100, 4000))).toBe(NicStatus.INVALID_PARAMETER); // spans 2 pages, 1 given
    expect(t.validateSpec(spec(2, RW, 0, 10))).toBe(NicStatus.INVALID_PARAMETER); // 1 page needed, 2 given
    expect(t.validateSpec(spec(1, 0))).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec(spec(1, 0x20))).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec(spec(1, RW | NicAccess.MW_BIND))).toBe(NicStatus.SUCCESS);
    expect(t.validateSpec(spec(1, NicAccess.MW_BIND))).toBe(NicStatus.SUCCESS);
    expect(t.validateSpec(spec(1, NicAccess.REMOTE_WRITE | NicAccess.LOCAL_READ))).toBe(NicStatus.INVALID_PARAMETER);
    expect(t.validateSpec(spec(9))).toBe(NicStatus.REGION_TOO_LARGE);
    expect(t.validateSpec(spec(8))).toBe(NicStatus.SUCCESS);
  });
});

describe('TranslationProtectionTable.lookup — the fixed check order', () => {
  it('reports the first failed check: exists, key, owner/binding, rights, valid', () => {
    const t = new TranslationProtectionTable(4, 1 << 20);
    const i = t.register(7, spec(1, RW | NicAccess.REMOTE_READ));
    const h = t.handleOf(i);
    const r = t.remoteKeyOf(i);
    expect(h).not.toBe(r);
    expect(t.lookup(h, false, 7, RW)).toBe(i);
    expect(t.lookup(h + 4096 * 3, false, 7, RW)).toBe(-Syndrome.NO_ENTRY);
    expect(t.lookup(h ^ 2, false, 7, RW)).toBe(-Syndrome.KEY_MISMATCH);
    expect(t.lookup(r, false, 7, RW)).toBe(-Syndrome.KEY_MISMATCH);
    expect(t.lookup(h, false, 8, RW)).toBe(-Syndrome.OWNER_MISMATCH);
    expect(t.lookup(r, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.BINDING_MISMATCH);
    t.bind(i, 99);
    expect(t.lookup(r, true, 99, NicAccess.REMOTE_READ)).toBe(i);
    expect(t.lookup(r, true, 98, NicAccess.REMOTE_READ)).toBe(-Syndrome.BINDING_MISMATCH);
    expect(t.lookup(r, true, 99, NicAccess.REMOTE_WRITE)).toBe(-Syndrome.ACCESS_DENIED);
    // Owner is checked before rights, rights before validity.
    expect(t.lookup(h, false, 8, NicAccess.REMOTE_WRITE)).toBe(-Syndrome.OWNER_MISMATCH);
    t.invalidate(i);
    expect(t.lookup(h, false, 7, 0x10 as number)).toBe(-Syndrome.ACCESS_DENIED);
    expect(t.lookup(h, false, 7, RW)).toBe(-Syndrome.REGION_INVALID);
    t.deregister(i);
    expect(t.lookup(h, false, 7, RW)).toBe(-Syndrome.NO_ENTRY);
  });
  it('range check never overflows', () => {
    const t = new TranslationProtectionTable(1, 1 << 20);
    const i = t.register(1, spec(2, RW, 0, 8000));
    expect(t.inRange(i, 0, 8000)).toBe(true);
    expect(t.inRange(i, 8000, 0)).toBe(true);
    expect(t.inRange(i, 1, 8000)).toBe(false);
    expect(t.inRange(i, Number.MAX_SAFE_INTEGER, 2)).toBe(false);
    expect(t.inRange(i, 2, Number.MAX_SAFE_INTEGER)).toBe(false);
  });
  it('translate merges bus-contiguous pages into one segment and splits the rest', () => {
    const t = new TranslationProtectionTable(1, 1 << 20);
    const i = t.register(1, { pages: Float64Array.of(0x1000, 0x2000, 0x9000), firstByteOffset: 0x10, length: 3 * 4096 - 0x10, access: RW });
    const out = new DmaRunList(1);
    t.translate(i, 0, 3 * 4096 - 0x10, out);
    expect([...out.address.subarray(0, out.count)]).toEqual([0x1010, 0x9000]);
    expect([...out.length.subarray(0, out.count)]).toEqual([2 * 4096 - 0x10, 4096]);
    expect(out.total).toBe(3 * 4096 - 0x10);
  });
});

describe('TranslationProtectionTable property: keys of live entries resolve, every other key fails', () => {
  it('random register / deregister / reregister / invalidate against a model', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ op: fc.integer({ min: 0, max: 3 }), pick: fc.nat(), owner: fc.integer({ min: 1, max: 3 }) }), { maxLength: 200 }),
        (ops) => {
          const t = new TranslationProtectionTable(8, 1 << 20);
          const live = new Map<number, { owner: number; valid: boolean; rkey: number }>(); // handle -> model
          const dead: number[] = [];
          for (const { op, pick, owner } of ops) {
            const handles = [...live.keys()];
            const h = handles.length ? handles[pick % handles.length]! : 0;
            if (op === 0) {
              const i = t.register(owner, spec());
              if (live.size === 8) expect(i).toBe(-1);
              else {
                expect(i).toBeGreaterThanOrEqual(0);
                live.set(t.handleOf(i), { owner, valid: true, rkey: t.remoteKeyOf(i) });
              }
            } else if (h !== 0) {
              const i = t.indexOfHandle(h);
              expect(i).toBeGreaterThanOrEqual(0);
              const m = live.get(h)!;
              dead.push(h, m.rkey);
              live.delete(h);
              if (op === 1) t.deregister(i);
              else if (op === 2) {
                t.reregister(i, spec());
                live.set(t.handleOf(i), { owner: m.owner, valid: true, rkey: t.remoteKeyOf(i) });
              } else {
                t.invalidate(i);
                live.set(h, { ...m, valid: false });
                dead.pop();
                dead.pop();
              }
            }
            expect(t.count).toBe(live.size);
            for (const [handle, m] of live) {
              expect(t.lookup(handle, false, m.owner, RW)).toBe(m.valid ? t.indexOfHandle(handle) : -Syndrome.REGION_INVALID);
              expect(t.lookup(handle, false, m.owner + 10, RW)).toBe(-Syndrome.OWNER_MISMATCH);
            }
            for (const k of dead) {
              if (live.has(k)) continue;
              let isLiveKey = false;
              for (const [hh, m] of live) if (hh === k || m.rkey === k) isLiveKey = true;
              if (isLiveKey) continue; // generations cycle after 4095 reuses; not reachable here
              const r = t.lookup(k, false, 1, 0);
              expect(r === -Syndrome.NO_ENTRY || r === -Syndrome.KEY_MISMATCH).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('TranslationProtectionTable — keys never collide inside a slot', () => {
  it('a region remote key never equals its handle, through every generation of the slot', () => {
    const t = new TranslationProtectionTable(1, 1 << 20);
    const i = t.register(1, spec());
    for (let n = 0; n < 2 * GENERATION_SPAN; n++) {
      expect(t.remoteKeyOf(i)).not.toBe(t.handleOf(i));
      t.reregister(i, spec());
    }
  });
  it('a window gets a new remote key at every bind: never its handle, never 0, never the previous one', () => {
    const t = new TranslationProtectionTable(2, 1 << 20);
    const r = t.register(1, spec(1, RW | NicAccess.MW_BIND));
    const w = t.allocateWindow(1);
    const handle = t.handleOf(w);
    let previous = 0;
    for (let n = 0; n < 2 * GENERATION_SPAN; n++) {
      t.bindWindow(w, 99, r, 0, 10, NicAccess.REMOTE_READ);
      const key = t.remoteKeyOf(w);
      expect(key).not.toBe(handle);
      expect(key).not.toBe(previous);
      expect(key).toBeGreaterThan(0);
      expect(keyIndex(key)).toBe(w);
      expect(t.handleOf(w)).toBe(handle);
      previous = key;
      t.invalidateWindow(w);
    }
  });
  it('the slot of a freed window never gives its next occupant the window handle, whatever the bind count', () => {
    for (let binds = GENERATION_SPAN - 4; binds <= GENERATION_SPAN + 1; binds++) {
      const t = new TranslationProtectionTable(2, 1 << 20);
      const r = t.register(1, spec(1, RW | NicAccess.MW_BIND));
      const w = t.allocateWindow(1);
      const handle = t.handleOf(w);
      for (let n = 0; n < binds; n++) {
        t.bindWindow(w, 99, r, 0, 10, NicAccess.REMOTE_READ);
        t.invalidateWindow(w);
      }
      t.freeWindow(w);
      const next = t.register(1, spec());
      expect(next).toBe(w);
      expect(t.handleOf(next)).not.toBe(handle);
      expect(t.indexOfWindow(handle)).toBe(-1);
    }
  });
});

describe('TranslationProtectionTable — memory windows in lookup', () => {
  const MW = RW | NicAccess.MW_BIND;
  it('reports the first failed check for a window key: exists, key, binding, rights, bound, region same, region valid', () => {
    const t = new TranslationProtectionTable(4, 1 << 20);
    const r = t.register(7, spec(2, MW));
    const w = t.allocateWindow(7);
    expect(t.count).toBe(1);
    expect(t.windowCount).toBe(1);
    // Unbound: no remote key at all.
    expect(t.windowInfo(w)).toMatchObject({ state: 'unbound', remoteKey: 0, reachable: false });
    t.bindWindow(w, 99, r, 100, 50, NicAccess.REMOTE_READ);
    const key = t.remoteKeyOf(w);
    const handle = t.handleOf(w);
    expect(t.lookup(key, true, 99, NicAccess.REMOTE_READ)).toBe(w);
    expect(t.lookup(handle, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.KEY_MISMATCH);
    expect(t.lookup(key ^ 1, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.KEY_MISMATCH);
    expect(t.lookup(key, true, 98, NicAccess.REMOTE_READ)).toBe(-Syndrome.BINDING_MISMATCH);
    expect(t.lookup(key, true, 99, NicAccess.REMOTE_WRITE)).toBe(-Syndrome.ACCESS_DENIED);
    // A window is never a local key, by handle (it grants no local right, even asked for
    // none) or by remote key.
    expect(t.lookup(handle, false, 7, NicAccess.LOCAL_READ)).toBe(-Syndrome.ACCESS_DENIED);
    expect(t.lookup(handle, false, 7, NicAccess.LOCAL_WRITE)).toBe(-Syndrome.ACCESS_DENIED);
    expect(t.lookup(handle, false, 7, 0)).toBe(-Syndrome.ACCESS_DENIED);
    expect(t.lookup(handle, false, 8, NicAccess.LOCAL_READ)).toBe(-Syndrome.OWNER_MISMATCH);
    expect(t.lookup(key, false, 7, NicAccess.LOCAL_READ)).toBe(-Syndrome.KEY_MISMATCH);
    // Range and translation are the window's.
    expect(t.inRange(w, 0, 50)).toBe(true);
    expect(t.inRange(w, 1, 50)).toBe(false);
    const out = new DmaRunList(1);
    t.translate(w, 10, 20, out);
    expect(out.address[0]).toBe(3 * 4096 + 110);
    expect(out.length[0]).toBe(20);
    t.invalidate(r);
    expect(t.lookup(key, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.REGION_INVALID);
    t.reregister(r, spec(2, MW));
    expect(t.lookup(key, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.WINDOW_REGION_GONE);
    expect(t.windowInfo(w)).toMatchObject({ state: 'bound', reachable: false });
    t.invalidateWindow(w);
    expect(t.lookup(key, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.WINDOW_INVALID);
    t.freeWindow(w);
    expect(t.lookup(key, true, 99, NicAccess.REMOTE_READ)).toBe(-Syndrome.NO_ENTRY);
    expect(t.windowCount).toBe(0);
    expect(t.count).toBe(1);
  });
  it('region and window handles name only their own kind', () => {
    const t = new TranslationProtectionTable(4, 1 << 20);
    const r = t.register(7, spec(1, MW));
    const w = t.allocateWindow(7);
    expect(t.indexOfHandle(t.handleOf(w))).toBe(-1);
    expect(t.indexOfWindow(t.handleOf(r))).toBe(-1);
    expect(t.indexOfWindow(t.handleOf(w))).toBe(w);
    expect(t.indexOfWindow('x')).toBe(-1);
  });
});
