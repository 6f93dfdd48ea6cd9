/**
 * Session-protocol control messages [using-session-protocol, sending-urgent-data-on-a-san].
 * A message is a fixed header plus an optional payload, written into a control buffer.
 *
 *   0  u8  type             8  f64 length (total of a large send / bytes of a write)
 *   1  u8  flags           16  u32 id (large send number)
 *   2  u16 credits         20  u32 reserved
 *   4  u32 payload bytes   24  32-byte RDMA buffer descriptor (OFFER, WRITE_TARGET)
 *  56  payload (DATA)
 *
 * `credits` on every message returns receive buffers the sender reposted (credit-based flow
 * control: one credit = one posted receive at the peer).
 */
import { putU32LE } from '../bus/index.ts';
import { RDMA_DESCRIPTOR_BYTES } from '../provider/index.ts';

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

/** NEGOTIATE flags: the sender's provider can issue and serve RDMA read. */
export const NEG_RDMA_READ = 1;

export const HEADER_BYTES = 24 + RDMA_DESCRIPTOR_BYTES;

export interface Header {
  type: number;
  flags: number;
  credits: number;
  payload: number;
  length: number;
  id: number;
}

export class MessageCodec {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  write(h: Header, descriptor: Uint8Array | null): void {
    // Byte stores rather than DataView calls: one header is written per control message.
    const b = this.bytes;
    b[0] = h.type;
    b[1] = h.flags;
    b[2] = h.credits & 0xff;
    b[3] = (h.credits >>> 8) & 0xff;
    putU32LE(b, 4, h.payload);
    this.view.setFloat64(8, h.length, true);
    putU32LE(b, 16, h.id);
    putU32LE(b, 20, 0);
    if (descriptor !== null) {
      for (let i = 0; i < RDMA_DESCRIPTOR_BYTES; i++) b[24 + i] = descriptor[i]!;
    } else {
      for (let i = 24; i < HEADER_BYTES; i++) b[i] = 0;
    }
  }

  read(): Header {
    const v = this.view;
    return {
      type: v.getUint8(0),
      flags: v.getUint8(1),
      credits: v.getUint16(2, true),
      payload: v.getUint32(4, true),
      length: v.getFloat64(8, true),
      id: v.getUint32(16, true),
    };
  }

  descriptor(): Uint8Array {
    return this.bytes.slice(24, HEADER_BYTES);
  }
}
