/**
 * DEVICE_DESCRIPTION: what a driver tells IoGetDmaAdapter about its device, and the HAL's
 * reading of it (which fields count for which Version, the adapter's address width, the
 * number of map registers).
 *
 * Implementation notes
 * - Field names, order and constants are wdm.h's. BOOLEAN members are JS booleans; ULONG members
 *   are integers 0..0xFFFF_FFFF; enums are their wdm.h values. A value outside its C type cannot
 *   come from a real structure, so it is rejected (IoGetDmaAdapter returns NULL).
 * - The WDK requires the structure to be zeroed before it is filled (IoGetDmaAdapter remarks,
 *   "Getting an Adapter Object"). A structure that was not zeroed shows up as non-zero values in
 *   members the HAL ignores for that Version/kind of device. Our documented rule
 *   (`interpretDeviceDescription`):
 *     * Reserved1 != FALSE            → NULL (the DEVICE_DESCRIPTION page says it must be FALSE;
 *                                        a set Reserved1 is the tell-tale of stack garbage);
 *     * other ignored members non-zero → the adapter is still returned (Windows ignores them, so
 *                                        the device behaves the same), and a finding
 *                                        'description-not-zeroed' names the members. The finding is
 *                                        a warning, not a stop: a real driver may legitimately set
 *                                        e.g. Dma32BitAddresses on a Version 3 description, and the
 *                                        finding tells it that the member has no effect there.
 *   BusNumber is never flagged: drivers copy it from IoGetDeviceProperty as "Getting an Adapter
 *   Object" tells them to, even though WDM ignores it.
 * - Address width (ns-wdm-_device_description): Version 3 bus masters use DmaAddressWidth (1..64,
 *   anything else → NULL) and ignore Dma32/Dma64BitAddresses; older versions: Dma64BitAddresses
 *   → 64 (it overrides Dma32BitAddresses), else Dma32BitAddresses → 32, else ScatterGather on
 *   PCIBus → 32 (PCI scatter/gather implies 32-bit addressing), else 24 (an ISA-style master).
 * - Map registers (IoGetDmaAdapter, "Map Registers"): BYTES_TO_PAGES(MaximumLength) + 1, capped by
 *   the HAL's per-adapter maximum when the adapter may need bounce buffers.
 */
import { PAGE_SIZE } from '../../bus/index.ts';
import { isUlong } from '../ulong.ts';

export const DEVICE_DESCRIPTION_VERSION = 0;
export const DEVICE_DESCRIPTION_VERSION1 = 1;
export const DEVICE_DESCRIPTION_VERSION2 = 2;
export const DEVICE_DESCRIPTION_VERSION3 = 3;

/** INTERFACE_TYPE (wdm.h). */
export const InterfaceTypeUndefined = -1;
export const Internal = 0;
export const Isa = 1;
export const Eisa = 2;
export const MicroChannel = 3;
export const TurboChannel = 4;
export const PCIBus = 5;
export const VMEBus = 6;
export const NuBus = 7;
export const PCMCIABus = 8;
export const CBus = 9;
export const MPIBus = 10;
export const MPSABus = 11;
export const ProcessorInternal = 12;
export const InternalPowerBus = 13;
export const PNPISABus = 14;
export const PNPBus = 15;
export const Vmcs = 16;
export const ACPIBus = 17;
export const MaximumInterfaceType = 18;

/** DMA_WIDTH (wdm.h). */
export const Width8Bits = 0;
export const Width16Bits = 1;
export const Width32Bits = 2;
export const Width64Bits = 3;
export const WidthNoWrap = 4;
export const MaximumDmaWidth = 5;

/** DMA_SPEED (wdm.h). */
export const Compatible = 0;
export const TypeA = 1;
export const TypeB = 2;
export const TypeC = 3;
export const TypeF = 4;
export const MaximumDmaSpeed = 5;

export interface DEVICE_DESCRIPTION {
  Version: number;
  Master: boolean;
  ScatterGather: boolean;
  DemandMode: boolean;
  AutoInitialize: boolean;
  Dma32BitAddresses: boolean;
  IgnoreCount: boolean;
  Reserved1: boolean;
  Dma64BitAddresses: boolean;
  BusNumber: number;
  DmaChannel: number;
  InterfaceType: number;
  DmaWidth: number;
  DmaSpeed: number;
  MaximumLength: number;
  DmaPort: number;
  DmaAddressWidth: number;
  DmaControllerInstance: number;
  DmaRequestLine: number;
  /** PHYSICAL_ADDRESS. */
  DeviceAddress: number;
}

/**
 * RtlZeroMemory(&dd, sizeof dd) followed by the driver's assignments: every member starts at
 * zero/FALSE, then `fields` are applied. Use this, as the WDK requires a zeroed structure.
 *
 *   const dd = createDeviceDescription({ Version: DEVICE_DESCRIPTION_VERSION3, Master: true,
 *     ScatterGather: true, InterfaceType: PCIBus, DmaAddressWidth: 64, MaximumLength: 0x10000 });
 */
export function createDeviceDescription(fields: Partial<DEVICE_DESCRIPTION> = {}): DEVICE_DESCRIPTION {
  return {
    Version: 0,
    Master: false,
    ScatterGather: false,
    DemandMode: false,
    AutoInitialize: false,
    Dma32BitAddresses: false,
    IgnoreCount: false,
    Reserved1: false,
    Dma64BitAddresses: false,
    BusNumber: 0,
    DmaChannel: 0,
    InterfaceType: 0,
    DmaWidth: 0,
    DmaSpeed: 0,
    MaximumLength: 0,
    DmaPort: 0,
    DmaAddressWidth: 0,
    DmaControllerInstance: 0,
    DmaRequestLine: 0,
    DeviceAddress: 0,
    ...fields,
  };
}

const BOOLEAN_FIELDS = [
  'Master', 'ScatterGather', 'DemandMode', 'AutoInitialize', 'Dma32BitAddresses', 'IgnoreCount',
  'Reserved1', 'Dma64BitAddresses',
] as const;
const ULONG_FIELDS = [
  'Version', 'BusNumber', 'DmaChannel', 'MaximumLength', 'DmaPort', 'DmaAddressWidth',
  'DmaControllerInstance', 'DmaRequestLine',
] as const;

const isEnum = (v: unknown, lo: number, hiExclusive: number): v is number =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v < hiExclusive;

export type DescriptionRejection =
  | 'not-an-object'
  | 'member-out-of-range'
  | 'unsupported-version'
  | 'reserved1-set'
  | 'not-bus-master'
  | 'bad-address-width';

export interface DescriptionReading {
  /** DMA_OPERATIONS version the adapter gets: 1 for description versions 0 and 1, else = Version. */
  operationsVersion: 1 | 2 | 3;
  /** Address bits the description asks for (before the PCI function's own limit). */
  addressBits: number;
  interfaceType: number;
  /** BYTES_TO_PAGES(MaximumLength) + 1, before any cap. */
  mapRegistersWanted: number;
  /** Ignored members that hold non-zero values (the description was probably not zeroed). */
  ignoredNonZero: string[];
}

/**
 * Read a DEVICE_DESCRIPTION as the HAL does. Returns the reading, or why IoGetDmaAdapter must
 * return NULL (with `member` naming the offending member when there is one).
 */
export function interpretDeviceDescription(
  dd: unknown,
  pdoInterfaceType: number,
): DescriptionReading | { reject: DescriptionRejection; member?: string; value?: unknown } {
  if (dd === null || typeof dd !== 'object') return { reject: 'not-an-object' };
  const d = dd as Record<string, unknown>;
  for (const f of BOOLEAN_FIELDS) {
    if (typeof d[f] !== 'boolean') return { reject: 'member-out-of-range', member: f, value: d[f] };
  }
  for (const f of ULONG_FIELDS) {
    if (!isUlong(d[f])) return { reject: 'member-out-of-range', member: f, value: d[f] };
  }
  if (!isEnum(d.InterfaceType, InterfaceTypeUndefined, MaximumInterfaceType)) {
    return { reject: 'member-out-of-range', member: 'InterfaceType', value: d.InterfaceType };
  }
  if (!isEnum(d.DmaWidth, 0, MaximumDmaWidth)) return { reject: 'member-out-of-range', member: 'DmaWidth', value: d.DmaWidth };
  if (!isEnum(d.DmaSpeed, 0, MaximumDmaSpeed)) return { reject: 'member-out-of-range', member: 'DmaSpeed', value: d.DmaSpeed };
  if (typeof d.DeviceAddress !== 'number' || !Number.isSafeInteger(d.DeviceAddress) || d.DeviceAddress < 0) {
    return { reject: 'member-out-of-range', member: 'DeviceAddress', value: d.DeviceAddress };
  }
  const desc = d as unknown as DEVICE_DESCRIPTION;
  if (desc.Version > DEVICE_DESCRIPTION_VERSION3) return { reject: 'unsupported-version', member: 'Version', value: desc.Version };
  if (desc.Reserved1) return { reject: 'reserved1-set', member: 'Reserved1', value: true };
  // Our machine has no system (8237-style) DMA controller: only bus masters get an adapter.
  if (!desc.Master) return { reject: 'not-bus-master', member: 'Master', value: false };

  const v = desc.Version;
  const interfaceType = desc.InterfaceType === InterfaceTypeUndefined ? pdoInterfaceType : desc.InterfaceType;

  // Members the HAL ignores for a bus master of this Version (ns-wdm-_device_description).
  const ignored: string[] = [];
  const flag = (name: keyof DEVICE_DESCRIPTION) => {
    const value = desc[name];
    if (value !== 0 && value !== false) ignored.push(name);
  };
  flag('DemandMode');
  flag('AutoInitialize');
  flag('DmaWidth');
  flag('DmaSpeed');
  flag('DmaChannel');
  flag('DmaPort');
  flag('DmaControllerInstance');
  flag('DmaRequestLine');
  flag('DeviceAddress');
  if (v === DEVICE_DESCRIPTION_VERSION) flag('IgnoreCount');
  if (v === DEVICE_DESCRIPTION_VERSION3) {
    flag('Dma32BitAddresses');
    flag('Dma64BitAddresses');
  } else {
    flag('DmaAddressWidth');
  }

  let addressBits: number;
  if (v === DEVICE_DESCRIPTION_VERSION3) {
    if (desc.DmaAddressWidth < 1 || desc.DmaAddressWidth > 64) {
      return { reject: 'bad-address-width', member: 'DmaAddressWidth', value: desc.DmaAddressWidth };
    }
    addressBits = desc.DmaAddressWidth;
  } else if (desc.Dma64BitAddresses) addressBits = 64;
  else if (desc.Dma32BitAddresses) addressBits = 32;
  else if (desc.ScatterGather && interfaceType === PCIBus) addressBits = 32;
  else addressBits = 24;

  return {
    operationsVersion: v <= DEVICE_DESCRIPTION_VERSION1 ? 1 : (v as 2 | 3),
    addressBits,
    interfaceType,
    mapRegistersWanted: Math.ceil(desc.MaximumLength / PAGE_SIZE) + 1,
    ignoredNonZero: ignored,
  };
}
