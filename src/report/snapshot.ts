/**
 * A snapshot of one host's memory at a moment the caller chooses (boot, peak, after teardown):
 * the page runs, who owns them, what the SAN proxy holds, every leak counter and every
 * finding. Snapshots are plain data (typed arrays and small records), so later changes to the
 * host — owner ids are recycled — never alter one that was taken.
 *
 *   const boot = captureSnapshot(host, 'boot');
 *   ... run ...
 *   writeReport('report.html', { snapshots: [boot, captureSnapshot(host, 'after teardown')] });
 */
import { FOUR_GIB, PAGE_SIZE, addressOfPfn, pfnOf } from '../bus/index.ts';
import { Host, snapshot as resourceSnapshot, type ResourceSnapshot } from '../host/index.ts';
import { poolTagText } from '../kernel/mm/pool.ts';
import type { MmCounters } from '../kernel/mm/memory-manager.ts';
import type { OwnerKind } from '../kernel/mm/owners.ts';
import { sanProxyState, type LowMemoryCounters, type ProxyCounters } from '../proxy/index.ts';
import { PFN_STATE_ACTIVE } from '../kernel/mm/pfn-database.ts';
import { extractPageRuns, runIndexOf, type PageRuns } from './page-runs.ts';

export interface SnapshotOwner {
  kind: OwnerKind;
  label: string;
  driver: string | null;
}

export interface SnapshotLayout {
  topOfMemory: number;
  totalRamBytes: number;
  lowRamBytes: number;
  highRamBytes: number;
  mmioHole: { base: number; length: number };
  reserved: { base: number; length: number; label: string }[];
  nolowmemRequested: boolean;
  nolowmemActive: boolean;
  nolowmemNote: string;
}

export interface SnapshotAllocation {
  id: number;
  process: string;
  strategy: 'contiguous' | 'common-buffer';
  bytes: number;
  /** Physical address of each page, first page first (contiguous memory is one run). */
  firstPhysical: number;
  lastPhysical: number;
  logicalBase: number;
  belowFourGiB: boolean;
  nic: string;
}

export interface SnapshotRegistration {
  id: number;
  process: string;
  address: number;
  length: number;
  pages: number;
  pagesBelowFourGiB: number;
  nic: string;
}

export interface SnapshotFinding {
  source: string;
  text: string;
}

export interface SnapshotNic {
  name: string;
  addressBits: number;
  registrations: number;
  handedAboveLimit: number;
}

export interface HostSnapshot {
  host: string;
  label: string;
  /** Order of capture across the run (1, 2, …). */
  sequence: number;
  layout: SnapshotLayout;
  runs: PageRuns;
  /** Owner id → owner, for the ids the runs name. */
  owners: Record<number, SnapshotOwner>;
  /** Run index → extra lines for hover (pool tags, proxy objects on those pages). */
  runNotes: Record<number, string[]>;
  counters: MmCounters;
  resources: ResourceSnapshot;
  strategy: string;
  proxyLoaded: boolean;
  lowMemory: LowMemoryCounters | null;
  /** The proxy's request counters (NIC registrations, expected refusals, …), or null when not loaded. */
  proxyCounters: ProxyCounters | null;
  allocations: SnapshotAllocation[];
  registrations: SnapshotRegistration[];
  nics: SnapshotNic[];
  findings: SnapshotFinding[];
  bugCheck: string | null;
}

let sequence = 0;
const MAX_NOTES_PER_RUN = 12;

const hex = (v: number) => `0x${v.toString(16)}`;

function addNote(notes: Map<number, Set<string>>, run: number, text: string): void {
  if (run < 0) return;
  let s = notes.get(run);
  if (s === undefined) notes.set(run, (s = new Set()));
  if (s.size < MAX_NOTES_PER_RUN) s.add(text);
}

/**
 * Capture `host`'s memory now under `label`. O(pages) for the runs plus O(objects) for pool
 * blocks and proxy objects; it changes nothing on the host.
 */
export function captureSnapshot(host: Host, label: string): HostSnapshot {
  if (!(host instanceof Host)) throw new TypeError('captureSnapshot: host must be a Host (from createCluster)');
  if (typeof label !== 'string' || label.trim() === '') throw new TypeError(`captureSnapshot: label must be a non-empty string, got ${String(label)}`);
  const k = host.kernel;
  const mm = k.mm;
  const runs = extractPageRuns(mm.pfn);

  const owners: Record<number, SnapshotOwner> = {};
  for (let i = 0; i < runs.count; i++) {
    const id = runs.owner[i]!;
    if (id === 0 || owners[id] !== undefined) continue;
    const info = mm.owners.get(id);
    if (info !== undefined) owners[id] = { kind: info.kind, label: info.label, driver: info.driver ?? null };
  }

  const notes = new Map<number, Set<string>>();
  // Pool tags on the pages that hold the blocks (what poolmon would attribute).
  for (const b of mm.pool.outstanding()) {
    const first = Math.floor(b.address / PAGE_SIZE) * PAGE_SIZE;
    const tag = `pool tag '${poolTagText(b.tag)}'${b.driver !== null ? ` (${b.driver})` : ''}`;
    for (let va = first; va < b.address + b.bytes; va += PAGE_SIZE) {
      const pa = mm.system.physicalAddress(va);
      if (pa !== null) addNote(notes, runIndexOf(runs, pfnOf(pa)), tag);
    }
  }

  const proxy = sanProxyState(k);
  const allocations: SnapshotAllocation[] = [];
  const registrations: SnapshotRegistration[] = [];
  if (proxy !== null) {
    for (const open of proxy.opens) {
      const process = `${open.process.name} (pid ${open.process.ProcessId})`;
      for (const a of open.allocations.values()) {
        const pfns = a.mdl.pfnArray;
        const firstPfn = pfns[0] ?? 0;
        const lastPfn = pfns[pfns.length - 1] ?? 0;
        let low = true;
        for (let i = 0; i < pfns.length; i++) {
          if (addressOfPfn(pfns[i]! + 1) > FOUR_GIB) low = false;
          addNote(notes, runIndexOf(runs, pfns[i]!), `SanProxy allocation #${a.id} (${a.strategy}) for ${process}`);
        }
        allocations.push({
          id: a.id, process, strategy: a.strategy, bytes: a.bytes, firstPhysical: addressOfPfn(firstPfn),
          lastPhysical: addressOfPfn(lastPfn + 1) - 1, logicalBase: a.logicalBase, belowFourGiB: low, nic: a.nic.nic.name,
        });
      }
      for (const r of open.registrations.values()) {
        const pfns = r.mdl.pfnArray;
        let below = 0;
        for (let i = 0; i < pfns.length; i++) {
          if (addressOfPfn(pfns[i]! + 1) <= FOUR_GIB) below++;
          addNote(notes, runIndexOf(runs, pfns[i]!), `registered: SanProxy registration #${r.id} of ${process} at ${hex(r.address)}`);
        }
        registrations.push({ id: r.id, process, address: r.address, length: r.length, pages: pfns.length, pagesBelowFourGiB: below, nic: r.nic.nic.name });
      }
    }
  }

  const runNotes: Record<number, string[]> = {};
  for (const [run, set] of notes) runNotes[run] = [...set];

  const l = mm.layout;
  const findings: SnapshotFinding[] = [
    ...k.hal.findings.map((f) => ({ source: `HAL DMA verifier (${f.routine})`, text: `${f.kind}: ${f.detail}${f.driver ? ` [${f.driver}]` : ''}` })),
    ...k.io.findings.map((f) => ({ source: 'I/O verifier', text: `${f.driver}: ${f.message}` })),
    ...mm.cacheConflicts.map((c) => ({ source: 'cache attribute conflict', text: `PFN ${hex(c.pfn)}: mapped ${c.what} as ${c.requested}, page is ${c.existing}` })),
  ];
  const chk = mm.chklowmem();
  if (chk.violations > 0) findings.push({ source: '!chklowmem', text: `${chk.violations} page(s) below 4 GiB written while free under NOLOWMEM` });
  const nics = host.nics.map((n) => ({
    name: n.nic.name, addressBits: n.nic.capabilities.addressBits, registrations: n.nic.regionCount, handedAboveLimit: n.nic.handedAboveLimit,
  }));
  for (const n of nics) {
    if (n.handedAboveLimit > 0) findings.push({ source: `NIC ${n.name}`, text: `${n.handedAboveLimit} page address(es) handed at or above 2^${n.addressBits}: the NIC truncates them` });
  }
  const crashed = k.bugcheck.crashed;
  // Pages of live allocations are ACTIVE; sanity-check the capture against the counters (always on).
  let active = 0;
  for (let i = 0; i < runs.count; i++) if (runs.state[i] === PFN_STATE_ACTIVE) active += runs.length[i]!;
  const counters = mm.counters();
  if (active !== counters.activePages) {
    throw new Error(`captureSnapshot invariant: runs hold ${active} active pages, the memory manager counts ${counters.activePages}`);
  }
  return {
    host: k.name,
    label: label.trim(),
    sequence: ++sequence,
    layout: {
      topOfMemory: l.topOfMemory, totalRamBytes: l.totalRamBytes, lowRamBytes: l.lowRamBytes, highRamBytes: l.highRamBytes,
      mmioHole: { ...l.mmioHole }, reserved: l.reserved.map((r) => ({ ...r })),
      nolowmemRequested: l.nolowmemRequested, nolowmemActive: l.nolowmemActive, nolowmemNote: l.nolowmemNote,
    },
    runs,
    owners,
    runNotes,
    counters,
    resources: resourceSnapshot(host),
    strategy: host.strategy,
    proxyLoaded: proxy !== null,
    lowMemory: proxy !== null ? { ...proxy.lowMemory } : null,
    proxyCounters: proxy !== null ? { ...proxy.counters } : null,
    allocations,
    registrations,
    nics,
    findings,
    bugCheck: crashed ? crashed.message : null,
  };
}
