/**
 * Scatter/gather lists for locked buffers (nc-wdm-pget_scatter_gather_list,
 * -pput_scatter_gather_list, -pcalculate_scatter_gather_list_size, -pbuild_scatter_gather_list).
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
 *   NumberOfMapRegisters (STATUS_INSUFFICIENT_RESOURCES, as documented). When the host's map
 *   registers or bounce pages run out the routine returns STATUS_INSUFFICIENT_RESOURCES instead
 *   of queueing the request until registers are freed (Windows queues; we do not model the
 *   wait) — nothing is left allocated.
 * - The ExecutionRoutine runs at DISPATCH_LEVEL, before GetScatterGatherList returns.
 * - Misuse (verifier on → 0xE6): unlocked MDL 0x0E, CurrentVa outside the MDL 0x1B, zero Length
 *   0x21, a list put twice 0x06, an unknown list 0x1F. Verifier off: STATUS_INVALID_PARAMETER
 *   (or nothing, for PutScatterGatherList) and a finding; a GetScatterGatherList list put twice
 *   is a double free of its pool block → BAD_POOL_CALLER 0xC2/0x07, as Windows would stop.
 * - Fault injection: one `shouldFail` per call, site = the routine's name; bounce pages use
 *   "<routine>:bounce".
 */
import { PAGE_SIZE, hexAddress, spanPages } from '../../bus/index.ts';
import { BAD_POOL_CALLER } from '../bugcheck.ts';
import type { Kernel } from '../kernel.ts';
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
  DMA_VIOLATION_IRQL,
  DMA_VIOLATION_SG_LIST_DOUBLE_FREE,
  DMA_VIOLATION_VA_NOT_IN_MDL,
  DMA_VIOLATION_ZERO_LENGTH,
  type AdapterState,
  type SgRecord,
} from './hal.ts';
import { mapLogical, rightsFor, unmapLogical } from './iommu-mapping.ts';
import {
  SCATTER_GATHER_ELEMENT_SIZE,
  SCATTER_GATHER_LIST_HEADER_SIZE,
  type DRIVER_LIST_CONTROL,
  type MdlView,
  type SCATTER_GATHER_ELEMENT,
  type SCATTER_GATHER_LIST,
} from './types.ts';

/** One MDL's share of a transfer. */
interface Segment {
  pfns: Int32Array;
  /** Index in `pfns` of the transfer's first page in this MDL. */
  firstPage: number;
  /** Offset of the first byte within that page. */
  offset: number;
  bytes: number;
}

type Plan = { segments: Segment[]; mapRegisters: number } | NTSTATUS;

const isUlong = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
/** A live MDL of the memory manager (IoFreeMdl'd ones are not). */
const isMdl = (m: unknown): m is MDL => m instanceof MDL && !m.freed;

/** Bytes of a list with room for `pages` elements (the worst case: one element per page). */
export const scatterGatherListSize = (pages: number): number =>
  SCATTER_GATHER_LIST_HEADER_SIZE + pages * SCATTER_GATHER_ELEMENT_SIZE;

/**
 * Split [CurrentVa, +Length) over the MDL chain, checking every MDL on the way. Returns a
 * status (after handling misuse) when the request cannot be mapped. Changes nothing.
 */
function planTransfer(k: Kernel, state: AdapterState, routine: string, Mdl: unknown, CurrentVa: unknown, Length: unknown, requireLocked: boolean): Plan {
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
  const segments: Segment[] = [];
  let mapRegisters = 0;
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
    if (requireLocked && (m.MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL)) === 0) {
      hal.misuse(DMA_VIOLATION_BUFFER_NOT_LOCKED, state.id, m.StartVa, m.ByteCount, routine, state.id, 'mdl-not-locked',
        `MDL for ${hexAddress(m.StartVa + m.ByteOffset)} is neither locked nor built for nonpaged memory`);
      return STATUS_INVALID_PARAMETER;
    }
    const mdlVa = m.StartVa + m.ByteOffset;
    const n = Math.min(mdlVa + m.ByteCount - va, remaining);
    if (n > 0) {
      const pfns = requireLocked ? MmGetMdlPfnArray(m) : new Int32Array(0);
      const firstPage = Math.floor((va - m.StartVa) / PAGE_SIZE);
      const span = spanPages(va, n);
      if (requireLocked && firstPage + span > pfns.length) {
        hal.note('invalid-parameter', routine, state.id, 'MDL PFN array is shorter than its ByteCount');
        return STATUS_INVALID_PARAMETER;
      }
      segments.push({ pfns, firstPage, offset: va % PAGE_SIZE, bytes: n });
      mapRegisters += span;
      remaining -= n;
    }
    m = (m.Next as MDL | null) ?? null;
    if (m !== null && isMdl(m)) va = m.StartVa + m.ByteOffset;
  }
  return { segments, mapRegisters };
}

/**
 * Map the planned transfer for the device: elements, map registers, IOMMU mappings and the
 * WriteToDevice copy to bounce pages. Returns the record, or null with nothing held.
 */
function mapTransfer(k: Kernel, state: AdapterState, routine: string, segments: Segment[], mapRegisterCount: number,
                     writeToDevice: boolean, builtIn: number): SgRecord | null {
  const hal = k.hal;
  const id = hal.nextSgId;
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
      const base = mapLogical(domain, s.pfns.subarray(s.firstPage, s.firstPage + span), rights, state.reach);
      if (base === null) {
        for (const b of iovaBases) unmapLogical(domain, b);
        return null;
      }
      iovaBases.push(base);
      push(base + s.offset, s.bytes);
    }
  } else {
    // Pass 1: the out-of-reach pages, in transfer order.
    const reachPfn = Math.floor(state.reach / PAGE_SIZE);
    const targets: number[] = [];
    for (const s of segments) {
      const span = spanPages(s.offset, s.bytes);
      for (let i = 0; i < span; i++) {
        const p = s.pfns[s.firstPage + i]!;
        if (p >= reachPfn) targets.push(p);
      }
    }
    if (targets.length > 0) {
      const regs = hal.mapRegisters.allocate(targets, reachPfn - 1, id, state.bounceOwner, `${routine}:bounce`);
      if (!regs) return null;
      registers = regs;
      bounced = new Float64Array(targets.length * 3);
    }
    // Pass 2: elements, recording each bounced run (merged while both sides stay contiguous,
    // so a contiguous buffer bounced through a contiguous run is copied in one go).
    let r = 0;
    let triples = 0;
    for (const s of segments) {
      let left = s.bytes;
      let offset = s.offset;
      for (let page = s.firstPage; left > 0; page++) {
        const n = Math.min(PAGE_SIZE - offset, left);
        const p = s.pfns[page]!;
        const physical = p * PAGE_SIZE + offset;
        if (p >= reachPfn) {
          const bounce = hal.mapRegisters.bounceOf(registers[r]!) * PAGE_SIZE + offset;
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
  hal.nextSgId++;
  const record: SgRecord = {
    id,
    adapter: state,
    list,
    writeToDevice,
    registers,
    bounced,
    iovaBases,
    mapRegisterCount,
    builtIn,
    put: false,
  };
  hal.sgByList.set(list, record);
  state.sgLists.add(record);
  state.mapRegistersInUse += registers.length;
  hal.liveSgLists++;
  return record;
}

/** Common entry checks for Get/Build; returns the adapter or a status. */
function enterMap(k: Kernel, DmaAdapter: unknown, routine: string, ExecutionRoutine: unknown, WriteToDevice: unknown): AdapterState | NTSTATUS {
  k.bugcheck.assertRunning();
  const hal = k.hal;
  const state = hal.resolveAdapter(DmaAdapter, routine);
  if (!state) return STATUS_INVALID_PARAMETER;
  if (k.irql > DISPATCH_LEVEL && hal.verifier) {
    hal.violation(DMA_VIOLATION_IRQL, k.irql, DISPATCH_LEVEL, state.id, `${routine} at IRQL ${k.irql}; it runs at <= DISPATCH_LEVEL`);
  }
  if (typeof ExecutionRoutine !== 'function' || typeof WriteToDevice !== 'boolean') {
    hal.note('invalid-parameter', routine, state.id, 'ExecutionRoutine must be a function and WriteToDevice a BOOLEAN');
    return STATUS_INVALID_PARAMETER;
  }
  return state;
}

/** Run the driver's AdapterListControl routine at DISPATCH_LEVEL. */
function callExecutionRoutine(k: Kernel, routine: DRIVER_LIST_CONTROL, DeviceObject: unknown, list: SCATTER_GATHER_LIST, Context: unknown): void {
  const old = k.irql;
  if (old < DISPATCH_LEVEL) k.irql = DISPATCH_LEVEL;
  const irp = DeviceObject !== null && typeof DeviceObject === 'object' ? (DeviceObject as { CurrentIrp?: unknown }).CurrentIrp ?? null : null;
  try {
    routine(DeviceObject, irp, list, Context);
  } finally {
    k.irql = old;
  }
}

/** DMA_OPERATIONS.GetScatterGatherList (<= DISPATCH_LEVEL). */
export function getScatterGatherList(
  k: Kernel,
  DmaAdapter: unknown,
  DeviceObject: unknown,
  Mdl: MdlView,
  CurrentVa: number,
  Length: number,
  ExecutionRoutine: DRIVER_LIST_CONTROL,
  Context: unknown,
  WriteToDevice: boolean,
): NTSTATUS {
  const routine = 'GetScatterGatherList';
  const state = enterMap(k, DmaAdapter, routine, ExecutionRoutine, WriteToDevice);
  if (typeof state === 'number') return state;
  const plan = planTransfer(k, state, routine, Mdl, CurrentVa, Length, true);
  if (typeof plan === 'number') return plan;
  if (plan.mapRegisters > state.numberOfMapRegisters) return STATUS_INSUFFICIENT_RESOURCES;
  if (k.faults.shouldFail({ site: routine, bytes: scatterGatherListSize(plan.mapRegisters), driver: k.currentDriver ?? undefined })) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  const record = mapTransfer(k, state, routine, plan.segments, plan.mapRegisters, WriteToDevice, 0);
  if (!record) return STATUS_INSUFFICIENT_RESOURCES;
  callExecutionRoutine(k, ExecutionRoutine, DeviceObject, record.list, Context);
  return STATUS_SUCCESS;
}

/** DMA_OPERATIONS.BuildScatterGatherList (version 2+; <= DISPATCH_LEVEL). The list is written into the driver's buffer. */
export function buildScatterGatherList(
  k: Kernel,
  DmaAdapter: unknown,
  DeviceObject: unknown,
  Mdl: MdlView,
  CurrentVa: number,
  Length: number,
  ExecutionRoutine: DRIVER_LIST_CONTROL,
  Context: unknown,
  WriteToDevice: boolean,
  ScatterGatherBuffer: number,
  ScatterGatherLength: number,
): NTSTATUS {
  const routine = 'BuildScatterGatherList';
  const state = enterMap(k, DmaAdapter, routine, ExecutionRoutine, WriteToDevice);
  if (typeof state === 'number') return state;
  if (typeof ScatterGatherBuffer !== 'number' || !Number.isSafeInteger(ScatterGatherBuffer) || ScatterGatherBuffer === 0 ||
      !isUlong(ScatterGatherLength)) {
    k.hal.note('invalid-parameter', routine, state.id, 'ScatterGatherBuffer/ScatterGatherLength malformed');
    return STATUS_INVALID_PARAMETER;
  }
  const plan = planTransfer(k, state, routine, Mdl, CurrentVa, Length, true);
  if (typeof plan === 'number') return plan;
  if (plan.mapRegisters > state.numberOfMapRegisters) return STATUS_INSUFFICIENT_RESOURCES;
  const size = scatterGatherListSize(plan.mapRegisters);
  if (ScatterGatherLength < size) return STATUS_BUFFER_TOO_SMALL;
  // The buffer must be mapped system memory: touching it first (a read changes nothing)
  // bug-checks 0x50 here, before any map register is taken, if it is not.
  k.mm.system.read(ScatterGatherBuffer, new Uint8Array(size));
  if (k.faults.shouldFail({ site: routine, bytes: size, driver: k.currentDriver ?? undefined })) return STATUS_INSUFFICIENT_RESOURCES;
  const record = mapTransfer(k, state, routine, plan.segments, plan.mapRegisters, WriteToDevice, ScatterGatherBuffer);
  if (!record) return STATUS_INSUFFICIENT_RESOURCES;
  k.mm.system.write(ScatterGatherBuffer, encodeScatterGatherList(record.list));
  callExecutionRoutine(k, ExecutionRoutine, DeviceObject, record.list, Context);
  return STATUS_SUCCESS;
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
  k.bugcheck.assertRunning();
  const hal = k.hal;
  const routine = 'PutScatterGatherList';
  const state = hal.resolveAdapter(DmaAdapter, routine);
  if (!state) return;
  if (k.irql > DISPATCH_LEVEL && hal.verifier) {
    hal.violation(DMA_VIOLATION_IRQL, k.irql, DISPATCH_LEVEL, state.id, `${routine} at IRQL ${k.irql}; it runs at <= DISPATCH_LEVEL`);
  }
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

/** Release a list's map registers and IOMMU mappings. Internal; the record must be live. */
export function releaseSgList(k: Kernel, record: SgRecord): void {
  const state = record.adapter;
  if (record.registers.length > 0) k.hal.mapRegisters.release(record.registers);
  const domain = state.pci.iommuDomain;
  for (const base of record.iovaBases) unmapLogical(domain!, base);
  state.mapRegistersInUse -= record.registers.length;
  state.sgLists.delete(record);
  record.put = true;
  k.hal.liveSgLists--;
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
