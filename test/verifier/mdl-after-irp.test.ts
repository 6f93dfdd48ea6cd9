/**
 * Verifier, locked pages: an MDL used after its IRP completed. The I/O manager unlocks and frees
 * Irp->MdlAddress when the IRP completes; a driver that keeps the pointer and uses it later is
 * using freed memory. The stop is the routine's own (the MDL's pool block is gone), recorded as
 * the finding "mdl-used-after-irp-completed". A driver that finishes with the MDL before it
 * completes the IRP leaves no finding.
 */
import { describe, expect, it } from 'vitest';
import { GIB } from '../../src/bus/index.ts';
import { BugCheck } from '../../src/kernel/bugcheck.ts';
import {
  CTL_CODE, CreateFile, DO_DEVICE_INITIALIZING, DO_DIRECT_IO, DeviceIoControl, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN,
  GENERIC_READ, GENERIC_WRITE, IO_NO_INCREMENT, IRP_MJ_CLOSE, IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IoCompleteRequest,
  IoCreateDevice, IoCreateSymbolicLink, IoGetCurrentIrpStackLocation, IoLoadDriver, METHOD_BUFFERED, METHOD_OUT_DIRECT,
  OPEN_EXISTING, type DEVICE_OBJECT, type IRP,
} from '../../src/kernel/io/index.ts';
import { Kernel } from '../../src/kernel/kernel.ts';
import { MEM_COMMIT, MEM_RESERVE, MmGetSystemAddressForMdlSafe, PAGE_READWRITE, type Mdl } from '../../src/kernel/mm/index.ts';
import { NormalPagePriority } from '../../src/kernel/mm/mdl-mapping.ts';
import { ref } from '../../src/kernel/ref.ts';
import { STATUS_SUCCESS } from '../../src/kernel/status.ts';

const IOCTL_TAKE = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
const IOCTL_POKE = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);

/** A driver whose TAKE maps the output MDL; `keep` makes it remember the MDL past completion. */
function loadKeeper(k: Kernel, keep: boolean): void {
  let kept: Mdl | null = null;
  const complete = (irp: IRP) => {
    irp.IoStatus.Status = STATUS_SUCCESS;
    IoCompleteRequest(k, irp, IO_NO_INCREMENT);
    return STATUS_SUCCESS;
  };
  expect(IoLoadDriver(k, 'Keeper', (_k, d) => {
    const dev = ref<DEVICE_OBJECT | null>(null);
    IoCreateDevice(k, d, 0, '\\Device\\Keeper', FILE_DEVICE_UNKNOWN, 0, false, dev);
    IoCreateSymbolicLink(k, '\\DosDevices\\Keeper', '\\Device\\Keeper');
    dev.value!.Flags |= DO_DIRECT_IO;
    dev.value!.Flags &= ~DO_DEVICE_INITIALIZING;
    d.MajorFunction[IRP_MJ_CREATE] = (_d, irp) => complete(irp);
    d.MajorFunction[IRP_MJ_CLOSE] = (_d, irp) => complete(irp);
    d.MajorFunction[IRP_MJ_DEVICE_CONTROL] = (_d, irp) => {
      const code = IoGetCurrentIrpStackLocation(irp).Parameters.DeviceIoControl.IoControlCode;
      if (code === IOCTL_TAKE) {
        expect(MmGetSystemAddressForMdlSafe(k, irp.MdlAddress!, NormalPagePriority)).not.toBeNull();
        if (keep) kept = irp.MdlAddress;
      } else if (code === IOCTL_POKE && kept !== null) {
        MmGetSystemAddressForMdlSafe(k, kept, NormalPagePriority); // the bug: the IRP is long gone
      }
      return complete(irp);
    };
    d.DriverUnload = () => {};
    return STATUS_SUCCESS;
  })).toBe(STATUS_SUCCESS);
}

function run(keep: boolean) {
  const k = Kernel.boot({ ramBytes: 1 * GIB, nolowmem: false, verifier: true });
  loadKeeper(k, keep);
  const p = k.ps.createProcess('app');
  const buf = p.VirtualAlloc(0, 8192, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  let stop: BugCheck | null = null;
  try {
    k.ps.runInProcess(p, () => {
      const h = CreateFile(k, '\\\\.\\Keeper', GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, null);
      expect(DeviceIoControl(k, h, IOCTL_TAKE, null, 0, buf, 8192, ref(0), null)).toBe(true);
      DeviceIoControl(k, h, IOCTL_POKE, buf, 16, buf, 16, ref(0), null);
    });
  } catch (e) {
    // A stopped host refuses all further kernel work, so the stop also surfaces on the way out.
    if (!(e instanceof BugCheck)) throw e;
    stop = e;
  }
  return { k, stop };
}

describe('Verifier: MDLs used after their IRP completed', () => {
  it('a driver that keeps Irp->MdlAddress and uses it after completion stops the host; the finding names the rule', () => {
    const { k, stop } = run(true);
    expect(stop).not.toBeNull();
    const finding = k.verifier!.findings().find((f) => f.rule === 'mdl-used-after-irp-completed');
    expect(finding).toBeDefined();
    expect(finding!.code).toBe(stop!.code);
    expect([...finding!.parameters]).toEqual([...stop!.parameters]);
    expect(finding!.driver).toBe('Keeper');
    expect(finding!.stack.length).toBeGreaterThan(0);
  });

  it('a driver that is done with the MDL before it completes the IRP leaves no finding', () => {
    const { k, stop } = run(false);
    expect(stop).toBeNull();
    expect(k.verifier!.findings()).toEqual([]);
  });
});
