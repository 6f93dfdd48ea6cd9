/**
 * Option values of the command line: each parser takes the flag's name and its text and
 * returns the value or throws a UsageError whose message names the flag, the value and what
 * is accepted, in the units a user types (`--ram 1T: expected a size 16M..256G`). Ranges come
 * from the layer that enforces them (the kernel's RAM limits, the seed generator's domain),
 * so the command line never accepts what the machine below would refuse.
 */
import type { Command } from 'commander';
import { PAGE_SIZE, parseSize } from '../bus/index.ts';
import { SEED_MAX } from '../kernel/fault-injection.ts';
import { MAX_RAM_BYTES, MIN_RAM_BYTES } from '../kernel/mm/ram-layout.ts';

/** A mistake in how the command was called: reported in one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface SizeRange {
  min: number;
  max: number;
  /** Only whole multiples of this many bytes (RAM is whole pages). */
  multipleOf?: number;
}

/** RAM of one emulated host: the kernel's own limits (src/kernel/mm/ram-layout.ts). */
export const RAM_RANGE: SizeRange = { min: MIN_RAM_BYTES, max: MAX_RAM_BYTES, multipleOf: PAGE_SIZE };

const UNITS: readonly [string, number][] = [['T', 2 ** 40], ['G', 2 ** 30], ['M', 2 ** 20], ['K', 2 ** 10]];

/** Bytes in the shortest form the parser accepts back: 16M, 256G, 4K, 1000. */
export function shortSize(bytes: number): string {
  for (const [unit, scale] of UNITS) if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`;
  return String(bytes);
}

export function rangeText(r: SizeRange): string {
  return `${shortSize(r.min)}..${shortSize(r.max)}`;
}

export function parseSizeOption(flag: string, text: string, r: SizeRange): number {
  const n = parseSize(text);
  const page = r.multipleOf !== undefined && r.multipleOf > 1 ? ` in whole ${shortSize(r.multipleOf)} pages` : '';
  if (n === null) throw new UsageError(`--${flag} ${quote(text)}: expected a size ${rangeText(r)}${page}, such as ${shortSize(r.max >= 2 ** 30 ? Math.min(r.max, 8 * 2 ** 30) : r.max)}`);
  if (n < r.min || n > r.max) throw new UsageError(`--${flag} ${quote(text)}: expected a size ${rangeText(r)}`);
  if (r.multipleOf !== undefined && n % r.multipleOf !== 0) {
    throw new UsageError(`--${flag} ${quote(text)}: expected a size ${rangeText(r)}${page} (a multiple of ${r.multipleOf} bytes)`);
  }
  return n;
}

/** A decimal (or 0x hex) integer in [min, max]; never wrapped or rounded. */
export function parseIntegerOption(flag: string, text: string, min: number, max: number): number {
  const t = text.trim();
  const n = /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^[+-]?\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} ${quote(text)}: expected an integer ${min}..${max}`);
  }
  return n;
}

/** A probability: a decimal number 0..1 (0.02, 1e-3). */
export function parseProbabilityOption(flag: string, text: string): number {
  const t = text.trim();
  const n = /^(\d+(\.\d*)?|\.\d+)(e-?\d+)?$/i.test(t) ? Number(t) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${flag} ${quote(text)}: expected a probability 0..1, such as 0.02`);
  return n;
}

/** One of a few numbers. */
export function parseChoiceNumber(flag: string, text: string, choices: readonly number[]): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!choices.includes(n)) throw new UsageError(`--${flag} ${quote(text)}: expected ${listOr(choices.map(String))}`);
  return n;
}

/** A seed of the project's generator (seededRandom takes 32 bits; larger values would wrap). */
export const parseSeedOption = (flag: string, text: string): number => parseIntegerOption(flag, text, 0, SEED_MAX);

export function parseOnOff(flag: string, text: string): boolean {
  const v = text.trim().toLowerCase();
  if (v === 'on' || v === 'true' || v === 'yes' || v === '1') return true;
  if (v === 'off' || v === 'false' || v === 'no' || v === '0') return false;
  throw new UsageError(`--${flag} ${quote(text)}: expected on or off`);
}

export function parseChoice<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  const v = text.trim().toLowerCase();
  const found = choices.find((c) => c === v);
  if (found === undefined) throw new UsageError(`--${flag} ${quote(text)}: expected ${listOr(choices)}`);
  return found;
}

/** `a, b or c`. */
export function listOr(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** A value as the user typed it, quoted only when it would otherwise be unreadable. */
export function quote(text: string): string {
  return text === '' || /\s/.test(text) ? JSON.stringify(text) : text;
}

/** Commands that take no positional arguments say so about the first stray one. */
export function rejectArguments(command: Command): void {
  const stray = command.args[0];
  if (stray === undefined) return;
  // `npm start --bytes 1M` hands "1M" to the script and keeps --bytes for npm itself.
  const npm = process.env.npm_lifecycle_event !== undefined ? "; npm passes flags on only after '--' (npm start -- --bytes 1M)" : '';
  throw new UsageError(`unexpected argument ${quote(stray)}: ${command.name()} takes options only${npm}`);
}
