/**
 * The provider's channel to its proxy driver: one handle on \\.\SanProxy and one page of the
 * process's own memory through which every request travels. Everything the provider asks of
 * the kernel goes through DeviceIoControl here — never a call into driver code — because
 * that is the only door user mode has ("Implementing IOCTLs for a SAN Service Provider").
 *
 * Implementation notes
 * - Requests are METHOD_BUFFERED (src/proxy/interface.ts): input and output may share the
 *   scratch page; the I/O manager copies in and out.
 * - A failed request reports the NTSTATUS behind GetLastError (the process's last status,
 *   what ntdll's RtlGetLastNtStatus returns), so the provider can tell "out of resources"
 *   from "the NIC cannot reach these pages" — a Win32 error code merges them.
 */
import type { Kernel } from '../kernel/kernel.ts';
import type { Process } from '../kernel/ps/process.ts';
import { GENERIC_READ, GENERIC_WRITE } from '../kernel/io/file-object.ts';
import { CloseHandle, CreateFile, DeviceIoControl, INVALID_HANDLE_VALUE, OPEN_EXISTING } from '../kernel/io/user-io.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../kernel/mm/virtual-memory.ts';
import { ref } from '../kernel/ref.ts';
import { STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NO_MEMORY } from '../kernel/status.ts';
import {
  SANPROXY_REQUESTS as R,
  SANPROXY_USER_PATH,
  decodeAddressList,
  decodeIoctlReply,
  encode,
  replyLayout,
  type AddressEntry,
  type IoctlSpec,
} from '../proxy/interface.ts';

const SCRATCH_BYTES = 4096;

export type IoctlResult = { ok: true; out: Uint8Array; returned: number } | { ok: false; status: number };
type Failure = { ok: false; status: number };

export type { AddressEntry };

/** A reply too short for its layout: the driver broke the interface's contract. */
const STATUS_INVALID_NETWORK_RESPONSE = 0xc00000c3;

export interface Allocation {
  userAddress: number;
  bytes: number;
  handle: number;
  remoteKey: number;
  id: number;
  /** The memory window that came with it (access had SANPROXY_WINDOW_BIND), else 0. */
  window: number;
}

export interface BufferRegistration {
  handle: number;
  remoteKey: number;
  id: number;
  /** The memory window that came with it (access had SANPROXY_WINDOW_BIND), else 0. */
  window: number;
}

export class ProxyChannel {
  private handle = INVALID_HANDLE_VALUE;
  private scratch = 0;
  /** DeviceIoControl requests sent (for tests and the demo). */
  requests = 0;

  constructor(
    private readonly k: Kernel,
    readonly process: Process,
  ) {}

  get isOpen(): boolean {
    return this.handle !== INVALID_HANDLE_VALUE;
  }

  /** Open the device and get the scratch page; the NTSTATUS of the first failure, 0 on success. */
  open(): number {
    if (this.isOpen) return 0;
    return this.k.ps.runInProcess(this.process, () => {
      const va = this.process.VirtualAlloc(0, SCRATCH_BYTES, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
      if (va === 0) return this.process.lastStatus >>> 0 || STATUS_NO_MEMORY;
      const h = CreateFile(this.k, SANPROXY_USER_PATH, GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, null);
      if (h === INVALID_HANDLE_VALUE) {
        const status = this.process.lastStatus >>> 0;
        this.process.VirtualFree(va, 0, MEM_RELEASE);
        return status;
      }
      this.scratch = va;
      this.handle = h;
      return 0;
    });
  }

  /** Close the handle (the driver's IRP_MJ_CLEANUP runs) and free the scratch page. */
  close(): void {
    if (!this.isOpen) return;
    this.k.ps.runInProcess(this.process, () => {
      CloseHandle(this.k, this.handle);
      this.process.VirtualFree(this.scratch, 0, MEM_RELEASE);
    });
    this.handle = INVALID_HANDLE_VALUE;
    this.scratch = 0;
  }

  /** One METHOD_BUFFERED request through the scratch page. */
  ioctl(code: number, input: Uint8Array, outBytes: number): IoctlResult {
    if (!this.isOpen) return { ok: false, status: STATUS_INVALID_HANDLE };
    if (input.length > SCRATCH_BYTES || outBytes > SCRATCH_BYTES) return { ok: false, status: STATUS_INVALID_PARAMETER };
    this.requests++;
    return this.k.ps.runInProcess(this.process, () => {
      const p = this.process;
      if (input.length > 0) p.writeMemory(this.scratch, input);
      const returned = ref(0);
      const ok = DeviceIoControl(this.k, this.handle, code, input.length > 0 ? this.scratch : null, input.length,
        outBytes > 0 ? this.scratch : null, outBytes, returned, null);
      if (!ok) return { ok: false, status: p.lastStatus >>> 0 };
      const out = new Uint8Array(outBytes);
      if (returned.value > 0) p.readMemory(this.scratch, out, 0, Math.min(returned.value, outBytes));
      return { ok: true, out, returned: returned.value };
    });
  }

  /**
   * One IOCTL of the interface: `request` in its layout, the reply decoded (a short reply is a
   * failure; `window` is 0 unless the request asked for one).
   */
  private call<I extends string, O extends string>(s: IoctlSpec<I, O>, request: { [K in I]: number }):
    { ok: true; reply: { [K in O]: number } & { window: number } } | Failure {
    const r = this.ioctl(s.code, encode(s.request, request), replyLayout(s, request).bytes);
    if (!r.ok) return r;
    const reply = decodeIoctlReply(s, request, r.out, r.returned);
    return reply === null ? { ok: false, status: STATUS_INVALID_NETWORK_RESPONSE } : { ok: true, reply };
  }

  /** An IOCTL with no reply data; its NTSTATUS (0 on success). */
  private command<I extends string>(s: IoctlSpec<I, never>, request: { [K in I]: number }): number {
    const r = this.ioctl(s.code, encode(s.request, request), 0);
    return r.ok ? 0 : r.status;
  }

  queryAddresses(): { ok: true; entries: AddressEntry[] } | Failure {
    const r = this.ioctl(R.queryAddresses.code, new Uint8Array(0), SCRATCH_BYTES);
    if (!r.ok) return r;
    return { ok: true, entries: decodeAddressList(r.out, r.returned).entries };
  }

  /** IP → SAN resolves through NIC `nicIndex`; SAN → IP ignores it. */
  translate(direction: number, nicIndex: number, value: number): { ok: true; value: number; nicIndex: number } | Failure {
    const r = this.call(R.translate, { direction, nicIndex, value });
    return r.ok ? { ok: true, value: r.reply.value, nicIndex: r.reply.nicIndex } : r;
  }

  /** ALLOCATE_MEMORY: the allocation's window is 0 unless `access` asks for one (SANPROXY_WINDOW_BIND). */
  allocateMemory(nicIndex: number, access: number, bytes: number, bindEndpoint: number): { ok: true; allocation: Allocation } | Failure {
    const r = this.call(R.allocate, { nicIndex, access, bytes, bindEndpoint });
    return r.ok ? { ok: true, allocation: r.reply } : r;
  }

  releaseMemory(id: number): number {
    return this.command(R.release, { id });
  }

  /** REGISTER_BUFFER: the registration's window is 0 unless `access` asks for one (SANPROXY_WINDOW_BIND). */
  registerBuffer(nicIndex: number, access: number, address: number, length: number, bindEndpoint: number):
    { ok: true; registration: BufferRegistration } | Failure {
    const r = this.call(R.register, { nicIndex, access, address, length, bindEndpoint });
    return r.ok ? { ok: true, registration: r.reply } : r;
  }

  deregisterBuffer(id: number): number {
    return this.command(R.deregister, { id });
  }

  secureMemory(address: number, length: number, probeMode: number): { ok: true; handle: number } | Failure {
    const r = this.call(R.secure, { address, length, probeMode });
    return r.ok ? { ok: true, handle: r.reply.secureHandle } : r;
  }

  unsecureMemory(secureHandle: number): number {
    return this.command(R.unsecure, { id: secureHandle });
  }

  createEndpoint(nicIndex: number, sendDepth: number, recvDepth: number, completionDepth: number):
    { ok: true; endpoint: number; completionQueue: number } | Failure {
    const r = this.call(R.createEndpoint, { nicIndex, sendDepth, recvDepth, completionDepth });
    return r.ok ? { ok: true, endpoint: r.reply.endpoint, completionQueue: r.reply.completionQueue } : r;
  }

  destroyEndpoint(nicIndex: number, endpoint: number): number {
    return this.command(R.destroyEndpoint, { nicIndex, endpoint });
  }
}
