/**
 * WireCounters.add: a cluster's wire totals (the demo's wire line, the lossy-link suite's
 * reconciliation with the link) are the field-by-field sum of its NICs' counters, every field.
 */
import { describe, expect, it } from 'vitest';
import { WireCounters } from '../../src/nic/index.ts';

/** Counters whose every field holds a value derived from `seed` and the field's position. */
function filled(seed: number): WireCounters {
  const c = new WireCounters() as unknown as Record<string, number | Float64Array>;
  Object.keys(c).forEach((key, k) => {
    const v = c[key];
    if (v instanceof Float64Array) for (let i = 0; i < v.length; i++) v[i] = seed * 1000 + k * 300 + i;
    else c[key] = seed * 7 + k;
  });
  return c as unknown as WireCounters;
}

describe('WireCounters.add', () => {
  it('adds every field of the other counters (arrays element by element), so the totals are the NICs\' sum', () => {
    const a = filled(1);
    const b = filled(2);
    const sum = new WireCounters();
    sum.add(a);
    sum.add(b);
    const fields = Object.keys(sum) as (keyof WireCounters)[];
    expect(fields.length).toBeGreaterThan(5);
    for (const key of fields) {
      const [s, x, y] = [sum[key], a[key], b[key]];
      if (s instanceof Float64Array) expect(Array.from(s)).toEqual(Array.from(x as Float64Array, (v, i) => v + (y as Float64Array)[i]!));
      else expect(s).toBe((x as number) + (y as number));
    }
    expect(sum.packetsSent).toBe(a.packetsSent + b.packetsSent);
    expect(sum.packetsReceived).toBe(a.packetsReceived + b.packetsReceived);
    expect(sum.packetsDropped).toBe(a.packetsDropped + b.packetsDropped);
  });

  it('leaves the counters it adds unchanged', () => {
    const a = filled(3);
    const before = JSON.stringify(a, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v));
    new WireCounters().add(a);
    expect(JSON.stringify(a, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v))).toBe(before);
  });
});
