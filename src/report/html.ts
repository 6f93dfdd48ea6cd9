/**
 * The memory-map report: ONE self-contained HTML file (inline CSS, inline script, no fonts,
 * no network). First the Run panel (settings and results, run-panel.ts); then per host: the
 * physical address space to scale with the MMIO hole and the 4 GiB line, zoom strips where
 * the run's allocations are (focus.ts), legend and hover details, for each snapshot, and
 * memory by owner (adding up to installed RAM, the MMIO hole apart); then the registration
 * timeline, low-memory allocations by strategy, findings and the leak table.
 */
import { writeFileSync } from 'node:fs';
import { FOUR_GIB, PAGE_SIZE, formatBytes, hexAddress } from '../bus/index.ts';
import type { ResourceSnapshot } from '../host/index.ts';
import { CACHE_TYPE_NAMES, CATEGORIES, categoryOf } from './categories.ts';
import { focusStrips, type FocusStrip } from './focus.ts';
import { REPORT_CLIENT_JS } from './report-client.ts';
import { registrationTotals, runPanel, type ReportSettings } from './run-panel.ts';
import type { HostSnapshot } from './snapshot.ts';
import { NIC_REGISTRATIONS_DEFINITION, REFUSED_EXPECTED_TEXT, Tracer } from './tracer.ts';

export interface ReportRun {
  /** Heading of the report. */
  title?: string;
  /** One paragraph under the heading (what was run). */
  description?: string;
  /** Snapshots from captureSnapshot, any hosts, in capture order. */
  snapshots: readonly HostSnapshot[];
  /** The run's tracer, when traced: gives the registration timeline. */
  tracer?: Tracer;
  /** What the run was and how it ended (the Run panel; `sanproxy demo` fills it). */
  settings?: ReportSettings;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The timeline's own host colours (none of them is an owner category's colour). */
export const TIMELINE_HOST_COLORS: readonly string[] = ['#7048e8', '#e8590c', '#1c7ed6', '#66a80f', '#ae3ec9'];

interface HostGroup {
  name: string;
  snapshots: HostSnapshot[];
}

function groupByHost(snapshots: readonly HostSnapshot[]): HostGroup[] {
  const groups = new Map<string, HostSnapshot[]>();
  for (const s of snapshots) {
    let g = groups.get(s.host);
    if (g === undefined) groups.set(s.host, (g = []));
    g.push(s);
  }
  return [...groups].map(([name, snaps]) => ({ name, snapshots: snaps.sort((a, b) => a.sequence - b.sequence) }));
}

/** Category index per run, and pages per category (one pass over the runs). */
function categorize(s: HostSnapshot): { cats: Uint8Array; pages: Float64Array } {
  const cats = new Uint8Array(s.runs.count);
  const pages = new Float64Array(CATEGORIES.length);
  for (let i = 0; i < s.runs.count; i++) {
    const c = categoryOf(s.runs.state[i]!, s.owners[s.runs.owner[i]!]?.kind, s.runs.locked[i] === 1);
    cats[i] = c;
    pages[c]! += s.runs.length[i]!;
  }
  return { cats, pages };
}

function validate(run: ReportRun): void {
  if (run === null || typeof run !== 'object' || !Array.isArray(run.snapshots) || run.snapshots.length === 0) {
    throw new TypeError('writeReport: run.snapshots must be a non-empty array of captureSnapshot results');
  }
  for (const s of run.snapshots) {
    if (s === null || typeof s !== 'object' || typeof s.host !== 'string' || s.runs === undefined || !(s.runs.start instanceof Uint32Array)) {
      throw new TypeError('writeReport: every snapshot must come from captureSnapshot');
    }
  }
  if (run.tracer !== undefined && !(run.tracer instanceof Tracer)) throw new TypeError('writeReport: run.tracer must be a Tracer');
}

function table(head: string[], rows: string[][], cls = ''): string {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function legend(): string {
  return `<div class="legend">${CATEGORIES.filter((c) => c.key !== 'unknown')
    .map((c) => `<span><i style="background:${c.key === 'hole' ? 'repeating-linear-gradient(45deg,#d4d4d8 0 3px,#a1a1aa 3px 5px)' : c.color}"></i>${esc(c.name)}</span>`)
    .join('')}<span><i style="background:#c2255c;width:3px"></i>4 GiB line</span><span><i style="background:none;border:1.5px solid #18181b"></i>zoomed below</span></div>`;
}

const HOLE = CATEGORIES.findIndex((c) => c.key === 'hole');
const MIB = 2 ** 20;

/** Exact enough to add up by eye: MiB with up to three decimals (8,190.996 MiB), smaller in KiB. */
function ownerBytes(bytes: number): string {
  if (bytes < MIB) return formatBytes(bytes);
  const mib = (bytes / MIB).toLocaleString('en-US', { maximumFractionDigits: 3 });
  return bytes % 2 ** 30 === 0 ? `${mib} MiB (${bytes / 2 ** 30} GiB)` : `${mib} MiB`;
}

/**
 * Memory by owner: every category but the MMIO hole, which is no RAM. The owners add up to
 * installed RAM exactly (asserted); the hole is shown apart, below the total.
 */
function ownerTable(g: HostGroup, pagesBySnap: Float64Array[]): string {
  const owners = CATEGORIES.map((c, ci) => ({ c, ci })).filter(({ ci }) => ci !== HOLE && pagesBySnap.some((p) => p[ci]! > 0));
  const cell = (bytes: number, strong = false) =>
    `<td data-bytes="${bytes}" title="${bytes.toLocaleString('en-US')} bytes">${strong ? `<b>${ownerBytes(bytes)}</b>` : ownerBytes(bytes)}</td>`;
  const totals = g.snapshots.map((s, i) => {
    let pages = 0;
    for (let c = 0; c < CATEGORIES.length; c++) if (c !== HOLE) pages += pagesBySnap[i]![c]!;
    const bytes = pages * PAGE_SIZE;
    // The runs cover every PFN; all but the hole's are installed RAM (ram-layout.ts).
    if (bytes !== s.layout.totalRamBytes) {
      throw new Error(`report invariant: ${s.host} '${s.label}' owners hold ${bytes} bytes, installed RAM is ${s.layout.totalRamBytes}`);
    }
    return bytes;
  });
  const head = `<thead><tr><th>owner</th>${g.snapshots.map((s) => `<th>${esc(s.label)}</th>`).join('')}</tr></thead>`;
  const rows = owners.map(({ c, ci }) =>
    `<tr class="owner" data-owner="${c.key}"><td><i class="sw" style="background:${c.color}"></i>${esc(c.name)}</td>${pagesBySnap.map((p) => cell(p[ci]! * PAGE_SIZE)).join('')}</tr>`);
  const total = `<tr class="total"><td><b>total = installed RAM</b></td>${totals.map((b) => cell(b, true)).join('')}</tr>`;
  const apart = (label: string, values: string[], cls: string) => `<tr class="${cls}"><td>${label}</td>${values.map((v) => `<td>${v}</td>`).join('')}</tr>`;
  const hole = `<tr class="apart hole" data-owner="hole"><td><i class="sw" style="background:repeating-linear-gradient(45deg,#d4d4d8 0 3px,#a1a1aa 3px 5px)"></i>MMIO hole (not RAM, not counted above)</td>${pagesBySnap.map((p) => cell(p[HOLE]! * PAGE_SIZE)).join('')}</tr>`;
  return `<table class="num owners">${head}<tbody>${rows.join('')}${total}${hole}${
    apart('free below 4 GiB', g.snapshots.map((s) => ownerBytes(s.counters.freeLowPages * PAGE_SIZE)), 'apart')}${
    apart('free above 4 GiB', g.snapshots.map((s) => ownerBytes(s.counters.freeHighPages * PAGE_SIZE)), 'apart')}${
    apart('locked pages', g.snapshots.map((s) => String(s.counters.lockedPages)), 'apart')}</tbody></table>`;
}

function hostSection(g: HostGroup, h: number, pagesBySnap: Float64Array[], initial: number, strips: readonly FocusStrip[]): string {
  const last = g.snapshots[g.snapshots.length - 1]!;
  const l = last.layout;
  const nic = last.nics.map((n) => `${esc(n.name)} (${n.addressBits}-bit DMA)`).join(', ') || 'no NIC';
  const tabs = g.snapshots
    .map((s, i) => `<button type="button" data-host="${h}" data-snap="${i}" class="${i === initial ? 'on' : ''}">${esc(s.label)}</button>`)
    .join('');
  return `<section class="host" id="host-${h}">
<h2>Host ${esc(g.name)} <small>${formatBytes(l.totalRamBytes)} RAM (${formatBytes(l.lowRamBytes)} below 4 GiB, ${formatBytes(l.highRamBytes)} above) · ${esc(l.nolowmemNote)} · low-memory strategy ${esc(last.strategy)} · ${nic}</small></h2>
<div class="tabs">Snapshot: ${tabs}</div>
<h3>Physical address space, 0 – ${hexAddress(l.topOfMemory)} (to scale)</h3>
<div class="mapbox"><svg class="map" id="map-${h}" role="img" aria-label="physical memory map of ${esc(g.name)}"></svg></div>
<h3>Where the run's allocations are: ${strips.length === 0 ? 'nothing to zoom into' : strips.length === 1 ? 'one zoom strip, to its own scale' : `${strips.length} zoom strips, each to its own scale`}</h3>
<div class="mapbox"><svg class="map focus" id="focus-${h}" role="img" aria-label="zoom strips of ${esc(g.name)}"></svg></div>
${legend()}
<h3>Memory by owner</h3>
${ownerTable(g, pagesBySnap)}
</section>`;
}

const MAX_TIMELINE_ROWS = 120;

/** The timeline's data for the client, and its heading figures. */
function timeline(run: ReportRun, hosts: HostGroup[]): { html: string; data: unknown } {
  const totals = registrationTotals(run.snapshots);
  const counts = `<p class="counts"><span id="nic-registrations" data-count="${totals.nicRegistrations}"><b>${totals.nicRegistrations}</b> NIC registration${totals.nicRegistrations === 1 ? '' : 's'}</span>` +
    ` · <span id="refused-expected" data-count="${totals.refusedExpected}">refused (expected): <b>${totals.refusedExpected}</b></span></p>` +
    `<p class="dim small">${esc(NIC_REGISTRATIONS_DEFINITION)}</p>`;
  if (run.tracer === undefined) {
    const rows: string[][] = [];
    for (const g of hosts) {
      for (const s of g.snapshots) {
        for (const r of s.registrations) {
          rows.push([esc(g.name), esc(s.label), `#${r.id}`, esc(r.process), hexAddress(r.address), formatBytes(r.length), `${r.pagesBelowFourGiB}/${r.pages}`, esc(r.nic)]);
        }
      }
    }
    return {
      html: `${counts}<p class="dim">This run was not traced: user buffers registered at each snapshot.</p>${
        rows.length ? table(['host', 'snapshot', 'registration', 'process', 'address', 'length', 'pages below 4 GiB', 'NIC'], rows) : '<p>None.</p>'}`,
      data: null,
    };
  }
  const regs = run.tracer.registrationIntervals();
  const refused = run.tracer.refusedRegistrations();
  const hostIndex = new Map<string, number>();
  for (const r of [...regs, ...refused]) if (!hostIndex.has(r.host)) hostIndex.set(r.host, hostIndex.size);
  // Host order as in the report's sections.
  const names = [...hostIndex.keys()].sort((a, b) => hosts.findIndex((g) => g.name === a) - hosts.findIndex((g) => g.name === b));
  names.forEach((n, i) => hostIndex.set(n, i));
  let t1 = run.tracer.elapsedUs;
  for (const r of regs) t1 = Math.max(t1, r.end ?? r.start);
  const shown = regs.slice(0, MAX_TIMELINE_ROWS);
  let t0 = t1;
  for (const r of regs) t0 = Math.min(t0, r.start);
  for (const f of refused) t0 = Math.min(t0, f.ts);
  const data = {
    t0,
    t1,
    hosts: names.map((name, i) => ({ name, color: TIMELINE_HOST_COLORS[i % TIMELINE_HOST_COLORS.length]! })),
    regs: shown.map((r) => ({ h: hostIndex.get(r.host)!, process: r.process, nic: r.nic, handle: r.handle, bytes: r.bytes, start: r.start, end: r.end, via: r.via })),
    refused: refused.map((f) => ({ h: hostIndex.get(f.host)!, process: f.process, ts: f.ts })),
    refusedText: REFUSED_EXPECTED_TEXT,
    total: regs.length,
  };
  const legendHtml = `<div class="legend tl-legend" id="timeline-legend">${data.hosts.map((h) => `<span data-host-color="${h.color}"><i style="background:${h.color}"></i>host ${esc(h.name)}</span>`).join('')}` +
    `<span><i style="background:#52525b"></i>solid: user buffer registered in place (REGISTER_BUFFER)</span>` +
    `<span><i style="background:repeating-linear-gradient(45deg,#52525b 0 2px,#d4d4d8 2px 5px)"></i>hatched: proxy low memory (ALLOCATE_MEMORY)</span>` +
    `<span><b class="x">✕</b>REGISTER_BUFFER refused (expected)</span>` +
    `<span class="dim">bar: from registration to deregistration</span></div>`;
  const mismatch = regs.length !== totals.nicRegistrations && run.snapshots.some((s) => s.proxyCounters !== null)
    ? `<p class="bad">The trace holds ${regs.length} NIC registration span(s), the proxy counted ${totals.nicRegistrations}: tracing did not cover the whole run.</p>`
    : '';
  return {
    html: `${counts}${mismatch}${legendHtml}<div class="tlbox"><svg class="timeline" id="timeline" role="img" aria-label="registration timeline"></svg></div>
<p class="dim">${regs.length} registration span(s) in the trace over ${(t1 / 1000).toFixed(1)} ms of emulator time${regs.length > shown.length ? `; first ${shown.length} shown` : ''}. Hover a bar or a cross for details.</p>`,
    data,
  };
}

function lowMemory(hosts: HostGroup[]): string {
  const rows: string[][] = [];
  const allocs: string[][] = [];
  for (const g of hosts) {
    const last = g.snapshots[g.snapshots.length - 1]!;
    const lm = [...g.snapshots].reverse().find((s) => s.lowMemory !== null)?.lowMemory ?? null;
    rows.push([
      esc(g.name), esc(last.strategy), lm ? String(lm.allocations) : '—', lm ? String(lm.releases) : '—',
      lm ? formatBytes(lm.contiguousBytes) : '—', lm ? formatBytes(lm.commonBufferBytes) : '—',
      lm ? formatBytes(lm.outstandingContiguousBytes + lm.outstandingCommonBufferBytes) : '—',
    ]);
    const seen = new Set<number>();
    for (const s of g.snapshots) {
      for (const a of s.allocations) {
        if (seen.has(a.id)) continue;
        seen.add(a.id);
        allocs.push([esc(g.name), `#${a.id}`, esc(a.strategy), esc(a.process), formatBytes(a.bytes),
          `${hexAddress(a.firstPhysical)} – ${hexAddress(a.lastPhysical)}`, hexAddress(a.logicalBase),
          a.belowFourGiB ? 'yes' : 'no',
          a.logicalBase + a.bytes <= FOUR_GIB ? 'yes' : '<b class="bad">no</b>', esc(s.label)]);
      }
    }
  }
  return table(['host', 'strategy', 'allocations', 'releases', 'contiguous bytes (total)', 'common-buffer bytes (total)', 'outstanding at last snapshot'], rows, 'num') +
    (allocs.length
      ? `<h3>Allocations seen in snapshots</h3>${table(['host', 'id', 'strategy', 'process', 'bytes', 'physical pages', 'device-visible base', 'physical below 4 GiB', 'device address below 4 GiB', 'first seen'], allocs)}`
      : '<p class="dim">No proxy allocation was alive at any snapshot.</p>');
}

function findings(hosts: HostGroup[]): string {
  const rows: string[][] = [];
  for (const g of hosts) {
    const last = g.snapshots[g.snapshots.length - 1]!;
    if (last.bugCheck !== null) rows.push([esc(g.name), 'bug check', `<b class="bad">${esc(last.bugCheck)}</b>`]);
    for (const f of last.findings) rows.push([esc(g.name), esc(f.source), esc(f.text)]);
  }
  return rows.length ? table(['host', 'source', 'finding'], rows) : '<p class="ok">No findings: no verifier report, no cache-attribute conflict, no !chklowmem violation, no truncated DMA address, no bug check.</p>';
}

function leaks(hosts: HostGroup[]): string {
  const out: string[] = [];
  for (const g of hosts) {
    const first = g.snapshots[0]!;
    const last = g.snapshots[g.snapshots.length - 1]!;
    const keys = Object.keys(first.resources) as (keyof ResourceSnapshot)[];
    let leaked = 0;
    const rows = keys.map((key) => {
      const d = last.resources[key] - first.resources[key];
      if (d !== 0) leaked++;
      return [esc(key), String(first.resources[key]), String(last.resources[key]), d === 0 ? '0' : `<b class="bad">${d > 0 ? '+' : ''}${d}</b>`];
    });
    out.push(`<h3>${esc(g.name)}: ${esc(first.label)} → ${esc(last.label)} ${leaked === 0 ? '<span class="ok">nothing leaked</span>' : `<span class="bad">${leaked} counter(s) differ</span>`}</h3>` +
      table(['counter', esc(first.label), esc(last.label), 'difference'], rows, 'num'));
  }
  return out.join('');
}

const CSS = `
:root{--fg:#18181b;--dim:#71717a;--line:#e4e4e7}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:#fafafa}
main{max-width:1400px;margin:0 auto;padding:16px 20px 48px}h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 6px;border-top:2px solid var(--line);padding-top:14px}
h2 small{display:block;font-weight:400;font-size:13px;color:var(--dim)}h3{font-size:14px;margin:14px 0 4px}
.dim{color:var(--dim)}.small{font-size:13px}.ok{color:#2b8a3e;font-weight:600}.bad{color:#c92a2a}
.panel{display:flex;flex-wrap:wrap;gap:4px 48px;background:#fff;border:1px solid var(--line);border-radius:4px;padding:6px 14px 10px}
.panel h3{margin:6px 0 4px;font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
dl.kvs{margin:0;display:grid;grid-template-columns:max-content auto;gap:2px 14px;align-content:start}.kv{display:contents}
.col.wide dl.kvs{grid-template-columns:max-content auto max-content auto}
.kv dt{color:var(--dim)}.kv dd{margin:0;font-variant-numeric:tabular-nums}
.mapbox,.tlbox{width:100%;overflow:hidden;background:#fff;border:1px solid var(--line);border-radius:4px;padding:4px 0}
svg.map,svg.timeline{display:block}
svg .addr{font:11px ui-monospace,Menlo,Consolas,monospace;fill:#52525b}
svg .fourlbl{font:600 11px system-ui,sans-serif;fill:#c2255c}svg .holelbl{font:11px system-ui,sans-serif;fill:#3f3f46;pointer-events:none}
svg .striptitle{font:600 12px system-ui,sans-serif;fill:#27272a}svg .stripnote{font:11px system-ui,sans-serif;fill:#52525b}
svg .strip .blk{stroke:#fff;stroke-width:.6}svg .blk:hover{stroke:#000;stroke-width:1}
svg .tl{font:11px system-ui,sans-serif;fill:#27272a;pointer-events:none}svg .tlin{fill:#18181b;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}svg .tlrow{font:11px system-ui,sans-serif;fill:#3f3f46}
svg .tick{font:11px system-ui,sans-serif;fill:#52525b}svg .tltitle{font:600 11px system-ui,sans-serif;fill:#3f3f46}svg .tlbar:hover{stroke-width:2}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0;font-size:13px}.legend i,.sw{display:inline-block;width:14px;height:14px;vertical-align:-2px;margin-right:5px;border:1px solid #0002}
.legend .x{display:inline-block;width:14px;margin-right:5px;text-align:center;color:#3f3f46}
.counts{font-size:15px;margin:4px 0}
.tabs button{font:inherit;margin:0 4px;padding:2px 10px;border:1px solid #a1a1aa;background:#fff;border-radius:12px;cursor:pointer}.tabs button.on{background:#18181b;color:#fff;border-color:#18181b}
table{border-collapse:collapse;margin:6px 0;background:#fff;font-size:13px}th,td{border:1px solid var(--line);padding:3px 8px;text-align:left}th{background:#f4f4f5}
table.num td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
table.owners tr.total td{border-top:2px solid #a1a1aa}table.owners tr.apart td{color:var(--dim)}table.owners tr.hole td{border-top:2px solid #a1a1aa}
#tip{position:fixed;display:none;z-index:10;max-width:460px;background:#18181b;color:#fafafa;padding:8px 10px;border-radius:6px;font-size:12px;pointer-events:none;box-shadow:0 4px 16px #0004}
#tip .tiph{font-weight:600;color:#fcc419;margin-bottom:2px}#tip .dim{color:#a1a1aa}#tip .note{color:#8ce99a}
`;

/** The report as one HTML string (writeReport writes it). */
export function renderReport(run: ReportRun): string {
  validate(run);
  const hosts = groupByHost(run.snapshots);
  const tl = timeline(run, hosts);
  const data = {
    categories: CATEGORIES.map((c) => ({ key: c.key, name: c.name, color: c.color, priority: c.priority })),
    cacheTypes: CACHE_TYPE_NAMES,
    hosts: [] as unknown[],
    timeline: tl.data,
  };
  const sections: string[] = [];
  hosts.forEach((g, h) => {
    const perSnap = g.snapshots.map((s) => categorize(s));
    // Open on the snapshot with the most memory in use (the peak), so the map tells the story.
    let initial = 0;
    g.snapshots.forEach((s, i) => {
      if (s.counters.activePages > g.snapshots[initial]!.counters.activePages) initial = i;
    });
    const strips = focusStrips(g.snapshots.map((s, i) => ({ runs: s.runs, cats: perSnap[i]!.cats })),
      Math.max(...g.snapshots.map((s) => s.layout.topOfMemory)) / PAGE_SIZE);
    data.hosts.push({
      name: g.name,
      initial,
      strips,
      snapshots: g.snapshots.map((s, i) => ({
        host: s.host, label: s.label, layout: s.layout, owners: s.owners, runNotes: s.runNotes,
        runs: {
          start: Array.from(s.runs.start), length: Array.from(s.runs.length), state: Array.from(s.runs.state),
          owner: Array.from(s.runs.owner), locked: Array.from(s.runs.locked), cache: Array.from(s.runs.cache), cat: Array.from(perSnap[i]!.cats),
        },
      })),
    });
    sections.push(hostSection(g, h, perSnap.map((p) => p.pages), initial, strips));
  });
  const json = JSON.stringify(data).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  const title = run.title ?? 'sanproxy memory report';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>
<h1>${esc(title)}</h1>
${run.description ? `<p>${esc(run.description)}</p>` : ''}
${runPanel(run.settings, run.snapshots)}
<p class="dim small">Each host's physical memory is drawn to scale from the PFN database; a pixel shared by several runs shows the most significant (RDMA memory and locked pages first). The red line is 4 GiB, the reach of a 32-bit NIC. Zoom strips, outlined on the full map, show where the run's allocations are, each to its own scale. Hover any block for its range, owner, driver, pool tag and cache type.</p>
${sections.join('\n')}
<h2>Registration timeline</h2>
${tl.html}
<h2>Low-memory allocations by strategy</h2>
${lowMemory(hosts)}
<h2>Verifier findings</h2>
${findings(hosts)}
<h2>Leak table</h2>
${leaks(hosts)}
<p class="dim">Generated by sanproxy. 4 GiB = ${hexAddress(FOUR_GIB)}.</p>
</main><div id="tip" role="tooltip"></div>
<script type="application/json" id="sanproxy-data">${json}</script>
<script>${REPORT_CLIENT_JS}</script>
</body></html>
`;
}

/** Write the report for `run` to `path` (one self-contained HTML file); returns its size in bytes. */
export function writeReport(path: string, run: ReportRun): number {
  if (typeof path !== 'string' || path === '') throw new TypeError(`writeReport: path must be a non-empty string, got ${String(path)}`);
  const html = renderReport(run);
  writeFileSync(path, html);
  return Buffer.byteLength(html);
}
