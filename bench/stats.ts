/**
 * Small helpers every suite shares: how a measurement is rounded for the JSON, medians, and the
 * min–max range of a figure over several runs.
 *
 * Rounding keeps significant figures, never a fixed number of decimals: a real measurement of
 * 0.004 GB/s stays 0.004 (two decimals would print 0.00, and a reader — or a test — would take
 * it for "nothing happened").
 */

/** `value` to `digits` significant figures (3 by default); 0, NaN and ±Infinity pass through. */
export function sig(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

/** The median of a non-empty list (the upper one of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

/** Buffer and message sizes as people read them: 2 B, 4 KiB, 1 MiB, 1 GiB; 13.0 GiB when not whole. */
export function sizeText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (u < units.length - 1 && Math.abs(bytes) >= 1024 ** (u + 1)) u++;
  const v = bytes / 1024 ** u;
  return `${Number.isInteger(v) ? v : v.toPrecision(3)} ${units[u]}`;
}

export interface Range {
  min: number;
  max: number;
}

export function rangeOf(values: readonly number[]): Range {
  if (values.length === 0) throw new Error('range of no values');
  return { min: Math.min(...values), max: Math.max(...values) };
}

/**
 * A figure over runs as text: one value when every run printed the same, else `min–max`
 * (en dash), then `unit` once.
 */
export function rangeText(values: readonly number[], format: (v: number) => string = plain, unit = ''): string {
  const { min, max } = rangeOf(values);
  const lo = format(min);
  const hi = format(max);
  return `${lo === hi ? lo : `${lo}–${hi}`}${unit}`;
}

/** A growth: `+59–63 MiB`, or each end signed when one is negative (`-3–+5 MiB`). */
export function signedRangeText(values: readonly number[], unit = ''): string {
  return Math.min(...values) >= 0 ? `+${rangeText(values, plain, unit)}` : rangeText(values, (v) => `${v >= 0 ? '+' : ''}${plain(v)}`, unit);
}

/** At most 3 significant figures, large values grouped by thousands: 7.6, 0.0042, 1 920 000. */
export function plain(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const s = sig(v, 3);
  return Math.abs(s) >= 10_000 ? Math.round(s).toLocaleString('en-US').replace(/,/g, ' ') : String(s);
}

/** A time in the unit that keeps it short: 23.6 ns, 7.05 µs, 1.02 ms, 1.5 s. */
export function durationText(ns: number): string {
  if (ns < 1e3) return `${plain(ns)} ns`;
  if (ns < 1e6) return `${plain(ns / 1e3)} µs`;
  if (ns < 1e9) return `${plain(ns / 1e6)} ms`;
  return `${plain(ns / 1e9)} s`;
}

/** A range of times, each end in its own unit when they differ (24–31 ns, 980 ns–1.2 µs). */
export function durationRangeText(values: readonly number[]): string {
  const { min, max } = rangeOf(values);
  const lo = durationText(min);
  const hi = durationText(max);
  if (lo === hi) return lo;
  const [loNum, loUnit] = lo.split(' ');
  const [hiNum, hiUnit] = hi.split(' ');
  return loUnit === hiUnit ? `${loNum}–${hiNum} ${hiUnit}` : `${lo}–${hi}`;
}
