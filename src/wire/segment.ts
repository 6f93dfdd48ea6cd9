/**
 * Segmentation of messages at the path MTU (IBA volume 1 chapter 9; rxe_req.c next_opcode_rc,
 * rxe_resp.c check_length): how many packets a message takes, each packet's opcode and payload
 * length, and the responder's length rule per opcode. No arrays: the i-th packet is computed,
 * so a go-back-N retry that resumes a message at packet i asks the same functions.
 */
import { Opcode, OpMask, opcodeMask } from './opcodes.ts';

/** Path MTUs, IB MTU codes 1..5 (ibv_mtu; the CM REQ carries the code). */
export const PMTUS: readonly number[] = Object.freeze([256, 512, 1024, 2048, 4096]);

/** IB MTU code (1..5) → bytes; 0 for another code. */
export const mtuBytes = (code: number): number => (Number.isInteger(code) && code >= 1 && code <= 5 ? 128 << code : 0);

/** Bytes → IB MTU code (1..5); 0 when not a path MTU. */
export function mtuCode(bytes: number): number {
  const i = PMTUS.indexOf(bytes);
  return i < 0 ? 0 : i + 1;
}

/** What a message is, for choosing its packets' opcodes. */
export const MessageKind = {
  SEND: 0,
  SEND_WITH_IMMEDIATE: 1,
  SEND_WITH_INVALIDATE: 2,
  RDMA_WRITE: 3,
  RDMA_WRITE_WITH_IMMEDIATE: 4,
  /** The responder's answer to an RDMA READ Request. */
  RDMA_READ_RESPONSE: 5,
} as const;
export type MessageKindCode = (typeof MessageKind)[keyof typeof MessageKind];

/** Packets a message of `length` bytes takes at `pmtu`: max(1, ceil(length / pmtu)). A READ
 *  Request reserves this many PSNs for its responses. */
export const packetCount = (length: number, pmtu: number): number => Math.max(1, Math.ceil(length / pmtu));

/** Payload bytes of packet `index` (0-based): PMTU for all but the last, the rest on the last. */
export const segmentLength = (length: number, pmtu: number, index: number): number =>
  index < packetCount(length, pmtu) - 1 ? pmtu : length - index * pmtu;

// [first, middle, last, only] per MessageKind: "with Immediate/Invalidate" only on the final packet.
const SEQUENCES: readonly (readonly [number, number, number, number])[] = [
  [Opcode.RC_SEND_FIRST, Opcode.RC_SEND_MIDDLE, Opcode.RC_SEND_LAST, Opcode.RC_SEND_ONLY],
  [Opcode.RC_SEND_FIRST, Opcode.RC_SEND_MIDDLE, Opcode.RC_SEND_LAST_WITH_IMMEDIATE, Opcode.RC_SEND_ONLY_WITH_IMMEDIATE],
  [Opcode.RC_SEND_FIRST, Opcode.RC_SEND_MIDDLE, Opcode.RC_SEND_LAST_WITH_INVALIDATE, Opcode.RC_SEND_ONLY_WITH_INVALIDATE],
  [Opcode.RC_RDMA_WRITE_FIRST, Opcode.RC_RDMA_WRITE_MIDDLE, Opcode.RC_RDMA_WRITE_LAST, Opcode.RC_RDMA_WRITE_ONLY],
  [Opcode.RC_RDMA_WRITE_FIRST, Opcode.RC_RDMA_WRITE_MIDDLE, Opcode.RC_RDMA_WRITE_LAST_WITH_IMMEDIATE, Opcode.RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE],
  [Opcode.RC_RDMA_READ_RESPONSE_FIRST, Opcode.RC_RDMA_READ_RESPONSE_MIDDLE, Opcode.RC_RDMA_READ_RESPONSE_LAST, Opcode.RC_RDMA_READ_RESPONSE_ONLY],
];

/**
 * Opcode of packet `index` of `count` in a message of `kind`: Only when count is 1, else
 * First, Middle…, Last. A retry resuming at index > 0 gets Middle/Last (no RETH), as rxe does.
 */
export function segmentOpcode(kind: MessageKindCode, index: number, count: number): number {
  const s = SEQUENCES[kind]!;
  if (count === 1) return s[3];
  if (index === 0) return s[0];
  return index === count - 1 ? s[2] : s[1];
}

/**
 * The responder's length rule (rxe_resp.c check_length): First and Middle carry exactly
 * PMTU, Last 1..PMTU, Only 0..PMTU, a header-only opcode nothing. False → NAK Invalid Request.
 */
export function payloadLengthValid(opcode: number, length: number, pmtu: number): boolean {
  const mask = opcodeMask(opcode);
  if ((mask & OpMask.PAYLOAD) === 0) return mask !== 0 && length === 0;
  const start = (mask & OpMask.START) !== 0;
  const end = (mask & OpMask.END) !== 0;
  if (start && end) return length >= 0 && length <= pmtu;
  if (end) return length >= 1 && length <= pmtu;
  return length === pmtu;
}
