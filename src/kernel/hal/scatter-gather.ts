/**
 * Scatter/gather lists for locked buffers (nc-wdm-pget_scatter_gather_list,
 * -pput_scatter_gather_list, -pcalculate_scatter_gather_list_size, -pbuild_scatter_gather_list).
 *
 * Why one file of this size: the four routines share one walk of the MDL chain and one map-
 * register/bounce decision; split, each half would need the other's internals.
 *
 * Implementation notes
 * - The transfer is [CurrentVa, +Length) of the MDL chain: CurrentVa inside the first MDL, the
 *   rest continuing through MDL.Next. Every MDL must be locked (MmProbeAndLockPages) or built
 *   for nonpaged memory; its PFN array gives the physical pages.
 * - Each element carries one logical address the device must use; elements that are contiguous
 *   on the bus are merged, so a physically contiguous buffer is one element.
 * - Without an IOMMU a page the adapter can reach is given by its physical address. A page out
 *   of reach (a 32-bit adapter, a page at or above 4 GiB) takes a map register backed by a bounce
 *   page below the reach, at the same offset within the page. For WriteToDevice the HAL copies
 *   the bytes to the bounce page before the ExecutionRoutine runs (the device reads them then);
 *   for a transfer from the device it copies them back at PutScatterGatherList, which the driver
 *   calls before the CPU reads the buffer. Only the transfer's bytes are copied.
 * - With the IOMMU on, each MDL's pages are mapped into the device's domain (read-only for
 *   WriteToDevice, write-only otherwise) and removed at PutScatterGatherList; no bouncing.
 * - The map registers a transfer needs = pages it spans, and must not exceed the adapter's
 *   NumberOfMapRegisters (STATUS_INSUFFICIENT_RESOURCES, as documented: it can never be satisfied).
 * - Waiting for map registers (nc-wdm-pget_scatter_gather_list: the list is built "as soon as"
 *   the channel and map registers are available; nc-wdm-pallocate_adapter_channel queues the
 *   request when they are busy). Every check, the verifier codes and fault injection for the
 *   list come first and the list record (its id) is reserved; only then, when the host's map
 *   registers or bounce pages are momentarily all in use, the request is queued and the routine
 *   returns STATUS_SUCCESS without calling the ExecutionRoutine. A queued request holds no map
 *   register, bounce page or IOMMU mapping. Each release of map registers (PutScatterGatherList
 *   of a list that held some) serves the queue: adapters with waiters form one FIFO, each
 *   adapter's requests another; the head request is mapped if it fits (bounce bytes copied for
 *   WriteToDevice), then its ExecutionRoutine runs at DISPATCH_LEVEL with the DeviceObject, Irp
 *   (DeviceObject->CurrentIrp when it was queued) and Context it was given, and its adapter goes
 *   to the back of the FIFO. A head that does not fit stops the serving: no request overtakes an
 *   earlier one of its adapter, nor one of another adapter (no starvation of large requests).
 *   While an adapter has waiters all its requests queue, even those that need no map register.
 * - A shortage with no map register held anywhere has nothing to wait for (bounce pages come
 *   from the memory manager and only a release serves the queue): that is
 *   STATUS_INSUFFICIENT_RESOURCES, as a failed pool allocation. An injected failure of the
 *   bounce pages fails the call when it is made; at serving time (the driver was already told
 *   STATUS_SUCCESS) it leaves the request at the head until the next release.
 * - PutDmaAdapter with queued requests: 0xE6/0x08 with the verifier on (an outstanding adapter
 *   channel: GetScatterGatherList allocates one), else a finding and the requests are dropped,
 *   their records freed, their ExecutionRoutines never called (dma-adapter.ts).
 * - CancelAdapterChannel exists only for the DMA v3 transfer-context family
 *   (AllocateAdapterChannelEx, GetScatterGatherListEx, BuildScatterGatherListEx), which this
 *   model does not provide, so a queued request cannot be cancelled; it is not added here.
 * - A queued request's MDLs must stay locked until it is served; one unlocked or freed
 *   meanwhile is 0xE6/0x0E (verifier on) or a finding and the request is dropped.
 * - A request that is not queued has its ExecutionRoutine called before the routine returns.
 * - Misuse (verifier on → 0xE6): unlocked MDL 0x0E, CurrentVa outside the MDL 0x1B, zero Length
 *   0x21, a list put twice 0x06, an unknown list 0x1F. Verifier off: STATUS_INVALID_PARAMETER
 *   (or nothing, for PutScatterGatherList) and a finding; a GetScatterGatherList list put twice
 *   is a double free of its pool block → BAD_POOL_CALLER 0xC2/0x07, as Windows would stop.
 * - Fault injection: one `shouldFail` per call, site = the routine's name; bounce pages use
 *   "<routine>:bounce".
 */
import { PAGE_SIZE, addressOfPfn, hexAddress, pageOffset, pfnOf, spanPages } from '../../bus/index.ts';
import { BAD_POOL_CALLER } from '../bugcheck.ts';
import type { Kernel } from '../kernel.ts';
import { isUlong } from '../ulong.ts';
import { DISPATCH_LEVEL } from '../irql.ts';
import { MDL_PAGES_LOCKED, MDL_SOURCE_IS_NONPAGED_POOL, Mdl as MDL, MmGetMdlPfnArray } from '../mm/mdl.ts';
import type { Ref } from '../ref.ts';
import {
  STATUS_BUFFER_TOO_SMALL,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_PARAMETER,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../status.ts';
import {
  DMA_VIOLATION_BUFFER_NOT_LOCKED,
  DMA_VIOLATION_INVALID_BUFFER,
  DMA_VIOLATION_SG_LIST_DOUBLE_FREE,
  DMA_VIOLATION_VA_NOT_IN_MDL,
  DMA_VIOLATION_ZERO_LENGTH,
  type AdapterState,
  type Hal,
  type SgRecord,
  type SgRequest,
  type SgSegment,
} from './hal.ts';
import { mapLogical, rightsFor, unmapLogical } from './iommu-mapping.ts';
import {
  SCATTER_GATHER_ELEMENT_SIZE,
  SCATTER_GATHER_LIST_HEADER_SIZE,
  type DRIVER_LIST_CONTROL,
  type MdlView,
  type SCATTER_GATHER_ELEMENT,
  type SCATTER_GATHER_LIST,
  type ScatterGatherListArgs,
} from './types.ts';

interface Plan {
  segments: SgSegment[];
  /** Pages spanned: counted against NumberOfMapRegisters. */
  mapRegisters: number;
  /** Pages out of the adapter's reach (no IOMMU): each needs a map register and a bounce page now. */
  bouncePages: number;
}

/** A live MDL of the memory manager (IoFreeMdl'd ones are not). */
const isMdl = (m: unknown): m is MDL => m instanceof MDL && !m.freed;
const isLockedMdl = (m: unknown): boolean => isMdl(m) && (m.MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL)) !== 0;

/** Bytes of a list with room for `pages` elements (the worst case: one element per page). */
export const scatterGatherListSize = (pages: number): number =>
  SCATTER_GATHER_LIST_HEADER_SIZE + pages * SCATTER_GATHER_ELEMENT_SIZE;

/** First frame number the adapter cannot reach without a map register (none with an IOMMU). */
const reachPfnOf = (state: AdapterState): number =>
  state.pci.iommuDomain ? Number.POSITIVE_INFINITY : pfnOf(state.reach);

/**
 * Split [CurrentVa, +Length) over the MDL chain, checking every MDL on the way. Returns a
 * status (after handling misuse) when the request cannot be mapped. Changes nothing.
 */
function planTransfer(k: Kernel, state: AdapterState, routine: string, Mdl: unknown, CurrentVa: unknown, Length: unknown, requireLocked: boolean): Plan | NTSTATUS {
  const hal = k.hal;
  if (Length === 0) {
    hal.misuse(DMA_VIOLATION_ZERO_LENGTH, state.id, 0, 0, routine, state.id, 'zero-length', 'Length is 0');
    return STATUS_INVALID_PARAMETER;
  }
  if (!isUlong(Length) || typeof CurrentVa !== 'number' || !Number.isSafeInteger(CurrentVa)) {
    hal.note('invalid-parameter', routine, state.id, `CurrentVa ${String(CurrentVa)} / Length ${String(Length)} malformed`);
    return STATUS_INVALID_PARAMETER;
  }
  if (!isMdl(Mdl)) {
    hal.note('invalid-parameter', routine, state.id, 'Mdl is not an MDL');
    return STATUS_INVALID_PARAMETER;
  }
  const first = Mdl;
  const firstVa = first.StartVa + first.ByteOffset;
  if (CurrentVa < firstVa || CurrentVa >= firstVa + first.ByteCount) {
    hal.misuse(DMA_VIOLATION_VA_NOT_IN_MDL, state.id, CurrentVa, firstVa, routine, state.id, 'va-not-in-mdl',
      `CurrentVa ${hexAddress(CurrentVa)} is outside the MDL [${hexAddress(firstVa)}, +${first.ByteCount})`);
    return STATUS_INVALID_PARAMETER;
  }
  const reachPfn = reachPfnOf(state);
  const segments: SgSegment[] = [];
  let mapRegisters = 0;
  let bouncePages = 0;
  let remaining = Length;
  let m: MDL | null = first;
  let va = CurrentVa;
  const seen = new Set<object>();
  while (remaining > 0) {
    if (m === null) return STATUS_BUFFER_TOO_SMALL; // Length runs past the end of the chain
    if (!isMdl(m) || seen.has(m)) {
      hal.note('invalid-parameter', routine, state.id, 'MDL chain is malformed or circular');
      return STATUS_INVALID_PARAMETER;
    }
    seen.add(m);
    if (requireLocked && !isLockedMdl(m)) {
      hal.misuse(DMA_VIOLATION_BUFFER_NOT_LOCKED, state.id, m.StartVa, m.ByteCount, routine, state.id, 'mdl-not-locked',
        `MDL for ${hexAddress(m.StartVa + m.ByteOffset)} is neither locked nor built for nonpaged memory`);
      return STATUS_INVALID_PARAMETER;
    }
    const mdlVa = m.StartVa + m.ByteOffset;
    const n = Math.min(mdlVa + m.ByteCount - va, remaining);
    if (n > 0) {
      const firstPage = Math.floor((va - m.StartVa) / PAGE_SIZE);
      const span = spanPages(va, n);
      if (requireLocked) {
        const pfns = MmGetMdlPfnArray(m);
        if (firstPage + span > pfns.length) {
          hal.note('invalid-parameter', routine, state.id, 'MDL PFN array is shorter than its ByteCount');
          return STATUS_INVALID_PARAMETER;
        }
        for (let i = firstPage; i < firstPage + span; i++) if (pfns[i]! >= reachPfn) bouncePages++;
      }
      segments.push({ mdl: m, firstPage, offset: pageOffset(va), bytes: n });
      mapRegisters += span;
      remaining -= n;
    }
    m = (m.Next as MDL | null) ?? null;
    if (m !== null && isMdl(m)) va = m.StartVa + m.ByteOffset;
  }
  return { segments, mapRegisters, bouncePages };
}

/** Why a transfer could not be mapped now: a momentary shortage of map registers / bounce pages, or a failure. */
type MapFailure = 'shortage' | 'failed';

/**
 * Map a request's transfer for the device: elements, map registers, IOMMU mappings and the
 * WriteToDevice copy to bounce pages; the record is registered under the request's id. Returns
 * the record, or why not with nothing held. The MDLs must be locked (checked by the caller).
 */
function mapTransfer(k: Kernel, request: SgRequest): SgRecord | MapFailure {
  const hal = k.hal;
  const state = request.adapter;
  const { segments, writeToDevice } = request;
  const addresses: number[] = [];
  const lengths: number[] = [];
  const push = (address: number, length: number) => {
    const last = addresses.length - 1;
    if (last >= 0 && addresses[last]! + lengths[last]! === address) lengths[last]! += length;
    else {
      addresses.push(address);
      lengths.push(length);
    }
  };
  const domain = state.pci.iommuDomain;
  const iovaBases: number[] = [];
  let registers: Int32Array = new Int32Array(0);
  let bounced: Float64Array = new Float64Array(0);
  if (domain) {
    const rights = rightsFor(writeToDevice);
    for (const s of segments) {
      const span = spanPages(s.offset, s.bytes);
      const pfns = MmGetMdlPfnArray(s.mdl as MDL);
      const base = mapLogical(domain, pfns.subarray(s.firstPage, s.firstPage + span), rights, state.reach);
      if (base === null) {
        for (const b of iovaBases) unmapLogical(domain, b);
        return 'failed';
      }
      iovaBases.push(base);
      push(base + s.offset, s.bytes);
    }
  } else {
    // Pass 1: the out-of-reach pages, in transfer order.
    const reachPfn = reachPfnOf(state);
    const targets: number[] = [];
    for (const s of segments) {
      const pfns = MmGetMdlPfnArray(s.mdl as MDL);
      const span = spanPages(s.offset, s.bytes);
      for (let i = 0; i < span; i++) {
        const p = pfns[s.firstPage + i]!;
        if (p >= reachPfn) targets.push(p);
      }
    }
    if (targets.length > 0) {
      const regs = hal.mapRegisters.allocate(targets, reachPfn - 1, request.id, state.bounceOwner, `${request.routine}:bounce`);
      if (!regs) return hal.mapRegisters.lastFailure === 'injected' ? 'failed' : 'shortage';
      registers = regs;
      bounced = new Float64Array(targets.length * 3);
    }
    // Pass 2: elements, recording each bounced run (merged while both sides stay contiguous,
    // so a contiguous buffer bounced through a contiguous run is copied in one go).
    let r = 0;
    let triples = 0;
    for (const s of segments) {
      const pfns = MmGetMdlPfnArray(s.mdl as MDL);
      let left = s.bytes;
      let offset = s.offset;
      for (let page = s.firstPage; left > 0; page++) {
        const n = Math.min(PAGE_SIZE - offset, left);
        const p = pfns[page]!;
        const physical = addressOfPfn(p) + offset;
        if (p >= reachPfn) {
          const bounce = addressOfPfn(hal.mapRegisters.bounceOf(registers[r]!)) + offset;
          const t = (triples - 1) * 3;
          if (triples > 0 && bounced[t]! + bounced[t + 2]! === physical && bounced[t + 1]! + bounced[t + 2]! === bounce) {
            bounced[t + 2]! += n;
          } else {
            bounced[triples * 3] = physical;
            bounced[triples * 3 + 1] = bounce;
            bounced[triples * 3 + 2] = n;
            triples++;
          }
          r++;
          push(bounce, n);
        } else push(physical, n);
        left -= n;
        offset = 0;
      }
    }
    bounced = bounced.subarray(0, triples * 3);
    if (writeToDevice) {
      for (let i = 0; i < bounced.length; i += 3) k.memory.copy(bounced[i + 1]!, bounced[i]!, bounced[i + 2]!);
    }
  }
  const Elements: SCATTER_GATHER_ELEMENT[] = new Array(addresses.length);
  for (let i = 0; i < addresses.length; i++) Elements[i] = Object.freeze({ Address: addresses[i]!, Length: lengths[i]!, Reserved: 0 });
  const list: SCATTER_GATHER_LIST = Object.freeze({ NumberOfElements: Elements.length, Reserved: 0, Elements: Object.freeze(Elements) });
  const record: SgRecord = {
    id: request.id,
    adapter: state,
    list,
    writeToDevice,
    registers,
    bounced,
    iovaBases,
    mapRegisterCount: request.mapRegisterCount,
    builtIn: request.builtIn,
    put: false,
  };
  hal.sgByList.set(list, record);
  state.sgLists.add(record);
  state.mapRegistersInUse += registers.length;
  return record;
}

/** Common entry checks for Get/Build; returns the adapter or a status. */
function enterMap(k: Kernel, DmaAdapter: unknown, routine: string, ExecutionRoutine: unknown, WriteToDevice: unknown): AdapterState | NTSTATUS {
  const hal = k.hal;
  const state = hal.enterAdapter(DmaAdapter, routine, DISPATCH_LEVEL);
  if (!state) return STATUS_INVALID_PARAMETER;
  if (typeof ExecutionRoutine !== 'function' || typeof WriteToDevice !== 'boolean') {
    hal.note('invalid-parameter', routine, state.id, 'ExecutionRoutine must be a function and WriteToDevice a BOOLEAN');
    return STATUS_INVALID_PARAMETER;
  }
  return state;
}

/**
 * Hand a mapped list to the driver: BuildScatterGatherList's image goes into the driver's
 * buffer, then the AdapterListControl routine runs at DISPATCH_LEVEL, in the requesting
 * driver's name (a served request may run inside another driver's PutScatterGatherList).
 */
function completeRequest(k: Kernel, request: SgRequest, record: SgRecord): void {
  if (request.builtIn !== 0) k.mm.system.write(request.builtIn, encodeScatterGatherList(record.list));
  const oldIrql = k.irql;
  const oldDriver = k.currentDriver;
  if (oldIrql < DISPATCH_LEVEL) k.irql = DISPATCH_LEVEL;
  k.currentDriver = request.driver;
  try {
    request.executionRoutine(request.deviceObject, request.irp, record.list, request.context);
  } finally {
    k.irql = oldIrql;
    k.currentDriver = oldDriver;
  }
}

/**
 * The validated request, with its list record reserved: map it and call the ExecutionRoutine
 * now, or queue it when map registers / bounce pages are momentarily short. Returns the status
 * GetScatterGatherList / BuildScatterGatherList return; after a failure nothing changed.
 */
function startRequest(k: Kernel, state: AdapterState, routine: SgRequest['routine'], plan: Plan, ExecutionRoutine: DRIVER_LIST_CONTROL,
                      DeviceObject: unknown, Context: unknown, WriteToDevice: boolean, builtIn: number): NTSTATUS {
  const hal = k.hal;
  const irp = DeviceObject !== null && typeof DeviceObject === 'object' ? (DeviceObject as { CurrentIrp?: unknown }).CurrentIrp ?? null : null;
  const request: SgRequest = {
    id: hal.nextSgId,
    adapter: state,
    routine,
    segments: plan.segments,
    mapRegisterCount: plan.mapRegisters,
    writeToDevice: WriteToDevice,
    builtIn,
    executionRoutine: ExecutionRoutine,
    deviceObject: DeviceObject,
    irp,
    context: Context,
    driver: k.currentDriver ?? null,
    queuedAt: hal.mapRegisterReleases,
    next: null,
    stallNoted: false,
  };
  // Behind earlier waiters: those of this adapter always, those of any adapter when this one
  // needs map registers too (they all wait for the same registers).
  if (state.waitHead !== null || (plan.bouncePages > 0 && hal.waitingHead !== null)) {
    enqueueRequest(hal, request);
    return STATUS_SUCCESS;
  }
  const mapped = mapTransfer(k, request);
  if (mapped === 'failed') return STATUS_INSUFFICIENT_RESOURCES;
  if (mapped === 'shortage') {
    // Only a release serves the queue; with no map register held there is none to come.
    if (hal.mapRegisters.inUse === 0) return STATUS_INSUFFICIENT_RESOURCES;
    enqueueRequest(hal, request);
    return STATUS_SUCCESS;
  }
  hal.nextSgId++;
  hal.liveSgLists++;
  completeRequest(k, request, mapped);
  return STATUS_SUCCESS;
}

function enqueueRequest(hal: Hal, request: SgRequest): void {
  const a = request.adapter;
  if (a.waitTail) a.waitTail.next = request;
  else a.waitHead = request;
  a.waitTail = request;
  a.waitCount++;
  if (!a.waiting) linkWaitingAdapter(hal, a);
  hal.nextSgId++;
  hal.liveSgLists++;
  hal.sgRequestsQueued++;
  hal.sgRequestsQueuedTotal++;
}

function linkWaitingAdapter(hal: Hal, a: AdapterState): void {
  a.waiting = true;
  a.nextWaiting = null;
  if (hal.waitingTail) hal.waitingTail.nextWaiting = a;
  else hal.waitingHead = a;
  hal.waitingTail = a;
}

/** Take the host's first waiting adapter off the FIFO. */
function unlinkFirstWaitingAdapter(hal: Hal): AdapterState {
  const a = hal.waitingHead!;
  hal.waitingHead = a.nextWaiting;
  if (hal.waitingHead === null) hal.waitingTail = null;
  a.nextWaiting = null;
  a.waiting = false;
  return a;
}

/** Remove the first waiting adapter's oldest request; the adapter goes to the back if it has more. */
function dequeueHead(hal: Hal): SgRequest {
  const a = unlinkFirstWaitingAdapter(hal);
  const request = a.waitHead!;
  a.waitHead = request.next;
  if (a.waitHead === null) a.waitTail = null;
  request.next = null;
  a.waitCount--;
  hal.sgRequestsQueued--;
  hal.sgLongestWaitServed = Math.max(hal.sgLongestWaitServed, hal.mapRegisterReleases - request.queuedAt);
  if (a.waitHead !== null) linkWaitingAdapter(hal, a);
  return request;
}

/**
 * Serve the host's wait queue after map registers were released: map and complete head
 * requests in FIFO order while they fit. A release inside an ExecutionRoutine does not recurse:
 * the loop in progress sees the registers it freed.
 */
export function serveWaitQueue(k: Kernel): void {
  const hal = k.hal;
  if (hal.servingWaitQueue) return;
  hal.servingWaitQueue = true;
  try {
    for (let a = hal.waitingHead; a !== null; a = hal.waitingHead) {
      const request = a.waitHead!;
      const unlocked = request.segments.find((s) => !isLockedMdl(s.mdl));
      if (unlocked) {
        // Never map pages the driver gave back: the request is dropped (0xE6/0x0E with the verifier).
        hal.misuse(DMA_VIOLATION_BUFFER_NOT_LOCKED, a.id, request.id, 0, request.routine, a.id, 'mdl-unlocked-while-queued',
          `request ${request.id}: an MDL was unlocked or freed while the request waited for map registers; it is dropped and ` +
          'its ExecutionRoutine is never called');
        dequeueHead(hal);
        hal.liveSgLists--;
        continue;
      }
      const mapped = mapTransfer(k, request);
      if (typeof mapped === 'string') {
        if (hal.mapRegisters.inUse === 0 && !request.stallNoted) {
          request.stallNoted = true;
          hal.note('sg-queue-stalled', request.routine, a.id,
            `request ${request.id} needs bounce pages the memory manager cannot give now and no map register is held: ` +
            'it waits until the next release');
        }
        return;
      }
      dequeueHead(hal);
      completeRequest(k, request, mapped);
    }
  } finally {
    hal.servingWaitQueue = false;
  }
}

/**
 * Drop an adapter's queued requests (PutDmaAdapter with requests outstanding, verifier off):
 * their records are freed and their ExecutionRoutines never run. Returns how many. Internal.
 */
export function dropQueuedRequests(k: Kernel, state: AdapterState): number {
  const hal = k.hal;
  const dropped = state.waitCount;
  if (dropped === 0) return 0;
  // Unlink the adapter from the host FIFO (a singly linked list: find its predecessor).
  let previous: AdapterState | null = null;
  for (let a = hal.waitingHead; a !== state; a = a!.nextWaiting) previous = a;
  if (previous) previous.nextWaiting = state.nextWaiting;
  else hal.waitingHead = state.nextWaiting;
  if (hal.waitingTail === state) hal.waitingTail = previous;
  state.nextWaiting = null;
  state.waiting = false;
  for (let r = state.waitHead; r !== null; r = r.next) {
    hal.sgLongestWaitServed = Math.max(hal.sgLongestWaitServed, hal.mapRegisterReleases - r.queuedAt);
  }
  state.waitHead = null;
  state.waitTail = null;
  state.waitCount = 0;
  hal.sgRequestsQueued -= dropped;
  hal.liveSgLists -= dropped;
  return dropped;
}

/**
 * DMA_OPERATIONS.GetScatterGatherList (<= DISPATCH_LEVEL): BuildScatterGatherList with a list
 * the HAL allocates (ReactOS's HalGetScatterGatherList calls HalBuildScatterGatherList so).
 */
export function getScatterGatherList(k: Kernel, ...args: ScatterGatherListArgs): NTSTATUS {
  return mapList(k, 'GetScatterGatherList', args, null);
}

/** DMA_OPERATIONS.BuildScatterGatherList (version 2+; <= DISPATCH_LEVEL). The list is written into the driver's buffer. */
export function buildScatterGatherList(
  k: Kernel, ...args: [...ScatterGatherListArgs, ScatterGatherBuffer: number, ScatterGatherLength: number]
): NTSTATUS {
  const [ScatterGatherBuffer, ScatterGatherLength] = [args[8], args[9]];
  return mapList(k, 'BuildScatterGatherList', args.slice(0, 8) as ScatterGatherListArgs, { ScatterGatherBuffer, ScatterGatherLength });
}

/** Get / Build: `into` is the driver's buffer for the list, or null for one from pool. */
function mapList(
  k: Kernel,
  routine: 'GetScatterGatherList' | 'BuildScatterGatherList',
  [DmaAdapter, DeviceObject, Mdl, CurrentVa, Length, ExecutionRoutine, Context, WriteToDevice]: ScatterGatherListArgs,
  into: { ScatterGatherBuffer: number; ScatterGatherLength: number } | null,
): NTSTATUS {
  const state = enterMap(k, DmaAdapter, routine, ExecutionRoutine, WriteToDevice);
  if (typeof state === 'number') return state;
  if (into !== null && (typeof into.ScatterGatherBuffer !== 'number' || !Number.isSafeInteger(into.ScatterGatherBuffer) ||
      into.ScatterGatherBuffer === 0 || !isUlong(into.ScatterGatherLength))) {
    k.hal.note('invalid-parameter', routine, state.id, 'ScatterGatherBuffer/ScatterGatherLength malformed');
    return STATUS_INVALID_PARAMETER;
  }
  const plan = planTransfer(k, state, routine, Mdl, CurrentVa, Length, true);
  if (typeof plan === 'number') return plan;
  if (plan.mapRegisters > state.numberOfMapRegisters) return STATUS_INSUFFICIENT_RESOURCES;
  const size = scatterGatherListSize(plan.mapRegisters);
  if (into !== null) {
    if (into.ScatterGatherLength < size) return STATUS_BUFFER_TOO_SMALL;
    // The buffer must be mapped system memory: touching it first (a read changes nothing)
    // bug-checks 0x50 here, before any map register is taken, if it is not.
    k.mm.system.read(into.ScatterGatherBuffer, new Uint8Array(size));
  }
  // The list's memory (Get: a pool block): taken (or failed) now, whether the request then waits or not.
  if (k.faults.shouldFail({ site: routine, bytes: size, driver: k.currentDriver ?? undefined })) return STATUS_INSUFFICIENT_RESOURCES;
  const builtIn = into === null ? 0 : into.ScatterGatherBuffer;
  return startRequest(k, state, routine, plan, ExecutionRoutine, DeviceObject, Context, WriteToDevice, builtIn);
}

/** The list's x64 memory image: NumberOfElements, Reserved, then {Address, Length, Reserved} × n. */
export function encodeScatterGatherList(list: SCATTER_GATHER_LIST): Uint8Array {
  const bytes = new Uint8Array(scatterGatherListSize(list.NumberOfElements));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, list.NumberOfElements, true);
  view.setBigUint64(8, BigInt(list.Reserved), true);
  for (let i = 0; i < list.NumberOfElements; i++) {
    const e = list.Elements[i]!;
    const at = SCATTER_GATHER_LIST_HEADER_SIZE + i * SCATTER_GATHER_ELEMENT_SIZE;
    view.setBigUint64(at, BigInt(e.Address), true);
    view.setUint32(at + 8, e.Length, true);
    view.setBigUint64(at + 16, BigInt(e.Reserved), true);
  }
  return bytes;
}

/** DMA_OPERATIONS.PutScatterGatherList (<= DISPATCH_LEVEL): copy back, release map registers and mappings. */
export function putScatterGatherList(k: Kernel, DmaAdapter: unknown, ScatterGather: SCATTER_GATHER_LIST, WriteToDevice: boolean): void {
  const hal = k.hal;
  const routine = 'PutScatterGatherList';
  const state = hal.enterAdapter(DmaAdapter, routine, DISPATCH_LEVEL);
  if (!state) return;
  const record = ScatterGather !== null && typeof ScatterGather === 'object' ? hal.sgByList.get(ScatterGather) : undefined;
  if (!record || record.adapter !== state) {
    hal.misuse(DMA_VIOLATION_INVALID_BUFFER, state.id, record?.id ?? 0, 0, routine, state.id, 'unknown-sg-list',
      record ? `list ${record.id} belongs to adapter ${record.adapter.id}` : 'not a scatter/gather list of this host');
    return;
  }
  if (typeof WriteToDevice !== 'boolean') {
    hal.note('invalid-parameter', routine, state.id, 'WriteToDevice is not a BOOLEAN');
    return;
  }
  if (record.put) {
    const detail = `scatter/gather list ${record.id} was already put`;
    if (hal.verifier) {
      // P2 lists allocated, P3 lists freed (counting this extra free), as the debugger shows them.
      const allocated = hal.nextSgId - 1;
      hal.violation(DMA_VIOLATION_SG_LIST_DOUBLE_FREE, allocated, allocated - hal.liveSgLists + 1, record.id, `${routine}: ${detail}`);
    }
    if (record.builtIn === 0) {
      // GetScatterGatherList's list lives in pool the HAL allocated: this frees that block twice.
      k.bugcheck.KeBugCheckEx(BAD_POOL_CALLER, 0x07, 0, 0, record.id, `${routine}: ${detail}`);
    }
    hal.note('sg-list-double-put', routine, state.id, detail);
    return;
  }
  if (WriteToDevice !== record.writeToDevice) {
    // Windows trusts the caller's direction, so a mismatch loses (or skips) the copy-back; so do we.
    hal.note('sg-direction-mismatch', routine, state.id,
      `list ${record.id} was mapped with WriteToDevice=${record.writeToDevice}, put with ${WriteToDevice}`);
  }
  if (!WriteToDevice) {
    const b = record.bounced;
    for (let i = 0; i < b.length; i += 3) k.memory.copy(b[i]!, b[i + 1]!, b[i + 2]!);
  }
  releaseSgList(k, record);
}

/**
 * Release a list's map registers and IOMMU mappings, then, when map registers were freed, serve
 * the requests waiting for them (their ExecutionRoutines run inside this call, as they do inside
 * the releasing PutScatterGatherList on Windows). Internal; the record must be live.
 */
export function releaseSgList(k: Kernel, record: SgRecord): void {
  const hal = k.hal;
  const state = record.adapter;
  const freed = record.registers.length;
  if (freed > 0) hal.mapRegisters.release(record.registers);
  const domain = state.pci.iommuDomain;
  for (const base of record.iovaBases) unmapLogical(domain!, base);
  state.mapRegistersInUse -= freed;
  state.sgLists.delete(record);
  record.put = true;
  hal.liveSgLists--;
  if (freed > 0) {
    hal.mapRegisterReleases++;
    if (hal.waitingHead !== null) serveWaitQueue(k);
  }
}

/** DMA_OPERATIONS.CalculateScatterGatherList (version 2+; any IRQL). */
export function calculateScatterGatherList(
  k: Kernel,
  DmaAdapter: unknown,
  Mdl: MdlView | null,
  CurrentVa: number,
  Length: number,
  ScatterGatherListSize: Ref<number>,
  pNumberOfMapRegisters: Ref<number> | null,
): NTSTATUS {
  k.bugcheck.assertRunning();
  const routine = 'CalculateScatterGatherList';
  const state = k.hal.resolveAdapter(DmaAdapter, routine);
  if (!state) return STATUS_INVALID_PARAMETER;
  if (ScatterGatherListSize === null || typeof ScatterGatherListSize !== 'object' ||
      (pNumberOfMapRegisters !== null && typeof pNumberOfMapRegisters !== 'object')) {
    k.hal.note('invalid-parameter', routine, state.id, 'ScatterGatherListSize / pNumberOfMapRegisters is not an out parameter');
    return STATUS_INVALID_PARAMETER;
  }
  let pages: number;
  if (Mdl === null) {
    if (!isUlong(Length) || Length === 0 || typeof CurrentVa !== 'number' || !Number.isSafeInteger(CurrentVa)) {
      k.hal.note('invalid-parameter', routine, state.id, `CurrentVa/Length malformed (${String(CurrentVa)}, ${String(Length)})`);
      return STATUS_INVALID_PARAMETER;
    }
    pages = spanPages(CurrentVa, Length);
  } else {
    // Only the MDL chain's geometry matters here, so it need not be locked yet.
    const plan = planTransfer(k, state, routine, Mdl, CurrentVa, Length, false);
    if (typeof plan === 'number') return plan;
    pages = plan.mapRegisters;
  }
  if (pages > state.numberOfMapRegisters) return STATUS_INSUFFICIENT_RESOURCES;
  ScatterGatherListSize.value = scatterGatherListSize(pages);
  if (pNumberOfMapRegisters) pNumberOfMapRegisters.value = pages;
  return STATUS_SUCCESS;
}
