/**
 * DMA_ADAPTER, DMA_OPERATIONS and SCATTER_GATHER_LIST as wdm.h declares them. DMA_OPERATIONS
 * members are function-valued properties called with the adapter first, as in C:
 *
 *   const logical = ref(0);
 *   const va = adapter.DmaOperations.AllocateCommonBuffer(adapter, 8192, logical, true);
 *
 * Members of a higher version are absent (undefined) on a lower one. Members of the real
 * structure this emulation does not provide (AllocateAdapterChannel, MapTransfer,
 * FlushAdapterBuffers, … — the packet-DMA and DMA-v3 transfer-context family) are absent too;
 * `Size` still reports the real structure's size for the version.
 */
import type { Ref } from '../ref.ts';
import type { NTSTATUS } from '../status.ts';

/** The MDL fields the HAL reads (src/kernel/mm/mdl.ts has the full MDL). */
export interface MdlView {
  Next: MdlView | null;
  MdlFlags: number;
  StartVa: number;
  ByteOffset: number;
  ByteCount: number;
}

export interface SCATTER_GATHER_ELEMENT {
  /** PHYSICAL_ADDRESS as the device must use it: a logical (bus) address. */
  readonly Address: number;
  readonly Length: number;
  readonly Reserved: number;
}

export interface SCATTER_GATHER_LIST {
  readonly NumberOfElements: number;
  readonly Reserved: number;
  readonly Elements: readonly SCATTER_GATHER_ELEMENT[];
}

/** sizeof on x64: ULONG NumberOfElements, ULONG_PTR Reserved, then 24-byte elements. */
export const SCATTER_GATHER_LIST_HEADER_SIZE = 16;
export const SCATTER_GATHER_ELEMENT_SIZE = 24;

/** PDRIVER_LIST_CONTROL: the ExecutionRoutine, called at DISPATCH_LEVEL with the list. */
export type DRIVER_LIST_CONTROL = (
  DeviceObject: unknown,
  Irp: unknown,
  ScatterGather: SCATTER_GATHER_LIST,
  Context: unknown,
) => void;

export const DMA_ADAPTER_INFO_VERSION1 = 1;
export const ADAPTER_INFO_SYNCHRONOUS_CALLBACK = 0x1;
export const ADAPTER_INFO_API_BYPASS = 0x2;

export interface DMA_ADAPTER_INFO_V1 {
  ReadDmaCounterAvailable: number;
  ScatterGatherLimit: number;
  DmaAddressWidth: number;
  Flags: number;
  MinimumTransferUnit: number;
}

export interface DMA_ADAPTER_INFO {
  Version: number;
  V1: DMA_ADAPTER_INFO_V1;
}

/** AllocateCommonBufferWithBounds Flags. */
export const DOMAIN_COMMON_BUFFER_LARGE_PAGE = 0x1;

/** GetScatterGatherList's parameters; BuildScatterGatherList takes them and then the driver's buffer. */
export type ScatterGatherListArgs = [
  DmaAdapter: DMA_ADAPTER | null,
  DeviceObject: unknown,
  Mdl: MdlView,
  CurrentVa: number,
  Length: number,
  ExecutionRoutine: DRIVER_LIST_CONTROL,
  Context: unknown,
  WriteToDevice: boolean,
];

export interface DMA_OPERATIONS {
  readonly Size: number;
  // Version 1
  readonly PutDmaAdapter: (DmaAdapter: DMA_ADAPTER | null) => void;
  readonly AllocateCommonBuffer: (
    DmaAdapter: DMA_ADAPTER | null,
    Length: number,
    LogicalAddress: Ref<number>,
    CacheEnabled: boolean,
  ) => number | null;
  readonly FreeCommonBuffer: (
    DmaAdapter: DMA_ADAPTER | null,
    Length: number,
    LogicalAddress: number,
    VirtualAddress: number,
    CacheEnabled: boolean,
  ) => void;
  readonly GetDmaAlignment: (DmaAdapter: DMA_ADAPTER | null) => number;
  readonly GetScatterGatherList: (...args: ScatterGatherListArgs) => NTSTATUS;
  readonly PutScatterGatherList: (
    DmaAdapter: DMA_ADAPTER | null,
    ScatterGather: SCATTER_GATHER_LIST,
    WriteToDevice: boolean,
  ) => void;
  // Version 2
  readonly CalculateScatterGatherList?: (
    DmaAdapter: DMA_ADAPTER | null,
    Mdl: MdlView | null,
    CurrentVa: number,
    Length: number,
    ScatterGatherListSize: Ref<number>,
    pNumberOfMapRegisters: Ref<number> | null,
  ) => NTSTATUS;
  readonly BuildScatterGatherList?: (
    ...args: [...ScatterGatherListArgs, ScatterGatherBuffer: number, ScatterGatherLength: number]
  ) => NTSTATUS;
  // Version 3
  readonly GetDmaAdapterInfo?: (DmaAdapter: DMA_ADAPTER | null, AdapterInfo: DMA_ADAPTER_INFO) => NTSTATUS;
  readonly AllocateCommonBufferEx?: (
    DmaAdapter: DMA_ADAPTER | null,
    MaximumAddress: Ref<number> | null,
    Length: number,
    LogicalAddress: Ref<number>,
    CacheEnabled: boolean,
    PreferredNode: number,
  ) => number | null;
  readonly AllocateCommonBufferWithBounds?: (
    DmaAdapter: DMA_ADAPTER | null,
    MinimumAddress: Ref<number> | null,
    MaximumAddress: Ref<number> | null,
    Length: number,
    Flags: number,
    CacheType: Ref<number> | null,
    PreferredNode: number,
    LogicalAddress: Ref<number>,
  ) => number | null;
}

export interface DMA_ADAPTER {
  /** Always 1, whatever the description's Version (IoGetDmaAdapter). */
  readonly Version: 1;
  readonly Size: number;
  readonly DmaOperations: DMA_OPERATIONS;
}

/** sizeof(DMA_ADAPTER) on x64: USHORT Version, USHORT Size, padding, PDMA_OPERATIONS. */
export const DMA_ADAPTER_SIZE = 16;
/** Members in the real DMA_OPERATIONS per version (wdm.h), for Size = 8 + 8 × members on x64. */
export const DMA_OPERATIONS_MEMBERS = { 1: 12, 2: 15, 3: 39 } as const;
