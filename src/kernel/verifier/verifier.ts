/**
 * The per-host verifier, in the spirit of Driver Verifier: one object per kernel (k.verifier,
 * present when KernelConfig.verifier) that owns structured findings and runs the checks that
 * need a vantage point no single routine has. [devtest: "Driver Verifier", "Pool Tracking",
 * "DMA Verification"; debugger: Bug Check 0xC4, 0xE6]
 *
 * Implementation notes
 * - A finding is {code, parameters, driver, rule, detail, stack}. Every bug check on a verified
 *   host is recorded as a finding before it throws (BugCheckState.onBugCheck), so the checks
 *   that already live in the routines (HAL 0xE6, MDL 0xC4, pool 0xC2, 0x76/0xCB) report through
 *   here without knowing about it. HAL and I/O manager notes that do not stop the host are
 *   gathered from their lists (`collect`), keeping their order.
 * - Checks that need a hook:
 *   pool left at unload — 0xC4, P1 0x62, P2 the driver's id in this verifier (stands for the
 *     name pointer), P3 0 (the verifier's internal structure), P4 outstanding allocations;
 *   DMA adapters not put at unload — 0xE6, P1 DMA_VIOLATION_ADAPTER_LEAKED_AT_UNLOAD (0x27,
 *     sanproxy-defined: Windows documents no code for it), P2 adapter id, P3 common buffers,
 *     P4 scatter/gather lists still outstanding;
 *   DMA into memory that is not the device's to touch — every PCI function's DeviceDmaView gets
 *     an observer that checks each physical run before its bytes move, against the PFN database:
 *     the page must be active and either locked (MmProbeAndLockPages) or nonpaged kernel memory
 *     (nonpaged pool, contiguous memory, common buffers, bounce pages, MDL pages). Otherwise
 *     0xE6, P1 0x26 (documented as the IOMMU's "illegal DMA" report, which is what a remapping
 *     unit would raise for this access), P2 the PCI function id, P3 the physical address,
 *     P4 DMA_FAULT_FREE_PAGE (1) or DMA_FAULT_UNLOCKED_PAGE (2);
 *   kernel memory mapped to user mode without being written since it was allocated — a page
 *     flag (PFN_FLAG_WRITTEN 0x80) set by the physical-memory write observer on active pages and
 *     cleared by the page allocator at every allocation and free; checked at
 *     MmMapLockedPagesSpecifyCache(UserMode). Windows has no stop code for this information
 *     leak, so it is a finding (code 0), P1 PFN, P2 MDL, P3 the page's user VA;
 *   cache-attribute conflicts (mm.noteMapping) and !chklowmem pages — findings, code 0;
 *   an MDL used after the I/O manager freed it at IRP completion — the routine's own stop
 *     (0xC2/0x07 for a freed MDL) with rule "mdl-used-after-irp-completed";
 *   a pool block freed while it holds an active lookaside list — 0xC4/0xCC, P2 the list, P3 the
 *     block, P4 its size (Bug Check 0xC4 table; the list tracking lives in ex/lookaside.ts);
 *   an IRP freed with ExFreePool instead of IoFreeIrp — 0xC4/0x105, P2 the IRP.
 * - Granularity: "written" is per page, so a page written in part (or a slab page shared by
 *   pool blocks) counts as initialized; the check catches whole untouched pages only.
 * - DMA ownership is by page kind, not per device: a device that DMAs into another driver's
 *   nonpaged memory is not caught (that needs the device's own translation table).
 */
import type { DeviceDmaView } from '../../bus/index.ts';
import { PAGE_SIZE, addressOfPfn, pfnOf } from '../../bus/index.ts';
import {
  BugCheck,
  DRIVER_VERIFIER_DETECTED_VIOLATION,
  DRIVER_VERIFIER_DMA_VIOLATION,
  bugCheckName,
} from '../bugcheck.ts';
import type { Kernel } from '../kernel.ts';
import { VERIFIER_LOOKASIDE_IN_FREED_POOL } from '../ex/lookaside.ts';
import { PFN_FLAG_WRITTEN, PFN_STATE_ACTIVE } from '../mm/pfn-database.ts';
import type { OwnerKind } from '../mm/owners.ts';

/** 0xC4 Parameter 1: the driver unloaded without freeing its pool allocations. */
export const VERIFIER_POOL_LEAKED_AT_UNLOAD = 0x62;
/** 0xE6 Parameter 1 for illegal DMA (the IOMMU's report in the 0xE6 table). */
export const DMA_VIOLATION_ILLEGAL_DMA = 0x26;
/** 0xE6 Parameter 1, sanproxy-defined: a driver unloaded holding a DMA adapter it never put. */
export const DMA_VIOLATION_ADAPTER_LEAKED_AT_UNLOAD = 0x27;
/** 0xE6/0x26 Parameter 4 values. */
export const DMA_FAULT_FREE_PAGE = 1;
export const DMA_FAULT_UNLOCKED_PAGE = 2;
/** Code of a finding that does not stop the host. */
export const FINDING_ONLY = 0;

export interface VerifierFinding {
  /** Bug check code, or FINDING_ONLY. */
  readonly code: number;
  readonly parameters: readonly [number, number, number, number];
  readonly driver: string | null;
  /** Short rule name, e.g. "pool-leaked-at-unload", "dma-into-free-page". */
  readonly rule: string;
  readonly detail: string;
  /** Our own call sites (src/ frames), innermost first. */
  readonly stack: readonly string[];
  /** True when the host stopped with this finding. */
  readonly stopped: boolean;
}

/** Pages a bus master may touch without a lock: nonpaged kernel memory. */
const NONPAGED_KINDS: ReadonlySet<OwnerKind> = new Set<OwnerKind>(['pool-nonpaged', 'contiguous', 'common-buffer', 'bounce', 'mdl-pages']);

const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;

/** The src/ frames of the current stack, without the verifier's and the bug check's own. */
function ourStack(): string[] {
  const raw = new Error().stack ?? '';
  const out: string[] = [];
  for (const line of raw.split('\n')) {
    const m = /at (?:(\S+) )?\(?(.*\/(src\/[^):]+)):(\d+):\d+\)?$/.exec(line.trim());
    if (!m) continue;
    const file = m[3]!;
    if (file.startsWith('src/kernel/verifier/') || file === 'src/kernel/bugcheck.ts') continue;
    out.push(`${m[1] ?? '<anonymous>'} (${file}:${m[4]})`);
    if (out.length === 12) break;
  }
  return out;
}

export class Verifier {
  private readonly list: VerifierFinding[] = [];
  private halSeen = 0;
  private ioSeen = 0;
  private lowmemSeen = new Set<number>();
  private recording = false;
  private nextRule: string | null = null;
  private readonly driverIds = new Map<string, number>();
  /** MDLs the I/O manager freed at IRP completion (to name a later use of one). */
  private readonly irpMdls = new WeakSet<object>();
  /** Bytes each device moved, by direction (forged-descriptor tests count on it). */
  readonly dmaBytes = new Map<string, { read: number; write: number }>();

  constructor(readonly k: Kernel) {}

  /** Hook the host: bug checks and physical-memory writes. Called once by the kernel. */
  install(): void {
    const k = this.k;
    k.bugcheck.onBugCheck = (stop) => this.onStop(stop);
    const previous = k.memory.writeObserver;
    const { state, flags } = k.mm.pfn;
    const pageCount = k.mm.pfn.pageCount;
    k.memory.writeObserver = (address, length) => {
      previous?.(address, length);
      const first = pfnOf(address);
      const end = Math.min(pageCount, Math.ceil((address + length) / PAGE_SIZE));
      for (let p = first; p < end; p++) if (state[p] === PFN_STATE_ACTIVE) flags[p] = flags[p]! | PFN_FLAG_WRITTEN;
    };
  }

  /** Every finding so far (HAL and I/O manager notes included), oldest first. */
  findings(): readonly VerifierFinding[] {
    this.collect();
    return this.list;
  }

  /** Findings of one rule. */
  byRule(rule: string): VerifierFinding[] {
    return this.findings().filter((f) => f.rule === rule);
  }

  /** Record a finding that does not stop the host. */
  record(rule: string, code: number, p: readonly [number, number, number, number], detail: string, driver?: string | null): VerifierFinding {
    const f: VerifierFinding = {
      code, parameters: [p[0], p[1], p[2], p[3]], driver: driver === undefined ? this.k.currentDriver : driver,
      rule, detail, stack: ourStack(), stopped: false,
    };
    this.list.push(f);
    return f;
  }

  /** Record a finding and stop the host with it. */
  stop(rule: string, code: number, p1: number, p2: number, p3: number, p4: number, detail: string, driver?: string | null): never {
    this.recording = true;
    try {
      const f = this.record(rule, code, [p1, p2, p3, p4], detail, driver);
      (f as { stopped: boolean }).stopped = true;
    } finally {
      this.recording = false;
    }
    return this.k.bugcheck.KeBugCheckEx(code, p1, p2, p3, p4, detail);
  }

  /** The next bug check raised by a routine gets this rule name (the routine knows the code). */
  annotateNextStop(rule: string): void {
    this.nextRule = rule;
  }

  private onStop(stop: BugCheck): void {
    if (this.recording) return;
    const rule = this.nextRule ?? ruleOf(stop.code, stop.parameters[0]);
    this.nextRule = null;
    const [p1, p2, p3, p4] = stop.parameters;
    const f = this.record(rule, stop.code, [p1, p2, p3, p4], stop.detail);
    (f as { stopped: boolean }).stopped = true;
  }

  /** Pull HAL and I/O manager notes recorded since the last call. */
  collect(): void {
    const hal = this.k.hal.findings;
    for (; this.halSeen < hal.length; this.halSeen++) {
      const h = hal[this.halSeen]!;
      this.list.push({ code: FINDING_ONLY, parameters: [h.adapterId, 0, 0, 0], driver: h.driver, rule: `hal-${h.kind}`,
        detail: `${h.routine}: ${h.detail}`, stack: [], stopped: false });
    }
    const io = this.k.io.findings;
    for (; this.ioSeen < io.length; this.ioSeen++) {
      const x = io[this.ioSeen]!;
      this.list.push({ code: FINDING_ONLY, parameters: [0, 0, 0, 0], driver: x.driver, rule: 'io-manager', detail: x.message, stack: [], stopped: false });
    }
  }

  private driverId(name: string): number {
    let id = this.driverIds.get(name);
    if (id === undefined) {
      id = this.driverIds.size + 1;
      this.driverIds.set(name, id);
    }
    return id;
  }

  /**
   * After DriverUnload returned: pool the driver still holds (0xC4/0x62) and DMA adapters it
   * never put (0xE6/0x27). Pool first, as Driver Verifier checks pool at unload.
   */
  driverUnloaded(name: string): void {
    const blocks = this.k.mm.pool.outstanding(name);
    if (blocks.length > 0) {
      const tags = [...new Set(blocks.map((b) => b.tag))].length;
      this.stop('pool-leaked-at-unload', DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_POOL_LEAKED_AT_UNLOAD, this.driverId(name), 0,
        blocks.length, `driver ${name} unloaded with ${blocks.length} pool allocation(s) (${tags} tag(s)) not freed; first at ` +
          `${hex(blocks[0]!.address)} (${blocks[0]!.bytes} bytes)`, name);
    }
    for (const a of this.k.hal.adapters.values()) {
      if (a.driver === name && !a.put) {
        this.stop('adapter-not-put-at-unload', DRIVER_VERIFIER_DMA_VIOLATION, DMA_VIOLATION_ADAPTER_LEAKED_AT_UNLOAD, a.id,
          a.commonBuffers.size, a.sgLists.size, `driver ${name} unloaded without PutDmaAdapter on adapter ${a.id} (${a.pci.name})`, name);
      }
    }
  }

  /** Watch one bus master: each physical run it touches must be its to touch. */
  watchDevice(view: DeviceDmaView, pciId: number): void {
    const previous = view.observer;
    const counts = { read: 0, write: 0 };
    this.dmaBytes.set(view.name, counts);
    view.observer = (device, direction, physical, length) => {
      this.checkDma(pciId, device, direction, physical, length);
      counts[direction] += length;
      previous?.(device, direction, physical, length);
    };
  }

  private checkDma(pciId: number, device: string, direction: 'read' | 'write', physical: number, length: number): void {
    const mm = this.k.mm;
    const { state, owner, lockCount } = mm.pfn;
    const first = pfnOf(physical);
    const end = Math.ceil((physical + length) / PAGE_SIZE);
    for (let p = first; p < end; p++) {
      if (state[p] !== PFN_STATE_ACTIVE) {
        this.stop('dma-into-free-page', DRIVER_VERIFIER_DMA_VIOLATION, DMA_VIOLATION_ILLEGAL_DMA, pciId, addressOfPfn(p), DMA_FAULT_FREE_PAGE,
          `${device} DMA ${direction} of page ${hex(addressOfPfn(p))}, which is not allocated`, null);
      }
      if (lockCount[p]! > 0) continue;
      const info = mm.owners.get(owner[p]!);
      if (info && NONPAGED_KINDS.has(info.kind)) continue;
      this.stop('dma-into-unlocked-page', DRIVER_VERIFIER_DMA_VIOLATION, DMA_VIOLATION_ILLEGAL_DMA, pciId, addressOfPfn(p),
        DMA_FAULT_UNLOCKED_PAGE, `${device} DMA ${direction} of page ${hex(addressOfPfn(p))} (${info ? `${info.kind} "${info.label}"` : 'no owner'}), ` +
          'which is neither locked nor nonpaged kernel memory', null);
    }
  }

  /**
   * MmMapLockedPagesSpecifyCache(UserMode) is about to expose `pfns`: kernel pages never written
   * since their allocation still hold the previous owner's bytes.
   */
  checkUserMapping(pfns: Int32Array, mdlId: number, userVa: number): void {
    const mm = this.k.mm;
    const { flags, owner } = mm.pfn;
    for (let i = 0; i < pfns.length; i++) {
      const p = pfns[i]!;
      if (p < 0 || (flags[p]! & PFN_FLAG_WRITTEN) !== 0) continue;
      const info = mm.owners.get(owner[p]!);
      if (!info || info.kind === 'process') continue;
      this.record('uninitialized-kernel-memory-mapped-to-user', FINDING_ONLY, [p, mdlId, userVa + i * PAGE_SIZE, 0],
        `page ${hex(addressOfPfn(p))} (${info.kind} "${info.label}") mapped to user mode at ${hex(userVa + i * PAGE_SIZE)} ` +
          'without being written since it was allocated: it still holds its previous owner\'s bytes');
    }
  }

  /** mm.noteMapping found a second cache attribute for a page. */
  cacheConflict(pfn: number, existing: number, requested: number, what: string): void {
    this.record('cache-attribute-conflict', FINDING_ONLY, [pfn, existing, requested, 0],
      `${what}: page ${hex(addressOfPfn(pfn))} is mapped with cache type ${existing}, now requested ${requested}`);
  }

  /** Pool is about to free [va, va + bytes): an active lookaside list inside it is 0xC4/0xCC. */
  checkPoolFreeForLookasides(va: number, bytes: number): void {
    const list = this.k.lookaside.activeListIn(va, bytes);
    if (list === null) return;
    const at = this.k.lookaside.addressOf(list);
    this.stop('lookaside-in-freed-pool', DRIVER_VERIFIER_DETECTED_VIOLATION, VERIFIER_LOOKASIDE_IN_FREED_POOL, at, va, bytes,
      `pool block ${hex(va)} (${bytes} bytes) freed while it holds active lookaside list ${hex(at)}; delete the list first`);
  }

  /** The I/O manager freed `mdl` with its IRP. */
  irpMdlFreed(mdl: object): void {
    this.irpMdls.add(mdl);
  }

  /** A routine found `mdl` freed; name the rule when the I/O manager freed it with an IRP. */
  freedMdlUsed(mdl: object): void {
    if (this.irpMdls.has(mdl)) this.annotateNextStop('mdl-used-after-irp-completed');
  }

  /** !chklowmem on a NOLOWMEM host: one finding per low page newly found written while free. */
  chklowmem(): VerifierFinding[] {
    const out: VerifierFinding[] = [];
    if (!this.k.mm.nolowmemActive) return out;
    for (const p of this.k.mm.chklowmem().pfns) {
      if (this.lowmemSeen.has(p)) continue;
      this.lowmemSeen.add(p);
      out.push(this.record('chklowmem', FINDING_ONLY, [p, 0, 0, 0],
        `!chklowmem: low page ${hex(addressOfPfn(p))} was written while free (a 32-bit truncated physical address?)`, null));
    }
    return out;
  }
}

/** A rule name for a stop raised by a routine's own check. */
function ruleOf(code: number, p1: number): string {
  return `${bugCheckName(code).toLowerCase().replace(/_/g, '-')}/${hex(p1)}`;
}
