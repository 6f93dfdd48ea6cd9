/**
 * The memory-map report: ONE self-contained HTML file (inline CSS, inline script, no fonts,
 * no network). Per host: the physical address space to scale with the MMIO hole and the
 * 4 GiB line, a zoom below 4 GiB, legend and hover details, for each snapshot; then memory by
 * owner across snapshots, the registration timeline, low-memory allocations by strategy,
 * findings and the leak table.
 */
import { writeFileSync } from 'node:fs';
import { FOUR_GIB, PAGE_SIZE, formatBytes, hexAddress } from '../bus/index.ts';
import type { ResourceSnapshot } from '../host/index.ts';
import { CACHE_TYPE_NAMES, CATEGORIES, categoryOf } from './categories.ts';
import { REPORT_CLIENT_JS } from './report-client.ts';
import type { HostSnapshot } from './snapshot.ts';
import { Tracer } from './tracer.ts';

export interface ReportRun {
  /** Heading of the report. */
  title?: string;
  /** One paragraph under the heading (what was run). */
  description?: string;
  /** Snapshots from captureSnapshot, any hosts, in capture order. */
  snapshots: readonly HostSnapshot[];
  /** The run's tracer, when traced: gives the registration timeline. */
  tracer?: Tracer;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

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
    .join('')}<span><i style="background:#c2255c;width:3px"></i>4 GiB line</span></div>`;
}

function hostSection(g: HostGroup, h: number, pagesBySnap: Float64Array[], initial: number): string {
  const last = g.snapshots[g.snapshots.length - 1]!;
  const l = last.layout;
  const nic = last.nics.map((n) => `${esc(n.name)} (${n.addressBits}-bit DMA)`).join(', ') || 'no NIC';
  const tabs = g.snapshots
    .map((s, i) => `<button type="button" data-host="${h}" data-snap="${i}" class="${i === initial ? 'on' : ''}">${esc(s.label)}</button>`)
    .join('');
  const owners = CATEGORIES.map((c, ci) => ({ c, ci })).filter(({ ci }) => pagesBySnap.some((p) => p[ci]! > 0));
  const byOwner = table(
    ['', ...g.snapshots.map((s) => esc(s.label))],
    owners.map(({ c, ci }) => [
      `<i class="sw" style="background:${c.color}"></i>${esc(c.name)}`,
      ...pagesBySnap.map((p) => formatBytes(p[ci]! * PAGE_SIZE)),
    ]).concat([
      ['free below 4 GiB', ...g.snapshots.map((s) => formatBytes(s.counters.freeLowPages * PAGE_SIZE))],
      ['free above 4 GiB', ...g.snapshots.map((s) => formatBytes(s.counters.freeHighPages * PAGE_SIZE))],
      ['locked pages', ...g.snapshots.map((s) => String(s.counters.lockedPages))],
    ]),
    'num',
  );
  return `<section class="host" id="host-${h}">
<h2>Host ${esc(g.name)} <small>${formatBytes(l.totalRamBytes)} RAM (${formatBytes(l.lowRamBytes)} below 4 GiB, ${formatBytes(l.highRamBytes)} above) · ${esc(l.nolowmemNote)} · low-memory strategy ${esc(last.strategy)} · ${nic}</small></h2>
<div class="tabs">Snapshot: ${tabs}</div>
<h3>Physical address space, 0 – ${hexAddress(l.topOfMemory)} (to scale)</h3>
<div class="mapbox"><svg class="map" id="map-${h}" role="img" aria-label="physical memory map of ${esc(g.name)}"></svg></div>
<h3>Zoom: below 4 GiB (what a 32-bit NIC can reach)</h3>
<div class="mapbox"><svg class="map" id="zoom-${h}" role="img" aria-label="memory below 4 GiB on ${esc(g.name)}"></svg></div>
${legend()}
<h3>Memory by owner</h3>
${byOwner}
</section>`;
}

function timeline(run: ReportRun, hosts: HostGroup[]): string {
  if (run.tracer === undefined) {
    const rows: string[][] = [];
    for (const g of hosts) {
      for (const s of g.snapshots) {
        for (const r of s.registrations) {
          rows.push([esc(g.name), esc(s.label), `#${r.id}`, esc(r.process), hexAddress(r.address), formatBytes(r.length), `${r.pagesBelowFourGiB}/${r.pages}`, esc(r.nic)]);
        }
      }
    }
    return `<p class="dim">This run was not traced: registrations alive at each snapshot.</p>${
      rows.length ? table(['host', 'snapshot', 'registration', 'process', 'address', 'length', 'pages below 4 GiB', 'NIC'], rows) : '<p>None.</p>'
    }`;
  }
  const regs = run.tracer.registrationIntervals();
  if (regs.length === 0) return '<p>No NIC registration happened while tracing.</p>';
  const t0 = Math.min(...regs.map((r) => r.start));
  const t1 = Math.max(...regs.map((r) => r.end ?? r.start)) + 1;
  const shown = regs.slice(0, 80);
  const W = 1000;
  const rowH = 14;
  const hostColor = new Map(hosts.map((g, i) => [g.name, ['#4e79a7', '#e15759', '#59a14f', '#b07aa1', '#f28e2b'][i % 5]!]));
  const bars = shown
    .map((r, i) => {
      const x = ((r.start - t0) / (t1 - t0)) * W;
      const x2 = r.end === null ? W : ((r.end - t0) / (t1 - t0)) * W;
      const tipText = esc(`<b>${esc(r.host)} · ${esc(r.process)}</b><div>NIC ${esc(r.nic)} handle ${r.handle}: ${formatBytes(r.bytes)}</div><div>registered at ${((r.start - t0) / 1000).toFixed(3)} ms, ${
        r.end === null ? 'still registered at the end' : `deregistered at ${((r.end - t0) / 1000).toFixed(3)} ms`}</div>`);
      return `<rect x="${x.toFixed(1)}" y="${i * rowH + 2}" width="${Math.max(2, x2 - x).toFixed(1)}" height="${rowH - 4}" fill="${hostColor.get(r.host) ?? '#333'}" data-tip="${tipText}"/>` +
        `<text x="${Math.min(x + 4, W - 200).toFixed(1)}" y="${i * rowH + 11}" class="tl">${esc(r.host)} ${esc(r.process)} ${formatBytes(r.bytes)}</text>`;
    })
    .join('');
  return `<svg class="timeline" viewBox="0 0 ${W} ${shown.length * rowH + 4}" preserveAspectRatio="none" width="100%" height="${shown.length * rowH + 4}">${bars}</svg>
<p class="dim">${regs.length} NIC registration(s) over ${((t1 - t0) / 1000).toFixed(2)} ms of emulator time${regs.length > shown.length ? `; first ${shown.length} shown` : ''}. Hover a bar for details.</p>`;
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
.dim{color:var(--dim)}.ok{color:#2b8a3e;font-weight:600}.bad{color:#c92a2a}
.mapbox{width:100%;overflow:hidden;background:#fff;border:1px solid var(--line);border-radius:4px;padding:4px 0}
svg.map{display:block}svg .addr{font:11px ui-monospace,Menlo,Consolas,monospace;fill:#52525b;text-anchor:end}
svg .fourlbl{font:600 11px system-ui,sans-serif;fill:#c2255c}svg .holelbl{font:11px system-ui,sans-serif;fill:#3f3f46;pointer-events:none}
svg .blk:hover{stroke:#000;stroke-width:1}svg.timeline{background:#fff;border:1px solid var(--line)}svg .tl{font:10px system-ui,sans-serif;fill:#27272a;pointer-events:none}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:8px 0;font-size:13px}.legend i,.sw{display:inline-block;width:14px;height:14px;vertical-align:-2px;margin-right:5px;border:1px solid #0002}
.tabs button{font:inherit;margin:0 4px;padding:2px 10px;border:1px solid #a1a1aa;background:#fff;border-radius:12px;cursor:pointer}.tabs button.on{background:#18181b;color:#fff;border-color:#18181b}
table{border-collapse:collapse;margin:6px 0;background:#fff;font-size:13px}th,td{border:1px solid var(--line);padding:3px 8px;text-align:left}th{background:#f4f4f5}
table.num td:not(:first-child){text-align:right;font-variant-numeric:tabular-nums}
#tip{position:fixed;display:none;z-index:10;max-width:460px;background:#18181b;color:#fafafa;padding:8px 10px;border-radius:6px;font-size:12px;pointer-events:none;box-shadow:0 4px 16px #0004}
#tip .tiph{font-weight:600;color:#fcc419;margin-bottom:2px}#tip .dim{color:#a1a1aa}#tip .note{color:#8ce99a}
`;

/** The report as one HTML string (writeReport writes it). */
export function renderReport(run: ReportRun): string {
  validate(run);
  const hosts = groupByHost(run.snapshots);
  const data = {
    categories: CATEGORIES.map((c) => ({ key: c.key, name: c.name, color: c.color, priority: c.priority })),
    cacheTypes: CACHE_TYPE_NAMES,
    hosts: [] as unknown[],
  };
  const sections: string[] = [];
  hosts.forEach((g, h) => {
    const perSnap = g.snapshots.map((s) => categorize(s));
    // Open on the snapshot with the most memory in use (the peak), so the map tells the story.
    let initial = 0;
    g.snapshots.forEach((s, i) => {
      if (s.counters.activePages > g.snapshots[initial]!.counters.activePages) initial = i;
    });
    data.hosts.push({
      name: g.name,
      initial,
      snapshots: g.snapshots.map((s, i) => ({
        host: s.host, label: s.label, layout: s.layout, owners: s.owners, runNotes: s.runNotes,
        runs: {
          start: Array.from(s.runs.start), length: Array.from(s.runs.length), state: Array.from(s.runs.state),
          owner: Array.from(s.runs.owner), locked: Array.from(s.runs.locked), cache: Array.from(s.runs.cache), cat: Array.from(perSnap[i]!.cats),
        },
      })),
    });
    sections.push(hostSection(g, h, perSnap.map((p) => p.pages), initial));
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
<p class="dim">Physical memory of each emulated host, drawn to scale from the PFN database (runs of pages with the same state, owner, lock and cache type). Runs narrower than a pixel share it; the pixel shows the most significant of them (RDMA memory and locked pages first). The red line is 4 GiB: a 32-bit NIC reaches only the memory before it. Hover any block for its range, owner, driver, tag and cache type.</p>
${sections.join('\n')}
<h2>Registration timeline</h2>
${timeline(run, hosts)}
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
