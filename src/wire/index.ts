/**
 * The wire: RoCEv2 as Linux soft-RoCE (rxe) puts it on an Ethernet link, and as Wireshark reads
 * it. Pure, synchronous codecs with no state beyond scratch buffers; this layer imports nothing
 * of the project (.dependency-cruiser.cjs: the NIC uses it, it uses nobody).
 *
 * - Send: fill a reusable `PacketFields`, then `buildFrame(out, f, payload)`, or
 *   `writeFrameHead` + place the payload at `frameHeadLength(opcode)` + `sealFrame`.
 * - Receive: one `PacketView` per port; `view.parseFrame(bytes)` returns `DropReason.NONE` or
 *   why the packet was dropped; header fields via the accessors at the view's offsets.
 * - Messages: `packetCount`, `segmentOpcode`, `segmentLength`; PSNs: `psnAdd`, `psnDiff`;
 *   ACK/NAK: `ackSyndrome`, `rnrNakSyndrome`, `nakSyndrome`, `syndromeType`.
 * - Connections: `encodeCmMad` / `decodeCmMad`, `buildCmFrame`, rdma_cm service IDs and
 *   private data. Capture: `PcapWriter`, `readPcap`.
 *
 * References: the IBA specification (volume 1 chapter 9; RoCEv2 annex A17) for the layouts, Linux
 * rxe for the rules (each file names its rxe source), and Wireshark's InfiniBand dissector as the
 * judge of the bytes (test/wire/tshark.test.ts).
 *
 * @example
 * const f = packetFields({ srcIp, dstIp, srcMac: macForIpv4(srcIp), dstMac: macForIpv4(dstIp),
 *   srcPort: udpSourcePort(lqpn, rqpn), opcode: Opcode.RC_SEND_ONLY, destQp: rqpn, ackReq: 1, psn });
 * const n = buildFrame(buffer, f, payload);        // buffer.subarray(0, n) is the frame
 * const rx = new PacketView({ localIp: dstIp });
 * if (rx.parseFrame(buffer, n) === DropReason.NONE) deliver(rx.opcode, rx.psn, rx.payload());
 */
export { WireError } from './errors.ts';
export {
  Opcode, OpMask, ExtHeader, KNOWN_OPCODES, BTH_BYTES, RETH_BYTES, AETH_BYTES, DETH_BYTES, IMMDT_BYTES, IETH_BYTES,
  ATMETH_BYTES, ATMACK_BYTES, opcodeMask, opcodeKnown, opcodeHeaderLength, extOffset, opcodeName, type ExtHeaderId,
} from './opcodes.ts';
export {
  bthOpcode, bthSe, bthMig, bthPadCount, bthTver, bthPkey, bthFecn, bthBecn, bthResv8a, bthDestQp, bthAckReq, bthResv7, bthPsn,
  setBthOpcode, setBthSe, setBthMig, setBthPadCount, setBthTver, setBthPkey, setBthFecn, setBthBecn, setBthDestQp,
  setBthAckReq, setBthPsn, writeBth,
  rethVa, rethRkey, rethLength, setRethVa, setRethRkey, setRethLength, writeReth,
  aethSyndrome, aethMsn, setAethSyndrome, setAethMsn, writeAeth,
  dethQkey, dethSrcQp, setDethQkey, setDethSrcQp, writeDeth,
  immDt, setImmDt, iethRkey, setIethRkey,
  atmethVa, atmethRkey, atmethSwapAdd, atmethCompare, writeAtmeth, atmackOrig, writeAtmack,
} from './headers.ts';
export {
  ETH_BYTES, IPV4_BYTES, UDP_BYTES, ROCE_UDP_PORT, FRAME_IP, FRAME_UDP, FRAME_BTH, DEFAULT_TTL,
  macForIpv4, getMac, ipv4ChecksumValid, udpSourcePort, writeEthernet, writeIpv4, writeUdp,
} from './network.ts';
export { ICRC_SEED, ICRC_BYTES, icrcHeaders, icrcUpdate, icrcPad, icrcOf, putIcrc, getIcrc } from './icrc.ts';
export {
  DEFAULT_PKEY, packetFields, frameHeadLength, frameLength, padCount, writeFrameHead, sealFrame, buildFrame, frameIcrc, HeadTemplate,
  type PacketFields,
} from './build.ts';
export { serializeSplitFrame, splitFrameLength, type Frame, type SplitFrame } from './frame.ts';
export {
  PacketView, DropReason, DROP_REASON_COUNT, dropReasonName, pkeyMatch, type DropReasonCode, type PacketViewOptions,
} from './packet-view.ts';
export {
  PMTUS, mtuBytes, mtuCode, MessageKind, packetCount, segmentLength, segmentOpcode, payloadLengthValid, type MessageKindCode,
} from './segment.ts';
export { PSN_MASK, psnAdd, psnDiff } from './psn.ts';
export {
  AethType, NakCode, Syndrome, CREDIT_UNLIMITED, ackSyndrome, rnrNakSyndrome, nakSyndrome, syndromeType, syndromeValue,
  RNR_TIMER_MICROSECONDS, CREDIT_TABLE, localAckTimeoutNanoseconds, type AethTypeCode, type NakCodeValue,
} from './aeth.ts';
export {
  MAD_BYTES, GSI_QPN, GSI_QKEY, MGMT_CLASS_CM, CM_CLASS_VERSION, MAD_METHOD_SEND, CmAttribute, CmMessageRef, CmRejectReason,
  CM_PRIVATE_DATA_BYTES, CM_REJ_ARI_BYTES, encodeCmMad, decodeCmMad, buildCmFrame, RdmaPortSpace, rdmaCmServiceId,
  parseRdmaCmServiceId, IP_CM_HEADER_BYTES, ipCmPrivateData, readIpCmHeader, ipv4MappedGid, gidToIpv4, nodeGuidFromMac,
  type CmKind, type CmPath, type CmReq, type CmRep, type CmRtu, type CmRej, type CmMra, type CmDreq, type CmDrep,
  type CmMessage, type CmInvalid, type IpCmHeader,
} from './cm.ts';
export {
  PcapWriter, readPcap, LINKTYPE_ETHERNET, LINKTYPE_RAW, PCAP_MAGIC_MICROSECONDS, PCAP_MAGIC_NANOSECONDS, DEFAULT_SNAPLEN,
  type PcapOptions, type PcapFile, type PcapRecord,
} from './pcap.ts';
