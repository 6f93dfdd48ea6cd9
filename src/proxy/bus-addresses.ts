/**
 * The bus addresses a NIC is given for a locked MDL. Never a virtual address, never
 * MmGetPhysicalAddress when the device sits behind DMA remapping.
 *
 * - DMA remapping on: the MDL is mapped into the device's domain (IommuMapLogicalRange) with
 *   the rights the registration needs; the NIC gets logical addresses, which are below its
 *   reach whatever the physical pages are — zero copy even for a 32-bit NIC on NOLOWMEM.
 * - DMA remapping off: bus address = physical address (page number × page size). A 32-bit NIC
 *   would silently truncate a page at or above 4 GiB and DMA into someone else's low page, so
 *   every page is checked against the NIC's reach and the request fails with
 *   STATUS_NOT_SUPPORTED before the NIC sees any address.
 */
import { PAGE_SIZE, addressOfPfn } from '../bus/index.ts';
import { IOMMU_ACCESS_READ, IOMMU_ACCESS_WRITE, IommuMapLogicalRange, IommuUnmapLogicalRange } from '../kernel/hal/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { MmGetMdlPfnArray, type Mdl } from '../kernel/mm/index.ts';
import { ref } from '../kernel/ref.ts';
import { NT_SUCCESS, STATUS_NOT_SUPPORTED, STATUS_SUCCESS, type NTSTATUS } from '../kernel/status.ts';
import type { BusMapping } from './open-context.ts';
import type { ProxyNic } from './nic-adapter.ts';

/** `write`: the NIC may write the pages (receives, remote writes, RDMA read targets). */
export function mapForNic(
  k: Kernel,
  pnic: ProxyNic,
  mdl: Mdl,
  read: boolean,
  write: boolean,
): { status: NTSTATUS; mapping: BusMapping | null } {
  const pfns = MmGetMdlPfnArray(mdl);
  const pages = new Float64Array(pfns.length);
  if (pnic.remapping !== 'off') {
    const logical = ref(0);
    const permissions = (read ? IOMMU_ACCESS_READ : 0) | (write ? IOMMU_ACCESS_WRITE : 0);
    const status = IommuMapLogicalRange(k, pnic.adapter, permissions, mdl, logical);
    if (status === STATUS_NOT_SUPPORTED) {
      pnic.remapping = 'off';
    } else if (!NT_SUCCESS(status)) {
      return { status, mapping: null };
    } else {
      pnic.remapping = 'on';
      const base = logical.value - mdl.ByteOffset;
      for (let i = 0; i < pages.length; i++) pages[i] = base + i * PAGE_SIZE;
      return { status: STATUS_SUCCESS, mapping: { pages, logicalRange: logical.value } };
    }
  }
  for (let i = 0; i < pfns.length; i++) {
    const address = addressOfPfn(pfns[i]!);
    if (address + PAGE_SIZE > pnic.reach) return { status: STATUS_NOT_SUPPORTED, mapping: null };
    pages[i] = address;
  }
  return { status: STATUS_SUCCESS, mapping: { pages, logicalRange: null } };
}

/** Bus pages of a device-contiguous block starting at `logicalBase` (common buffers). */
export function contiguousBusPages(logicalBase: number, pageCount: number): BusMapping {
  const pages = new Float64Array(pageCount);
  for (let i = 0; i < pageCount; i++) pages[i] = logicalBase + i * PAGE_SIZE;
  return { pages, logicalRange: null };
}

export function unmapForNic(k: Kernel, pnic: ProxyNic, mapping: BusMapping): void {
  if (mapping.logicalRange === null) return;
  const status = IommuUnmapLogicalRange(k, pnic.adapter, mapping.logicalRange);
  if (!NT_SUCCESS(status)) throw new Error(`SanProxy invariant: IOMMU range ${mapping.logicalRange} was not mapped`);
}
