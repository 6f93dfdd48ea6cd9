/** IoCreateDevice / IoDeleteDevice / IoCreateSymbolicLink / IoDeleteSymbolicLink contracts. */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import {
  STATUS_INSUFFICIENT_RESOURCES, STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_COLLISION, STATUS_OBJECT_NAME_INVALID,
  STATUS_OBJECT_NAME_NOT_FOUND, STATUS_SUCCESS,
} from '../../src/kernel/status.ts';
import {
  CreateFile, DO_DEVICE_INITIALIZING, DO_EXCLUSIVE, ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, FILE_DEVICE_UNKNOWN,
  GENERIC_READ, GetLastError, INVALID_HANDLE_VALUE, IoCreateDevice, IoCreateSymbolicLink, IoDeleteDevice,
  IoDeleteSymbolicLink, IoLoadDriver, OPEN_EXISTING, STATUS_OBJECT_PATH_NOT_FOUND, type DEVICE_OBJECT, type DRIVER_OBJECT,
  DO_DEVICE_HAS_NAME, IoUnloadDriver, STATUS_IMAGE_ALREADY_LOADED,
} from '../../src/kernel/io/index.ts';
import {
  DOE_UNLOAD_PENDING, IO_TYPE_DEVICE_OBJECT_EXTENSION, SIZEOF_DEVICE_OBJECT,
} from '../../src/kernel/io/device-object.ts';
import { DRVO_INITIALIZED, DRVO_LEGACY_DRIVER, DRVO_UNLOAD_INVOKED, SIZEOF_DRIVER_OBJECT } from '../../src/kernel/io/driver-object.ts';
import { STATUS_INVALID_DEVICE_REQUEST } from '../../src/kernel/status.ts';
import { boot, MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../io/helpers.ts';

function withDriver() {
  const k = boot();
  let drv: DRIVER_OBJECT | null = null;
  IoLoadDriver(k, 'Bare', (_k, d) => {
    drv = d;
    d.DriverUnload = () => undefined;
    return STATUS_SUCCESS;
  });
  return { k, drv: drv! };
}

describe('IoCreateDevice', () => {
  it('creates a device with DO_DEVICE_INITIALIZING, a zeroed pool extension, linked at the head of the driver list', () => {
    const { k, drv } = withDriver();
    const pool = k.mm.pool.outstandingBlocks;
    const a = ref<DEVICE_OBJECT | null>(null);
    const b = ref<DEVICE_OBJECT | null>(null);
    expect(IoCreateDevice(k, drv, 100, '\\Device\\A', FILE_DEVICE_UNKNOWN, 0, false, a)).toBe(STATUS_SUCCESS);
    expect(IoCreateDevice(k, drv, 0, null, 0x8000, 0, true, b)).toBe(STATUS_SUCCESS);
    expect(a.value!.Flags & DO_DEVICE_INITIALIZING).toBeTruthy();
    expect(b.value!.Flags & DO_EXCLUSIVE).toBeTruthy();
    expect(b.value!.DeviceExtension).toBeNull();
    expect(drv.DeviceObject).toBe(b.value);
    expect(b.value!.NextDevice).toBe(a.value);
    const ext = new Uint8Array(100).fill(1);
    k.mm.system.read(a.value!.DeviceExtension!, ext);
    expect(ext.every((x) => x === 0)).toBe(true);
    expect(k.mm.pool.outstandingBlocks).toBe(pool + 2);
    IoDeleteDevice(k, a.value!);
    IoDeleteDevice(k, b.value!);
    expect(k.mm.pool.outstandingBlocks).toBe(pool);
    expect(drv.DeviceObject).toBeNull();
  });

  it('a name collision is STATUS_OBJECT_NAME_COLLISION (names are case-insensitive) and changes nothing', () => {
    const { k, drv } = withDriver();
    const a = ref<DEVICE_OBJECT | null>(null);
    expect(IoCreateDevice(k, drv, 0, '\\Device\\San0', FILE_DEVICE_UNKNOWN, 0, false, a)).toBe(STATUS_SUCCESS);
    const pool = k.mm.pool.outstandingBlocks;
    const b = ref<DEVICE_OBJECT | null>(null);
    expect(IoCreateDevice(k, drv, 0, '\\device\\SAN0', FILE_DEVICE_UNKNOWN, 0, false, b)).toBe(STATUS_OBJECT_NAME_COLLISION);
    expect(b.value).toBeNull();
    expect(k.mm.pool.outstandingBlocks).toBe(pool);
    expect(drv.DeviceObject).toBe(a.value);
  });

  it('bad names and arguments get the WDK status; nothing is created', () => {
    const { k, drv } = withDriver();
    const out = ref<DEVICE_OBJECT | null>(null);
    const pool = k.mm.pool.outstandingBlocks;
    expect(IoCreateDevice(k, drv, 0, '', 0, 0, false, out)).toBe(STATUS_OBJECT_NAME_INVALID);
    expect(IoCreateDevice(k, drv, 0, '\\Device\\', 0, 0, false, out)).toBe(STATUS_OBJECT_NAME_INVALID);
    expect(IoCreateDevice(k, drv, 0, '\\Nowhere\\X', 0, 0, false, out)).toBe(STATUS_OBJECT_PATH_NOT_FOUND);
    expect(IoCreateDevice(k, drv, -1, '\\Device\\X', 0, 0, false, out)).toBe(STATUS_INVALID_PARAMETER);
    expect(IoCreateDevice(k, drv, 1.5, '\\Device\\X', 0, 0, false, out)).toBe(STATUS_INVALID_PARAMETER);
    expect(IoCreateDevice(k, drv, 0, '\\Device\\X', NaN, 0, false, out)).toBe(STATUS_INVALID_PARAMETER);
    expect(IoCreateDevice(k, drv, 0, '\\Device\\X', 0, 0, 'yes' as never, out)).toBe(STATUS_INVALID_PARAMETER);
    expect(() => IoCreateDevice(k, {} as never, 0, '\\Device\\X', 0, 0, false, out)).toThrow(/not a driver object/);
    expect(out.value).toBeNull();
    expect(k.mm.pool.outstandingBlocks).toBe(pool);
  });

  it('pool exhaustion or an injected failure is STATUS_INSUFFICIENT_RESOURCES with nothing created', () => {
    const { k, drv } = withDriver();
    const out = ref<DEVICE_OBJECT | null>(null);
    k.faults.setPolicy({ kind: 'always' }, { sites: ['ExAllocatePool2'] });
    expect(IoCreateDevice(k, drv, 16, '\\Device\\F', 0, 0, false, out)).toBe(STATUS_INSUFFICIENT_RESOURCES);
    k.faults.setPolicy({ kind: 'none' });
    expect(IoCreateDevice(k, drv, 16, '\\Device\\F', 0, 0, false, out)).toBe(STATUS_SUCCESS); // the name was not taken
    expect(IoCreateDevice(k, drv, 0xffffffff, '\\Device\\Huge', 0, 0, false, ref(null))).toBe(STATUS_INSUFFICIENT_RESOURCES);
  });

  it('IoDeleteDevice twice raises the access violation of touching a freed object', () => {
    const { k, drv } = withDriver();
    const a = ref<DEVICE_OBJECT | null>(null);
    IoCreateDevice(k, drv, 0, '\\Device\\A', 0, 0, false, a);
    IoDeleteDevice(k, a.value!);
    expect(() => IoDeleteDevice(k, a.value!)).toThrow(/not a live device object/);
  });

  it('an exclusive device admits one open file object (second open: ERROR_ACCESS_DENIED)', () => {
    const k = boot();
    IoLoadDriver(k, 'Excl', (kk, d) => {
      const dev = ref<DEVICE_OBJECT | null>(null);
      IoCreateDevice(kk, d, 0, '\\Device\\Excl', 0, 0, true, dev);
      IoCreateSymbolicLink(kk, '\\DosDevices\\Excl', '\\Device\\Excl');
      d.MajorFunction[0] = (_dev, irp) => {
        irp.IoStatus.Status = 0;
        IoCompleteRequestShim(kk, irp);
        return 0;
      };
      return STATUS_SUCCESS;
    });
    const app = k.ps.createProcess('a');
    app.VirtualAlloc(0, 0x1000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    k.ps.runInProcess(app, () => {
      expect(CreateFile(k, '\\\\.\\Excl', GENERIC_READ, 0, null, OPEN_EXISTING, 0, null)).not.toBe(INVALID_HANDLE_VALUE);
      expect(CreateFile(k, '\\\\.\\Excl', GENERIC_READ, 0, null, OPEN_EXISTING, 0, null)).toBe(INVALID_HANDLE_VALUE);
      expect(GetLastError(k)).toBe(ERROR_ACCESS_DENIED);
    });
  });
});

import { IoCompleteRequest } from '../../src/kernel/io/index.ts';
const IoCompleteRequestShim = (k: Parameters<typeof IoCompleteRequest>[0], irp: Parameters<typeof IoCompleteRequest>[1]) =>
  IoCompleteRequest(k, irp, 0);

describe('IoCreateSymbolicLink / IoDeleteSymbolicLink', () => {
  it('a second link of the same name collides; deleting an unknown link is STATUS_OBJECT_NAME_NOT_FOUND', () => {
    const { k } = withDriver();
    expect(IoCreateSymbolicLink(k, '\\DosDevices\\L', '\\Device\\L')).toBe(STATUS_SUCCESS);
    expect(IoCreateSymbolicLink(k, '\\??\\l', '\\Device\\Other')).toBe(STATUS_OBJECT_NAME_COLLISION);
    expect(IoDeleteSymbolicLink(k, '\\GLOBAL??\\L')).toBe(STATUS_SUCCESS);
    expect(IoDeleteSymbolicLink(k, '\\DosDevices\\L')).toBe(STATUS_OBJECT_NAME_NOT_FOUND);
    expect(IoCreateSymbolicLink(k, 'DosDevices\\L', '\\Device\\L')).not.toBe(STATUS_SUCCESS);
    expect(IoCreateSymbolicLink(k, '\\DosDevices\\L', 42 as never)).toBe(STATUS_OBJECT_NAME_INVALID);
  });

  it('a dangling link or a link cycle opens as ERROR_FILE_NOT_FOUND', () => {
    const { k } = withDriver();
    IoCreateSymbolicLink(k, '\\DosDevices\\Dangling', '\\Device\\Missing');
    IoCreateSymbolicLink(k, '\\DosDevices\\A', '\\??\\B');
    IoCreateSymbolicLink(k, '\\DosDevices\\B', '\\??\\A');
    const app = k.ps.createProcess('a');
    k.ps.runInProcess(app, () => {
      for (const n of ['Dangling', 'A']) {
        expect(CreateFile(k, `\\\\.\\${n}`, GENERIC_READ, 0, null, OPEN_EXISTING, 0, null)).toBe(INVALID_HANDLE_VALUE);
        expect(GetLastError(k)).toBe(ERROR_FILE_NOT_FOUND);
      }
    });
  });
});

/**
 * The fields of the objects the I/O manager builds, as ReactOS kmtests
 * modules/rostests/kmtests/ntos_io/IoDeviceObject_drv.c asserts them on Windows (sizes scaled to
 * x64: sizeof(DEVICE_OBJECT) 0x150, sizeof(DRIVER_OBJECT) 0x150), and WDK "DEVICE_OBJECT structure
 * (wdm.h)", "DRIVER_OBJECT structure (wdm.h)", "IoCreateDevice function (wdm.h)".
 */
describe('IoCreateDevice: the object fields (kmtests IoDeviceObject_drv.c)', () => {
  it('DEVICE_OBJECT: Type 3, Size sizeof(DEVICE_OBJECT) (0x150, not counting the DEVOBJ_EXTENSION), HAS_NAME | INITIALIZING (| EXCLUSIVE)', () => {
    const { k, drv } = withDriver();
    const named = ref<DEVICE_OBJECT | null>(null);
    const exclusive = ref<DEVICE_OBJECT | null>(null);
    const unnamed = ref<DEVICE_OBJECT | null>(null);
    IoCreateDevice(k, drv, 0, '\\Device\\Named', FILE_DEVICE_UNKNOWN, 0, false, named);
    IoCreateDevice(k, drv, 0, '\\Device\\Excl', FILE_DEVICE_UNKNOWN, 0, true, exclusive);
    IoCreateDevice(k, drv, 64, null, FILE_DEVICE_UNKNOWN, 0, false, unnamed);
    for (const d of [named.value!, exclusive.value!, unnamed.value!]) {
      expect(d.Type).toBe(3);
      expect(d.Size).toBe(SIZEOF_DEVICE_OBJECT);
      expect(d.Size).toBe(0x150);
      expect(d.DriverObject).toBe(drv);
      expect(d.StackSize).toBe(1);
    }
    expect(named.value!.Flags).toBe(DO_DEVICE_HAS_NAME | DO_DEVICE_INITIALIZING);
    expect(exclusive.value!.Flags).toBe(DO_DEVICE_HAS_NAME | DO_DEVICE_INITIALIZING | DO_EXCLUSIVE);
    expect(unnamed.value!.Flags).toBe(DO_DEVICE_INITIALIZING);
  });

  it('DeviceObjectExtension: Type 13 (IO_TYPE_DEVICE_OBJECT_EXTENSION), Size 0, pointing back at the device, no flags', () => {
    const { k, drv } = withDriver();
    const d = ref<DEVICE_OBJECT | null>(null);
    IoCreateDevice(k, drv, 0, '\\Device\\Ext', FILE_DEVICE_UNKNOWN, 0, false, d);
    const x = d.value!.DeviceObjectExtension;
    expect([x.Type, x.Size, x.DeviceObject, x.ExtensionFlags]).toEqual([IO_TYPE_DEVICE_OBJECT_EXTENSION, 0, d.value, 0]);
    expect(IO_TYPE_DEVICE_OBJECT_EXTENSION).toBe(13);
  });

  it('a device created in DriverEntry loses DO_DEVICE_INITIALIZING when DriverEntry returns', () => {
    const k = boot();
    let dev: DEVICE_OBJECT | null = null;
    IoLoadDriver(k, 'Early', (kk, d) => {
      const out = ref<DEVICE_OBJECT | null>(null);
      IoCreateDevice(kk, d, 0, '\\Device\\Early', FILE_DEVICE_UNKNOWN, 0, false, out);
      dev = out.value;
      expect(dev!.Flags & DO_DEVICE_INITIALIZING).toBe(DO_DEVICE_INITIALIZING);
      return STATUS_SUCCESS;
    });
    expect(dev!.Flags & DO_DEVICE_INITIALIZING).toBe(0);
  });

  it('"\\Device1\\X" (no such directory) is STATUS_OBJECT_PATH_NOT_FOUND', () => {
    const { k, drv } = withDriver();
    expect(IoCreateDevice(k, drv, 0, '\\Device1\\X', FILE_DEVICE_UNKNOWN, 0, false, ref<DEVICE_OBJECT | null>(null)))
      .toBe(STATUS_OBJECT_PATH_NOT_FOUND);
  });
});

describe('DRIVER_OBJECT fields and ZwLoadDriver / ZwUnloadDriver statuses (kmtests IoDeviceObject_drv.c, Wine driver.c)', () => {
  it('Type 4, Size 0x150; DRVO_LEGACY_DRIVER in DriverEntry, + DRVO_INITIALIZED after it, + DRVO_UNLOAD_INVOKED in DriverUnload with DOE_UNLOAD_PENDING on its devices', () => {
    const k = boot();
    const flags: number[] = [];
    let extensionFlags = -1;
    let drv: DRIVER_OBJECT | null = null;
    IoLoadDriver(k, 'Flags', (kk, d) => {
      drv = d;
      flags.push(d.Flags);
      const out = ref<DEVICE_OBJECT | null>(null);
      IoCreateDevice(kk, d, 0, '\\Device\\Flags', FILE_DEVICE_UNKNOWN, 0, false, out);
      d.DriverUnload = (self) => {
        flags.push(self.Flags);
        extensionFlags = self.DeviceObject!.DeviceObjectExtension.ExtensionFlags;
        IoDeleteDevice(kk, self.DeviceObject!);
      };
      return STATUS_SUCCESS;
    });
    expect([drv!.Type, drv!.Size]).toEqual([4, SIZEOF_DRIVER_OBJECT]);
    expect(SIZEOF_DRIVER_OBJECT).toBe(0x150);
    flags.push(drv!.Flags);
    expect(IoUnloadDriver(k, 'Flags')).toBe(STATUS_SUCCESS);
    expect(flags).toEqual([DRVO_LEGACY_DRIVER, DRVO_LEGACY_DRIVER | DRVO_INITIALIZED,
      DRVO_LEGACY_DRIVER | DRVO_INITIALIZED | DRVO_UNLOAD_INVOKED]);
    expect(extensionFlags & DOE_UNLOAD_PENDING).toBe(DOE_UNLOAD_PENDING);
  });

  it('loading twice is STATUS_IMAGE_ALREADY_LOADED (Wine driver.c); unloading a driver without DriverUnload is STATUS_INVALID_DEVICE_REQUEST, an unknown one STATUS_OBJECT_NAME_NOT_FOUND', () => {
    const k = boot();
    const entry = () => STATUS_SUCCESS;
    expect(IoLoadDriver(k, 'Twice', entry)).toBe(STATUS_SUCCESS);
    expect(IoLoadDriver(k, 'Twice', entry)).toBe(STATUS_IMAGE_ALREADY_LOADED);
    expect(IoUnloadDriver(k, 'Twice')).toBe(STATUS_INVALID_DEVICE_REQUEST);
    expect(IoUnloadDriver(k, 'Nobody')).toBe(STATUS_OBJECT_NAME_NOT_FOUND);
  });
});
