/**
 * A user-mode caller of the SAN proxy's IOCTL interface for the reliability suite: it runs in
 * an emulated process, hands DeviceIoControl real user buffers (a scratch page pair of its
 * own) and decodes the fixed little-endian replies of src/proxy/interface.ts. Every failure
 * comes back as the Win32 error GetLastError gives; nothing here throws for a refused request.
 */
import { PAGE_SIZE } from '../../bus/index.ts';
import { CloseHandle, CreateFile, DeviceIoControl, GENERIC_READ, GENERIC_WRITE, GetLastError, OPEN_EXISTING } from '../../kernel/io/index.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../../kernel/mm/index.ts';
import type { Process } from '../../kernel/ps/index.ts';
import { NtStatusError } from '../../kernel/status.ts';
import { RtlNtStatusToDosError } from '../../kernel/io/index.ts';
import { ref } from '../../kernel/ref.ts';
import {
  IOCTL_SANPROXY_ALLOCATE_MEMORY,
  IOCTL_SANPROXY_CREATE_ENDPOINT,
  IOCTL_SANPROXY_DEREGISTER_BUFFER,
  IOCTL_SANPROXY_DESTROY_ENDPOINT,
  IOCTL_SANPROXY_INVALIDATE,
  IOCTL_SANPROXY_REVALIDATE,
  IOCTL_SANPROXY_QUERY_ADDRESSES,
  IOCTL_SANPROXY_REGISTER_BUFFER,
  IOCTL_SANPROXY_RELEASE_MEMORY,
  IOCTL_SANPROXY_SECURE_MEMORY,
  IOCTL_SANPROXY_TRANSLATE_ADDRESS,
  IOCTL_SANPROXY_UNSECURE_MEMORY,
  LAYOUTS,
  SANPROXY_USER_PATH,
  SANPROXY_WINDOW_BIND,
  WINDOW_LAYOUTS,
  decodeAddressList,
  decodeReply,
  encode,
} from '../../proxy/interface.ts';
import type { Host } from '../host.ts';

export interface IoctlReply {
  ok: boolean;
  /** GetLastError after a failure, 0 after success. */
  lastError: number;
  /** What came back (the driver's Information bytes, as far as they fit the scratch page). */
  output: Uint8Array;
  bytes: number;
}

/** Scratch layout: input at +0, output at +SCRATCH_HALF. */
const SCRATCH_HALF = PAGE_SIZE;

export class RawProxyClient {
  /** INVALID_HANDLE_VALUE (-1) when the open failed; see `openError`. */
  readonly handle: number;
  readonly openError: number;
  readonly scratch: number;

  constructor(
    readonly host: Host,
    readonly process: Process,
    access: number = GENERIC_READ | GENERIC_WRITE,
  ) {
    const k = host.kernel;
    this.scratch = process.VirtualAlloc(0, 2 * SCRATCH_HALF, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
    let error = 0;
    this.handle = k.ps.runInProcess(process, () => {
      const h = CreateFile(k, SANPROXY_USER_PATH, access, 0, null, OPEN_EXISTING, 0, null);
      if (h === -1) error = GetLastError(k);
      return h;
    });
    this.openError = this.scratch === 0 ? -1 : error;
  }

  get usable(): boolean {
    return this.handle !== -1 && this.scratch !== 0;
  }

  /** One request with `input` copied to the scratch page; `outputLength` bytes read back. */
  ioctl(code: number, input: Uint8Array, outputLength: number, handle = this.handle): IoctlReply {
    const k = this.host.kernel;
    const p = this.process;
    return k.ps.runInProcess(p, () => {
      const inLen = Math.min(input.length, SCRATCH_HALF);
      const outLen = Math.min(outputLength, SCRATCH_HALF);
      if (inLen) {
        // The scratch page may need a demand-zero page the system cannot give (low resources).
        try {
          p.writeMemory(this.scratch, input.subarray(0, inLen));
        } catch (e) {
          if (!(e instanceof NtStatusError)) throw e;
          return { ok: false, lastError: RtlNtStatusToDosError(e.status), output: new Uint8Array(0), bytes: 0 };
        }
      }
      return this.raw(code, inLen ? this.scratch : null, inLen, outLen ? this.scratch + SCRATCH_HALF : null, outLen, handle);
    });
  }

  /** DeviceIoControl with caller-chosen pointers and lengths (the fuzzer's entry point). */
  raw(code: number, inPtr: number | null, inLen: number, outPtr: number | null, outLen: number, handle = this.handle): IoctlReply {
    const k = this.host.kernel;
    const p = this.process;
    return k.ps.runInProcess(p, () => {
      const returned = ref(0);
      const ok = DeviceIoControl(k, handle, code, inPtr, inLen, outPtr, outLen, returned, null);
      const out = new Uint8Array(Math.min(Math.max(0, returned.value), SCRATCH_HALF));
      // Read back whatever was returned: a partial reply (ERROR_MORE_DATA) carries data too.
      if (out.length && outPtr === this.scratch + SCRATCH_HALF) {
        try {
          p.readMemory(outPtr, out);
        } catch (e) {
          if (!(e instanceof NtStatusError)) throw e;
          return { ok: false, lastError: RtlNtStatusToDosError(e.status), output: new Uint8Array(0), bytes: 0 };
        }
      }
      return { ok, lastError: ok ? 0 : GetLastError(k), output: out, bytes: returned.value };
    });
  }

  /** ALLOCATE_MEMORY; with SANPROXY_WINDOW_BIND in access the reply's window handle too (0 otherwise). */
  allocate(nicIndex: number, access: number, bytes: number, bindEndpoint = 0) {
    const window = (access & SANPROXY_WINDOW_BIND) !== 0;
    const r = this.ioctl(IOCTL_SANPROXY_ALLOCATE_MEMORY, encode(LAYOUTS.allocateIn, { nicIndex, access, bytes, bindEndpoint }),
      (window ? WINDOW_LAYOUTS.allocateOut : LAYOUTS.allocateOut).bytes);
    const reply = r.ok ? decodeReply(LAYOUTS.allocateOut, r.output, r.bytes) : null;
    if (reply === null) return { ...r, ok: false, userAddress: 0, handle: 0, remoteKey: 0, id: 0, window: 0 };
    const withWindow = decodeReply(WINDOW_LAYOUTS.allocateOut, r.output, r.bytes);
    return { ...r, userAddress: reply.userAddress, handle: reply.handle, remoteKey: reply.remoteKey, id: reply.id, window: withWindow?.window ?? 0 };
  }

  release(id: number) {
    return this.ioctl(IOCTL_SANPROXY_RELEASE_MEMORY, encode(LAYOUTS.idIn, { id }), 0);
  }

  /** REGISTER_BUFFER; with SANPROXY_WINDOW_BIND in access the reply's window handle too (0 otherwise). */
  register(nicIndex: number, access: number, address: number, length: number, bindEndpoint = 0,
    outputLength = ((access & SANPROXY_WINDOW_BIND) !== 0 ? WINDOW_LAYOUTS.registerOut : LAYOUTS.registerOut).bytes) {
    const r = this.ioctl(IOCTL_SANPROXY_REGISTER_BUFFER, encode(LAYOUTS.registerIn, { nicIndex, access, address, length, bindEndpoint }), outputLength);
    const reply = r.ok ? decodeReply(LAYOUTS.registerOut, r.output, r.bytes) : null;
    if (reply === null) return { ...r, ok: false, handle: 0, remoteKey: 0, id: 0, window: 0 };
    const withWindow = decodeReply(WINDOW_LAYOUTS.registerOut, r.output, r.bytes);
    return { ...r, handle: reply.handle, remoteKey: reply.remoteKey, id: reply.id, window: withWindow?.window ?? 0 };
  }

  deregister(id: number) {
    return this.ioctl(IOCTL_SANPROXY_DEREGISTER_BUFFER, encode(LAYOUTS.idIn, { id }), 0);
  }

  secure(address: number, length: number, probeMode: number) {
    const r = this.ioctl(IOCTL_SANPROXY_SECURE_MEMORY, encode(LAYOUTS.secureIn, { address, length, probeMode }), LAYOUTS.secureOut.bytes);
    const reply = r.ok ? decodeReply(LAYOUTS.secureOut, r.output, r.bytes) : null;
    return { ...r, secureHandle: reply?.secureHandle ?? 0 };
  }

  unsecure(secureHandle: number) {
    return this.ioctl(IOCTL_SANPROXY_UNSECURE_MEMORY, encode(LAYOUTS.idIn, { id: secureHandle }), 0);
  }

  createEndpoint(nicIndex: number, sendDepth = 16, recvDepth = 16, completionDepth = 64) {
    const r = this.ioctl(IOCTL_SANPROXY_CREATE_ENDPOINT, encode(LAYOUTS.createEndpointIn, { nicIndex, sendDepth, recvDepth, completionDepth }),
      LAYOUTS.createEndpointOut.bytes);
    const reply = r.ok ? decodeReply(LAYOUTS.createEndpointOut, r.output, r.bytes) : null;
    return { ...r, ok: reply !== null, endpoint: reply?.endpoint ?? 0, completionQueue: reply?.completionQueue ?? 0 };
  }

  destroyEndpoint(nicIndex: number, endpoint: number) {
    return this.ioctl(IOCTL_SANPROXY_DESTROY_ENDPOINT, encode(LAYOUTS.destroyEndpointIn, { nicIndex, endpoint }), 0);
  }

  /** QUERY_ADDRESSES: `count` is the total; `entries` those that fit in `outputLength`. */
  queryAddresses(outputLength = 4 + 4 * LAYOUTS.addressEntry.bytes) {
    const r = this.ioctl(IOCTL_SANPROXY_QUERY_ADDRESSES, new Uint8Array(0), outputLength);
    const list = decodeAddressList(r.output, r.bytes);
    return { ...r, count: list.count, entries: list.entries.map((e) => ({ ip: e.ipv4, nicIndex: e.nicIndex, sanAddress: e.sanAddress })) };
  }

  invalidate(id: number) {
    return this.ioctl(IOCTL_SANPROXY_INVALIDATE, encode(LAYOUTS.idIn, { id }), 0);
  }

  /** REVALIDATE [offset, offset + length) of `id` (length 0: all of it) under new keys. */
  revalidate(id: number, access: number, bindEndpoint = 0, offset = 0, length = 0) {
    const r = this.ioctl(IOCTL_SANPROXY_REVALIDATE, encode(LAYOUTS.revalidateIn, { id, access, bindEndpoint, offset, length }),
      LAYOUTS.revalidateOut.bytes);
    const reply = r.ok ? decodeReply(LAYOUTS.revalidateOut, r.output, r.bytes) : null;
    return { ...r, ok: reply !== null, handle: reply?.handle ?? 0, remoteKey: reply?.remoteKey ?? 0 };
  }

  translate(direction: number, nicIndex: number, value: number) {
    const r = this.ioctl(IOCTL_SANPROXY_TRANSLATE_ADDRESS, encode(LAYOUTS.translateIn, { direction, nicIndex, value }), LAYOUTS.translateOut.bytes);
    const reply = r.ok ? decodeReply(LAYOUTS.translateOut, r.output, r.bytes) : null;
    return { ...r, ok: reply !== null, value: reply?.value ?? 0 };
  }

  /** Close the handle and give the scratch pages back. */
  close(): boolean {
    const k = this.host.kernel;
    return k.ps.runInProcess(this.process, () => {
      const closed = this.handle !== -1 ? CloseHandle(k, this.handle) : true;
      if (this.scratch !== 0 && this.process.state === 'running') this.process.VirtualFree(this.scratch, 0, MEM_RELEASE);
      return closed;
    });
  }
}
