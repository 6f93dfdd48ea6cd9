/**
 * Registering a user buffer with the NIC in place (zero copy).
 *
 * The driver builds and locks its own MDL in the caller's context: the registration outlives
 * the IOCTL, and Irp->MdlAddress belongs to the I/O manager, which unlocks and frees it when
 * the IRP completes. MmProbeAndLockPages(UserMode) faults the pages in, checks the access the
 * registration needs against the page protection, and raises on a bad range; the raise is
 * caught here (the driver's __try/__except) and becomes the IRP's status.
 *
 * A NIC is never handed an address it cannot reach (bus-addresses.ts): a 32-bit NIC without
 * DMA remapping on a NOLOWMEM host gets STATUS_NOT_SUPPORTED for every user buffer — the
 * driver does not stage on its own, because it cannot know when the NIC has finished with a
 * buffer that the provider drives from user mode. The provider knows (it posts the work and
 * reaps the completions), so it stages through low memory from ALLOCATE_MEMORY instead.
 */
import type { Kernel } from '../kernel/kernel.ts';
import {
  IoAllocateMdl,
  IoFreeMdl,
  IoReadAccess,
  IoWriteAccess,
  MmProbeAndLockPages,
  MmUnlockPages,
  UserMode,
  type Mdl,
} from '../kernel/mm/index.ts';
import { NtStatusError, STATUS_INSUFFICIENT_RESOURCES, STATUS_SUCCESS, type NTSTATUS } from '../kernel/status.ts';
import { mapForNic, unmapForNic } from './bus-addresses.ts';
import {
  SANPROXY_LOCAL_READ, SANPROXY_LOCAL_WRITE, SANPROXY_REMOTE_READ, SANPROXY_REMOTE_WRITE,
} from './interface.ts';
import type { ProxyNic } from './nic-adapter.ts';
import { forgetNicRegion, noNicRegion, registerWithNic } from './nic-region.ts';
import type { BusMapping, ProxyOpen, UserRegistration } from './open-context.ts';
import type { ProxyRecords } from './records.ts';

export interface RegisterRequest {
  nic: ProxyNic;
  address: number;
  length: number;
  access: number;
  bindEndpoint: number;
}

export function registerUserBuffer(
  k: Kernel,
  open: ProxyOpen,
  request: RegisterRequest,
  nextId: () => number,
  records: ProxyRecords,
): { status: NTSTATUS; registration: UserRegistration | null } {
  const { nic: pnic, address, length, access, bindEndpoint } = request;
  const nicWrites = (access & (SANPROXY_LOCAL_WRITE | SANPROXY_REMOTE_WRITE)) !== 0;
  const nicReads = (access & (SANPROXY_LOCAL_READ | SANPROXY_REMOTE_READ)) !== 0;
  let recordVa = 0;
  let mdl: Mdl | null = null;
  let locked = false;
  let bus: BusMapping | null = null;
  const region = noNicRegion();
  const fail = (status: NTSTATUS) => {
    forgetNicRegion(pnic, region);
    if (bus !== null) unmapForNic(k, pnic, bus);
    if (locked) MmUnlockPages(k, mdl!);
    if (mdl !== null) IoFreeMdl(k, mdl);
    if (recordVa !== 0) records.free('registration', recordVa);
    return { status, registration: null };
  };

  // The per-request record: from the driver's lookaside list (records.ts).
  const record = records.allocate('registration');
  if (record === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
  recordVa = record;
  mdl = IoAllocateMdl(k, address, length, false, false, null);
  if (mdl === null) return fail(STATUS_INSUFFICIENT_RESOURCES);
  try {
    // The NIC writing the pages is a write operation on them (IoWriteAccess also allows reads).
    MmProbeAndLockPages(k, mdl, UserMode, nicWrites ? IoWriteAccess : IoReadAccess);
    locked = true;
  } catch (e) {
    if (e instanceof NtStatusError) return fail(e.status);
    throw e;
  }
  const mapped = mapForNic(k, pnic, mdl, nicReads || !nicWrites, nicWrites);
  if (mapped.mapping === null) return fail(mapped.status);
  bus = mapped.mapping;
  const spec = { pages: bus.pages, firstByteOffset: mdl.ByteOffset, length, access };
  const registered = registerWithNic(pnic, open.process.ProcessId, spec, bindEndpoint, region);
  if (registered !== STATUS_SUCCESS) return fail(registered);
  const registration: UserRegistration = {
    id: nextId(),
    nic: pnic,
    address,
    length,
    mdl,
    bus,
    handle: region.handle,
    remoteKey: region.remoteKey,
    access,
    recordVa,
    window: region.window,
  };
  open.registrations.set(registration.id, registration);
  return { status: STATUS_SUCCESS, registration };
}

/** The NIC forgets the pages first; then they are unmapped from its domain and unlocked. */
export function deregisterUserBuffer(k: Kernel, open: ProxyOpen, r: UserRegistration, records: ProxyRecords): void {
  forgetNicRegion(r.nic, r);
  unmapForNic(k, r.nic, r.bus);
  MmUnlockPages(k, r.mdl);
  IoFreeMdl(k, r.mdl);
  records.free('registration', r.recordVa);
  open.registrations.delete(r.id);
}
