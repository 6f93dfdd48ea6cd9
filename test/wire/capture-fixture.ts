/**
 * A capture with one frame of every opcode the codec builds (RC SEND/WRITE/READ in every
 * position, ACK, each NAK code, RNR NAK, atomics, UD) and every CM message, between the
 * reference's two hosts, for the tshark test. Payloads are ≥ 16 bytes so that no RC SEND
 * Only/Last trips tshark's RPC-over-RDMA heuristic (roce-v2.md §11.3).
 */
import {
  buildCmFrame, buildFrame, CmMessageRef, CmRejectReason, frameLength, ipCmPrivateData, nakSyndrome, NakCode, Opcode, opcodeMask,
  OpMask, PcapWriter, rnrNakSyndrome, Syndrome, type CmMessage, type PacketFields,
} from '../../src/wire/index.ts';
import { IP_A, IP_B, aToB, bToA, v5Path, v5Req } from './reference-vectors.ts';

export interface CaptureEntry {
  /** What the frame is, for messages. */
  label: string;
  opcode: number;
  /** AETH syndrome when the opcode carries one, else -1. */
  syndrome: number;
  /** CM attribute ID when the frame is a CM MAD, else -1. */
  cmAttribute: number;
  frame: Uint8Array;
}

const PMTU = 256;
const bytes = (n: number, seed: number): Uint8Array => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
};

export function captureEntries(): CaptureEntry[] {
  const entries: CaptureEntry[] = [];
  let psn = 0x00fff0; // crosses the 24-bit wrap on the way
  const add = (label: string, f: PacketFields, payloadLength: number): void => {
    const out = new Uint8Array(frameLength(f.opcode, payloadLength));
    const n = buildFrame(out, f, bytes(payloadLength, entries.length));
    const hasAeth = (opcodeMask(f.opcode) & OpMask.AETH) !== 0;
    entries.push({ label, opcode: f.opcode, syndrome: hasAeth ? f.syndrome : -1, cmAttribute: -1, frame: out.subarray(0, n) });
  };
  const req = (label: string, init: Partial<PacketFields>, payloadLength: number): void => {
    add(label, aToB({ psn, ...init }), payloadLength);
    psn = (psn + 1) & 0xffffff;
  };
  const resp = (label: string, init: Partial<PacketFields>, payloadLength: number): void => add(label, bToA({ psn, msn: 7, ...init }), payloadLength);

  // SEND: a 3-packet message, then single-packet ones and the Immediate/Invalidate variants
  req('SEND First', { opcode: Opcode.RC_SEND_FIRST }, PMTU);
  req('SEND Middle', { opcode: Opcode.RC_SEND_MIDDLE }, PMTU);
  req('SEND Last', { opcode: Opcode.RC_SEND_LAST, ackReq: 1 }, 100);
  req('SEND Only', { opcode: Opcode.RC_SEND_ONLY, ackReq: 1, se: 1 }, 64);
  req('SEND Last with Immediate', { opcode: Opcode.RC_SEND_LAST_WITH_IMMEDIATE, ackReq: 1, immDt: 0x01020304 }, 17);
  req('SEND Only with Immediate', { opcode: Opcode.RC_SEND_ONLY_WITH_IMMEDIATE, ackReq: 1, immDt: 0xcafef00d }, 33);
  req('SEND Last with Invalidate', { opcode: Opcode.RC_SEND_LAST_WITH_INVALIDATE, ackReq: 1, invalidateRkey: 0x1234 }, 18);
  req('SEND Only with Invalidate', { opcode: Opcode.RC_SEND_ONLY_WITH_INVALIDATE, ackReq: 1, invalidateRkey: 0x4321 }, 19);
  // RDMA WRITE
  const write = { va: 0x7f0000010000, rkey: 0xabcd01, dmaLength: 2 * PMTU + 50 };
  req('WRITE First', { opcode: Opcode.RC_RDMA_WRITE_FIRST, ...write }, PMTU);
  req('WRITE Middle', { opcode: Opcode.RC_RDMA_WRITE_MIDDLE }, PMTU);
  req('WRITE Last', { opcode: Opcode.RC_RDMA_WRITE_LAST, ackReq: 1 }, 50);
  req('WRITE Last with Immediate', { opcode: Opcode.RC_RDMA_WRITE_LAST_WITH_IMMEDIATE, ackReq: 1, immDt: 7 }, 21);
  req('WRITE Only', { opcode: Opcode.RC_RDMA_WRITE_ONLY, ackReq: 1, ...write, dmaLength: 16 }, 16);
  req('WRITE Only with Immediate', { opcode: Opcode.RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE, ackReq: 1, ...write, dmaLength: 0, immDt: 9 }, 0);
  // RDMA READ: the request reserves 3 PSNs, answered First/Middle/Last, then a single Only
  const readPsn = psn;
  req('READ Request', { opcode: Opcode.RC_RDMA_READ_REQUEST, ackReq: 1, va: 0x7f0000020000, rkey: 0x5678, dmaLength: 2 * PMTU + 40 }, 0);
  psn = (psn + 2) & 0xffffff;
  add('READ Response First', bToA({ opcode: Opcode.RC_RDMA_READ_RESPONSE_FIRST, psn: readPsn, syndrome: Syndrome.ACK_UNLIMITED, msn: 3 }), PMTU);
  add('READ Response Middle', bToA({ opcode: Opcode.RC_RDMA_READ_RESPONSE_MIDDLE, psn: (readPsn + 1) & 0xffffff }), PMTU);
  add('READ Response Last', bToA({ opcode: Opcode.RC_RDMA_READ_RESPONSE_LAST, psn: (readPsn + 2) & 0xffffff, syndrome: Syndrome.ACK_UNLIMITED, msn: 3 }), 40);
  resp('READ Response Only', { opcode: Opcode.RC_RDMA_READ_RESPONSE_ONLY, syndrome: Syndrome.ACK_UNLIMITED }, 24);
  // acknowledgements
  resp('ACK', { opcode: Opcode.RC_ACKNOWLEDGE, syndrome: Syndrome.ACK_UNLIMITED }, 0);
  resp('RNR NAK 1.28 ms', { opcode: Opcode.RC_ACKNOWLEDGE, syndrome: rnrNakSyndrome(14) }, 0);
  for (const [name, code] of Object.entries(NakCode)) resp(`NAK ${name}`, { opcode: Opcode.RC_ACKNOWLEDGE, syndrome: nakSyndrome(code) }, 0);
  // atomics
  req('Compare & Swap', { opcode: Opcode.RC_COMPARE_SWAP, ackReq: 1, va: 0x7f0000030000, rkey: 0x99, swapAdd: 5n, compare: 4n }, 0);
  req('Fetch & Add', { opcode: Opcode.RC_FETCH_ADD, ackReq: 1, va: 0x7f0000030008, rkey: 0x99, swapAdd: 1n }, 0);
  resp('Atomic Acknowledge', { opcode: Opcode.RC_ATOMIC_ACKNOWLEDGE, syndrome: Syndrome.ACK_UNLIMITED, origData: 4n }, 0);
  // UD to an ordinary UD QP
  req('UD SEND Only', { opcode: Opcode.UD_SEND_ONLY, ackReq: 1, destQp: 0x22, qkey: 0x11111111, srcQp: 0x21 }, 40);
  req('UD SEND Only with Immediate', { opcode: Opcode.UD_SEND_ONLY_WITH_IMMEDIATE, ackReq: 1, destQp: 0x22, qkey: 0x11111111, srcQp: 0x21, immDt: 3 }, 40);

  // connection management, one of each message
  for (const [label, msg, fromA] of cmMessages()) {
    const out = new Uint8Array(400);
    const f = fromA ? aToB({ psn: entries.length }) : bToA({ psn: entries.length });
    const n = buildCmFrame(out, f, msg);
    entries.push({ label, opcode: Opcode.UD_SEND_ONLY, syndrome: -1, cmAttribute: CM_ATTRIBUTE[msg.kind], frame: out.subarray(0, n) });
  }
  return entries;
}

const CM_ATTRIBUTE = { REQ: 0x10, MRA: 0x11, REJ: 0x12, REP: 0x13, RTU: 0x14, DREQ: 0x15, DREP: 0x16 } as const;

function cmMessages(): [string, CmMessage, boolean][] {
  const tid = 0x0000_0001_1a2b_3c4dn;
  const a = 0x1a2b3c4d;
  const b = 0x5e6f7081;
  const pd = (n: number): Uint8Array => bytes(n, 0x40);
  return [
    ['CM REQ', v5Req(), true],
    ['CM MRA', { kind: 'MRA', transactionId: tid, localCommId: b, remoteCommId: a, messageMraed: CmMessageRef.REQ, serviceTimeout: 20, privateData: pd(0) }, false],
    ['CM REP', {
      kind: 'REP', transactionId: tid, localCommId: b, remoteCommId: a, localQkey: 0, localQpn: 0x12, localEecn: 0, startingPsn: 0x123456,
      responderResources: 1, initiatorDepth: 1, targetAckDelay: 15, failoverAccepted: 0, endToEndFlowControl: 1, rnrRetryCount: 7, srq: 0,
      localCaGuid: 0x020000fffe000003n, privateData: pd(16),
    }, false],
    ['CM RTU', { kind: 'RTU', transactionId: tid, localCommId: a, remoteCommId: b, privateData: pd(0) }, true],
    ['CM DREQ', { kind: 'DREQ', transactionId: 0x0000_0002_1a2b_3c4dn, localCommId: a, remoteCommId: b, remoteQpn: 0x12, privateData: pd(0) }, true],
    ['CM DREP', { kind: 'DREP', transactionId: 0x0000_0002_1a2b_3c4dn, localCommId: b, remoteCommId: a, privateData: pd(0) }, false],
    ['CM REJ', {
      kind: 'REJ', transactionId: tid, localCommId: 0, remoteCommId: a, messageRejected: CmMessageRef.REQ, rejectInfoLength: 0,
      reason: CmRejectReason.INVALID_SERVICE_ID, ari: new Uint8Array(0), privateData: pd(0),
    }, false],
  ];
}

/** Write the entries as a pcap (µs timestamps 1 ms apart) and return the writer's bytes. */
export function capturePcap(entries: readonly CaptureEntry[]): Uint8Array {
  const w = PcapWriter.toMemory();
  entries.forEach((e, i) => w.write(e.frame, i * 1_000_000));
  return w.bytes();
}

export { IP_A, IP_B, v5Path, ipCmPrivateData };
