/**
 * The NIC's DMA engine: moves a gather list on one bus to a scatter list on another (the
 * same host's bus for loopback). Both lists hold bus addresses as the NIC emits them; each
 * view resolves them into physical runs (the same run-list type, src/bus). Every segment of both sides is resolved by its bus view
 * first (truncation to the device's width, IOMMU translation, master abort), so a request
 * that fails on the bus moves zero bytes; then bytes move in physically contiguous runs.
 *
 * The run lists are scratch typed arrays reused by every transfer (no object per run or per
 * request); a nested call (an observer that starts a DMA) gets its own.
 */
import { DMA_MASTER_ABORT, DMA_OK, DmaRunList, copyDmaRun, copyDmaRunList, type DeviceDmaView, type DmaStatus, type PhysicalMemory } from '../bus/index.ts';
import { Syndrome, type SyndromeCode } from './status.ts';

export interface DmaResult {
  status: DmaStatus;
  /** Which side failed: the bus that reads or the bus that writes. */
  side: 'source' | 'target' | null;
}

const OK: DmaResult = Object.freeze({ status: DMA_OK, side: null }) as DmaResult;

const scratchFrom = new DmaRunList(64);
const scratchTo = new DmaRunList(64);
/** The scratch lists are in use (a nested transfer allocates its own). Left set if a copy
 *  throws — a model bug that stops the fabric — which costs speed, never correctness. */
let scratchBusy = false;
/** The runs observeRuns reports, and whether an observer is being told of them (a nested
 *  call, from an observer, gets its own list). */
const scratchObserved = new DmaRunList(8);
let observedBusy = false;

function resolveAll(view: DeviceDmaView, segs: DmaRunList, write: boolean, out: DmaRunList): DmaStatus {
  out.clear();
  for (let i = 0; i < segs.count; i++) {
    const status = view.resolveInto(segs.address[i]!, segs.length[i]!, write, out);
    if (status !== DMA_OK) return status;
  }
  return DMA_OK;
}

export function moveBytes(
  sourceView: DeviceDmaView,
  source: DmaRunList,
  targetView: DeviceDmaView,
  target: DmaRunList,
): DmaResult {
  if (source.count === 1 && target.count === 1 && source.total === target.total) {
    // The common case: one contiguous run on each side, nothing to translate.
    const from = sourceView.resolveContiguous(source.address[0]!, source.length[0]!);
    const to = from < 0 ? -1 : targetView.resolveContiguous(target.address[0]!, target.length[0]!);
    if (to >= 0) {
      copyDmaRun(sourceView, from, targetView, to, source.total);
      return OK;
    }
  }
  const nested = scratchBusy;
  const from = nested ? new DmaRunList(source.count) : scratchFrom;
  const to = nested ? new DmaRunList(target.count) : scratchTo;
  scratchBusy = true;
  const fromStatus = resolveAll(sourceView, source, false, from);
  const toStatus = fromStatus === DMA_OK ? resolveAll(targetView, target, true, to) : DMA_OK;
  if (fromStatus === DMA_OK && toStatus === DMA_OK) copyDmaRunList(sourceView, from, targetView, to);
  scratchBusy = nested;
  if (fromStatus !== DMA_OK) return { status: fromStatus, side: 'source' };
  if (toStatus !== DMA_OK) return { status: toStatus, side: 'target' };
  return OK;
}

/**
 * Resolve a list of bus runs through `view` into physical runs (`out`, cleared first). Every
 * run is resolved before anything is touched: a failure leaves no byte moved.
 */
export function resolveRuns(view: DeviceDmaView, segs: DmaRunList, write: boolean, out: DmaRunList): DmaStatus {
  return resolveAll(view, segs, write, out);
}

/** The syndrome of a bus refusal (a status of resolveRuns other than DMA_OK). */
export function dmaSyndrome(status: number): SyndromeCode {
  return status === DMA_MASTER_ABORT ? Syndrome.DMA_MASTER_ABORT : Syndrome.DMA_IOMMU_FAULT;
}

/** Tell the view's observer (the verifier) about physical runs the device reads or writes. */
export function observeRuns(view: DeviceDmaView, runs: DmaRunList, direction: 'read' | 'write', offset = 0, length = runs.total): void {
  const observer = view.observer;
  if (observer === null) return;
  const nested = observedBusy;
  const observed = nested ? new DmaRunList() : scratchObserved;
  observedBusy = true;
  observed.clear();
  observed.pushRange(runs, offset, length);
  try {
    for (let i = 0; i < observed.count; i++) observer(view.name, direction, observed.address[i]!, observed.length[i]!);
  } finally {
    // The verifier's observer stops the host by throwing: the list is free again after it.
    observedBusy = nested;
  }
}

/** Where a received payload is: a serialised frame's bytes, or a view of the sender's memory. */
export interface PayloadSource {
  memory: PhysicalMemory | null;
  source: DeviceDmaView | null;
  readonly runs: DmaRunList;
}

/**
 * Place a received payload (the one copy of the lossless link: sender memory → receiver
 * memory) at byte `offset` of the physical runs `target` of `view`'s memory. `bytes` (with
 * `bytesOffset`) when the frame was serialised, otherwise the packet's payload view.
 */
export function placePayload(
  src: PayloadSource, bytes: Uint8Array | null, bytesOffset: number, length: number,
  view: DeviceDmaView, target: DmaRunList, offset: number,
): void {
  if (length === 0) return;
  observeRuns(view, target, 'write', offset, length);
  const memory = view.memory;
  // Walk the target from `offset`.
  let ti = 0;
  let tOff = offset;
  while (ti < target.count && tOff >= target.length[ti]!) tOff -= target.length[ti++]!;
  if (bytes !== null) {
    let done = 0;
    while (done < length) {
      const n = Math.min(length - done, target.length[ti]! - tOff);
      memory.write(target.address[ti]! + tOff, bytes, bytesOffset + done, n);
      done += n;
      tOff += n;
      if (tOff === target.length[ti]!) {
        ti++;
        tOff = 0;
      }
    }
    return;
  }
  const from = src.memory!;
  const sourceObserver = src.source?.observer ?? null;
  const runs = src.runs;
  for (let si = 0; si < runs.count; si++) {
    const sAddr = runs.address[si]!;
    const sLen = runs.length[si]!;
    if (sourceObserver !== null) sourceObserver(src.source!.name, 'read', sAddr, sLen);
    let done = 0;
    while (done < sLen) {
      const n = Math.min(sLen - done, target.length[ti]! - tOff);
      memory.copyFrom(from, sAddr + done, target.address[ti]! + tOff, n);
      done += n;
      tOff += n;
      if (tOff === target.length[ti]!) {
        ti++;
        tOff = 0;
      }
    }
  }
}
