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
import { CloseHandle, CreateFile, DeviceIoControl, INVALID_HANDLE_VALUE, OPEN_EXISTING } from '../kernel/io/user-io.ts';
import { MEM_COMMIT, MEM_RELEASE, MEM_RESERVE, PAGE_READWRITE } from '../kernel/mm/virtual-memory.ts';
import { ref } from '../kernel/ref.ts';
import { STATUS_INVALID_HANDLE, STATUS_INVALID_PARAMETER, STATUS_NO_MEMORY } from '../kernel/status.ts';
import {
  IOCTL_SANPROXY_ALLOCATE_MEMORY,
  IOCTL_SANPROXY_CREATE_ENDPOINT,
  IOCTL_SANPROXY_DEREGISTER_BUFFER,
  IOCTL_SANPROXY_DESTROY_ENDPOINT,
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
  type AddressEntry,
  type Layout,
} from '../proxy/interface.ts';

const GENERIC_READ = 0x8000_0000;
const GENERIC_WRITE = 0x4000_0000;
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

  /** A request whose reply has a fixed layout, decoded; a short reply is a failure. */
  private call<N extends string>(code: number, input: Uint8Array, reply: Layout<N>): { ok: true; reply: { [K in N]: number } } | Failure {
    const r = this.ioctl(code, input, reply.bytes);
    if (!r.ok) return r;
    const decoded = decodeReply(reply, r.out, r.returned);
    return decoded === null ? { ok: false, status: STATUS_INVALID_NETWORK_RESPONSE } : { ok: true, reply: decoded };
  }

  /** A request with no reply data; its NTSTATUS (0 on success). */
  private command(code: number, input: Uint8Array): number {
    const r = this.ioctl(code, input, 0);
    return r.ok ? 0 : r.status;
  }

  queryAddresses(): { ok: true; entries: AddressEntry[] } | Failure {
    const max = Math.floor((SCRATCH_BYTES - 4) / LAYOUTS.addressEntry.bytes);
    const r = this.ioctl(IOCTL_SANPROXY_QUERY_ADDRESSES, new Uint8Array(0), 4 + max * LAYOUTS.addressEntry.bytes);
    if (!r.ok) return r;
    return { ok: true, entries: decodeAddressList(r.out, r.returned).entries };
  }

  /** IP → SAN resolves through NIC `nicIndex`; SAN → IP ignores it. */
  translate(direction: number, nicIndex: number, value: number): { ok: true; value: number; nicIndex: number } | Failure {
    const r = this.call(IOCTL_SANPROXY_TRANSLATE_ADDRESS, encode(LAYOUTS.translateIn, { direction, nicIndex, value }), LAYOUTS.translateOut);
    return r.ok ? { ok: true, value: r.reply.value, nicIndex: r.reply.nicIndex } : r;
  }

  /**
   * ALLOCATE_MEMORY / REGISTER_BUFFER: the reply has a window handle only when `access` asks for
   * one (SANPROXY_WINDOW_BIND); without, the reply's window is 0.
   */
  private callWithWindow<N extends string>(
    code: number, input: Uint8Array, access: number, plain: Layout<N>, withWindow: Layout<N | 'window'>,
  ): { ok: true; reply: { [K in N | 'window']: number } } | Failure {
    if ((access & SANPROXY_WINDOW_BIND) !== 0) return this.call(code, input, withWindow);
    const r = this.call(code, input, plain);
    return r.ok ? { ok: true, reply: { ...r.reply, window: 0 } } : r;
  }

  allocateMemory(nicIndex: number, access: number, bytes: number, bindEndpoint: number): { ok: true; allocation: Allocation } | Failure {
    const input = encode(LAYOUTS.allocateIn, { nicIndex, access, bytes, bindEndpoint });
    const r = this.callWithWindow(IOCTL_SANPROXY_ALLOCATE_MEMORY, input, access, LAYOUTS.allocateOut, WINDOW_LAYOUTS.allocateOut);
    return r.ok ? { ok: true, allocation: r.reply } : r;
  }

  releaseMemory(id: number): number {
    return this.command(IOCTL_SANPROXY_RELEASE_MEMORY, encode(LAYOUTS.idIn, { id }));
  }

  registerBuffer(nicIndex: number, access: number, address: number, length: number, bindEndpoint: number):
    { ok: true; registration: BufferRegistration } | Failure {
    const input = encode(LAYOUTS.registerIn, { nicIndex, access, address, length, bindEndpoint });
    const r = this.callWithWindow(IOCTL_SANPROXY_REGISTER_BUFFER, input, access, LAYOUTS.registerOut, WINDOW_LAYOUTS.registerOut);
    return r.ok ? { ok: true, registration: r.reply } : r;
  }

  deregisterBuffer(id: number): number {
    return this.command(IOCTL_SANPROXY_DEREGISTER_BUFFER, encode(LAYOUTS.idIn, { id }));
  }

  secureMemory(address: number, length: number, probeMode: number): { ok: true; handle: number } | Failure {
    const r = this.call(IOCTL_SANPROXY_SECURE_MEMORY, encode(LAYOUTS.secureIn, { address, length, probeMode }), LAYOUTS.secureOut);
    return r.ok ? { ok: true, handle: r.reply.secureHandle } : r;
  }

  unsecureMemory(secureHandle: number): number {
    return this.command(IOCTL_SANPROXY_UNSECURE_MEMORY, encode(LAYOUTS.idIn, { id: secureHandle }));
  }

  createEndpoint(nicIndex: number, sendDepth: number, recvDepth: number, completionDepth: number):
    { ok: true; endpoint: number; completionQueue: number } | Failure {
    const r = this.call(IOCTL_SANPROXY_CREATE_ENDPOINT,
      encode(LAYOUTS.createEndpointIn, { nicIndex, sendDepth, recvDepth, completionDepth }), LAYOUTS.createEndpointOut);
    return r.ok ? { ok: true, ...r.reply } : r;
  }

  destroyEndpoint(nicIndex: number, endpoint: number): number {
    return this.command(IOCTL_SANPROXY_DESTROY_ENDPOINT, encode(LAYOUTS.destroyEndpointIn, { nicIndex, endpoint }));
  }
}
