/**
 * The I/O manager of one host: loaded drivers, the \Device and \?? namespace, per-process
 * handle tables, IRPs in flight, driver load and unload, and the call into a driver.
 * [kernel: "Introduction to the I/O Manager", "Writing a DriverEntry Routine", "Writing an
 * Unload Routine"; ddi/wdm nf-wdm-iocalldriver]
 *
 * Implementation notes
 * - Every call into driver code (DriverEntry, dispatch, cancel, unload) goes through
 *   `callDriver`: PASSIVE/DISPATCH as the caller has it, k.currentDriver set to the driver's
 *   service name for the call and restored after (pool tracking, lock tracking and the fault
 *   filter read it). An exception a driver does not handle is bug check 0x1E
 *   KMODE_EXCEPTION_NOT_HANDLED, as in Windows; a bug check passes through unchanged.
 * - Unload follows IopUnloadDriver: no DriverUnload → the driver cannot be stopped
 *   (STATUS_INVALID_DEVICE_REQUEST); a device of the driver still open → unload is deferred
 *   and DriverUnload runs when the last file object on its devices closes; meanwhile new opens
 *   fail. Calling into a driver after its unload is bug check 0xCE
 *   DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS.
 * - Process exit (the ProcessManager's exit handler, in the process's context): first every
 *   IRP the process has in flight is cancelled (IoCancelThreadIo), then its handles are closed
 *   lowest first, each last close sending IRP_MJ_CLEANUP then IRP_MJ_CLOSE.
 */
import type { Kernel } from '../kernel.ts';
import type { Process } from '../ps/process.ts';
import {
  BugCheck, DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, DRIVER_VERIFIER_IOMANAGER_VIOLATION, IRQL_NOT_LESS_OR_EQUAL,
  KMODE_EXCEPTION_NOT_HANDLED, NO_MORE_IRP_STACK_LOCATIONS,
} from '../bugcheck.ts';
import { DISPATCH_LEVEL, PASSIVE_LEVEL } from '../irql.ts';
import type { Ref } from '../ref.ts';
import {
  ExRaiseStatus, NtStatusError, NT_SUCCESS, STATUS_ACCESS_VIOLATION, STATUS_INVALID_DEVICE_REQUEST,
  STATUS_INVALID_PARAMETER, STATUS_OBJECT_NAME_INVALID, STATUS_OBJECT_NAME_NOT_FOUND, STATUS_PENDING, STATUS_SUCCESS,
  statusName, type NTSTATUS,
} from '../status.ts';
import {
  DO_DEVICE_INITIALIZING, DOE_DELETE_PENDING, DOE_UNLOAD_PENDING, isDeviceObject, type DEVICE_OBJECT,
} from './device-object.ts';
import {
  DRVO_INITIALIZED, DRVO_UNLOAD_INVOKED, isDriverObject, newDriverObject, type DRIVER_OBJECT, type PDRIVER_INITIALIZE,
} from './driver-object.ts';
import { FO_CLEANUP_COMPLETE, type FILE_OBJECT } from './file-object.ts';
import { HandleTable } from './handle-table.ts';
import { iopFreeIrpPacket, IoLookasideLists, IopInitLookasideLists } from './io-lookaside.ts';
import { freePool, TAG_DEVICE, TAG_FILE } from './io-pool.ts';
import {
  IoGetCurrentIrpStackLocation, IRP_MJ_CLEANUP, IRP_MJ_CLOSE, IRP_MJ_MAXIMUM_FUNCTION, isIrp, newIrp, KernelMode,
  type IRP,
} from './irp.ts';
import { FILE_OBJECT_BYTES } from './file-object.ts';
import { IoCancelIrp } from './irp-completion.ts';
import { ObjectNamespace } from './object-namespace.ts';

/** ZwLoadDriver's answer for a service that is already running. */
export const STATUS_IMAGE_ALREADY_LOADED = 0xc000010e;

/**
 * Thrown when a synchronous request would make the calling thread wait for an IRP that is
 * still pending. Windows would block the thread until the driver completes it; this
 * emulator runs one thread of control, so the wait can never end. The request stays pending
 * (the process's exit still cancels it). Open the device with FILE_FLAG_OVERLAPPED and use
 * GetOverlappedResult to model such requests.
 */
export class SynchronousIoWouldBlock extends Error {
  override readonly name = 'SynchronousIoWouldBlock';
}

export interface IoCounters {
  drivers: number;
  devices: number;
  symbolicLinks: number;
  fileObjects: number;
  handles: number;
  irpsAllocated: number;
  irpsFreed: number;
  irpsOutstanding: number;
  systemBuffersOutstanding: number;
  mdlsOutstanding: number;
}

/** A driver bug the I/O manager noticed but Windows does not bug-check for. */
export interface IoFinding {
  driver: string;
  message: string;
}

const hex = (v: number) => `0x${Math.trunc(v).toString(16)}`;

export class IoManager {
  readonly namespace = new ObjectNamespace();
  private readonly drivers = new Map<string, DRIVER_OBJECT>();
  /** Drivers whose DriverEntry is running (devices created now are readied after it). */
  private readonly initializing = new Set<DRIVER_OBJECT>();
  private readonly handleTables = new Map<Process, HandleTable<FILE_OBJECT>>();
  readonly fileObjects = new Set<FILE_OBJECT>();
  readonly irpsInFlight = new Set<IRP>();
  private readonly devices = new Set<DEVICE_OBJECT>();
  readonly findings: IoFinding[] = [];
  /** The cancel spin lock (IoAcquireCancelSpinLock). */
  cancelLockHeld = false;
  irpsAllocated = 0;
  irpsFreed = 0;
  systemBuffersOutstanding = 0;
  mdlsOutstanding = 0;
  /** The small-IRP, large-IRP and MDL lookaside lists and the IRP float (io-lookaside.ts). */
  readonly lookasideLists = new IoLookasideLists();
  private exitHookInstalled = false;

  constructor(readonly k: Kernel) {}

  /** @internal IopInitLookasideLists, once the executive's lookaside lists and pool exist (boot). */
  initializeLookasideLists(): void {
    IopInitLookasideLists(this.k, this.lookasideLists);
  }

  counters(): IoCounters {
    let handles = 0;
    for (const t of this.handleTables.values()) handles += t.count;
    return {
      drivers: this.drivers.size,
      devices: this.devices.size,
      symbolicLinks: this.namespace.linkCount,
      fileObjects: this.fileObjects.size,
      handles,
      irpsAllocated: this.irpsAllocated,
      irpsFreed: this.irpsFreed,
      irpsOutstanding: this.irpsInFlight.size,
      systemBuffersOutstanding: this.systemBuffersOutstanding,
      mdlsOutstanding: this.mdlsOutstanding,
    };
  }

  /** The loaded driver with this service name (case-insensitive), or null. */
  driver(serviceName: string): DRIVER_OBJECT | null {
    return typeof serviceName === 'string' ? this.drivers.get(serviceName.toUpperCase()) ?? null : null;
  }

  /**
   * The emulator's rule for "callers must be running at IRQL <= X": above it is a driver bug,
   * reported as IRQL_NOT_LESS_OR_EQUAL (P1 0, P2 the IRQL, P4 0) naming the routine.
   */
  checkIrql(maximum: number, routine: string): void {
    this.k.bugcheck.assertRunning();
    if (this.k.irql > maximum) {
      this.k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, 0, this.k.irql, 0, 0,
        `${routine} called at IRQL ${this.k.irql}; it requires IRQL <= ${maximum}`);
    }
  }

  isLiveDriverObject(d: unknown): d is DRIVER_OBJECT {
    return isDriverObject(d) && (d.io.state === 'initializing' || d.io.state === 'loaded' || d.io.state === 'unload-pending') &&
      (this.drivers.get(d.DriverExtension.ServiceKeyName.toUpperCase()) === d || this.initializing.has(d));
  }

  /** The driver object of k.currentDriver: loaded, or still in its DriverEntry; else null. */
  currentDriverObject(): DRIVER_OBJECT | null {
    const name = this.k.currentDriver;
    if (name === null) return null;
    const loaded = this.driver(name);
    if (loaded) return loaded;
    for (const d of this.initializing) if (d.DriverExtension.ServiceKeyName.toUpperCase() === name.toUpperCase()) return d;
    return null;
  }

  isInDriverEntry(d: DRIVER_OBJECT): boolean {
    return this.initializing.has(d);
  }

  noteDeviceCreated(device: DEVICE_OBJECT): void {
    this.devices.add(device);
  }

  /** @internal free the device object's pool block (creation failure or last reference). */
  freeDeviceMemory(device: DEVICE_OBJECT): void {
    device.io.freed = true;
    this.devices.delete(device);
    freePool(this.k, device.address, TAG_DEVICE);
  }

  /** @internal IoDeleteDevice's work. */
  deleteDevice(device: DEVICE_OBJECT): void {
    if (device.DeviceName !== null) this.namespace.removeDevice(device.DeviceName, device);
    const driver = device.DriverObject;
    if (driver.DeviceObject === device) {
      driver.DeviceObject = device.NextDevice;
    } else {
      for (let d = driver.DeviceObject; d; d = d.NextDevice) {
        if (d.NextDevice === device) {
          d.NextDevice = device.NextDevice;
          break;
        }
      }
    }
    device.NextDevice = null;
    device.io.deletePending = true;
    device.DeviceObjectExtension.ExtensionFlags |= DOE_DELETE_PENDING;
    if (device.ReferenceCount === 0) this.freeDeviceMemory(device);
  }

  /**
   * Run driver code with k.currentDriver naming the driver. Unhandled exceptions in driver
   * code become KMODE_EXCEPTION_NOT_HANDLED (P1 the exception code).
   */
  callDriver<T>(driver: DRIVER_OBJECT, what: string, fn: () => T): T {
    const k = this.k;
    k.bugcheck.assertRunning();
    if (driver.io.state === 'unloaded' || driver.io.state === 'failed') {
      k.bugcheck.KeBugCheckEx(DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS, 0, 0, 0, 0,
        `${what}: call into ${driver.DriverName}, which is no longer loaded`);
    }
    const saved = k.currentDriver;
    k.currentDriver = driver.DriverExtension.ServiceKeyName;
    try {
      return fn();
    } catch (e) {
      if (e instanceof BugCheck || e instanceof SynchronousIoWouldBlock) throw e;
      const code = e instanceof NtStatusError ? e.status : STATUS_ACCESS_VIOLATION;
      const message = e instanceof Error ? e.message : String(e);
      return k.bugcheck.KeBugCheckEx(KMODE_EXCEPTION_NOT_HANDLED, code, 0, 0, 0,
        `unhandled exception in ${driver.DriverName} (${what}): ${message}`);
    } finally {
      k.currentDriver = saved;
    }
  }

  /** The handle table of a process, created on first use. */
  handleTable(process: Process): HandleTable<FILE_OBJECT> {
    this.installExitHook();
    let t = this.handleTables.get(process);
    if (!t) {
      t = new HandleTable<FILE_OBJECT>();
      this.handleTables.set(process, t);
    }
    return t;
  }

  /** Handle table of a process if it has one (no creation). */
  existingHandleTable(process: Process): HandleTable<FILE_OBJECT> | null {
    return this.handleTables.get(process) ?? null;
  }

  private installExitHook(): void {
    if (this.exitHookInstalled) return;
    this.exitHookInstalled = true;
    this.k.ps.addExitHandler((p) => this.processRundown(p));
  }

  /** Process exit: cancel its IRPs in flight, then close every handle (cleanup, close). */
  private processRundown(process: Process): void {
    for (const irp of [...this.irpsInFlight]) {
      if (irp.Tail.Overlay.Thread === process && irp.io.state === 'dispatched') IoCancelIrp(this.k, irp);
    }
    const table = this.handleTables.get(process);
    if (!table) return;
    for (const h of table.handles()) this.closeHandle(process, h);
    this.handleTables.delete(process);
  }

  /** @internal CloseHandle / NtClose: false when the handle is not valid in the process. */
  closeHandle(process: Process, handle: unknown): boolean {
    const table = this.handleTables.get(process);
    const fo = table?.remove(handle) ?? null;
    if (!fo) return false;
    fo.io.handleCount--;
    if (fo.io.handleCount === 0) this.sendCleanup(fo, process);
    this.dereferenceFileObject(fo);
    return true;
  }

  /** @internal a file object opened but not kept (no handle could be made): cleanup, close. */
  abandonFileObject(fo: FILE_OBJECT, process: Process): void {
    fo.io.handleCount = 0;
    this.sendCleanup(fo, process);
    this.dereferenceFileObject(fo);
  }

  /** @internal one more reference on a file object (an IRP in flight). */
  referenceFileObject(fo: FILE_OBJECT): void {
    fo.io.references++;
  }

  /** @internal the last reference sends IRP_MJ_CLOSE and frees the file object. */
  dereferenceFileObject(fo: FILE_OBJECT): void {
    if (fo.io.references <= 0) throw new Error(`I/O manager invariant: file object ${hex(fo.address)} over-dereferenced`);
    fo.io.references--;
    if (fo.io.references > 0) return;
    if (fo.io.handleCount === 0 && (fo.Flags & FO_CLEANUP_COMPLETE) !== 0) this.sendClose(fo);
    this.freeFileObject(fo);
  }

  /** @internal release a file object that never got (or no longer has) a handle. */
  freeFileObject(fo: FILE_OBJECT): void {
    fo.io.closed = true;
    this.fileObjects.delete(fo);
    freePool(this.k, fo.address, TAG_FILE);
    const device = fo.DeviceObject;
    device.ReferenceCount--;
    if (device.ReferenceCount === 0) {
      if (device.io.deletePending && !device.io.freed) this.freeDeviceMemory(device);
      const driver = device.DriverObject;
      if (driver.io.state === 'unload-pending' && !this.driverHasOpenDevices(driver)) this.runUnload(driver);
    }
  }

  private sendCleanup(fo: FILE_OBJECT, process: Process): void {
    const run = () => this.sendReserveIrp(fo, IRP_MJ_CLEANUP, process);
    if (this.k.ps.current === process) run();
    else this.k.ps.runInProcess(process, run);
    fo.Flags |= FO_CLEANUP_COMPLETE;
  }

  private sendClose(fo: FILE_OBJECT): void {
    this.sendReserveIrp(fo, IRP_MJ_CLOSE, null);
  }

  /**
   * IRP_MJ_CLEANUP / IRP_MJ_CLOSE on the file object's reserve packet. Both are synchronous
   * for the caller: a driver that leaves one pending would hang the thread in Windows.
   */
  private sendReserveIrp(fo: FILE_OBJECT, major: number, process: Process | null): void {
    const irp = newIrp(fo.address + FILE_OBJECT_BYTES, fo.DeviceObject.StackSize, true);
    irp.RequestorMode = KernelMode;
    irp.Tail.Overlay.Thread = process;
    irp.Tail.Overlay.OriginalFileObject = fo;
    const sl = irp.Stack[irp.StackCount - 1]!;
    sl.MajorFunction = major;
    sl.FileObject = fo;
    this.irpsInFlight.add(irp);
    const status = IoCallDriver(this.k, fo.DeviceObject, irp);
    if (irp.io.state !== 'freed') {
      const name = major === IRP_MJ_CLEANUP ? 'IRP_MJ_CLEANUP' : 'IRP_MJ_CLOSE';
      throw new SynchronousIoWouldBlock(
        `${fo.DeviceObject.DriverObject.DriverName} returned ${statusName(status)} for ${name} without completing ` +
          `IRP ${hex(irp.address)}; the closing thread would wait forever`);
    }
  }

  private driverHasOpenDevices(driver: DRIVER_OBJECT): boolean {
    for (const d of this.devices) if (d.DriverObject === driver && d.ReferenceCount > 0) return true;
    return false;
  }

  /** @internal ZwLoadDriver's work. */
  load(serviceName: string, DriverEntry: PDRIVER_INITIALIZE): { status: NTSTATUS; driver: DRIVER_OBJECT | null } {
    const key = serviceName.toUpperCase();
    if (this.drivers.has(key)) return { status: STATUS_IMAGE_ALREADY_LOADED, driver: null };
    const driver = newDriverObject(this.k, serviceName);
    const registryPath = `\\Registry\\Machine\\System\\CurrentControlSet\\Services\\${serviceName}`;
    this.initializing.add(driver);
    let status: NTSTATUS;
    try {
      status = this.callDriver(driver, 'DriverEntry', () => DriverEntry(this.k, driver, registryPath));
    } finally {
      this.initializing.delete(driver);
    }
    if (typeof status !== 'number' || !Number.isInteger(status)) {
      status = STATUS_INVALID_PARAMETER;
      this.findings.push({ driver: serviceName, message: 'DriverEntry returned something that is not an NTSTATUS' });
    }
    if (!NT_SUCCESS(status)) {
      // DriverUnload is not called after a failed DriverEntry; devices the driver failed to
      // delete stay behind (and keep their names), as they do in Windows.
      driver.io.state = 'failed';
      return { status: status >>> 0, driver: null };
    }
    for (let i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++) {
      const f = driver.MajorFunction[i];
      if (f === null || f === undefined) driver.MajorFunction[i] = driver.io.invalidRequest;
      else if (typeof f !== 'function') {
        this.findings.push({ driver: serviceName, message: `MajorFunction[${hex(i)}] is not a routine` });
        driver.MajorFunction[i] = driver.io.invalidRequest;
      }
    }
    // Devices created during DriverEntry are readied by the I/O manager once it returns.
    for (let d = driver.DeviceObject; d; d = d.NextDevice) {
      if (d.io.createdDuringDriverEntry) d.Flags &= ~DO_DEVICE_INITIALIZING;
    }
    driver.io.state = 'loaded';
    driver.Flags |= DRVO_INITIALIZED;
    this.drivers.set(key, driver);
    return { status: status >>> 0, driver };
  }

  /** @internal ZwUnloadDriver's work. */
  unload(serviceName: string): NTSTATUS {
    const driver = this.drivers.get(serviceName.toUpperCase());
    if (!driver || driver.io.state !== 'loaded') return STATUS_OBJECT_NAME_NOT_FOUND;
    if (typeof driver.DriverUnload !== 'function') return STATUS_INVALID_DEVICE_REQUEST;
    if (this.driverHasOpenDevices(driver)) {
      driver.io.state = 'unload-pending';
      return STATUS_SUCCESS;
    }
    this.runUnload(driver);
    return STATUS_SUCCESS;
  }

  private runUnload(driver: DRIVER_OBJECT): void {
    const unload = driver.DriverUnload!;
    driver.Flags |= DRVO_UNLOAD_INVOKED;
    for (let d = driver.DeviceObject; d; d = d.NextDevice) d.DeviceObjectExtension.ExtensionFlags |= DOE_UNLOAD_PENDING;
    this.callDriver(driver, 'DriverUnload', () => unload(driver));
    driver.io.state = 'unloaded';
    this.drivers.delete(driver.DriverExtension.ServiceKeyName.toUpperCase());
    for (let d = driver.DeviceObject; d; d = d.NextDevice) {
      this.findings.push({ driver: driver.DriverExtension.ServiceKeyName,
        message: `DriverUnload left device object ${hex(d.address)} (${d.DeviceName ?? 'unnamed'}) undeleted` });
    }
    this.k.verifier?.driverUnloaded(driver.DriverExtension.ServiceKeyName);
  }

  /** @internal checks an open of `device` must pass before IRP_MJ_CREATE is built. */
  openable(device: DEVICE_OBJECT): boolean {
    return !device.io.deletePending && (device.Flags & DO_DEVICE_INITIALIZING) === 0 &&
      device.DriverObject.io.state === 'loaded';
  }

  /**
   * @internal pool block of a packet from IoAllocateIrp (reserve and IoInitializeIrp packets have
   * none): back to its lookaside list, or to pool (io-lookaside.ts).
   */
  freeIrpMemory(irp: IRP): void {
    if (irp.io.reserve || irp.io.kind === 'initialized') return;
    iopFreeIrpPacket(this.k, irp);
  }
}

/**
 * IoLoadDriver: what ZwLoadDriver does for a service, with the image's entry point given
 * directly (there is no image loader). Creates "\Driver\<ServiceName>", calls
 * DriverEntry(k, DriverObject, RegistryPath) at PASSIVE_LEVEL. Returns DriverEntry's status
 * (the driver object is discarded on failure), STATUS_IMAGE_ALREADY_LOADED for a second load.
 */
export function IoLoadDriver(
  k: Kernel,
  ServiceName: string,
  DriverEntry: PDRIVER_INITIALIZE,
  DriverObject: Ref<DRIVER_OBJECT | null> | null = null,
): NTSTATUS {
  k.io.checkIrql(PASSIVE_LEVEL, 'IoLoadDriver');
  if (typeof ServiceName !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(ServiceName)) return STATUS_OBJECT_NAME_INVALID;
  if (typeof DriverEntry !== 'function') return STATUS_INVALID_PARAMETER;
  if (DriverObject !== null && (typeof DriverObject !== 'object' || !('value' in DriverObject))) return STATUS_INVALID_PARAMETER;
  const { status, driver } = k.io.load(ServiceName, DriverEntry);
  if (DriverObject !== null && driver) DriverObject.value = driver;
  return status;
}

/**
 * IoUnloadDriver: ZwUnloadDriver for a service. STATUS_OBJECT_NAME_NOT_FOUND when not
 * loaded; STATUS_INVALID_DEVICE_REQUEST when the driver has no DriverUnload (it cannot be
 * stopped); otherwise success, with DriverUnload run now or, while its devices are open,
 * when the last one closes.
 */
export function IoUnloadDriver(k: Kernel, ServiceName: string): NTSTATUS {
  k.io.checkIrql(PASSIVE_LEVEL, 'IoUnloadDriver');
  if (typeof ServiceName !== 'string') return STATUS_OBJECT_NAME_INVALID;
  return k.io.unload(ServiceName);
}

/**
 * IoCallDriver (IRQL <= DISPATCH_LEVEL): move the IRP to the next stack location and call
 * the device's driver through MajorFunction[]. [ddi/wdm nf-wdm-iocalldriver]
 * Out of stack locations is bug check NO_MORE_IRP_STACK_LOCATIONS (0x35).
 */
export function IoCallDriver(k: Kernel, DeviceObject: DEVICE_OBJECT, Irp: IRP): NTSTATUS {
  const io = k.io;
  k.bugcheck.assertRunning();
  const verifier = Boolean(k.config.verifier);
  if (!isIrp(Irp)) {
    if (verifier) k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x03, 0, 0, 0, 'IoCallDriver: not an IRP');
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoCallDriver: Irp is not an IRP');
  }
  if (!isDeviceObject(DeviceObject) || DeviceObject.io.freed) {
    if (verifier) k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x04, 0, 0, 0, 'IoCallDriver: invalid device object');
    ExRaiseStatus(STATUS_ACCESS_VIOLATION, 'IoCallDriver: DeviceObject is not a live device object');
  }
  if (k.irql > DISPATCH_LEVEL) {
    if (verifier) k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x10, k.irql, 0, 0, 'IoCallDriver above DISPATCH_LEVEL');
    io.checkIrql(DISPATCH_LEVEL, 'IoCallDriver');
  }
  if (Irp.CurrentLocation <= 1) {
    k.bugcheck.KeBugCheckEx(NO_MORE_IRP_STACK_LOCATIONS, Irp.address, 0, 0, 0,
      `IoCallDriver: IRP ${hex(Irp.address)} has no stack location left for ${DeviceObject.DriverObject.DriverName}`);
  }
  Irp.CurrentLocation--;
  const sl = IoGetCurrentIrpStackLocation(Irp);
  sl.DeviceObject = DeviceObject;
  Irp.io.state = 'dispatched';
  const driver = DeviceObject.DriverObject;
  const routine = driver.MajorFunction[sl.MajorFunction] ?? driver.io.invalidRequest;
  const irqlBefore = k.irql;
  const status = io.callDriver(driver, `MajorFunction[${hex(sl.MajorFunction)}]`, () => routine(DeviceObject, Irp));
  if (verifier && k.irql !== irqlBefore) {
    k.bugcheck.KeBugCheckEx(DRIVER_VERIFIER_IOMANAGER_VIOLATION, 0x05, DeviceObject.address, irqlBefore, k.irql,
      `${driver.DriverName} returned from dispatch at IRQL ${k.irql} (called at ${irqlBefore})`);
  }
  if (typeof status !== 'number' || !Number.isInteger(status)) {
    io.findings.push({ driver: driver.DriverExtension.ServiceKeyName, message: `dispatch returned a non-NTSTATUS (${String(status)})` });
    return STATUS_INVALID_DEVICE_REQUEST;
  }
  return status >>> 0 === STATUS_PENDING ? STATUS_PENDING : status >>> 0;
}
