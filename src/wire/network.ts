/**
 * Ethernet II, IPv4 and UDP as rxe fills them for RoCEv2 (rxe_net.c prepare4,
 * prepare_ipv4_hdr, prepare_udp_hdr). Reference: IBA RoCEv2 annex A17 (IPv4 and UDP encapsulation).
 *
 * Implementation notes
 * - Addresses are numbers: IPv4 as an unsigned 32-bit number (as src/kernel/net does), a MAC as
 *   a 48-bit number (exact in a double). Our hosts have no ARP: a port's MAC is derived from its
 *   IPv4 address as the locally administered 02:00:a.b.c.d (`macForIpv4`); the reference's
 *   vectors use other MACs, so the builder takes MACs as fields rather than deriving them.
 * - IPv4 is always 20 bytes (IHL 5, no options: rxe copies exactly 20 bytes into the ICRC
 *   scratch), DF set, never fragmented. The UDP checksum is 0 (rxe sends 0 even over IPv6);
 *   it is masked out of the ICRC, so any value is ICRC-neutral — but a receiver that finds a
 *   non-zero one checks it, as the Linux UDP stack does before rxe sees the packet.
 */
import { getU16, getU32, putU16, putU32 } from './big-endian.ts';

export const ETH_BYTES = 14;
export const IPV4_BYTES = 20;
export const UDP_BYTES = 8;
/** IANA's RoCEv2 port, the destination of requests and responses alike. */
export const ROCE_UDP_PORT = 4791;
export const ETHERTYPE_IPV4 = 0x0800;
export const IPPROTO_UDP = 17;
/** IPv4 flags/fragment word: DF set, offset 0. */
export const IPV4_DF = 0x4000;
/** TTL Linux gives a RoCE packet (AH hop limit default). */
export const DEFAULT_TTL = 64;

/** Where each header starts in a frame built by this codec (untagged Ethernet). */
export const FRAME_IP = ETH_BYTES;
export const FRAME_UDP = ETH_BYTES + IPV4_BYTES;
export const FRAME_BTH = ETH_BYTES + IPV4_BYTES + UDP_BYTES;

const TWO_32 = 0x1_0000_0000;

/** The port's MAC for an IPv4 address: 02:00:a.b.c.d (locally administered, unicast). */
export const macForIpv4 = (ip: number): number => 0x0200_0000_0000 + (ip >>> 0);

export function putMac(b: Uint8Array, at: number, mac: number): void {
  const high = Math.floor(mac / TWO_32);
  putU16(b, at, high);
  putU32(b, at + 2, mac - high * TWO_32);
}

export const getMac = (b: Uint8Array, at: number): number => getU16(b, at) * TWO_32 + getU32(b, at + 2);

/** Ethernet II header: destination MAC, source MAC, EtherType IPv4. */
export function writeEthernet(b: Uint8Array, at: number, dstMac: number, srcMac: number): void {
  putMac(b, at, dstMac);
  putMac(b, at + 6, srcMac);
  putU16(b, at + 12, ETHERTYPE_IPV4);
}

/** One's-complement sum of the 20-byte IPv4 header, folded to 16 bits; `withChecksum` false
 *  reads the checksum field as 0. */
function ipv4Sum(b: Uint8Array, ip: number, withChecksum: boolean): number {
  // The ten 16-bit words, unrolled (every packet is checked on receive).
  let sum =
    ((b[ip]! << 8) | b[ip + 1]!) + ((b[ip + 2]! << 8) | b[ip + 3]!) + ((b[ip + 4]! << 8) | b[ip + 5]!) +
    ((b[ip + 6]! << 8) | b[ip + 7]!) + ((b[ip + 8]! << 8) | b[ip + 9]!) +
    ((b[ip + 12]! << 8) | b[ip + 13]!) + ((b[ip + 14]! << 8) | b[ip + 15]!) +
    ((b[ip + 16]! << 8) | b[ip + 17]!) + ((b[ip + 18]! << 8) | b[ip + 19]!);
  if (withChecksum) sum += (b[ip + 10]! << 8) | b[ip + 11]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The header checksum an IPv4 header with these bytes must carry (its own field read as 0). */
export const ipv4Checksum = (b: Uint8Array, ip: number): number => ~ipv4Sum(b, ip, false) & 0xffff;

/** RFC 1071: a received header sums to 0xFFFF including its checksum. */
export const ipv4ChecksumValid = (b: Uint8Array, ip: number): boolean => ipv4Sum(b, ip, true) === 0xffff;

/** The 20-byte IPv4 header of a RoCEv2 packet, checksum computed (rxe prepare_ipv4_hdr). */
export function writeIpv4(
  b: Uint8Array, ip: number, tos: number, totalLength: number, id: number, ttl: number, srcIp: number, dstIp: number,
): void {
  b[ip] = 0x45;
  b[ip + 1] = tos & 0xff;
  putU16(b, ip + 2, totalLength);
  putU16(b, ip + 4, id);
  putU16(b, ip + 6, IPV4_DF);
  b[ip + 8] = ttl & 0xff;
  b[ip + 9] = IPPROTO_UDP;
  putU32(b, ip + 12, srcIp);
  putU32(b, ip + 16, dstIp);
  putU16(b, ip + 10, ipv4Checksum(b, ip));
}

/** UDP header with checksum 0 (rxe prepare_udp_hdr). */
export function writeUdp(b: Uint8Array, udp: number, srcPort: number, dstPort: number, length: number): void {
  putU16(b, udp, srcPort);
  putU16(b, udp + 2, dstPort);
  putU16(b, udp + 4, length);
  putU16(b, udp + 6, 0);
}

/**
 * RFC 768 checksum check of a UDP datagram whose checksum field is non-zero: pseudo-header
 * (source, destination, protocol, UDP length) + header + data sums to 0xFFFF. Runs only for
 * packets that carry a checksum — never ours — so a plain loop is enough.
 */
export function udpChecksumValid(b: Uint8Array, ip: number, udp: number, udpLength: number): boolean {
  let sum = getU16(b, ip + 12) + getU16(b, ip + 14) + getU16(b, ip + 16) + getU16(b, ip + 18) + IPPROTO_UDP + udpLength;
  const end = udp + udpLength;
  let i = udp;
  for (; i + 1 < end; i += 2) {
    sum += (b[i]! << 8) | b[i + 1]!;
    if (sum > 0x7fff_ffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/**
 * The UDP source port of a QP's flow (torvalds/linux include/rdma/ib_verbs.h
 * rdma_calc_flow_label + rdma_flow_label_to_udp_sport): constant per QP pair so a flow stays
 * in order on ECMP paths, always in 0xC000–0xFFFF. Control path (once per connection).
 */
export function udpSourcePort(localQpn: number, remoteQpn: number): number {
  let v = BigInt(localQpn & 0xffffff) * BigInt(remoteQpn & 0xffffff);
  v ^= v >> 20n;
  v ^= v >> 40n;
  const fl = Number(v & 0xfffffn);
  return 0xc000 | ((fl & 0x3fff) ^ ((fl & 0xfc000) >>> 14));
}
