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
import { DMA_OK, DmaRunList, copyDmaRun, copyDmaRunList, type DeviceDmaView, type DmaStatus } from '../bus/index.ts';

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
