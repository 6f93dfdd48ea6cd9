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
  if (!opts.json) {
    console.log(`${ramBytes / GIB} GiB host: boot ${out.bootMs} ms, RSS +${(rssDeltaBytes / 2 ** 20).toFixed(1)} MiB, ` +
      `${out.metadataBytesPerPage} B/page (PFN database ${k.mm.pfn.metadataBytesPerPage} + index ${k.mm.index.bytesPerPage.toFixed(3)})`);
  }
  return out;
}
