/** HAL DMA: PCI functions, IoGetDmaAdapter, DMA_ADAPTER / DMA_OPERATIONS and their types. */
export { createPciDevice, type PciDevice, type PciDeviceOptions } from './pci.ts';
export * from './device-description.ts';
export { IoGetDmaAdapter } from './dma-adapter.ts';
export { Hal, type HalCounters, type AdapterCounters, type HalFinding } from './hal.ts';
export {
  DMA_VIOLATION_COMMON_BUFFER_DOUBLE_FREE,
  DMA_VIOLATION_SG_LIST_DOUBLE_FREE,
  DMA_VIOLATION_PUT_ADAPTER_WITH_COMMON_BUFFERS,
  DMA_VIOLATION_PUT_ADAPTER_WITH_CHANNELS,
  DMA_VIOLATION_PUT_ADAPTER_WITH_SG_LISTS,
  DMA_VIOLATION_BUFFER_NOT_LOCKED,
  DMA_VIOLATION_IRQL,
  DMA_VIOLATION_FREED_ADAPTER,
  DMA_VIOLATION_NULL_ADAPTER,
  DMA_VIOLATION_VA_NOT_IN_MDL,
  DMA_VIOLATION_INVALID_BUFFER,
  DMA_VIOLATION_ZERO_LENGTH,
  DMA_VIOLATION_BAD_DESCRIPTION_VERSION,
} from './hal.ts';
export * from './types.ts';
export { encodeScatterGatherList } from './scatter-gather.ts';
export {
  IommuMapLogicalRange,
  IommuUnmapLogicalRange,
  outstandingLogicalRanges,
  IOMMU_ACCESS_NONE,
  IOMMU_ACCESS_READ,
  IOMMU_ACCESS_WRITE,
} from './iommu-interface.ts';
