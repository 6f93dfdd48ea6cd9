/**
 * The report's "Run" panel: what the run was (its settings, as the user set them) and what it
 * gave (transfer, the one registration count, expected refusals, the switch's cache, leaks),
 * with the version and date, so a report read later says exactly what produced it.
 *
 * The registration figures come from the snapshots (the proxy's own counters,
 * ProxyCounters), never from the caller: the report cannot disagree with the driver.
 */
import { formatBytes } from '../bus/index.ts';
import type { HostSnapshot } from './snapshot.ts';
import { NIC_REGISTRATIONS_DEFINITION } from './tracer.ts';

/** What a run was and how it ended; `sanproxy demo` fills it (src/cli/demo.ts). */
export interface ReportSettings {
  /** sanproxy's version (package.json "version"). */
  version: string;
  /** When the run started, ISO 8601. */
  date: string;
  /** RAM per host, bytes. */
  ramBytes: number;
  /** bcdedit /set nolowmem as requested. */
  nolowmem: boolean;
  /** DMA address width of each host's NIC, by host name. */
  nicBits: Record<string, number>;
  /** The proxy's low-memory strategy. */
  strategy: string;
  iommu: boolean;
  verifier: boolean;
  rdmaRead?: boolean;
  seed: number;
  /** Bytes the run was asked to transfer. */
  bytes: number;
  /** The outcome, when the run finished. */
  result?: {
    bytesTransferred: number;
    verified: boolean;
    /** Local registrations the switch served from its cache (no driver request). */
    cacheHits: number;
    /** Registrations the switch's cache could not serve (each went to the provider). */
    cacheMisses: number;
    /** Whether any leak counter differs after teardown. */
    leaked: boolean;
    wallMs?: number;
  };
}

/** The proxy's registration counters summed over hosts, from each host's latest snapshot that has them. */
export function registrationTotals(snapshots: readonly HostSnapshot[]): {
  nicRegistrations: number;
  refusedExpected: number;
  perHost: { host: string; nicRegistrations: number; refusedExpected: number }[];
} {
  const latest = new Map<string, HostSnapshot>();
  for (const s of snapshots) {
    if (s.proxyCounters === null) continue;
    const seen = latest.get(s.host);
    if (seen === undefined || s.sequence > seen.sequence) latest.set(s.host, s);
  }
  const perHost = [...latest.values()].map((s) => ({
    host: s.host, nicRegistrations: s.proxyCounters!.nicRegistrations, refusedExpected: s.proxyCounters!.registrationsRefusedUnreachable,
  }));
  return {
    nicRegistrations: perHost.reduce((n, h) => n + h.nicRegistrations, 0),
    refusedExpected: perHost.reduce((n, h) => n + h.refusedExpected, 0),
    perHost,
  };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const onOff = (v: boolean) => (v ? 'on' : 'off');

/** One `<div>` per figure: `data-key` names it for tests and scripts, `data-value` holds the raw value. */
function item(key: string, label: string, value: string | number | boolean, shown: string, note = ''): string {
  return `<div class="kv" data-key="${esc(key)}" data-value="${esc(String(value))}"><dt>${esc(label)}</dt><dd>${shown}${note ? ` <span class="dim">${note}</span>` : ''}</dd></div>`;
}

const column = (title: string, items: string[], cls = '') =>
  (items.length ? `<div class="col ${cls}"><h3>${title}</h3><dl class="kvs">${items.join('')}</dl></div>` : '');

/** The panel's HTML (settings may be absent: the registration figures still show). */
export function runPanel(settings: ReportSettings | undefined, snapshots: readonly HostSnapshot[]): string {
  const regs = registrationTotals(snapshots);
  const perHost = regs.perHost.map((h) => `${esc(h.host)} ${h.nicRegistrations}`).join(', ');
  const results: string[] = [];
  const run: string[] = [];
  const build: string[] = [];
  if (settings !== undefined) {
    const r = settings.result;
    if (r !== undefined) {
      results.push(item('bytesTransferred', 'transferred', r.bytesTransferred, formatBytes(r.bytesTransferred)));
      results.push(item('verified', 'verified byte for byte', r.verified, r.verified ? '<b class="ok">yes</b>' : '<b class="bad">NO</b>'));
    }
    run.push(
      item('bytes', 'bytes asked', settings.bytes, formatBytes(settings.bytes)),
      item('seed', 'seed', settings.seed, String(settings.seed)),
      item('ram', 'RAM per host', settings.ramBytes, formatBytes(settings.ramBytes)),
      item('nolowmem', 'NOLOWMEM', settings.nolowmem, onOff(settings.nolowmem)),
      item('nics', 'NICs (DMA bits)', Object.entries(settings.nicBits).map(([h, b]) => `${h}=${b}`).join(','),
        Object.entries(settings.nicBits).map(([h, b]) => `${esc(h)} ${b}-bit`).join(', ')),
      item('strategy', 'low-memory strategy', settings.strategy, esc(settings.strategy)),
      item('iommu', 'IOMMU', settings.iommu, onOff(settings.iommu)),
      item('verifier', 'verifier', settings.verifier, onOff(settings.verifier)),
      ...(settings.rdmaRead !== undefined ? [item('rdmaRead', 'RDMA read', settings.rdmaRead, onOff(settings.rdmaRead))] : []),
    );
    build.push(
      item('version', 'sanproxy version', settings.version, esc(settings.version)),
      item('date', 'date', settings.date, esc(settings.date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC'))),
    );
    if (r?.wallMs !== undefined) build.push(item('wallMs', 'wall time', Math.round(r.wallMs), `${(r.wallMs / 1000).toFixed(2)} s`));
  }
  results.push(
    item('nicRegistrations', 'NIC registrations', regs.nicRegistrations, `<b>${regs.nicRegistrations}</b>`, perHost ? `(${perHost})` : ''),
    item('refusedExpected', 'refused (expected)', regs.refusedExpected, String(regs.refusedExpected),
      '(staged through low memory)'),
  );
  const r = settings?.result;
  if (r !== undefined) {
    results.push(item('cacheHits', 'switch cache hits', r.cacheHits, String(r.cacheHits), `(${r.cacheMisses} misses)`));
    results.push(item('leaked', 'leaks after teardown', r.leaked, r.leaked ? '<b class="bad">leaked</b>' : '<span class="ok">nothing leaked</span>'));
  }
  return `<section class="run" id="run-panel"><h2>Run</h2>
<div class="panel">${column('Result', results)}${column('Settings', [...run, ...build], 'wide')}</div>
<p class="dim small">${esc(NIC_REGISTRATIONS_DEFINITION)} Refused (expected): REGISTER_BUFFER requests a NIC could not take because it cannot reach the buffer (32-bit DMA, buffer above 4 GiB); the provider staged those through low memory. Switch cache hits never reach the driver and are counted apart.</p>
</section>`;
}
