/** The bus: physical memory contents and each device's DMA view of them (the lowest layer). */
export * from './address.ts';
export { getU32LE, getU64LE, putU32LE, putU64LE } from './little-endian.ts';
export { PhysicalMemory, CHUNK_SIZE, type WriteObserver } from './physical-memory.ts';
export { testPattern, PATTERN_FLIP } from './test-pattern.ts';
export { IommuDomain, IOMMU_READ, IOMMU_WRITE, type IommuMapping, type Translation } from './iommu.ts';
export {
  DeviceDmaView,
  DMA_OK,
  DMA_MASTER_ABORT,
  DMA_IOMMU_FAULT,
  copyDmaRunList,
  copyDmaRun,
  DmaRunList,
  type DmaStatus,
  type DmaRun,
  type RamRange,
  type DmaObserver,
  type DeviceDmaOptions,
} from './dma-address-space.ts';
