/**
 * Long-lived logical mappings for a device: our form of DMA_IOMMU_INTERFACE_EX's
 * MapLogicalRange / UnmapLogicalRange (ddi/wdm ns-wdm-_dma_iommu_interface_ex), reduced to the
 * device's own domain. Scatter/gather lists map one transfer in one direction and are put when it
 * ends; an RDMA registration lives until it is deregistered and the NIC may read and write it, so
 * a driver maps its MDL once with both permissions and gives the NIC the logical address.
 *
 * Without DMA remapping for the device there is no domain: the routine returns
 * STATUS_NOT_SUPPORTED and the driver uses the MDL's page numbers as bus addresses (which is
 * why it must then check that its device can reach them).
 */
import { IOMMU_READ, IOMMU_WRITE, PAGE_SIZE, pageOffset } from '../../bus/index.ts';
import type { Kernel } from '../kernel.ts';
import { perHost } from '../per-host.ts';
import { MDL_PAGES_LOCKED, MDL_SOURCE_IS_NONPAGED_POOL, MmGetMdlPfnArray, type Mdl } from '../mm/mdl.ts';
import type { Ref } from '../ref.ts';
import {
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_PARAMETER,
  STATUS_NOT_SUPPORTED,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../status.ts';
import type { DMA_ADAPTER } from './types.ts';

export const IOMMU_ACCESS_NONE = 0;
export const IOMMU_ACCESS_READ = 1;
export const IOMMU_ACCESS_WRITE = 2;

/** Outstanding logical ranges per host, for leak accounting. */
const rangesOf = perHost(() => new Map<number, { domainName: string; pages: number }>());

/** Logical ranges mapped with IommuMapLogicalRange and not yet unmapped on this host. */
export function outstandingLogicalRanges(k: Kernel): number {
  return rangesOf(k).size;
}

/**
 * Map the locked MDL's pages into the adapter's device domain with `Permissions`
 * (IOMMU_ACCESS_READ | IOMMU_ACCESS_WRITE) and return the logical address of the MDL's first
 * byte in `LogicalAddress`. STATUS_NOT_SUPPORTED when the device has no DMA remapping.
 */
export function IommuMapLogicalRange(
  k: Kernel,
  DmaAdapter: DMA_ADAPTER | null,
  Permissions: number,
  Mdl_: Mdl,
  LogicalAddress: Ref<number>,
): NTSTATUS {
  k.bugcheck.assertRunning();
  const state = k.hal.resolveAdapter(DmaAdapter, 'IommuMapLogicalRange');
  if (!state) return STATUS_INVALID_PARAMETER;
  if (LogicalAddress === null || typeof LogicalAddress !== 'object') return STATUS_INVALID_PARAMETER;
  if (!Number.isInteger(Permissions) || Permissions <= 0 || (Permissions & ~(IOMMU_ACCESS_READ | IOMMU_ACCESS_WRITE)) !== 0) {
    return STATUS_INVALID_PARAMETER;
  }
  if (Mdl_ === null || typeof Mdl_ !== 'object' || (Mdl_.MdlFlags & (MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL)) === 0) {
    return STATUS_INVALID_PARAMETER;
  }
  const domain = state.pci.iommuDomain;
  if (domain === null) return STATUS_NOT_SUPPORTED;
  const pfns = MmGetMdlPfnArray(Mdl_);
  if (k.faults.shouldFail({ site: 'IommuMapLogicalRange', bytes: pfns.length * PAGE_SIZE, driver: k.currentDriver ?? '' })) {
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  const rights = (Permissions & IOMMU_ACCESS_READ ? IOMMU_READ : 0) | (Permissions & IOMMU_ACCESS_WRITE ? IOMMU_WRITE : 0);
  const base = domain.map(pfns, rights, state.reach);
  if (base === null) return STATUS_INSUFFICIENT_RESOURCES;
  rangesOf(k).set(base, { domainName: domain.name, pages: pfns.length });
  LogicalAddress.value = base + Mdl_.ByteOffset;
  return STATUS_SUCCESS;
}

/** Undo IommuMapLogicalRange. `LogicalAddress` is the value it returned. */
export function IommuUnmapLogicalRange(k: Kernel, DmaAdapter: DMA_ADAPTER | null, LogicalAddress: number): NTSTATUS {
  k.bugcheck.assertRunning();
  const state = k.hal.resolveAdapter(DmaAdapter, 'IommuUnmapLogicalRange');
  if (!state) return STATUS_INVALID_PARAMETER;
  const domain = state.pci.iommuDomain;
  if (domain === null) return STATUS_NOT_SUPPORTED;
  if (!Number.isSafeInteger(LogicalAddress)) return STATUS_INVALID_PARAMETER;
  const base = LogicalAddress - pageOffset(LogicalAddress);
  const ranges = rangesOf(k);
  if (!ranges.has(base) || !domain.unmap(base)) return STATUS_INVALID_PARAMETER;
  ranges.delete(base);
  return STATUS_SUCCESS;
}
