/**
 * The PCI bus driver of an emulated host: one physical device object (PDO) per PCI function,
 * each carrying the HAL's PciDevice (`DEVICE_OBJECT.pciDevice`) so a function driver can
 * hand the PDO to IoGetDmaAdapter, and reach the device's registers (`pciDevice.registers`).
 */
import {
  DO_DEVICE_INITIALIZING,
  FILE_DEVICE_BUS_EXTENDER,
  IoCreateDevice,
  IoLoadDriver,
  type DEVICE_OBJECT,
  type DRIVER_OBJECT,
} from '../kernel/io/index.ts';
import type { PciDevice } from '../kernel/hal/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { ref } from '../kernel/ref.ts';
import { NT_SUCCESS, STATUS_SUCCESS, statusName } from '../kernel/status.ts';

export const PCI_BUS_SERVICE = 'pci';

export class PciBus {
  private driver: DRIVER_OBJECT | null = null;
  readonly pdos: DEVICE_OBJECT[] = [];

  constructor(private readonly k: Kernel) {
    const holder = ref<DRIVER_OBJECT | null>(null);
    const status = IoLoadDriver(k, PCI_BUS_SERVICE, () => STATUS_SUCCESS, holder);
    if (!NT_SUCCESS(status) || holder.value === null) throw new Error(`${k.name}: loading the PCI bus driver failed: ${statusName(status)}`);
    this.driver = holder.value;
  }

  /** Report a PCI function: create its PDO. */
  enumerate(device: PciDevice, registers: unknown): DEVICE_OBJECT {
    const out = ref<DEVICE_OBJECT | null>(null);
    const name = `\\Device\\NTPNP_PCI${String(this.pdos.length + 1).padStart(4, '0')}`;
    const status = IoCreateDevice(this.k, this.driver!, 0, name, FILE_DEVICE_BUS_EXTENDER, 0, false, out);
    if (!NT_SUCCESS(status) || out.value === null) throw new Error(`${this.k.name}: creating the PDO for ${device.name} failed: ${statusName(status)}`);
    const pdo = out.value;
    device.registers = registers;
    pdo.pciDevice = device;
    pdo.Flags &= ~DO_DEVICE_INITIALIZING;
    this.pdos.push(pdo);
    return pdo;
  }
}
