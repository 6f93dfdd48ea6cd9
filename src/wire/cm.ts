/**
 * Connection management MADs as RoCEv2 carries them (IBA volume 1 chapter 12; cm `ib_mad.h` struct
 * ib_mad_hdr, `cm_msgs.h`/`ibta_vol1_c12.h` layouts, `cma.c` IP addressing): the 256-byte MAD,
 * the CM messages REQ, MRA, REJ, REP, RTU, DREQ, DREP as plain records, and the rdma_cm
 * conventions (service ID from a port, the IP CM private-data header, IPv4-mapped GIDs).
 *
 * Implementation notes
 * - Control path: a message is an object, 64-bit values (TIDs, GUIDs, service IDs) bigints.
 *   `encodeCmMad` checks every field's range and throws a WireError naming it; `decodeCmMad`
 *   never throws and answers bytes that are not a CM MAD with `{ kind: 'invalid', reason }`.
 * - Every message is one UD SEND Only to QP1 (GSI), DETH Q_Key 0x80010000, Source QP 1, the
 *   MAD as the whole 256-byte payload (no pad): `buildCmFrame`. Frame = 322 bytes.
 * - Private data is a fixed-size field per message (REQ 92, MRA 222, REJ 148, REP 196, RTU 224,
 *   DREQ 220, DREP 224); the MAD carries no length, so decoding returns the whole field and
 *   encoding zero-fills after the bytes given.
 */
import { getU16, getU24, getU32, getU64Big, putU16, putU24, putU32, putU64Big } from './big-endian.ts';
import { buildFrame, type PacketFields } from './build.ts';
import { WireError } from './errors.ts';
import { Opcode } from './opcodes.ts';

export const MAD_BYTES = 256;
/** The GSI QP and its well-known Q_Key (ib_mad.h IB_QP1_QKEY). */
export const GSI_QPN = 1;
export const GSI_QKEY = 0x80010000;
export const MAD_BASE_VERSION = 1;
export const MGMT_CLASS_CM = 0x07;
/** IB_CM_CLASS_VERSION (cm_msgs.h). */
export const CM_CLASS_VERSION = 2;
/** Every CM message, request or reply, uses method Send. */
export const MAD_METHOD_SEND = 0x03;

/** CM attribute IDs (ib_cm.h; tshark names REQ "ConnectRequest" etc.). */
export const CmAttribute = { REQ: 0x0010, MRA: 0x0011, REJ: 0x0012, REP: 0x0013, RTU: 0x0014, DREQ: 0x0015, DREP: 0x0016 } as const;

/** Which message a REJ or MRA answers (the 2-bit "Message REJected/MRAed" field). */
export const CmMessageRef = { REQ: 0, REP: 1, OTHER: 2 } as const;

/** REJ reasons worth modelling (ib_cm.h enum ib_cm_rej_reason). */
export const CmRejectReason = {
  NO_QP: 1,
  NO_EEC: 2,
  NO_RESOURCES: 3,
  TIMEOUT: 4,
  UNSUPPORTED_REQUEST: 5,
  INVALID_COMM_ID: 6,
  INVALID_COMM_INSTANCE: 7,
  INVALID_SERVICE_ID: 8,
  INVALID_TRANSPORT_TYPE: 9,
  STALE_CONNECTION: 10,
  INVALID_GID: 12,
  INVALID_MTU: 26,
  INSUFFICIENT_RESPONDER_RESOURCES: 27,
  CONSUMER_DEFINED: 28,
  INVALID_RNR_RETRY: 29,
  DUPLICATE_LOCAL_COMM_ID: 30,
  INVALID_CLASS_VERSION: 31,
  INVALID_FLOW_LABEL: 32,
  VENDOR_OPTION_NOT_SUPPORTED: 35,
} as const;

/** Private-data capacity of each message (ib_cm.h IB_CM_*_PRIVATE_DATA_SIZE). */
export const CM_PRIVATE_DATA_BYTES = { REQ: 92, MRA: 222, REJ: 148, REP: 196, RTU: 224, DREQ: 220, DREP: 224 } as const;
const PD_OFFSET = { REQ: 164, MRA: 34, REJ: 108, REP: 60, RTU: 32, DREQ: 36, DREP: 32 } as const;
const ATTRIBUTE_KIND = new Map<number, CmKind>(Object.entries(CmAttribute).map(([k, v]) => [v, k as CmKind]));
export const CM_REJ_ARI_BYTES = 72;

export type CmKind = keyof typeof CmAttribute;

/** A path as the REQ describes it (primary at MAD offset 76, alternate at 120; 44 bytes each). */
export interface CmPath {
  localLid: number;
  remoteLid: number;
  /** 16-byte GIDs; RoCEv2 IPv4: `ipv4MappedGid(address)`. */
  localGid: Uint8Array;
  remoteGid: Uint8Array;
  flowLabel: number;
  packetRate: number;
  trafficClass: number;
  hopLimit: number;
  sl: number;
  subnetLocal: number;
  /** Local ACK timeout code (5 bits): 4.096 µs × 2^code. */
  localAckTimeout: number;
}

interface CmCommon {
  /** MAD TransactionID (cm.c cm_form_tid): the REQ's for REQ/REP/RTU and a REJ of a REQ. */
  transactionId: bigint;
  localCommId: number;
  privateData: Uint8Array;
}

export interface CmReq extends CmCommon {
  kind: 'REQ';
  serviceId: bigint;
  localCaGuid: bigint;
  localQkey: number;
  localQpn: number;
  responderResources: number;
  localEecn: number;
  initiatorDepth: number;
  remoteEecn: number;
  remoteCmResponseTimeout: number;
  /** 0 RC, 1 UC, 3 see extendedTransportType. */
  transportServiceType: number;
  endToEndFlowControl: number;
  startingPsn: number;
  localCmResponseTimeout: number;
  retryCount: number;
  pkey: number;
  /** IB MTU code 1..5 (segment.ts mtuBytes). */
  pathMtu: number;
  rdcExists: number;
  rnrRetryCount: number;
  maxCmRetries: number;
  srq: number;
  extendedTransportType: number;
  primaryPath: CmPath;
  /** null: no alternate path (44 zero bytes). */
  alternatePath: CmPath | null;
}

export interface CmRep extends CmCommon {
  kind: 'REP';
  remoteCommId: number;
  localQkey: number;
  localQpn: number;
  localEecn: number;
  startingPsn: number;
  responderResources: number;
  initiatorDepth: number;
  targetAckDelay: number;
  failoverAccepted: number;
  endToEndFlowControl: number;
  rnrRetryCount: number;
  srq: number;
  localCaGuid: bigint;
}

export interface CmRtu extends CmCommon {
  kind: 'RTU';
  remoteCommId: number;
}

export interface CmRej extends CmCommon {
  kind: 'REJ';
  remoteCommId: number;
  /** CmMessageRef: which message is rejected. */
  messageRejected: number;
  rejectInfoLength: number;
  reason: number;
  /** Additional Reject Information (72 bytes; shorter is zero-filled). */
  ari: Uint8Array;
}

export interface CmMra extends CmCommon {
  kind: 'MRA';
  remoteCommId: number;
  /** CmMessageRef: which message is MRAed. */
  messageMraed: number;
  serviceTimeout: number;
}

export interface CmDreq extends CmCommon {
  kind: 'DREQ';
  remoteCommId: number;
  /** The QPN the receiver must own, or it ignores the DREQ. */
  remoteQpn: number;
}

export interface CmDrep extends CmCommon {
  kind: 'DREP';
  remoteCommId: number;
}

export type CmMessage = CmReq | CmRep | CmRtu | CmRej | CmMra | CmDreq | CmDrep;

export interface CmInvalid {
  kind: 'invalid';
  /** What made the bytes not a CM message ("MgmtClass 0x04 is not CM (0x07)"). */
  reason: string;
}

// ---- encoding ------------------------------------------------------------------------------

function fieldError(name: string, value: unknown, expected: string): never {
  throw new WireError(name, `${name} = ${String(value)}: expected ${expected}`);
}
/** An unsigned field of `bits` bits (≤ 32). */
function u(name: string, v: number, bits: number): number {
  const ok = bits === 32 ? v >>> 0 === v : Number.isInteger(v) && v >= 0 && v < 2 ** bits;
  if (!ok) fieldError(name, v, `an unsigned ${bits}-bit integer`);
  return v;
}
function u64(name: string, v: bigint): bigint {
  if (typeof v !== 'bigint' || BigInt.asUintN(64, v) !== v) fieldError(name, v, 'an unsigned 64-bit bigint');
  return v;
}
function bytesField(name: string, v: Uint8Array, max: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length > max) fieldError(name, v instanceof Uint8Array ? `${v.length} bytes` : v, `a Uint8Array of at most ${max} bytes`);
  return v;
}
function gid(name: string, v: Uint8Array): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== 16) fieldError(name, v instanceof Uint8Array ? `${v.length} bytes` : v, 'a 16-byte GID');
  return v;
}

function writePath(b: Uint8Array, at: number, p: CmPath, name: string): void {
  putU16(b, at, u(`${name}.localLid`, p.localLid, 16));
  putU16(b, at + 2, u(`${name}.remoteLid`, p.remoteLid, 16));
  b.set(gid(`${name}.localGid`, p.localGid), at + 4);
  b.set(gid(`${name}.remoteGid`, p.remoteGid), at + 20);
  putU32(b, at + 36, ((u(`${name}.flowLabel`, p.flowLabel, 20) << 12) | u(`${name}.packetRate`, p.packetRate, 6)) >>> 0);
  b[at + 40] = u(`${name}.trafficClass`, p.trafficClass, 8);
  b[at + 41] = u(`${name}.hopLimit`, p.hopLimit, 8);
  b[at + 42] = (u(`${name}.sl`, p.sl, 4) << 4) | (u(`${name}.subnetLocal`, p.subnetLocal, 1) << 3);
  b[at + 43] = u(`${name}.localAckTimeout`, p.localAckTimeout, 5) << 3;
}

/**
 * Write `msg` as a 256-byte CM MAD at `out[at …]` (header + attribute; reserved bytes and unused
 * private data zeroed). Throws a WireError naming the first out-of-range field; nothing is
 * written then.
 */
export function encodeCmMad(msg: CmMessage, out: Uint8Array, at = 0): void {
  if (!(out instanceof Uint8Array) || !Number.isSafeInteger(at) || at < 0 || at + MAD_BYTES > out.length) {
    fieldError('out', out instanceof Uint8Array ? `${out.length} bytes at ${at}` : out, `room for ${MAD_BYTES} bytes`);
  }
  if (typeof msg !== 'object' || msg === null || !Object.hasOwn(CmAttribute, msg.kind)) fieldError('kind', (msg as { kind?: unknown })?.kind, 'REQ, MRA, REJ, REP, RTU, DREQ or DREP');
  // Encode into a scratch first, so a bad field leaves `out` untouched.
  const b = new Uint8Array(MAD_BYTES);
  b[0] = MAD_BASE_VERSION;
  b[1] = MGMT_CLASS_CM;
  b[2] = CM_CLASS_VERSION;
  b[3] = MAD_METHOD_SEND;
  putU64Big(b, 8, u64('transactionId', msg.transactionId));
  putU16(b, 16, CmAttribute[msg.kind]);
  putU32(b, 24, u('localCommId', msg.localCommId, 32));
  b.set(bytesField('privateData', msg.privateData, CM_PRIVATE_DATA_BYTES[msg.kind]), PD_OFFSET[msg.kind]);
  switch (msg.kind) {
    case 'REQ': {
      putU64Big(b, 32, u64('serviceId', msg.serviceId));
      putU64Big(b, 40, u64('localCaGuid', msg.localCaGuid));
      putU32(b, 52, u('localQkey', msg.localQkey, 32));
      putU24(b, 56, u('localQpn', msg.localQpn, 24));
      b[59] = u('responderResources', msg.responderResources, 8);
      putU24(b, 60, u('localEecn', msg.localEecn, 24));
      b[63] = u('initiatorDepth', msg.initiatorDepth, 8);
      putU24(b, 64, u('remoteEecn', msg.remoteEecn, 24));
      b[67] = (u('remoteCmResponseTimeout', msg.remoteCmResponseTimeout, 5) << 3)
        | (u('transportServiceType', msg.transportServiceType, 2) << 1) | u('endToEndFlowControl', msg.endToEndFlowControl, 1);
      putU24(b, 68, u('startingPsn', msg.startingPsn, 24));
      b[71] = (u('localCmResponseTimeout', msg.localCmResponseTimeout, 5) << 3) | u('retryCount', msg.retryCount, 3);
      putU16(b, 72, u('pkey', msg.pkey, 16));
      b[74] = (u('pathMtu', msg.pathMtu, 4) << 4) | (u('rdcExists', msg.rdcExists, 1) << 3) | u('rnrRetryCount', msg.rnrRetryCount, 3);
      b[75] = (u('maxCmRetries', msg.maxCmRetries, 4) << 4) | (u('srq', msg.srq, 1) << 3) | u('extendedTransportType', msg.extendedTransportType, 3);
      if (typeof msg.primaryPath !== 'object' || msg.primaryPath === null) fieldError('primaryPath', msg.primaryPath, 'a CmPath');
      writePath(b, 76, msg.primaryPath, 'primaryPath');
      if (msg.alternatePath !== null) writePath(b, 120, msg.alternatePath, 'alternatePath');
      break;
    }
    case 'REP':
      putU32(b, 28, u('remoteCommId', msg.remoteCommId, 32));
      putU32(b, 32, u('localQkey', msg.localQkey, 32));
      putU24(b, 36, u('localQpn', msg.localQpn, 24));
      putU24(b, 40, u('localEecn', msg.localEecn, 24));
      putU24(b, 44, u('startingPsn', msg.startingPsn, 24));
      b[48] = u('responderResources', msg.responderResources, 8);
      b[49] = u('initiatorDepth', msg.initiatorDepth, 8);
      b[50] = (u('targetAckDelay', msg.targetAckDelay, 5) << 3) | (u('failoverAccepted', msg.failoverAccepted, 2) << 1)
        | u('endToEndFlowControl', msg.endToEndFlowControl, 1);
      b[51] = (u('rnrRetryCount', msg.rnrRetryCount, 3) << 5) | (u('srq', msg.srq, 1) << 4);
      putU64Big(b, 52, u64('localCaGuid', msg.localCaGuid));
      break;
    case 'RTU':
    case 'DREP':
      putU32(b, 28, u('remoteCommId', msg.remoteCommId, 32));
      break;
    case 'REJ':
      putU32(b, 28, u('remoteCommId', msg.remoteCommId, 32));
      b[32] = u('messageRejected', msg.messageRejected, 2) << 6;
      b[33] = u('rejectInfoLength', msg.rejectInfoLength, 7) << 1;
      putU16(b, 34, u('reason', msg.reason, 16));
      b.set(bytesField('ari', msg.ari, CM_REJ_ARI_BYTES), 36);
      break;
    case 'MRA':
      putU32(b, 28, u('remoteCommId', msg.remoteCommId, 32));
      b[32] = u('messageMraed', msg.messageMraed, 2) << 6;
      b[33] = u('serviceTimeout', msg.serviceTimeout, 5) << 3;
      break;
    case 'DREQ':
      putU32(b, 28, u('remoteCommId', msg.remoteCommId, 32));
      putU24(b, 32, u('remoteQpn', msg.remoteQpn, 24));
      break;
  }
  out.set(b, at);
}

// ---- decoding ------------------------------------------------------------------------------

function readPath(b: Uint8Array, at: number): CmPath {
  const word = getU32(b, at + 36);
  return {
    localLid: getU16(b, at),
    remoteLid: getU16(b, at + 2),
    localGid: b.slice(at + 4, at + 20),
    remoteGid: b.slice(at + 20, at + 36),
    flowLabel: word >>> 12,
    packetRate: word & 0x3f,
    trafficClass: b[at + 40]!,
    hopLimit: b[at + 41]!,
    sl: b[at + 42]! >>> 4,
    subnetLocal: (b[at + 42]! >>> 3) & 1,
    localAckTimeout: b[at + 43]! >>> 3,
  };
}

const isZero = (b: Uint8Array, from: number, to: number): boolean => {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
};

const hex = (v: number, width: number): string => `0x${v.toString(16).padStart(width, '0')}`;

/**
 * The CM message in the MAD at `bytes[at … at + length)`. Never throws: anything that is not a
 * CM MAD (short, another base/class version, another class or method, an attribute other than
 * the seven CM messages) is `{ kind: 'invalid', reason }`. Byte arrays in the result are copies.
 */
export function decodeCmMad(bytes: Uint8Array, at = 0, length: number = (bytes?.length ?? 0) - at): CmMessage | CmInvalid {
  if (!(bytes instanceof Uint8Array) || !Number.isSafeInteger(at) || !Number.isSafeInteger(length) || at < 0 || length < 0 || at + length > bytes.length) {
    return { kind: 'invalid', reason: 'not a byte range' };
  }
  if (length < MAD_BYTES) return { kind: 'invalid', reason: `${length} bytes, a MAD has ${MAD_BYTES}` };
  const b = bytes.subarray(at, at + MAD_BYTES);
  if (b[0] !== MAD_BASE_VERSION) return { kind: 'invalid', reason: `BaseVersion ${b[0]}, expected ${MAD_BASE_VERSION}` };
  if (b[1] !== MGMT_CLASS_CM) return { kind: 'invalid', reason: `MgmtClass ${hex(b[1]!, 2)} is not CM (0x07)` };
  if (b[2] !== CM_CLASS_VERSION) return { kind: 'invalid', reason: `ClassVersion ${b[2]}, expected ${CM_CLASS_VERSION}` };
  if (b[3] !== MAD_METHOD_SEND) return { kind: 'invalid', reason: `Method ${hex(b[3]!, 2)}, CM uses Send (0x03)` };
  const kind = ATTRIBUTE_KIND.get(getU16(b, 16));
  if (kind === undefined) return { kind: 'invalid', reason: `AttributeID ${hex(getU16(b, 16), 4)} is not a CM message the model handles` };
  const transactionId = getU64Big(b, 8);
  const localCommId = getU32(b, 24);
  const privateData = b.slice(PD_OFFSET[kind], PD_OFFSET[kind] + CM_PRIVATE_DATA_BYTES[kind]);
  const remoteCommId = getU32(b, 28);
  switch (kind) {
    case 'REQ':
      return {
        kind, transactionId, localCommId, privateData,
        serviceId: getU64Big(b, 32),
        localCaGuid: getU64Big(b, 40),
        localQkey: getU32(b, 52),
        localQpn: getU24(b, 56),
        responderResources: b[59]!,
        localEecn: getU24(b, 60),
        initiatorDepth: b[63]!,
        remoteEecn: getU24(b, 64),
        remoteCmResponseTimeout: b[67]! >>> 3,
        transportServiceType: (b[67]! >>> 1) & 3,
        endToEndFlowControl: b[67]! & 1,
        startingPsn: getU24(b, 68),
        localCmResponseTimeout: b[71]! >>> 3,
        retryCount: b[71]! & 7,
        pkey: getU16(b, 72),
        pathMtu: b[74]! >>> 4,
        rdcExists: (b[74]! >>> 3) & 1,
        rnrRetryCount: b[74]! & 7,
        maxCmRetries: b[75]! >>> 4,
        srq: (b[75]! >>> 3) & 1,
        extendedTransportType: b[75]! & 7,
        primaryPath: readPath(b, 76),
        alternatePath: isZero(b, 120, 164) ? null : readPath(b, 120),
      };
    case 'REP':
      return {
        kind, transactionId, localCommId, privateData, remoteCommId,
        localQkey: getU32(b, 32),
        localQpn: getU24(b, 36),
        localEecn: getU24(b, 40),
        startingPsn: getU24(b, 44),
        responderResources: b[48]!,
        initiatorDepth: b[49]!,
        targetAckDelay: b[50]! >>> 3,
        failoverAccepted: (b[50]! >>> 1) & 3,
        endToEndFlowControl: b[50]! & 1,
        rnrRetryCount: b[51]! >>> 5,
        srq: (b[51]! >>> 4) & 1,
        localCaGuid: getU64Big(b, 52),
      };
    case 'RTU':
    case 'DREP':
      return { kind, transactionId, localCommId, privateData, remoteCommId };
    case 'REJ':
      return {
        kind, transactionId, localCommId, privateData, remoteCommId,
        messageRejected: b[32]! >>> 6,
        rejectInfoLength: b[33]! >>> 1,
        reason: getU16(b, 34),
        ari: b.slice(36, 36 + CM_REJ_ARI_BYTES),
      };
    case 'MRA':
      return { kind, transactionId, localCommId, privateData, remoteCommId, messageMraed: b[32]! >>> 6, serviceTimeout: b[33]! >>> 3 };
    case 'DREQ':
      return { kind, transactionId, localCommId, privateData, remoteCommId, remoteQpn: getU24(b, 32) };
  }
}

// ---- on the wire ---------------------------------------------------------------------------

/**
 * A whole CM frame at `out[0]`: UD SEND Only to QP1, DETH Q_Key 0x80010000 and Source QP 1,
 * AckReq 1 (rxe; ignored on UD), the MAD as payload. The addressing and PSN come from
 * `f` (QP1's own send PSN); its opcode, DestQP, Q_Key, source QP and AckReq are set here.
 * Returns the frame length (322).
 */
export function buildCmFrame(out: Uint8Array, f: PacketFields, msg: CmMessage): number {
  encodeCmMad(msg, madScratch, 0);
  f.opcode = Opcode.UD_SEND_ONLY;
  f.destQp = GSI_QPN;
  f.qkey = GSI_QKEY;
  f.srcQp = GSI_QPN;
  f.ackReq = 1;
  f.se = 0;
  return buildFrame(out, f, madScratch);
}
const madScratch = new Uint8Array(MAD_BYTES);

// ---- rdma_cm addressing (cma.c) ------------------------------------------------------------

/** rdma_cm port spaces (librdmacm rdma_cma.h enum rdma_port_space). */
export const RdmaPortSpace = { IPOIB: 0x0002, TCP: 0x0106, UDP: 0x0111, IB: 0x013f } as const;

/** The service ID rdma_cm puts in a REQ for a port (cma.c cma_get_service_id: ps << 16 + port). */
export function rdmaCmServiceId(portSpace: number, port: number): bigint {
  u('portSpace', portSpace, 16);
  u('port', port, 16);
  return (BigInt(portSpace) << 16n) + BigInt(port);
}

/** The port space and port of an IP-based rdma_cm service ID, or null when it is not one
 *  (Wireshark's "IP CM" test: `serviceId & 0xFFFFFFFFFF000000 == 0x01000000`). */
export function parseRdmaCmServiceId(serviceId: bigint): { portSpace: number; port: number } | null {
  if ((serviceId & 0xffff_ffff_ff00_0000n) !== 0x0100_0000n) return null;
  return { portSpace: Number((serviceId >> 16n) & 0xffffn), port: Number(serviceId & 0xffffn) };
}

/** The IP CM private-data header (cma.c struct cma_hdr): 36 bytes before the consumer's. */
export const IP_CM_HEADER_BYTES = 36;

export interface IpCmHeader {
  majorVersion: number;
  minorVersion: number;
  /** 4 (this model speaks IPv4 only). */
  ipVersion: number;
  srcPort: number;
  srcIp: number;
  dstIp: number;
  /** The consumer's private data after the header (a view of the input). */
  consumerData: Uint8Array;
}

/**
 * A REQ's private data as rdma_cm writes it for IPv4 (cma.c cma_format_hdr): version 0x00,
 * IP version 4, the active side's port, source and destination IPv4 as 12 zero bytes + the
 * address (not ::ffff:-mapped), then up to 56 bytes of the consumer's private data.
 */
export function ipCmPrivateData(srcIp: number, srcPort: number, dstIp: number, consumerData: Uint8Array = new Uint8Array(0)): Uint8Array {
  const pd = new Uint8Array(CM_PRIVATE_DATA_BYTES.REQ);
  pd[0] = 0x00;
  pd[1] = 0x40;
  putU16(pd, 2, u('srcPort', srcPort, 16));
  putU32(pd, 16, u('srcIp', srcIp, 32));
  putU32(pd, 32, u('dstIp', dstIp, 32));
  pd.set(bytesField('consumerData', consumerData, CM_PRIVATE_DATA_BYTES.REQ - IP_CM_HEADER_BYTES), IP_CM_HEADER_BYTES);
  return pd;
}

/** The IP CM header of a REQ's private data, or null when it is not an IPv4 one. */
export function readIpCmHeader(pd: Uint8Array): IpCmHeader | null {
  if (!(pd instanceof Uint8Array) || pd.length < IP_CM_HEADER_BYTES || pd[1]! >>> 4 !== 4) return null;
  return {
    majorVersion: pd[0]! >>> 4,
    minorVersion: pd[0]! & 0xf,
    ipVersion: 4,
    srcPort: getU16(pd, 2),
    srcIp: getU32(pd, 16),
    dstIp: getU32(pd, 32),
    consumerData: pd.subarray(IP_CM_HEADER_BYTES),
  };
}

// ---- GIDs and GUIDs -----------------------------------------------------------------------

/** The IPv4-mapped GID ::ffff:a.b.c.d. */
export function ipv4MappedGid(ip: number): Uint8Array {
  const g = new Uint8Array(16);
  g[10] = 0xff;
  g[11] = 0xff;
  putU32(g, 12, u('ip', ip, 32));
  return g;
}

/** The IPv4 address of an IPv4-mapped GID, or -1 when the GID is not one. */
export function gidToIpv4(g: Uint8Array): number {
  if (!(g instanceof Uint8Array) || g.length !== 16 || !isZero(g, 0, 10) || g[10] !== 0xff || g[11] !== 0xff) return -1;
  return getU32(g, 12);
}

/** A node GUID from a MAC as rxe makes it (addrconf_addr_eui48: EUI-64 with FF:FE inserted and
 *  the universal/local bit flipped). */
export function nodeGuidFromMac(mac: number): bigint {
  if (!(Number.isSafeInteger(mac) && mac >= 0 && mac < 2 ** 48)) fieldError('mac', mac, 'a 48-bit number');
  const m = BigInt(mac);
  return (((m >> 24n) ^ 0x020000n) << 40n) | (0xfffen << 24n) | (m & 0xffffffn);
}
