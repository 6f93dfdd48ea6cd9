/**
 * The physical memory map of one host as text (the terminal face of the report): RAM ranges,
 * reserved ranges and holes in address order, the low/high split at 4 GiB, free and used
 * pages, and what NOLOWMEM is doing.
 */
import { FOUR_GIB, PAGE_SIZE, formatBytes, hexAddress } from '../bus/index.ts';
import type { Kernel } from '../kernel/kernel.ts';

interface MapRow {
  base: number;
  length: number;
  what: string;
}

export function memoryMapRows(k: Kernel): MapRow[] {
  const layout = k.mm.layout;
  const rows: MapRow[] = [
    ...layout.ranges.map((r) => ({ base: r.base, length: r.length, what: r.base < FOUR_GIB ? 'RAM (low)' : 'RAM (high)' })),
    ...layout.reserved.map((r) => ({ base: r.base, length: r.length, what: `reserved: ${r.label}` })),
  ].sort((a, b) => a.base - b.base);
  const out: MapRow[] = [];
  let at = 0;
  for (const r of rows) {
    if (r.base > at) out.push({ base: at, length: r.base - at, what: at < FOUR_GIB && r.base <= FOUR_GIB ? 'MMIO hole (no RAM)' : 'no RAM' });
    out.push(r);
    at = Math.max(at, r.base + r.length);
  }
  return out;
}

export function memoryMapJson(k: Kernel) {
  const c = k.mm.counters();
  const l = k.mm.layout;
  return {
    host: k.name,
    ramBytes: l.totalRamBytes,
    lowRamBytes: l.lowRamBytes,
    highRamBytes: l.highRamBytes,
    nolowmem: { requested: l.nolowmemRequested, active: l.nolowmemActive, note: l.nolowmemNote },
    ranges: memoryMapRows(k),
    pages: c,
  };
}

export function formatMemoryMap(k: Kernel): string {
  const l = k.mm.layout;
  const c = k.mm.counters();
  const width = hexAddress(l.topOfMemory).length;
  const lines = [
    `${k.name}: ${formatBytes(l.totalRamBytes)} RAM (${formatBytes(l.lowRamBytes)} below 4 GiB, ${formatBytes(l.highRamBytes)} above)`,
    '',
    'Physical memory map',
    ...memoryMapRows(k).map(
      (r) =>
        `  ${hexAddress(r.base).padStart(width)} - ${hexAddress(r.base + r.length - 1).padStart(width)}  ${formatBytes(r.length).padStart(10)}  ${r.what}`,
    ),
    `  ${'4 GiB line'.padStart(width)}   ${hexAddress(FOUR_GIB)}: 32-bit devices reach only what lies below`,
    '',
    'Pages (4 KiB)',
    `  usable ${c.usablePages}  free ${c.freePages} (below 4 GiB ${c.freeLowPages}, above ${c.freeHighPages})  in use ${c.activePages}`,
    `  free memory ${formatBytes(c.freePages * PAGE_SIZE)}, in use ${formatBytes(c.activePages * PAGE_SIZE)}`,
    '',
    `NOLOWMEM: ${l.nolowmemRequested ? 'on' : 'off'}${l.nolowmemActive ? ' (active)' : l.nolowmemRequested ? ' (ignored)' : ''} — ${l.nolowmemNote}`,
  ];
  return lines.join('\n');
}
