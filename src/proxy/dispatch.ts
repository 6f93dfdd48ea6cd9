/**
 * The proxy driver's IRP handlers: CREATE, CLEANUP, CLOSE and DEVICE_CONTROL on
 * \Device\SanProxy. IOCTLs are METHOD_BUFFERED (interface.ts): input is read from the nonpaged
 * SystemBuffer, output written back to it, and Information says how many bytes to copy out.
 * All run at PASSIVE_LEVEL in the caller's context, which the driver relies on: it locks user
 * pages, secures ranges and maps memory into exactly the process that asked.
 * [network: "Implementing IOCTLs for a SAN Service Provider"; kernel: "Buffer Descriptions for
 * I/O Control Codes", "DispatchCleanup Routines"]
 */
import { traceSpan } from '../bus/trace.ts';
import { PAGE_SIZE, pageOffset } from '../bus/index.ts';
import { MM_USER_PROBE_ADDRESS } from '../kernel/mm/index.ts';
import {
  IO_NO_INCREMENT,
  IoCompleteRequest,
  IoGetCurrentIrpStackLocation,
  type DEVICE_OBJECT,
  type IRP,
} from '../kernel/io/index.ts';
import {
  ExAllocatePool2,
  ExFreePoolWithTag,
  MmSecureVirtualMemory,
  MmUnsecureVirtualMemory,
  PAGE_READONLY,
  PAGE_READWRITE,
  POOL_FLAG_NON_PAGED,
} from '../kernel/mm/index.ts';
import type { Kernel } from '../kernel/kernel.ts';
import {
  STATUS_ACCESS_VIOLATION,
  STATUS_BUFFER_OVERFLOW,
  STATUS_BUFFER_TOO_SMALL,
  STATUS_HOST_UNREACHABLE,
  STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_DEVICE_REQUEST,
  STATUS_INVALID_HANDLE,
  STATUS_INVALID_PARAMETER,
  STATUS_NOT_SUPPORTED,
  STATUS_SUCCESS,
  type NTSTATUS,
} from '../kernel/status.ts';
import { NicStatus } from '../nic/index.ts';
import { TAG_OPEN } from './constants.ts';
import {
  SANPROXY_REQUESTS as R,
  decode,
  encode,
  encodeAddressList,
  ioctlSpec,
  replyLayout,
  type IoctlSpec,
  SANPROXY_ACCESS_MASK,
  SANPROXY_LOCAL_WRITE,
  SANPROXY_REMOTE_WRITE,
  SANPROXY_WINDOW_BIND,
  TRANSLATE_IP_TO_SAN,
  TRANSLATE_SAN_TO_IP,
} from './interface.ts';
import { allocateLowMemory, releaseLowMemory } from './low-memory.ts';
import type { ProxyNic } from './nic-adapter.ts';
import { ntStatusFromNic } from './nic-status.ts';
import { ProxyOpen } from './open-context.ts';
import { deregisterUserBuffer, registerUserBuffer } from './registrations.ts';
import type { ProxyDriverState } from './state.ts';

/** Complete with a status and Information, returning the status (the dispatch routine's result). */
function complete(k: Kernel, irp: IRP, status: NTSTATUS, information = 0): NTSTATUS {
  irp.IoStatus.Status = status;
  irp.IoStatus.Information = information;
  IoCompleteRequest(k, irp, IO_NO_INCREMENT);
  return status;
}

function openOf(irp: IRP): ProxyOpen | null {
  const context = IoGetCurrentIrpStackLocation(irp).FileObject?.FsContext;
  return context instanceof ProxyOpen ? context : null;
}

export function dispatchCreate(state: ProxyDriverState, _device: DEVICE_OBJECT, irp: IRP): NTSTATUS {
  const k = state.k;
  const fileObject = IoGetCurrentIrpStackLocation(irp).FileObject;
  const process = irp.Tail.Overlay.Thread ?? k.ps.current;
  if (fileObject === null) return complete(k, irp, STATUS_INVALID_PARAMETER);
  const contextVa = ExAllocatePool2(k, POOL_FLAG_NON_PAGED, 64, TAG_OPEN);
  if (contextVa === null) return complete(k, irp, STATUS_INSUFFICIENT_RESOURCES);
  const open = new ProxyOpen(process, contextVa);
  fileObject.FsContext = open;
  state.opens.add(open);
  return complete(k, irp, STATUS_SUCCESS);
}

/**
 * IRP_MJ_CLEANUP: the last handle is closing, in the closer's context (the process that owns
 * the mappings and locks). Undo everything this open still holds, NIC activity first.
 */
export function dispatchCleanup(state: ProxyDriverState, _device: DEVICE_OBJECT, irp: IRP): NTSTATUS {
  const k = state.k;
  const open = openOf(irp);
  if (open !== null) releaseEverything(state, open);
  return complete(k, irp, STATUS_SUCCESS);
}

export function releaseEverything(state: ProxyDriverState, open: ProxyOpen): void {
  const k = state.k;
  const owner = open.process.ProcessId;
  for (const [key, e] of open.endpoints) {
    e.nic.nic.destroyEndpoint(owner, e.endpoint);
    e.nic.nic.destroyCompletionQueue(owner, e.completionQueue);
    open.endpoints.delete(key);
    state.counters.cleanupReleases++;
  }
  for (const r of [...open.registrations.values()]) {
    deregisterUserBuffer(k, open, r, state.records);
    state.counters.cleanupReleases++;
  }
  for (const a of [...open.allocations.values()]) {
    releaseLowMemory(k, open, a, state.lowMemory, state.records);
    state.counters.cleanupReleases++;
  }
  for (const h of [...open.secured]) {
    MmUnsecureVirtualMemory(k, h);
    open.secured.delete(h);
    state.counters.cleanupReleases++;
  }
}

export function dispatchClose(state: ProxyDriverState, _device: DEVICE_OBJECT, irp: IRP): NTSTATUS {
  const k = state.k;
  const open = openOf(irp);
  if (open !== null) {
    // CLEANUP released everything; CLOSE only frees the context.
    if (!open.isEmpty) throw new Error('SanProxy invariant: IRP_MJ_CLOSE with resources still held (CLEANUP must run first)');
    ExFreePoolWithTag(k, open.contextVa, TAG_OPEN);
    state.opens.delete(open);
    IoGetCurrentIrpStackLocation(irp).FileObject!.FsContext = null;
  }
  return complete(k, irp, STATUS_SUCCESS);
}

interface Buffers {
  input: Uint8Array;
  inputLength: number;
  outputLength: number;
}

export function dispatchDeviceControl(state: ProxyDriverState, _device: DEVICE_OBJECT, irp: IRP): NTSTATUS {
  const k = state.k;
  const stack = IoGetCurrentIrpStackLocation(irp);
  const { IoControlCode, InputBufferLength, OutputBufferLength } = stack.Parameters.DeviceIoControl;
  const open = openOf(irp);
  // Only our codes, all METHOD_BUFFERED, reach a buffer: any other code (another method, so no
  // SystemBuffer) is refused before the driver touches memory it was not given.
  const spec = ioctlSpec(IoControlCode);
  if (open === null || spec === null) return complete(k, irp, STATUS_INVALID_DEVICE_REQUEST);
  const systemBuffer = irp.AssociatedIrp.SystemBuffer;
  if (systemBuffer === null && (InputBufferLength > 0 || OutputBufferLength > 0)) return complete(k, irp, STATUS_INVALID_PARAMETER);
  const inputBytes = new Uint8Array(InputBufferLength);
  if (InputBufferLength > 0) k.mm.system.read(systemBuffer!, inputBytes);
  const b: Buffers = { input: inputBytes, inputLength: InputBufferLength, outputLength: OutputBufferLength };
  state.counters.ioctls++;
  const result = traceSpan(k.trace, k.name, open.process.ProcessId, 'ioctl', 'IRP_MJ_DEVICE_CONTROL', { IoControlCode },
    () => handle(state, open, spec, b), (r) => ({ status: r.status >>> 0 }));
  if (result.output) k.mm.system.write(systemBuffer!, result.output);
  return complete(k, irp, result.status, result.output?.length ?? 0);
}

interface Result {
  status: NTSTATUS;
  output?: Uint8Array;
}

const fail = (status: NTSTATUS): Result => ({ status });

function nicAt(state: ProxyDriverState, index: number): ProxyNic | null {
  return Number.isInteger(index) && index >= 0 && index < state.nics.length ? state.nics[index]! : null;
}

function validUserRange(address: number, length: number): boolean {
  return address > 0 && length > 0 && address + length <= MM_USER_PROBE_ADDRESS;
}

function validAccess(access: number): boolean {
  if (access === 0 || (access & ~SANPROXY_ACCESS_MASK) !== 0) return false;
  // Remote write needs local write (as verbs require): the NIC writes into the pages either way.
  return (access & SANPROXY_REMOTE_WRITE) === 0 || (access & SANPROXY_LOCAL_WRITE) !== 0;
}

/**
 * RELEASE_MEMORY and DEREGISTER_BUFFER: `undo` the entry of `table` (this open's) that the
 * input's id names; STATUS_INVALID_HANDLE when there is none.
 */
function undoById<T>(b: Buffers, spec: typeof R.release | typeof R.deregister, table: ReadonlyMap<number, T>, undo: (entry: T) => void): Result {
  const entry = table.get(decode(spec.request, b.input).id);
  if (entry === undefined) return fail(STATUS_INVALID_HANDLE);
  undo(entry);
  return { status: STATUS_SUCCESS };
}

function handle(state: ProxyDriverState, open: ProxyOpen, spec: IoctlSpec<string, string>, b: Buffers): Result {
  const k = state.k;
  // The buffers must hold the request's and the reply's layout before any case reads or writes.
  if (b.inputLength < spec.request.bytes || b.outputLength < spec.reply.bytes) return fail(STATUS_BUFFER_TOO_SMALL);
  switch (spec.code) {
    case R.queryAddresses.code: {
      const entries = state.nics.flatMap((n) => n.nic.ipAddresses.map((ipv4) => ({ ipv4, nicIndex: n.index, sanAddress: n.nic.sanAddress })));
      const list = encodeAddressList(entries, b.outputLength);
      return { status: list.complete ? STATUS_SUCCESS : STATUS_BUFFER_OVERFLOW, output: list.bytes };
    }
    case R.translate.code: {
      const { direction, nicIndex, value } = decode(R.translate.request, b.input);
      const pnic = nicAt(state, nicIndex);
      if (pnic === null || value < 0) return fail(STATUS_INVALID_PARAMETER);
      if (direction === TRANSLATE_IP_TO_SAN) {
        if (value > 0xffffffff) return fail(STATUS_INVALID_PARAMETER);
        const san = pnic.nic.resolveIp(value);
        if (san === 0) return fail(STATUS_HOST_UNREACHABLE);
        return { status: STATUS_SUCCESS, output: encode(R.translate.reply, { value: san, nicIndex: pnic.index }) };
      }
      if (direction === TRANSLATE_SAN_TO_IP) {
        const ip = pnic.nic.fabric?.ipOf(value) ?? null;
        if (ip === null) return fail(STATUS_HOST_UNREACHABLE);
        return { status: STATUS_SUCCESS, output: encode(R.translate.reply, { value: ip, nicIndex: pnic.index }) };
      }
      return fail(STATUS_INVALID_PARAMETER);
    }
    case R.allocate.code: {
      const { nicIndex, access, bytes, bindEndpoint } = decode(R.allocate.request, b.input);
      const pnic = nicAt(state, nicIndex);
      if (pnic === null || !validAccess(access & ~SANPROXY_WINDOW_BIND) || bytes <= 0 || bytes > pnic.nic.capabilities.maxRegionBytes) {
        return fail(STATUS_INVALID_PARAMETER);
      }
      if (b.outputLength < replyLayout(R.allocate, { access }).bytes) return fail(STATUS_BUFFER_TOO_SMALL);
      if (bindEndpoint !== 0 && !open.endpoints.has(`${pnic.index}:${bindEndpoint}`)) return fail(STATUS_INVALID_HANDLE);
      const r = allocateLowMemory(k, open, state.strategy, { nic: pnic, bytes, access, bindEndpoint }, state.nextId, state.lowMemory,
        state.records);
      if (r.allocation === null) return fail(r.status);
      state.counters.nicRegistrations++;
      const a = r.allocation;
      const reply = { userAddress: a.userVa, bytes: a.bytes, handle: a.handle, remoteKey: a.remoteKey, id: a.id, window: a.window };
      return { status: STATUS_SUCCESS, output: encode(replyLayout(R.allocate, { access }), reply) };
    }
    case R.release.code:
      return undoById(b, R.release, open.allocations, (a) => releaseLowMemory(k, open, a, state.lowMemory, state.records));
    case R.register.code: {
      const { nicIndex, access, address, length, bindEndpoint } = decode(R.register.request, b.input);
      const pnic = nicAt(state, nicIndex);
      if (pnic === null || !validAccess(access & ~SANPROXY_WINDOW_BIND) || length > pnic.nic.capabilities.maxRegionBytes) return fail(STATUS_INVALID_PARAMETER);
      if (b.outputLength < replyLayout(R.register, { access }).bytes) return fail(STATUS_BUFFER_TOO_SMALL);
      if (!validUserRange(address, length)) return fail(address > 0 && length > 0 ? STATUS_ACCESS_VIOLATION : STATUS_INVALID_PARAMETER);
      if (bindEndpoint !== 0 && !open.endpoints.has(`${pnic.index}:${bindEndpoint}`)) return fail(STATUS_INVALID_HANDLE);
      const r = registerUserBuffer(k, open, { nic: pnic, address, length, access, bindEndpoint }, state.nextId, state.records);
      if (r.registration === null) {
        state.counters.registrationFailures++;
        // The only source of this status here is the NIC's reach (bus-addresses.ts).
        if (r.status === STATUS_NOT_SUPPORTED) state.counters.registrationsRefusedUnreachable++;
        return fail(r.status);
      }
      state.counters.registrations++;
      state.counters.nicRegistrations++;
      const g = r.registration;
      const reply = { handle: g.handle, remoteKey: g.remoteKey, id: g.id, window: g.window };
      return { status: STATUS_SUCCESS, output: encode(replyLayout(R.register, { access }), reply) };
    }
    case R.deregister.code:
      return undoById(b, R.deregister, open.registrations, (r) => deregisterUserBuffer(k, open, r, state.records));
    case R.secure.code: {
      const { address, length, probeMode } = decode(R.secure.request, b.input);
      if (probeMode !== PAGE_READWRITE && probeMode !== PAGE_READONLY) return fail(STATUS_INVALID_PARAMETER);
      if (!validUserRange(address, length)) return fail(STATUS_ACCESS_VIOLATION);
      const h = MmSecureVirtualMemory(k, address, length, probeMode);
      if (h === null) return fail(STATUS_ACCESS_VIOLATION);
      open.secured.add(h);
      return { status: STATUS_SUCCESS, output: encode(R.secure.reply, { secureHandle: h }) };
    }
    case R.unsecure.code: {
      const h = decode(R.unsecure.request, b.input).id;
      // Only handles this open created: a bad handle from user mode must never reach
      // MmUnsecureVirtualMemory, which would bug-check the host (0x1A).
      if (!open.secured.has(h)) return fail(STATUS_INVALID_HANDLE);
      MmUnsecureVirtualMemory(k, h);
      open.secured.delete(h);
      return { status: STATUS_SUCCESS };
    }
    case R.createEndpoint.code: {
      const { nicIndex, sendDepth, recvDepth, completionDepth } = decode(R.createEndpoint.request, b.input);
      const pnic = nicAt(state, nicIndex);
      if (pnic === null) return fail(STATUS_INVALID_PARAMETER);
      const owner = open.process.ProcessId;
      const cq = pnic.nic.createCompletionQueue(owner, completionDepth);
      if (cq.status !== NicStatus.SUCCESS) return fail(ntStatusFromNic(cq.status));
      const ep = pnic.nic.createEndpoint(owner, cq.cq, { sendQueueDepth: sendDepth, recvQueueDepth: recvDepth });
      if (ep.status !== NicStatus.SUCCESS) {
        pnic.nic.destroyCompletionQueue(owner, cq.cq);
        return fail(ntStatusFromNic(ep.status));
      }
      open.endpoints.set(`${pnic.index}:${ep.endpoint}`, { nic: pnic, endpoint: ep.endpoint, completionQueue: cq.cq });
      return { status: STATUS_SUCCESS, output: encode(R.createEndpoint.reply, { endpoint: ep.endpoint, completionQueue: cq.cq }) };
    }
    case R.destroyEndpoint.code: {
      const { nicIndex, endpoint } = decode(R.destroyEndpoint.request, b.input);
      const key = `${nicIndex}:${endpoint}`;
      const e = open.endpoints.get(key);
      if (e === undefined) return fail(STATUS_INVALID_HANDLE);
      const owner = open.process.ProcessId;
      e.nic.nic.destroyEndpoint(owner, e.endpoint);
      e.nic.nic.destroyCompletionQueue(owner, e.completionQueue);
      open.endpoints.delete(key);
      return { status: STATUS_SUCCESS };
    }
    case R.invalidate.code: {
      const { id } = decode(R.invalidate.request, b.input);
      const target = open.registrations.get(id) ?? open.allocations.get(id);
      if (target === undefined) return fail(STATUS_INVALID_HANDLE);
      return { status: ntStatusFromNic(target.nic.nic.invalidateRegion(target.handle)) };
    }
    case R.revalidate.code: {
      const { id, access, bindEndpoint, offset, length: requested } = decode(R.revalidate.request, b.input);
      const target = open.registrations.get(id) ?? open.allocations.get(id);
      if (target === undefined) return fail(STATUS_INVALID_HANDLE);
      if (!validAccess(access)) return fail(STATUS_INVALID_PARAMETER);
      const total = 'address' in target ? target.length : target.bytes;
      const length = requested === 0 ? total : requested;
      if (offset < 0 || length <= 0 || offset + length > total) return fail(STATUS_INVALID_PARAMETER);
      // The pages were locked (or built for nonpaged memory) for the rights they were
      // registered with; more rights would need a new lock of another kind.
      if ((access & ~target.access & (SANPROXY_LOCAL_WRITE | SANPROXY_REMOTE_WRITE)) !== 0) return fail(STATUS_ACCESS_VIOLATION);
      if (bindEndpoint !== 0 && !open.endpoints.has(`${target.nic.index}:${bindEndpoint}`)) return fail(STATUS_INVALID_HANDLE);
      const nic = target.nic.nic;
      if (nic.queryRegion(target.handle) === null) return fail(STATUS_INVALID_HANDLE);
      // Only the pages of [offset, offset + length): the peer must reach no other byte.
      const firstByte = ('address' in target ? target.mdl.ByteOffset : 0) + offset;
      const firstPage = Math.floor(firstByte / PAGE_SIZE);
      const lastPage = Math.floor((firstByte + length - 1) / PAGE_SIZE);
      const again = nic.reregisterRegion(target.handle, {
        pages: target.bus.pages.subarray(firstPage, lastPage + 1),
        firstByteOffset: pageOffset(firstByte),
        length,
        access,
      });
      if (again.status !== NicStatus.SUCCESS) return fail(ntStatusFromNic(again.status));
      target.handle = again.handle;
      target.remoteKey = again.remoteKey;
      if (bindEndpoint !== 0) {
        const bound = nic.bindRegion(again.handle, bindEndpoint);
        if (bound !== NicStatus.SUCCESS) {
          nic.invalidateRegion(again.handle);
          return fail(ntStatusFromNic(bound));
        }
      }
      return { status: STATUS_SUCCESS, output: encode(R.revalidate.reply, { handle: again.handle, remoteKey: again.remoteKey }) };
    }
    default:
      return fail(STATUS_INVALID_DEVICE_REQUEST);
  }
}
