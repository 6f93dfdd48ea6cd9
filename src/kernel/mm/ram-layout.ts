/**
 * The physical memory map of an emulated PC (what the firmware's E820 / UEFI map would say).
 *
 * Implementation notes
 * - Installed RAM fills [0, 4 GiB - hole); the MMIO hole [4 GiB - hole, 4 GiB) holds device
 *   registers, not RAM; whatever RAM does not fit below the hole is remapped above 4 GiB, as
 *   PC chipsets do. So an 8 GiB host with the default 1 GiB hole has RAM [0, 3 GiB) and
 *   [4 GiB, 9 GiB): the top of memory is 9 GiB.
 * - The first 1 MiB (real-mode IVT, BIOS data area, legacy video and option ROMs) is RAM the
 *   memory manager never hands out: it is listed as reserved.
 * - NOLOWMEM (bcdedit /set nolowmem on) only means something when there is RAM above 4 GiB;
 *   on a smaller machine it is ignored and `nolowmemNote` says so. [bcdedit--set, B19]
 */
import { FOUR_GIB, MIB, formatBytes, pageOffset, type RamRange } from '../../bus/index.ts';

export interface ReservedRange {
  base: number;
  length: number;
  label: string;
}

export interface RamLayout {
  /** Usable RAM ranges (what the memory manager may hand out), ascending. */
  ranges: RamRange[];
  /** Every installed RAM range, reserved parts included (what a device may address). */
  installed: RamRange[];
  /** RAM that exists but is never handed out. */
  reserved: ReservedRange[];
  /** The MMIO hole below 4 GiB (no RAM). */
  mmioHole: { base: number; length: number };
  totalRamBytes: number;
  /** Installed RAM below 4 GiB (reserved part included). */
  lowRamBytes: number;
  /** Installed RAM at or above 4 GiB. */
  highRamBytes: number;
  usableBytes: number;
  /** One past the highest RAM byte. */
  topOfMemory: number;
  nolowmemRequested: boolean;
  nolowmemActive: boolean;
  nolowmemNote: string;
}

export interface RamLayoutOptions {
  nolowmem?: boolean;
  mmioHoleBytes?: number;
}

/** The real-mode / BIOS area kept out of the allocator. */
export const LEGACY_RESERVED_BYTES = MIB;
export const DEFAULT_MMIO_HOLE_BYTES = 1024 * MIB;
/** Smallest host we model: 16 MiB (the legacy 1 MiB plus room for pools). */
export const MIN_RAM_BYTES = 16 * MIB;
/** Largest host: 256 GiB keeps the PFN database (6 B/page) under 400 MB of host memory. */
export const MAX_RAM_BYTES = 256 * 1024 * MIB;

/**
 * Compute the map for `ramBytes` of installed RAM. Throws RangeError on an impossible
 * configuration (this is machine assembly, not a kernel routine: a bad config is a user error
 * to report, not a driver bug).
 */
export function computeRamLayout(ramBytes: number, opts: RamLayoutOptions = {}): RamLayout {
  if (!Number.isSafeInteger(ramBytes) || pageOffset(ramBytes) !== 0 || ramBytes < MIN_RAM_BYTES ||
      ramBytes > MAX_RAM_BYTES) {
    throw new RangeError(
      `RAM size ${String(ramBytes)}: expected a whole number of 4 KiB pages in [${formatBytes(MIN_RAM_BYTES)}, ` +
        `${formatBytes(MAX_RAM_BYTES)}]`,
    );
  }
  const hole = opts.mmioHoleBytes ?? DEFAULT_MMIO_HOLE_BYTES;
  if (!Number.isSafeInteger(hole) || pageOffset(hole) !== 0 || hole < 0 || hole > FOUR_GIB - MIN_RAM_BYTES) {
    throw new RangeError(
      `MMIO hole ${String(hole)}: expected a whole number of pages in [0, ${formatBytes(FOUR_GIB - MIN_RAM_BYTES)}]`,
    );
  }
  const lowLimit = FOUR_GIB - hole;
  const lowRamBytes = Math.min(ramBytes, lowLimit);
  const highRamBytes = ramBytes - lowRamBytes;
  const installed: RamRange[] = [{ base: 0, length: lowRamBytes }];
  const ranges: RamRange[] = [{ base: LEGACY_RESERVED_BYTES, length: lowRamBytes - LEGACY_RESERVED_BYTES }];
  if (highRamBytes > 0) {
    installed.push({ base: FOUR_GIB, length: highRamBytes });
    ranges.push({ base: FOUR_GIB, length: highRamBytes });
  }
  const topOfMemory = highRamBytes > 0 ? FOUR_GIB + highRamBytes : lowRamBytes;
  const requested = opts.nolowmem === true;
  const active = requested && highRamBytes > 0;
  const note = !requested
    ? 'NOLOWMEM off'
    : active
      ? `NOLOWMEM on: pools, process pages and MDL pages come from the ${formatBytes(highRamBytes)} above 4 GiB`
      : `NOLOWMEM requested but ignored: no RAM above 4 GiB (${formatBytes(ramBytes)} installed)`;
  return {
    ranges,
    installed,
    reserved: [{ base: 0, length: LEGACY_RESERVED_BYTES, label: 'real-mode IVT, BIOS data area, legacy video and option ROMs' }],
    mmioHole: { base: lowLimit, length: hole },
    totalRamBytes: ramBytes,
    lowRamBytes,
    highRamBytes,
    usableBytes: ramBytes - LEGACY_RESERVED_BYTES,
    topOfMemory,
    nolowmemRequested: requested,
    nolowmemActive: active,
    nolowmemNote: note,
  };
}
