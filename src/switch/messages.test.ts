import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RDMA_DESCRIPTOR_BYTES, encodeRdmaDescriptor } from '../provider/index.ts';
import {
  HEADER_BYTES, MSG_CREDIT, MSG_DATA, MSG_LARGE_WRITE, MSG_NEGOTIATE, MSG_RDMA_READ_OFFER, MSG_READ_DONE, MSG_SHUTDOWN,
  MSG_WRITE_DONE, MSG_WRITE_TARGET, MessageCodec, NEG_RDMA_READ, ProtocolErrorReason, SessionProtocolError, type Header,
} from './messages.ts';

const descriptor = (): Uint8Array => {
  const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
  encodeRdmaDescriptor({ remoteKey: 0x1234, offset: 0, length: 4096, sanAddress: 0x10 }, d);
  return d;
};

const withDescriptor = (type: number) => type === MSG_RDMA_READ_OFFER || type === MSG_WRITE_TARGET;

/** A well-formed header of `type`. */
function valid(type: number, n: { credits: number; payload: number; length: number; id: number }): Header {
  const needsLength = type === MSG_RDMA_READ_OFFER || type === MSG_LARGE_WRITE || type === MSG_WRITE_TARGET || type === MSG_WRITE_DONE;
  return {
    type, flags: type === MSG_NEGOTIATE ? NEG_RDMA_READ : 0, credits: n.credits, payload: type === MSG_DATA ? n.payload : 0,
    length: needsLength ? n.length : 0, id: n.id,
  };
}

function reasonOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof SessionProtocolError) return e.reason;
    throw e;
  }
  return 0;
}

describe('session-protocol MessageCodec', () => {
  const types = [MSG_NEGOTIATE, MSG_DATA, MSG_RDMA_READ_OFFER, MSG_LARGE_WRITE, MSG_WRITE_TARGET, MSG_WRITE_DONE, MSG_READ_DONE, MSG_CREDIT, MSG_SHUTDOWN];

  it('property: every well-formed header decodes to what was written', () => {
    const codec = new MessageCodec(1024);
    fc.assert(fc.property(
      fc.constantFrom(...types),
      fc.record({ credits: fc.integer({ min: 0, max: 0xffff }), payload: fc.integer({ min: 1, max: 1024 - HEADER_BYTES }),
        length: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), id: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      (type, n) => {
        const h = valid(type, n);
        codec.write(h, withDescriptor(type) ? descriptor() : null);
        expect({ ...codec.decode(HEADER_BYTES + h.payload) }).toEqual(h);
      }));
  });

  it('refuses what a frame says about itself with a reason code, never a plain Error', () => {
    const codec = new MessageCodec(1024);
    const write = (h: Header, d: Uint8Array | null = null) => codec.write(h, d);
    const base = { credits: 0, payload: 10, length: 100, id: 1 };
    write(valid(MSG_CREDIT, base));
    expect(reasonOf(() => codec.decode(HEADER_BYTES - 1))).toBe(ProtocolErrorReason.TRUNCATED);
    expect(reasonOf(() => codec.decode(0))).toBe(ProtocolErrorReason.TRUNCATED);
    codec.bytes[0] = 0;
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.UNKNOWN_TYPE);
    codec.bytes[0] = MSG_SHUTDOWN + 1;
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.UNKNOWN_TYPE);
    write(valid(MSG_DATA, base));
    expect(reasonOf(() => codec.decode(HEADER_BYTES + 9))).toBe(ProtocolErrorReason.LENGTH_MISMATCH);
    write({ ...valid(MSG_DATA, base), payload: 0 });
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.LENGTH_MISMATCH);
    write(valid(MSG_CREDIT, base));
    expect(reasonOf(() => codec.decode(HEADER_BYTES + 1))).toBe(ProtocolErrorReason.LENGTH_MISMATCH);
    write({ ...valid(MSG_CREDIT, base), flags: 1 });
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.BAD_FIELD);
    write({ ...valid(MSG_LARGE_WRITE, base), length: 0 });
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.BAD_FIELD);
    write(valid(MSG_LARGE_WRITE, base));
    codec.bytes[15] = 0xff; // a length of 2^56 or more: no byte count
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.BAD_FIELD);
    write(valid(MSG_RDMA_READ_OFFER, base), new Uint8Array(RDMA_DESCRIPTOR_BYTES));
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.BAD_FIELD);
    write(valid(MSG_READ_DONE, base));
    codec.bytes[20] = 1; // reserved
    expect(reasonOf(() => codec.decode(HEADER_BYTES))).toBe(ProtocolErrorReason.BAD_FIELD);
  });

  it('property: random bytes either decode to a header that says what arrived, or raise a SessionProtocolError', () => {
    const codec = new MessageCodec(256);
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 256 }), (bytes) => {
      codec.bytes.fill(0);
      codec.bytes.set(bytes);
      try {
        const h = codec.decode(bytes.length);
        expect(HEADER_BYTES + h.payload).toBe(bytes.length);
      } catch (e) {
        expect(e).toBeInstanceOf(SessionProtocolError);
      }
    }));
  });
});
