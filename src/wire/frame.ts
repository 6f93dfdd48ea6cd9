/**
 * How a packet travels between NICs: the link-facing frame types.
 *
 * Implementation notes
 * - A `Frame` is the serialised packet: exactly the bytes of one Ethernet II frame from the
 *   destination MAC to the ICRC (no FCS) — what a capture records, what a lossy link corrupts
 *   and what `PacketView.parseFrame` checks. It is a plain Uint8Array (usually a view into a
 *   pooled buffer): no wrapper object per packet, and `frame.length` is the frame length.
 * - A `SplitFrame` is the lossless link's shortcut (the GSO allowance): every header is
 *   real bytes in `head` (Ethernet through the last extension header, lengths and PadCnt
 *   counting the payload), but the payload travels as a view of wherever the sender holds it
 *   and pad and ICRC are implied. Nothing can corrupt it, so the receiver skips the ICRC
 *   (`PacketView.parseSplitFrame`); a capture tap serialises it (`serializeSplitFrame`), which
 *   gives byte for byte the frame `buildFrame` would have built — so a run with capture on
 *   produces the same packets as one with it off.
 * - A link that must carry the payload in pieces (several DMA runs) can chain the ICRC itself:
 *   `icrcHeaders` over the head, `icrcUpdate` per piece, `icrcPad`, `putIcrc` (icrc.ts).
 */
import { getU16 } from './big-endian.ts';
import { frameHeadLength, frameIcrc, padCount } from './build.ts';
import { WireError } from './errors.ts';
import { ICRC_BYTES, putIcrc } from './icrc.ts';
import { FRAME_BTH, FRAME_UDP } from './network.ts';

/** One serialised RoCEv2 Ethernet frame, FCS excluded: exactly `frame.length` bytes. */
export type Frame = Uint8Array;

/** A frame whose payload was not serialised: real headers plus a payload view. */
export interface SplitFrame {
  /** Ethernet through the last extension header, as `writeFrameHead` wrote it (exactly
   *  `frameHeadLength(opcode)` bytes). */
  readonly head: Uint8Array;
  /** The payload the head announces (exactly that many bytes). */
  readonly payload: Uint8Array;
}

/** Length of the serialised frame: head + payload + pad + ICRC. */
export const splitFrameLength = (f: SplitFrame): number => f.head.length + f.payload.length + padCount(f.payload.length) + ICRC_BYTES;

/**
 * Serialise a split frame into `out[0 …)`: the frame `buildFrame` would have produced from the
 * same fields and payload. Returns its length.
 */
export function serializeSplitFrame(f: SplitFrame, out: Uint8Array): number {
  const icrc = frameIcrc(f.head, f.payload); // checks the head's lengths against the payload
  if (f.head.length !== frameHeadLength(f.head[FRAME_BTH]!)) {
    throw new WireError('head', `head: ${f.head.length} bytes, expected exactly the ${frameHeadLength(f.head[FRAME_BTH]!)} of its headers`);
  }
  const length = FRAME_UDP + getU16(f.head, FRAME_UDP + 4);
  if (!(out instanceof Uint8Array) || out.length < length) throw new WireError('out', `out: expected a Uint8Array of at least ${length} bytes`);
  out.set(f.head, 0);
  out.set(f.payload, f.head.length);
  const end = length - ICRC_BYTES;
  for (let i = f.head.length + f.payload.length; i < end; i++) out[i] = 0;
  putIcrc(out, end, icrc);
  return length;
}
