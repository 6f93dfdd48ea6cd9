/**
 * The local scatter/gather check both pipeline stages share: the requester checks the list of
 * the request it executes (rxe_req.c), the responder the receive a send lands in
 * (rxe_resp.c). Per element, in order: non-zero length, the TPT lookup of its handle (the one
 * access check, tpt.ts), the range; then the elements' bus runs go into a reused run list.
 */
import type { DmaRunList } from '../bus/index.ts';
import { SGE_FIELDS, type WorkQueue } from './endpoint.ts';
import type { SanNic } from './san-nic.ts';
import { Syndrome } from './status.ts';

/**
 * Check every scatter element of `wq[slot]` for `owner` with `rights` and translate the first
 * `prefixBytes` bytes into `out`. Returns the list's total length, or minus the syndrome of
 * the first failed check (per element: non-zero length, TPT lookup, range).
 */
export function checkScatterList(
  nic: SanNic,
  owner: number,
  wq: WorkQueue,
  slot: number,
  rights: number,
  out: DmaRunList,
  prefixBytes: number,
): number {
  out.clear();
  const n = wq.sgeCount[slot]!;
  let at = wq.sgeBase(slot);
  let total = 0;
  let left = prefixBytes;
  for (let k = 0; k < n; k++, at += SGE_FIELDS) {
    const handle = wq.sge[at]!;
    const offset = wq.sge[at + 1]!;
    const length = wq.sge[at + 2]!;
    if (length === 0) return -Syndrome.ZERO_LENGTH;
    const index = nic.tpt.lookup(handle, false, owner, rights);
    if (index < 0) return index;
    if (!nic.tpt.inRange(index, offset, length)) return -Syndrome.OUT_OF_RANGE;
    total += length;
    if (left > 0) {
      const take = Math.min(left, length);
      nic.tpt.translate(index, offset, take, out);
      left -= take;
    }
  }
  return total;
}
