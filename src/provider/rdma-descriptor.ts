/**
 * The opaque descriptor WSPRegisterRdmaMemory returns and the peer passes to WSPRdmaWrite /
 * WSPRdmaRead: its one codec. Little-endian, 32 bytes:
 *   u32 magic 'WSDR', u32 remoteKey, u64 offset (into the NIC region), u64 length,
 *   u32 sanAddress (the NIC that holds the region), u32 check (FNV-1a of bytes 0..27).
 * The check only catches corruption and truncation; security is the NIC's: the remote key is
 * bound to the registering socket's connection, so a copied or forged descriptor is refused
 * by the peer NIC on any other connection ("Registering Memory for Operations on a SAN").
 */
import { getU32LE, getU64LE, putU32LE, putU64LE } from '../bus/index.ts';

export const RDMA_DESCRIPTOR_BYTES = 32;
const MAGIC = 0x52445357;

export interface RdmaDescriptor {
  remoteKey: number;
  offset: number;
  length: number;
  sanAddress: number;
}

function fnv1a(bytes: Uint8Array, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193) >>> 0;
  return h;
}

/** Write `d` into `into` (at least RDMA_DESCRIPTOR_BYTES long). */
export function encodeRdmaDescriptor(d: RdmaDescriptor, into: Uint8Array): void {
  putU32LE(into, 0, MAGIC);
  putU32LE(into, 4, d.remoteKey >>> 0);
  putU64LE(into, 8, d.offset);
  putU64LE(into, 16, d.length);
  putU32LE(into, 24, d.sanAddress >>> 0);
  putU32LE(into, 28, fnv1a(into, 28));
}

/** The descriptor in `bytes[0..length)`, or null when it is not one this provider wrote. */
export function decodeRdmaDescriptor(bytes: unknown, length: unknown): RdmaDescriptor | null {
  if (!(bytes instanceof Uint8Array) || typeof length !== 'number' || !Number.isInteger(length)) return null;
  if (length < RDMA_DESCRIPTOR_BYTES || bytes.length < RDMA_DESCRIPTOR_BYTES) return null;
  if (getU32LE(bytes, 0) !== MAGIC || getU32LE(bytes, 28) !== fnv1a(bytes, 28)) return null;
  const offset = getU64LE(bytes, 8);
  const len = getU64LE(bytes, 16);
  if (offset < 0 || len < 0) return null;
  return { remoteKey: getU32LE(bytes, 4), offset, length: len, sanAddress: getU32LE(bytes, 24) };
}
