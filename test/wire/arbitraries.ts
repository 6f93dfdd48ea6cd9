/** Fast-check arbitraries for the wire codec's property tests (packet.test.ts, head-template.test.ts). */
import fc from 'fast-check';
import { macForIpv4, opcodeMask, OpMask, packetFields, type PacketFields } from '../../src/wire/index.ts';

export const hasPayload = (op: number): boolean => (opcodeMask(op) & OpMask.PAYLOAD) !== 0;

/** Random values for every field; the opcode decides which ones reach the wire. */
export const fieldsArb = (opcode: fc.Arbitrary<number>): fc.Arbitrary<PacketFields> =>
  fc.record({
    opcode,
    srcIp: fc.integer({ min: 0, max: 0xffffffff }),
    dstIp: fc.integer({ min: 0, max: 0xffffffff }),
    srcPort: fc.integer({ min: 0xc000, max: 0xffff }),
    ipId: fc.integer({ min: 0, max: 0xffff }),
    tos: fc.integer({ min: 0, max: 0xff }),
    ttl: fc.integer({ min: 1, max: 0xff }),
    se: fc.integer({ min: 0, max: 1 }),
    mig: fc.integer({ min: 0, max: 1 }),
    ackReq: fc.integer({ min: 0, max: 1 }),
    // wrap-around region weighted in: PSNs near 0 and near 2^24
    psn: fc.oneof(fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 0xfffff0, max: 0xffffff }), fc.integer({ min: 0, max: 16 })),
    destQp: fc.integer({ min: 1, max: 0xffffff }),
    va: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    rkey: fc.integer({ min: 0, max: 0xffffffff }),
    dmaLength: fc.integer({ min: 0, max: 0xffffffff }),
    syndrome: fc.integer({ min: 0, max: 0x7f }),
    msn: fc.integer({ min: 0, max: 0xffffff }),
    qkey: fc.integer({ min: 0, max: 0xffffffff }),
    srcQp: fc.integer({ min: 0, max: 0xffffff }),
    immDt: fc.integer({ min: 0, max: 0xffffffff }),
    invalidateRkey: fc.integer({ min: 0, max: 0xffffffff }),
    swapAdd: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    compare: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    origData: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  }).map((r) => packetFields({ ...r, srcMac: macForIpv4(r.srcIp), dstMac: macForIpv4(r.dstIp) }));
