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
  LAYOUTS,
  SANPROXY_REQUESTS as R,
  SANPROXY_USER_PATH,
  decodeAddressList,
  decodeIoctlReply,
  encode,
  replyLayout,
  type IoctlSpec,
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

  /**
   * One IOCTL of the interface with `request` in its layout; `outputLength` is the reply's size
   * unless the caller passes a wrong one on purpose. `reply` is null after a failure or a short
   * reply; its `window` is 0 unless the request asked for one.
   */
  call<I extends string, O extends string>(s: IoctlSpec<I, O>, request: { [K in I]: number }, outputLength = replyLayout(s, request).bytes) {
    const r = this.ioctl(s.code, encode(s.request, request), outputLength);
    return { r, reply: r.ok ? decodeIoctlReply(s, request, r.output, r.bytes) : null };
  }

  /** ALLOCATE_MEMORY; with SANPROXY_WINDOW_BIND in access the reply's window handle too (0 otherwise). */
  allocate(nicIndex: number, access: number, bytes: number, bindEndpoint = 0) {
    const { r, reply } = this.call(R.allocate, { nicIndex, access, bytes, bindEndpoint });
    if (reply === null) return { ...r, ok: false, userAddress: 0, handle: 0, remoteKey: 0, id: 0, window: 0 };
    return { ...r, userAddress: reply.userAddress, handle: reply.handle, remoteKey: reply.remoteKey, id: reply.id, window: reply.window };
  }

  release(id: number) {
    return this.call(R.release, { id }).r;
  }

  /** REGISTER_BUFFER; with SANPROXY_WINDOW_BIND in access the reply's window handle too (0 otherwise). */
  register(nicIndex: number, access: number, address: number, length: number, bindEndpoint = 0, outputLength?: number) {
    const { r, reply } = this.call(R.register, { nicIndex, access, address, length, bindEndpoint }, outputLength);
    if (reply === null) return { ...r, ok: false, handle: 0, remoteKey: 0, id: 0, window: 0 };
    return { ...r, handle: reply.handle, remoteKey: reply.remoteKey, id: reply.id, window: reply.window };
  }

  deregister(id: number) {
    return this.call(R.deregister, { id }).r;
  }

  secure(address: number, length: number, probeMode: number) {
    const { r, reply } = this.call(R.secure, { address, length, probeMode });
    return { ...r, secureHandle: reply?.secureHandle ?? 0 };
  }

  unsecure(secureHandle: number) {
    return this.call(R.unsecure, { id: secureHandle }).r;
  }

  createEndpoint(nicIndex: number, sendDepth = 16, recvDepth = 16, completionDepth = 64) {
    const { r, reply } = this.call(R.createEndpoint, { nicIndex, sendDepth, recvDepth, completionDepth });
    return { ...r, ok: reply !== null, endpoint: reply?.endpoint ?? 0, completionQueue: reply?.completionQueue ?? 0 };
  }

  destroyEndpoint(nicIndex: number, endpoint: number) {
    return this.call(R.destroyEndpoint, { nicIndex, endpoint }).r;
  }

  /** QUERY_ADDRESSES: `count` is the total; `entries` those that fit in `outputLength`. */
  queryAddresses(outputLength = 4 + 4 * LAYOUTS.addressEntry.bytes) {
    const r = this.ioctl(R.queryAddresses.code, new Uint8Array(0), outputLength);
    const list = decodeAddressList(r.output, r.bytes);
    return { ...r, count: list.count, entries: list.entries.map((e) => ({ ip: e.ipv4, nicIndex: e.nicIndex, sanAddress: e.sanAddress })) };
  }

  invalidate(id: number) {
    return this.call(R.invalidate, { id }).r;
  }

  /** REVALIDATE [offset, offset + length) of `id` (length 0: all of it) under new keys. */
  revalidate(id: number, access: number, bindEndpoint = 0, offset = 0, length = 0) {
    const { r, reply } = this.call(R.revalidate, { id, access, bindEndpoint, offset, length });
    return { ...r, ok: reply !== null, handle: reply?.handle ?? 0, remoteKey: reply?.remoteKey ?? 0 };
  }

  translate(direction: number, nicIndex: number, value: number) {
    const { r, reply } = this.call(R.translate, { direction, nicIndex, value });
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
