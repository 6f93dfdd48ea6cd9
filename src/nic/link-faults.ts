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
 */
import { NicConfigurationError } from './status.ts';

export interface LinkImpairments {
  /** Seed of the decisions (any 32-bit integer). */
  seed: number;
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

export const NO_IMPAIRMENTS: Readonly<LinkImpairments> = Object.freeze({ seed: 0, loss: 0, reorder: 0, duplicate: 0, corrupt: 0, delayNs: 0 });

/** What happened to the frames: counted by the link. */
export class LinkFaultCounters {
  lost = 0;
  corrupted = 0;
  duplicated = 0;
  reordered = 0;
}

const isProbability = (p: unknown): p is number => typeof p === 'number' && p >= 0 && p <= 1;

export function checkImpairments(i: LinkImpairments): LinkImpairments {
  if (i === null || typeof i !== 'object') throw new NicConfigurationError('link impairments: expected an object');
  for (const k of ['loss', 'reorder', 'duplicate', 'corrupt'] as const) {
    if (!isProbability(i[k])) throw new NicConfigurationError(`link impairments: ${k} must be a probability 0..1, got ${String(i[k])}`);
  }
  if (!Number.isSafeInteger(i.delayNs) || i.delayNs < 0) throw new NicConfigurationError(`link impairments: delayNs must be an integer >= 0, got ${String(i.delayNs)}`);
  if (i.reorderNs !== undefined && (!Number.isSafeInteger(i.reorderNs) || i.reorderNs <= 0)) {
    throw new NicConfigurationError(`link impairments: reorderNs must be an integer > 0, got ${String(i.reorderNs)}`);
  }
  if (!Number.isInteger(i.seed)) throw new NicConfigurationError(`link impairments: seed must be an integer, got ${String(i.seed)}`);
  return Object.freeze({ ...i });
}

export const impaired = (i: LinkImpairments): boolean =>
  i.loss > 0 || i.reorder > 0 || i.duplicate > 0 || i.corrupt > 0 || i.delayNs > 0;

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
