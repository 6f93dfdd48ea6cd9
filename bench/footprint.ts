/**
 * bench footprint: boot time, resident-memory growth and per-page metadata of a 64 GiB host.
 * Run with --expose-gc for a steadier RSS figure (it collects before measuring when it can).
 */
import { GIB } from '../src/bus/index.ts';
import { Kernel } from '../src/kernel/kernel.ts';

export async function run(opts: { json: boolean; ramBytes?: number }): Promise<object> {
  const ramBytes = opts.ramBytes ?? 64 * GIB;
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  const k = Kernel.boot({ ramBytes, nolowmem: true, name: 'footprint' });
  const bootMs = performance.now() - t0;
  gc?.();
  const rssDeltaBytes = process.memoryUsage().rss - rss0;
  const out = {
    suite: 'footprint',
    ramBytes,
    bootMs: Math.round(bootMs * 10) / 10,
    rssDeltaBytes,
    metadataBytesPerPage: Math.round(k.mm.metadataBytesPerPage * 1000) / 1000,
  };
  return out;
}

/** The human-readable line `sanproxy bench footprint` prints without --json. */
export function formatTable(r: { ramBytes: number; bootMs: number; rssDeltaBytes: number; metadataBytesPerPage: number }): string {
  return `${r.ramBytes / GIB} GiB host: boot ${r.bootMs} ms, RSS +${(r.rssDeltaBytes / 2 ** 20).toFixed(1)} MiB, ${r.metadataBytesPerPage} B of metadata per page`;
}
