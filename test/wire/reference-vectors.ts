/**
 * The fixed vectors of roce-v2.md §5.4 and §10.10 (scapy-built, tshark-checked), with the
 * parameters they were built from, and an ICRC computed from the IBA definition alone — a
 * bitwise CRC-32 written here, sharing no code with src/wire/icrc.ts (no zlib, no table).
 */
import {
  Opcode, ipCmPrivateData, ipv4MappedGid, packetFields, rdmaCmServiceId, RdmaPortSpace, type CmPath, type CmReq, type PacketFields,
} from '../../src/wire/index.ts';

export const IP_A = 0x7f000002; // 127.0.0.2
export const IP_B = 0x7f000003; // 127.0.0.3
export const MAC_A = 0x020000000002;
export const MAC_B = 0x020000000003;

export const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Requests go A → B from UDP 49153 to QP 0x11; responses B → A from 49154 to QP 0x12. */
export const aToB = (init: Partial<PacketFields>): PacketFields =>
  packetFields({ srcMac: MAC_A, dstMac: MAC_B, srcIp: IP_A, dstIp: IP_B, srcPort: 49153, destQp: 0x11, ...init });
export const bToA = (init: Partial<PacketFields>): PacketFields =>
  packetFields({ srcMac: MAC_B, dstMac: MAC_A, srcIp: IP_B, dstIp: IP_A, srcPort: 49154, destQp: 0x12, ...init });

export interface Vector {
  name: string;
  fields: PacketFields;
  payload: Uint8Array;
  frame: string;
  icrc: string;
}

export const V1: Vector = {
  name: 'V1 RC SEND Only "Hello"',
  fields: aToB({ opcode: Opcode.RC_SEND_ONLY, ackReq: 1, psn: 0 }),
  payload: new TextEncoder().encode('Hello'),
  frame: '0200000000030200000000020800450000340000400040113cb47f0000027f000003c00112b7002000000430ffff000000118000000048656c6c6f0000006aea576d',
  icrc: '6aea576d',
};
export const V2: Vector = {
  name: 'V2 ACK, syndrome 0x1F, MSN 1',
  fields: bToA({ opcode: Opcode.RC_ACKNOWLEDGE, psn: 0, syndrome: 0x1f, msn: 1 }),
  payload: new Uint8Array(0),
  frame: '0200000000020200000000030800450000300000400040113cb87f0000037f000002c00212b7001c00001100ffff00000012000000001f000001b57a69b7',
  icrc: 'b57a69b7',
};
export const V3: Vector = {
  name: 'V3 RDMA READ Request',
  fields: aToB({ opcode: Opcode.RC_RDMA_READ_REQUEST, ackReq: 1, psn: 1, va: 0x7f0000002000, rkey: 0x5678, dmaLength: 8 }),
  payload: new Uint8Array(0),
  frame: '02000000000302000000000208004500003c0000400040113cac7f0000027f000003c00112b7002800000c00ffff000000118000000100007f0000002000000056780000000816d70706',
  icrc: '16d70706',
};
export const V4: Vector = {
  name: 'V4 RDMA READ Response Only "ABCDEFGH"',
  fields: bToA({ opcode: Opcode.RC_RDMA_READ_RESPONSE_ONLY, psn: 1, syndrome: 0x1f, msn: 2 }),
  payload: new TextEncoder().encode('ABCDEFGH'),
  frame: '0200000000020200000000030800450000380000400040113cb07f0000037f000002c00212b7002400001000ffff00000012000000011f000002414243444546474820ad08d7',
  icrc: '20ad08d7',
};
export const RC_VECTORS: readonly Vector[] = [V1, V2, V3, V4];

/** §10.10: the V5 frame's 62 header bytes and 256-byte MAD. */
export const V5_HEAD = '0200000000030200000000020800450001340000400040113bb47f0000027f000003c00112b7012000006400ffff00000001800000008001000000000001';
export const V5_MAD = [
  '0107020300000000000000011a2b3c4d00100000000000001a2b3c4d00000000',
  '0000000001064853020000fffe00000200000000000000000000110100000001',
  '000000a100abcda7ffff37f0ffffffff00000000000000000000ffff7f000002',
  '00000000000000000000ffff7f00000300000000004000880000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000409c400000000000000000000000007f0000020000000000000000',
  '000000007f000003000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000000',
].join('');
export const V5_ICRC = '185e262d';
export const V5_FRAME = V5_HEAD + V5_MAD + V5_ICRC;

export const v5Path = (): CmPath => ({
  localLid: 0xffff, remoteLid: 0xffff, localGid: ipv4MappedGid(IP_A), remoteGid: ipv4MappedGid(IP_B),
  flowLabel: 0, packetRate: 0, trafficClass: 0, hopLimit: 64, sl: 0, subnetLocal: 0, localAckTimeout: 17,
});

/** The REQ of §10.10: 127.0.0.2:40000 → 127.0.0.3, TCP port space, port 18515. */
export const v5Req = (): CmReq => ({
  kind: 'REQ',
  transactionId: 0x0000_0001_1a2b_3c4dn,
  localCommId: 0x1a2b3c4d,
  serviceId: rdmaCmServiceId(RdmaPortSpace.TCP, 18515),
  localCaGuid: 0x020000fffe000002n,
  localQkey: 0,
  localQpn: 0x11,
  responderResources: 1,
  localEecn: 0,
  initiatorDepth: 1,
  remoteEecn: 0,
  remoteCmResponseTimeout: 20,
  transportServiceType: 0,
  endToEndFlowControl: 1,
  startingPsn: 0xabcd,
  localCmResponseTimeout: 20,
  retryCount: 7,
  pkey: 0xffff,
  pathMtu: 3,
  rdcExists: 0,
  rnrRetryCount: 7,
  maxCmRetries: 15,
  srq: 0,
  extendedTransportType: 0,
  primaryPath: v5Path(),
  alternatePath: null,
  privateData: ipCmPrivateData(IP_A, 40000, IP_B),
});

/**
 * CRC-32 exactly as the IBA (and IEEE 802.3) define it, bit by bit: reflected polynomial
 * 0xEDB88320, register initialised to all ones, final complement.
 */
export function referenceCrc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The ICRC of an untagged IPv4 RoCEv2 frame from the definition (§5.1): 8 × 0xFF, then the
 * frame from the IP header up to the ICRC with TOS, TTL, IP checksum, UDP checksum and BTH
 * byte 4 set to ones — written independently of src/wire (plain offsets, a copy, the CRC above).
 */
export function referenceIcrc(frame: Uint8Array): number {
  const udpLength = (frame[38]! << 8) | frame[39]!;
  const covered = frame.slice(14, 34 + udpLength - 4);
  for (const i of [1, 8, 10, 11, 26, 27, 32]) covered[i] = 0xff;
  const input = new Uint8Array(8 + covered.length).fill(0xff, 0, 8);
  input.set(covered, 8);
  return referenceCrc32(input);
}

/** The ICRC as the wire carries it: the last 4 bytes, little-endian. */
export const wireIcrc = (frame: Uint8Array): number => {
  const n = frame.length;
  return (frame[n - 4]! | (frame[n - 3]! << 8) | (frame[n - 2]! << 16) | (frame[n - 1]! << 24)) >>> 0;
};
