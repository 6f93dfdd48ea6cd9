/**
 * Address representations. Addresses are JavaScript numbers, exact up to 2^53 (8 PiB), which
 * covers every physical and bus address an emulated host can have. The distinct type names
 * document which space a number belongs to; convert only through named routines.
 */
export type PhysicalAddress = number;
/** An address as a device emits it on the bus: physical, or with an IOMMU a logical address. */
export type BusAddress = number;
export type LogicalAddress = number;
/** Page frame number: the physical address divided by PAGE_SIZE (pfnOf; back with addressOfPfn). */
export type Pfn = number;

export const PAGE_SIZE = 4096;
export const FOUR_GIB = 0x1_0000_0000;
export const KIB = 1024;
export const MIB = 1024 * 1024;
export const GIB = 1024 * 1024 * 1024;

/** The one way to turn a physical address into its PFN and back. */
export const pfnOf = (pa: PhysicalAddress): Pfn => Math.floor(pa / PAGE_SIZE);
export const addressOfPfn = (pfn: Pfn): PhysicalAddress => pfn * PAGE_SIZE;
/** Offset of an address (of any space) within its page: BYTE_OFFSET(Va). */
export const pageOffset = (address: number): number => address % PAGE_SIZE;
/** Number of pages needed for `bytes` (bytes >= 0). */
export const bytesToPages = (bytes: number): number => Math.ceil(bytes / PAGE_SIZE);
/**
 * Pages that [address, address + bytes) touches: ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size), except
 * that an empty range spans none (wdm.h's macro, addressAndSizeToSpanPages in
 * src/kernel/mm/mdl.ts, says 1 for an unaligned empty range).
 */
export const spanPages = (address: number, bytes: number): number =>
  bytes === 0 ? 0 : Math.floor((address + bytes - 1) / PAGE_SIZE) - Math.floor(address / PAGE_SIZE) + 1;

/** 0x1_2345_6000 style, for messages. */
export function hexAddress(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const digits = Math.trunc(value).toString(16);
  const grouped = digits.replace(/\B(?=([0-9a-f]{4})+(?![0-9a-f]))/g, '_');
  return `0x${grouped}`;
}

/** Parse "16G", "512M", "64K", "4096", "0x1000" into bytes; null when malformed. */
export function parseSize(text: string): number | null {
  const m = /^\s*(0x[0-9a-f]+|\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const base = m[1]!.toLowerCase().startsWith('0x') ? parseInt(m[1]!, 16) : Number(m[1]);
  const mult = { '': 1, k: KIB, m: MIB, g: GIB, t: GIB * 1024 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const v = base * mult;
  return Number.isSafeInteger(v) ? v : null;
}

/** "8 GiB", "64 KiB", "1.5 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(2)} ${units[u]}`;
}
