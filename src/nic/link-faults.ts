/**
 * Impairments of the in-process link (issue 16 §4): a seeded generator decides, per frame,
 * whether it is lost, corrupted, duplicated or reordered, and every frame can be delayed. The
 * same seed and the same traffic give the same decisions, so a lossy run is reproducible.
 *
 * Implementation notes
 * - With any impairment on, every frame is built in bytes with its ICRC (link.ts serialises),
 *   so a corrupted frame is really corrupted and the receiver's ICRC check (src/wire
 *   PacketView, rxe_icrc.c) drops it and counts it. The bit flipped is in the BTH, extension
 *   headers or payload and never in BTH byte 4, which the ICRC masks (roce-v2.md §5.1).
 * - Reordering holds a frame back by `reorderNs` on the virtual clock, so frames sent after
 *   it overtake it; a delay applies to every frame (timers fire in the order they were armed,
 *   so a plain delay keeps the order).
 * - The generator is mulberry32: 32-bit state, tiny, good enough for coin flips. The device
 *   layer does not use the kernel's fault-injection generator (layers, DESIGN.md).
 * - Per direction: `directions` gives the frames from one IPv4 address to another their own
 *   probabilities and delay in place of the link's (the "per-direction"; a direction is
 *   a pair of addresses because the link may carry more than two ports). A frame of a
 *   direction with nothing set is carried as on the lossless link and draws nothing from the
 *   generator, so loss one way leaves the other untouched.
 */
import { NicConfigurationError } from './status.ts';

/** What happens to the frames of one direction (or of the whole link). */
export interface DirectionImpairments {
  /** Probability that a frame is lost. */
  loss: number;
  /** Probability that a frame is held back and overtaken by later ones. */
  reorder: number;
  /** Probability that a frame is delivered twice. */
  duplicate: number;
  /** Probability that a bit of a frame is flipped (it is then dropped on its ICRC). */
  corrupt: number;
  /** Delay of every frame, virtual nanoseconds. */
  delayNs: number;
  /** How long a reordered frame is held back, virtual nanoseconds (default 10 µs). */
  reorderNs?: number;
}

/** The frames from IPv4 address `from` to IPv4 address `to` (host order, 32 bits). */
export interface LinkDirection extends DirectionImpairments {
  from: number;
  to: number;
}

export interface LinkImpairments extends DirectionImpairments {
  /** Seed of the decisions (any 32-bit integer). */
  seed: number;
  /** Directions with impairments of their own, in place of the link's (each pair once). */
  directions?: readonly LinkDirection[];
}

export const NO_IMPAIRMENTS: Readonly<LinkImpairments> = Object.freeze({ seed: 0, loss: 0, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0 });

/** What happened to the frames: counted by the link. */
export class LinkFaultCounters {
  lost = 0;
  corrupted = 0;
  duplicated = 0;
  reordered = 0;
}

const isProbability = (p: unknown): p is number => typeof p === 'number' && p >= 0 && p <= 1;

const isAddress = (a: unknown): a is number => typeof a === 'number' && Number.isInteger(a) && a >= 0 && a <= 0xffff_ffff;

const ipText = (a: number): string => `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;

function checkDirection(i: DirectionImpairments, what: string): void {
  if (i === null || typeof i !== 'object') throw new NicConfigurationError(`${what}: expected an object`);
  for (const k of ['loss', 'reorder', 'duplicate', 'corrupt'] as const) {
    if (!isProbability(i[k])) throw new NicConfigurationError(`${what}: ${k} must be a probability 0..1, got ${String(i[k])}`);
  }
  if (!Number.isSafeInteger(i.delayNs) || i.delayNs < 0) throw new NicConfigurationError(`${what}: delayNs must be an integer >= 0, got ${String(i.delayNs)}`);
  if (i.reorderNs !== undefined && (!Number.isSafeInteger(i.reorderNs) || i.reorderNs <= 0)) {
    throw new NicConfigurationError(`${what}: reorderNs must be an integer > 0, got ${String(i.reorderNs)}`);
  }
}

export function checkImpairments(i: LinkImpairments): LinkImpairments {
  checkDirection(i, 'link impairments');
  if (!Number.isInteger(i.seed)) throw new NicConfigurationError(`link impairments: seed must be an integer, got ${String(i.seed)}`);
  if (i.directions === undefined) return Object.freeze({ ...i });
  if (!Array.isArray(i.directions)) throw new NicConfigurationError('link impairments: directions must be an array');
  const seen = new Set<string>();
  const directions = i.directions.map((d: LinkDirection, n: number) => {
    if (d === null || typeof d !== 'object' || !isAddress(d.from) || !isAddress(d.to)) {
      throw new NicConfigurationError(`link impairments: direction ${n} needs from and to, IPv4 addresses as 32-bit integers`);
    }
    const name = `${ipText(d.from)} -> ${ipText(d.to)}`;
    if (d.from === d.to) throw new NicConfigurationError(`link impairments: direction ${name} goes nowhere (from = to)`);
    if (seen.has(name)) throw new NicConfigurationError(`link impairments: direction ${name} is given twice`);
    seen.add(name);
    checkDirection(d, `link impairments: direction ${name}`);
    return Object.freeze({ ...d });
  });
  return Object.freeze({ ...i, directions: Object.freeze(directions) });
}

const directionImpaired = (i: DirectionImpairments): boolean =>
  i.loss > 0 || i.reorder > 0 || i.duplicate > 0 || i.corrupt > 0 || i.delayNs > 0;

/** Whether anything is impaired: the link's own settings or any direction's. */
export const impaired = (i: LinkImpairments): boolean =>
  directionImpaired(i) || (i.directions ?? []).some(directionImpaired);

/**
 * The impairments of each direction, looked up per frame without allocating: `of(from, to)`
 * gives the direction's own settings, or the link's; `carries(i)` whether they do anything.
 */
export class DirectionTable {
  private readonly from: Float64Array;
  private readonly to: Float64Array;
  private readonly settings: readonly LinkDirection[];

  constructor(private readonly link: LinkImpairments) {
    this.settings = link.directions ?? [];
    this.from = Float64Array.from(this.settings, (d) => d.from);
    this.to = Float64Array.from(this.settings, (d) => d.to);
  }

  of(from: number, to: number): DirectionImpairments {
    for (let k = 0; k < this.from.length; k++) if (this.from[k] === from && this.to[k] === to) return this.settings[k]!;
    return this.link;
  }

  readonly carries = directionImpaired;
}

/** mulberry32: a uniform number in [0, 1) per call. */
export class LinkRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}
