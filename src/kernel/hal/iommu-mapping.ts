/**
 * The HAL side of the IOMMU ("DMA remapping"). With the IOMMU on, the HAL never gives a device
 * a physical address: it maps the pages into the device's own domain at a logical address
 * (IOVA) below the adapter's reach and hands out that address. The pages themselves may then be
 * anywhere in RAM, even above 4 GiB for a 32-bit device, and need not be physically contiguous
 * for the device to see a contiguous buffer. A driver that programs MmGetPhysicalAddress instead
 * of the LogicalAddress it was given makes its device fault (or hit some other mapping), which is
 * exactly what the AllocateCommonBuffer page warns about.
 */
import { IOMMU_READ, IOMMU_WRITE, PAGE_SIZE, type IommuDomain, type LogicalAddress } from '../../bus/index.ts';

export { IOMMU_READ, IOMMU_WRITE };

/** One past the highest logical address a device with `addressBits` can emit. */
export function reachOf(addressBits: number): number {
  return addressBits >= 53 ? Number.MAX_SAFE_INTEGER - PAGE_SIZE + 1 : 2 ** addressBits;
}

/**
 * Map `pfns` into `domain` at a logical address inside [lowest, limit). Returns the base or null
 * when the domain has no room there.
 */
export function mapLogical(
  domain: IommuDomain,
  pfns: ArrayLike<number>,
  rights: number,
  limit: number,
  lowest = PAGE_SIZE,
): LogicalAddress | null {
  return domain.map(pfns, rights, limit, lowest);
}

export function unmapLogical(domain: IommuDomain, base: LogicalAddress): void {
  if (!domain.unmap(base)) {
    throw new Error(`IOMMU domain ${domain.name}: no mapping at ${base} to unmap (HAL invariant)`);
  }
}

/** Rights a scatter/gather mapping needs: the device only reads what it is sent, only writes what it receives. */
export const rightsFor = (writeToDevice: boolean): number => (writeToDevice ? IOMMU_READ : IOMMU_WRITE);
