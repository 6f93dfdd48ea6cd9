/**
 * Session-protocol control messages ("Using the Session Protocol", "Sending Urgent Data on a
 * SAN"): the frame types, their one codec, and the protocol error a malformed frame from the
 * peer raises. A message is a fixed header plus an optional payload, written into a control
 * buffer. Little-endian (src/bus/little-endian.ts):
 *
 *   0  u8  type             8  u64 length (total of a large send / bytes of a write)
 *   1  u8  flags           16  u32 id (large send number)
 *   2  u16 credits         20  u32 reserved (0)
 *   4  u32 payload bytes   24  32-byte RDMA buffer descriptor (RDMA_READ_OFFER, WRITE_TARGET)
 *  56  payload (DATA)
 *
 * `credits` on every message returns receive buffers the sender reposted (credit-based flow
 * control: one credit = one posted receive at the peer).
 *
 * Peer input never throws a plain Error: `decode` checks everything a frame says about itself
 * (size, type, payload, fields, descriptor) and throws a SessionProtocolError carrying a
 * reason code; the session adds the checks that need its state (order) and aborts that one
 * connection (yamux's GoAway: the session goes, nothing else does).
 */
import { getU32LE, getU64LE, putU32LE, putU64LE } from '../bus/index.ts';
import { RDMA_DESCRIPTOR_BYTES, decodeRdmaDescriptor } from '../provider/index.ts';

export const MSG_NEGOTIATE = 1;
/** Small send: bytes copied into the payload. */
export const MSG_DATA = 2;
/** Large send, read path: the sender's buffer descriptor (registered MEM_READ). */
export const MSG_RDMA_READ_OFFER = 3;
/** Large send, write path: announce `length` bytes; the receiver answers with targets. */
export const MSG_LARGE_WRITE = 4;
/** Write path: the receiver's registered target (MEM_WRITE) for up to `length` bytes. */
export const MSG_WRITE_TARGET = 5;
/** Write path: the sender wrote `length` bytes into the last target. */
export const MSG_WRITE_DONE = 6;
/** Read path: the receiver has read the whole offer; the sender may deregister. */
export const MSG_READ_DONE = 7;
/** Credit return only. */
export const MSG_CREDIT = 8;
/** Orderly shutdown of the sender's direction (recv returns 0 after the data before it). */
export const MSG_SHUTDOWN = 9;
const LAST_TYPE = MSG_SHUTDOWN;

/** NEGOTIATE flags: the sender's provider can issue and serve RDMA read. */
export const NEG_RDMA_READ = 1;

const DESCRIPTOR_AT = 24;
export const HEADER_BYTES = DESCRIPTOR_AT + RDMA_DESCRIPTOR_BYTES;

export interface Header {
  type: number;
  flags: number;
  credits: number;
  payload: number;
  length: number;
  id: number;
}

/** Why a control message from the peer was refused (the reason an aborted session carries). */
export const ProtocolErrorReason = {
  /** Shorter than its header. */
  TRUNCATED: 1,
  /** A type this protocol does not have. */
  UNKNOWN_TYPE: 2,
  /** The payload size disagrees with the bytes that arrived or with the type. */
  LENGTH_MISMATCH: 3,
  /** A field out of range (a length that is no byte count, reserved bits set, a bad descriptor). */
  BAD_FIELD: 4,
  /** A message the session's state does not allow now (before negotiation, unsolicited, twice). */
  OUT_OF_ORDER: 5,
} as const;
export type ProtocolErrorReasonCode = (typeof ProtocolErrorReason)[keyof typeof ProtocolErrorReason];

export const protocolErrorReasonName = (code: number): string => {
  for (const [name, value] of Object.entries(ProtocolErrorReason)) if (value === code) return name;
  return `UNKNOWN(${code})`;
};

/** A malformed, truncated or out-of-order control message from the peer. */
export class SessionProtocolError extends Error {
  override readonly name = 'SessionProtocolError';

  constructor(
    readonly reason: ProtocolErrorReasonCode,
    detail: string,
  ) {
    super(`${protocolErrorReasonName(reason)}: ${detail}`);
  }
}

/** Types whose header carries a byte count in `length` that must be at least 1. */
const needsLength = (type: number): boolean =>
  type === MSG_RDMA_READ_OFFER || type === MSG_LARGE_WRITE || type === MSG_WRITE_TARGET || type === MSG_WRITE_DONE;
const carriesDescriptor = (type: number): boolean => type === MSG_RDMA_READ_OFFER || type === MSG_WRITE_TARGET;

/** One control buffer's worth of bytes, and the codec over it; the header object is reused. */
export class MessageCodec {
  readonly bytes: Uint8Array;
  /** The last header decoded (one object per codec, rewritten by every `decode`). */
  readonly header: Header = { type: 0, flags: 0, credits: 0, payload: 0, length: 0, id: 0 };

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }

  /** Encode `h` (and a descriptor for OFFER / WRITE_TARGET) into `bytes`; the payload follows at HEADER_BYTES. */
  write(h: Header, descriptor: Uint8Array | null): void {
    // Byte stores rather than DataView calls: one header is written per control message.
    const b = this.bytes;
    b[0] = h.type;
    b[1] = h.flags;
    b[2] = h.credits & 0xff;
    b[3] = (h.credits >>> 8) & 0xff;
    putU32LE(b, 4, h.payload);
    putU64LE(b, 8, h.length);
    putU32LE(b, 16, h.id);
    putU32LE(b, 20, 0);
    if (descriptor !== null) {
      for (let i = 0; i < RDMA_DESCRIPTOR_BYTES; i++) b[DESCRIPTOR_AT + i] = descriptor[i]!;
    } else {
      for (let i = DESCRIPTOR_AT; i < HEADER_BYTES; i++) b[i] = 0;
    }
  }

  /**
   * Decode the header of a message of `received` bytes whose first HEADER_BYTES (when it has
   * that many) are in `bytes`, into `header`. Throws SessionProtocolError for anything the
   * message says about itself that cannot be: the state-dependent checks are the session's.
   */
  decode(received: number): Header {
    if (received < HEADER_BYTES) {
      throw new SessionProtocolError(ProtocolErrorReason.TRUNCATED, `${received} bytes, a header is ${HEADER_BYTES}`);
    }
    const b = this.bytes;
    const h = this.header;
    h.type = b[0]!;
    h.flags = b[1]!;
    h.credits = b[2]! | (b[3]! << 8);
    h.payload = getU32LE(b, 4);
    h.length = getU64LE(b, 8);
    h.id = getU32LE(b, 16);
    if (h.type < MSG_NEGOTIATE || h.type > LAST_TYPE) {
      throw new SessionProtocolError(ProtocolErrorReason.UNKNOWN_TYPE, `type ${h.type}`);
    }
    if (h.type === MSG_DATA) {
      if (h.payload === 0 || HEADER_BYTES + h.payload !== received) {
        throw new SessionProtocolError(ProtocolErrorReason.LENGTH_MISMATCH, `DATA says ${h.payload} payload bytes, ${received - HEADER_BYTES} arrived`);
      }
    } else if (h.payload !== 0 || received !== HEADER_BYTES) {
      throw new SessionProtocolError(ProtocolErrorReason.LENGTH_MISMATCH, `type ${h.type} carries no payload, ${received - HEADER_BYTES} bytes arrived`);
    }
    if (getU32LE(b, 20) !== 0 || (h.type === MSG_NEGOTIATE ? (h.flags & ~NEG_RDMA_READ) !== 0 : h.flags !== 0)) {
      throw new SessionProtocolError(ProtocolErrorReason.BAD_FIELD, `type ${h.type}: flags 0x${h.flags.toString(16)} or reserved bits set`);
    }
    if (needsLength(h.type) ? h.length < 1 : h.length !== 0) {
      throw new SessionProtocolError(ProtocolErrorReason.BAD_FIELD, `type ${h.type}: length field ${h.length}`);
    }
    if (carriesDescriptor(h.type) && decodeRdmaDescriptor(b.subarray(DESCRIPTOR_AT, HEADER_BYTES), RDMA_DESCRIPTOR_BYTES) === null) {
      throw new SessionProtocolError(ProtocolErrorReason.BAD_FIELD, `type ${h.type}: the RDMA buffer descriptor does not decode`);
    }
    return h;
  }

  /** A copy of the descriptor of the last decoded OFFER / WRITE_TARGET. */
  descriptor(): Uint8Array {
    return this.bytes.slice(DESCRIPTOR_AT, HEADER_BYTES);
  }
}
