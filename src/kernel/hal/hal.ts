/**
 * The per-host HAL DMA state: PCI functions, adapters, common buffers, scatter/gather lists, the
 * map register file, findings and counters. The WDK routines live in dma-adapter.ts,
 * common-buffer.ts and scatter-gather.ts; they keep their records here.
 *
 * Implementation notes
 * - Adapters, common buffers and lists get small numeric ids (1, 2, 3 …, never reused on a host)
 *   that stand in for pointers in bug-check parameters and reports.
 * - Misuse handling, one rule for the whole HAL: with the verifier on (KernelConfig.verifier,
 *   standing for Driver Verifier's DMA verification, flag 0x80) a driver bug stops the host with
 *   DRIVER_VERIFIER_DMA_VIOLATION (0xE6) and the documented Parameter 1. With it off, the routine
 *   does what Windows would visibly do where that is defined (a double free of a common buffer
 *   reaches MmFreeContiguousMemory with a stale pointer: 0xC2/0x60), and otherwise returns its
 *   failure value (NULL, an NTSTATUS, or nothing for VOID routines) without touching any state and
 *   records a finding, so the bug is visible without crashing the host. Windows itself would
 *   dereference a NULL or freed adapter (undefined behaviour); we do not emulate that.
 * - Scatter/gather requests that wait for map registers (scatter-gather.ts) sit on a FIFO per
 *   adapter (`waitHead`/`waitTail`, linked through `SgRequest.next`) and the adapters that have
 *   waiters sit on one host-wide FIFO (`waitingHead`/`waitingTail`, linked through
 *   `AdapterState.nextWaiting`), as Windows queues adapters on the master adapter: every queue
 *   operation is O(1), nothing is scanned.
 * - Nothing here allocates per page or per byte; per-page DMA state is in typed arrays.
 */
import { DRIVER_VERIFIER_DMA_VIOLATION } from '../bugcheck.ts';
import type { Kernel } from '../kernel.ts';
import { PASSIVE_LEVEL } from '../irql.ts';
import type { DEVICE_DESCRIPTION } from './device-description.ts';
import { DEFAULT_MAP_REGISTER_COUNT, MapRegisterFile } from './map-registers.ts';
import type { PciDevice } from './pci.ts';
import type { DMA_ADAPTER, DMA_OPERATIONS, DRIVER_LIST_CONTROL, SCATTER_GATHER_LIST } from './types.ts';

/** 0xE6 Parameter 1 values used here (debugger: Bug Check 0xE6 DRIVER_VERIFIER_DMA_VIOLATION). */
export const DMA_VIOLATION_COMMON_BUFFER_DOUBLE_FREE = 0x03;
export const DMA_VIOLATION_SG_LIST_DOUBLE_FREE = 0x06;
export const DMA_VIOLATION_PUT_ADAPTER_WITH_COMMON_BUFFERS = 0x07;
/** PutDmaAdapter with adapter channels outstanding; a queued GetScatterGatherList is one (P3 = count). */
export const DMA_VIOLATION_PUT_ADAPTER_WITH_CHANNELS = 0x08;
export const DMA_VIOLATION_PUT_ADAPTER_WITH_SG_LISTS = 0x0a;
export const DMA_VIOLATION_BUFFER_NOT_LOCKED = 0x0e;
export const DMA_VIOLATION_IRQL = 0x13;
export const DMA_VIOLATION_FREED_ADAPTER = 0x18;
export const DMA_VIOLATION_NULL_ADAPTER = 0x19;
export const DMA_VIOLATION_VA_NOT_IN_MDL = 0x1b;
export const DMA_VIOLATION_INVALID_BUFFER = 0x1f;
export const DMA_VIOLATION_ZERO_LENGTH = 0x21;
export const DMA_VIOLATION_BAD_DESCRIPTION_VERSION = 0x25;

/** Per-adapter cap on NumberOfMapRegisters when the adapter may need bounce buffers. */
export const DEFAULT_MAX_MAP_REGISTERS_PER_ADAPTER = 256;

export interface HalFinding {
  kind: string;
  routine: string;
  adapterId: number;
  driver: string | null;
  detail: string;
}

export interface CommonBufferRecord {
  readonly id: number;
  readonly adapter: AdapterState;
  readonly routine: 'AllocateCommonBuffer' | 'AllocateCommonBufferEx' | 'AllocateCommonBufferWithBounds';
  readonly virtualAddress: number;
  readonly logicalAddress: number;
  readonly length: number;
  readonly pages: number;
  /** Physical frames, in device (logical) order. */
  readonly pfns: Int32Array;
  /** First frame when the pages are one physical run (no IOMMU), else -1. */
  readonly runFirstPfn: number;
  /** Base of the IOMMU mapping, or -1 without an IOMMU. */
  readonly iovaBase: number;
  readonly cacheEnabled: boolean;
  readonly cacheType: number;
}

export interface SgRecord {
  readonly id: number;
  readonly adapter: AdapterState;
  readonly list: SCATTER_GATHER_LIST;
  readonly writeToDevice: boolean;
  /** Map registers held (bounce pages), empty when none. */
  readonly registers: Int32Array;
  /** Bounced runs as (target physical, bounce physical, length) triples. */
  readonly bounced: Float64Array;
  /** IOMMU mapping bases to remove at put. */
  readonly iovaBases: number[];
  /** Map registers the transfer counts against the adapter (pages spanned). */
  readonly mapRegisterCount: number;
  /** System VA of the driver's buffer for BuildScatterGatherList, or 0 for GetScatterGatherList. */
  readonly builtIn: number;
  put: boolean;
}

/** One MDL's share of a transfer; the PFNs are read from the MDL when the transfer is mapped. */
export interface SgSegment {
  readonly mdl: object;
  /** Index in the MDL's PFN array of the transfer's first page in this MDL. */
  readonly firstPage: number;
  /** Offset of the first byte within that page. */
  readonly offset: number;
  readonly bytes: number;
}

/**
 * A GetScatterGatherList / BuildScatterGatherList request, validated and holding its list record
 * (its id), waiting on its adapter's queue for map registers. It holds no map register, bounce
 * page or IOMMU mapping until it is served.
 */
export interface SgRequest {
  readonly id: number;
  readonly adapter: AdapterState;
  readonly routine: 'GetScatterGatherList' | 'BuildScatterGatherList';
  readonly segments: readonly SgSegment[];
  /** Pages spanned (counted against NumberOfMapRegisters). */
  readonly mapRegisterCount: number;
  readonly writeToDevice: boolean;
  /** System VA of the driver's buffer for BuildScatterGatherList, or 0. */
  readonly builtIn: number;
  readonly executionRoutine: DRIVER_LIST_CONTROL;
  readonly deviceObject: unknown;
  /** DeviceObject->CurrentIrp when the request was made (the HAL's wait block captures it then). */
  readonly irp: unknown;
  readonly context: unknown;
  readonly driver: string | null;
  /** Hal.mapRegisterReleases when the request was queued. */
  readonly queuedAt: number;
  next: SgRequest | null;
  /** A stall (nothing left to release) was already reported for this request. */
  stallNoted: boolean;
}

export interface AdapterState {
  readonly id: number;
  readonly adapter: DMA_ADAPTER;
  readonly pci: PciDevice;
  readonly driver: string | null;
  readonly operationsVersion: 1 | 2 | 3;
  /** min(description's address bits, the PCI function's). */
  readonly addressBits: number;
  /** One past the highest bus address the adapter reaches. */
  readonly reach: number;
  readonly numberOfMapRegisters: number;
  readonly description: Readonly<DEVICE_DESCRIPTION>;
  readonly commonBuffers: Set<CommonBufferRecord>;
  readonly sgLists: Set<SgRecord>;
  commonBufferBytes: number;
  mapRegistersInUse: number;
  commonOwner: number;
  bounceOwner: number;
  put: boolean;
  /** This adapter's scatter/gather requests waiting for map registers, oldest first. */
  waitHead: SgRequest | null;
  waitTail: SgRequest | null;
  waitCount: number;
  /** Next adapter on the host's queue of adapters with waiters; `waiting` = on that queue. */
  nextWaiting: AdapterState | null;
  waiting: boolean;
}

export interface AdapterCounters {
  id: number;
  device: string;
  driver: string | null;
  addressBits: number;
  numberOfMapRegisters: number;
  put: boolean;
  commonBuffers: number;
  commonBufferBytes: number;
  sgLists: number;
  mapRegistersInUse: number;
  /** Scatter/gather requests of this adapter waiting for map registers. */
  sgRequestsQueued: number;
}

export interface HalCounters {
  adapters: number;
  commonBuffers: number;
  commonBufferBytes: number;
  sgLists: number;
  mapRegistersInUse: number;
  mapRegisterCapacity: number;
  bouncePages: number;
  /** Adapters put while still holding common buffers or lists (verifier off). */
  leakedAdapters: number;
  /** Scatter/gather requests waiting for map registers now. */
  sgRequestsQueued: number;
  /** Scatter/gather requests ever queued on this host. */
  sgRequestsQueuedTotal: number;
  /** Longest wait of a queued request (served, dropped or still waiting), in map-register releases. */
  sgLongestWaitReleases: number;
  /** Releases of map registers (PutScatterGatherList of a list that held some). */
  mapRegisterReleases: number;
  byAdapter: AdapterCounters[];
}

const FREED_HISTORY = 4096;

export class Hal {
  readonly pciDevices: PciDevice[] = [];
  /** Live and leaked adapters by id (put adapters with nothing outstanding are dropped). */
  readonly adapters = new Map<number, AdapterState>();
  /** DMA_ADAPTER object → its state; put adapters stay here so later use is recognised. */
  readonly byObject = new WeakMap<object, AdapterState>();
  /** Outstanding common buffers by virtual address (system VAs are never reused). */
  readonly commonBuffers = new Map<number, CommonBufferRecord>();
  /** The last FREED_HISTORY freed common buffers by VA, to tell a double free from a wild one. */
  readonly freedCommonBuffers = new Map<number, CommonBufferRecord>();
  /** Every list handed out on this host → its record (put lists stay, for double-put detection). */
  readonly sgByList = new WeakMap<object, SgRecord>();
  readonly findings: HalFinding[] = [];
  /** DMA_OPERATIONS tables by version; built once per host so they close over it. */
  operations: Partial<Record<1 | 2 | 3, DMA_OPERATIONS>> = {};
  maxMapRegistersPerAdapter = DEFAULT_MAX_MAP_REGISTERS_PER_ADAPTER;
  nextAdapterId = 1;
  nextCommonBufferId = 1;
  nextSgId = 1;
  /** List records reserved and not yet freed: mapped lists and queued requests. */
  liveSgLists = 0;
  /** The host's FIFO of adapters with scatter/gather requests waiting for map registers. */
  waitingHead: AdapterState | null = null;
  waitingTail: AdapterState | null = null;
  sgRequestsQueued = 0;
  sgRequestsQueuedTotal = 0;
  /** Longest wait among requests that left the queue (served or dropped). */
  sgLongestWaitServed = 0;
  mapRegisterReleases = 0;
  /** Set while the wait queue is being served, so a release inside an ExecutionRoutine does not recurse. */
  servingWaitQueue = false;
  private mapRegisterFile: MapRegisterFile | null = null;
  private mapRegisterCount = DEFAULT_MAP_REGISTER_COUNT;

  // The memory manager is not ready when the kernel constructs us: everything here is lazy.
  constructor(readonly k: Kernel) {}

  /**
   * Host HAL options; only before the first adapter exists (a real HAL sizes its map buffers at
   * boot). Throws a RangeError quoting a bad value.
   */
  configure(options: { mapRegisterCount?: number; maxMapRegistersPerAdapter?: number }): void {
    if (this.nextAdapterId !== 1) throw new RangeError('Hal.configure: adapters already exist on this host');
    if (options.mapRegisterCount !== undefined) {
      if (!Number.isInteger(options.mapRegisterCount) || options.mapRegisterCount < 1 || options.mapRegisterCount > 1 << 24) {
        throw new RangeError(`Hal.configure: mapRegisterCount must be 1..${1 << 24}, got ${options.mapRegisterCount}`);
      }
      this.mapRegisterCount = options.mapRegisterCount;
      this.mapRegisterFile = null;
    }
    if (options.maxMapRegistersPerAdapter !== undefined) {
      const n = options.maxMapRegistersPerAdapter;
      if (!Number.isInteger(n) || n < 1 || n > 0x10_0001) {
        throw new RangeError(`Hal.configure: maxMapRegistersPerAdapter must be 1..${0x10_0001}, got ${n}`);
      }
      this.maxMapRegistersPerAdapter = n;
    }
  }

  get mapRegisters(): MapRegisterFile {
    if (!this.mapRegisterFile) this.mapRegisterFile = new MapRegisterFile(this.k, this.mapRegisterCount);
    return this.mapRegisterFile;
  }

  get verifier(): boolean {
    return Boolean(this.k.config.verifier);
  }

  /** DRIVER_VERIFIER_DMA_VIOLATION with Parameter 1 = `code`. */
  violation(code: number, p2: number, p3: number, p4: number, detail: string): never {
    return this.k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_DMA_VIOLATION, code, p2, p3, p4, detail);
  }

  /** A driver bug: 0xE6 with the verifier on, else a recorded finding (the caller then fails cleanly). */
  misuse(code: number, p2: number, p3: number, p4: number, routine: string, adapterId: number, kind: string, detail: string): void {
    if (this.verifier) this.violation(code, p2, p3, p4, `${routine}: ${detail}`);
    this.note(kind, routine, adapterId, detail);
  }

  note(kind: string, routine: string, adapterId: number, detail: string): void {
    this.findings.push({ kind, routine, adapterId, driver: this.k.currentDriver ?? null, detail });
  }

  /**
   * The adapter behind a DMA_ADAPTER argument, or null after handling misuse: NULL (0x19), an
   * object no IoGetDmaAdapter on this host returned (treated as an invalid pointer: 0x19), or an
   * adapter already put (0x18).
   */
  resolveAdapter(adapter: unknown, routine: string): AdapterState | null {
    const state = adapter !== null && typeof adapter === 'object' ? this.byObject.get(adapter) : undefined;
    if (!state) {
      const what = adapter === null || adapter === undefined ? 'NULL DMA adapter' : 'not a DMA adapter of this host';
      this.misuse(DMA_VIOLATION_NULL_ADAPTER, 0, 0, 0, routine, 0, 'invalid-adapter', what);
      return null;
    }
    if (state.put) {
      this.misuse(DMA_VIOLATION_FREED_ADAPTER, state.id, 0, 0, routine, state.id, 'adapter-already-put',
        `adapter ${state.id} was already released by PutDmaAdapter`);
      return null;
    }
    return state;
  }

  /** The verifier's 0xE6/0x13 stop when `routine`, which runs at IRQL <= `maxIrql`, is called above it. */
  checkIrql(routine: string, maxIrql: number, adapterId: number): void {
    const irql = this.k.irql;
    if (irql > maxIrql && this.verifier) {
      const allowed = maxIrql === PASSIVE_LEVEL ? 'at PASSIVE_LEVEL' : '<= DISPATCH_LEVEL';
      this.violation(DMA_VIOLATION_IRQL, irql, maxIrql, adapterId, `${routine} at IRQL ${irql}; it runs ${allowed}`);
    }
  }

  /** The entry of a DMA_OPERATIONS routine: the adapter (see resolveAdapter), IRQL checked. */
  enterAdapter(adapter: unknown, routine: string, maxIrql: number): AdapterState | null {
    this.k.bugcheck.assertRunning();
    const state = this.resolveAdapter(adapter, routine);
    if (state) this.checkIrql(routine, maxIrql, state.id);
    return state;
  }

  rememberFreed(record: CommonBufferRecord): void {
    this.freedCommonBuffers.set(record.virtualAddress, record);
    if (this.freedCommonBuffers.size > FREED_HISTORY) {
      const oldest = this.freedCommonBuffers.keys().next().value as number;
      this.freedCommonBuffers.delete(oldest);
    }
  }

  counters(): HalCounters {
    let commonBuffers = 0;
    let commonBufferBytes = 0;
    let sgLists = 0;
    let leakedAdapters = 0;
    let adapters = 0;
    const byAdapter: AdapterCounters[] = [];
    for (const a of this.adapters.values()) {
      if (a.put) leakedAdapters++;
      else adapters++;
      commonBuffers += a.commonBuffers.size;
      commonBufferBytes += a.commonBufferBytes;
      sgLists += a.sgLists.size;
      byAdapter.push({
        id: a.id,
        device: a.pci.name,
        driver: a.driver,
        addressBits: a.addressBits,
        numberOfMapRegisters: a.numberOfMapRegisters,
        put: a.put,
        commonBuffers: a.commonBuffers.size,
        commonBufferBytes: a.commonBufferBytes,
        sgLists: a.sgLists.size,
        mapRegistersInUse: a.mapRegistersInUse,
        sgRequestsQueued: a.waitCount,
      });
    }
    // The head of each adapter's queue is its oldest waiter, so the heads bound the open waits.
    let longest = this.sgLongestWaitServed;
    for (let a = this.waitingHead; a !== null; a = a.nextWaiting) {
      longest = Math.max(longest, this.mapRegisterReleases - a.waitHead!.queuedAt);
    }
    const file = this.mapRegisterFile;
    return {
      adapters,
      commonBuffers,
      commonBufferBytes,
      sgLists,
      mapRegistersInUse: file ? file.inUse : 0,
      mapRegisterCapacity: this.mapRegisterCount,
      bouncePages: file ? file.inUse : 0,
      leakedAdapters,
      sgRequestsQueued: this.sgRequestsQueued,
      sgRequestsQueuedTotal: this.sgRequestsQueuedTotal,
      sgLongestWaitReleases: longest,
      mapRegisterReleases: this.mapRegisterReleases,
      byAdapter,
    };
  }
}
