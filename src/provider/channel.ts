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
import {
  Fields,
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
  SANPROXY_USER_PATH,
  SANPROXY_WINDOW_BIND,
  SIZES,
} from '../proxy/interface.ts';

const GENERIC_READ = 0x8000_0000;
const GENERIC_WRITE = 0x4000_0000;
const SCRATCH_BYTES = 4096;

export type IoctlResult = { ok: true; out: Fields } | { ok: false; status: number };

export interface AddressEntry {
  ipv4: number;
  nicIndex: number;
  sanAddress: number;
}

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
      if (va === 0) return this.process.lastStatus >>> 0 || 0xc0000017;
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
    if (!this.isOpen) return { ok: false, status: 0xc0000008 /* STATUS_INVALID_HANDLE */ };
    if (input.length > SCRATCH_BYTES || outBytes > SCRATCH_BYTES) return { ok: false, status: 0xc000000d };
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
      return { ok: true, out: new Fields(out) };
    });
  }

  queryAddresses(): { ok: true; entries: AddressEntry[] } | { ok: false; status: number } {
    const max = Math.floor((SCRATCH_BYTES - 4) / SIZES.addressEntry);
    const r = this.ioctl(IOCTL_SANPROXY_QUERY_ADDRESSES, new Uint8Array(0), 4 + max * SIZES.addressEntry);
    if (!r.ok) return r;
    const count = Math.min(r.out.u32(), max);
    const entries: AddressEntry[] = [];
    for (let i = 0; i < count; i++) {
      const ipv4 = r.out.u32();
      const nicIndex = r.out.u32();
      entries.push({ ipv4, nicIndex, sanAddress: r.out.u64() });
    }
    return { ok: true, entries };
  }

  /** IP → SAN resolves through NIC `nicIndex`; SAN → IP ignores it. */
  translate(direction: number, nicIndex: number, value: number):
    { ok: true; value: number; nicIndex: number } | { ok: false; status: number } {
    const r = this.ioctl(IOCTL_SANPROXY_TRANSLATE_ADDRESS,
      Fields.of(SIZES.translateIn).putU32(direction).putU32(nicIndex).putU64(value).bytes, SIZES.translateOut);
    if (!r.ok) return r;
    return { ok: true, value: r.out.u64(), nicIndex: r.out.u32() };
  }

  allocateMemory(nicIndex: number, access: number, bytes: number, bindEndpoint: number):
    { ok: true; allocation: Allocation } | { ok: false; status: number } {
    const input = Fields.of(SIZES.allocateIn).putU32(nicIndex).putU32(access).putU64(bytes).putU32(bindEndpoint).putU32(0);
    const window = (access & SANPROXY_WINDOW_BIND) !== 0;
    const r = this.ioctl(IOCTL_SANPROXY_ALLOCATE_MEMORY, input.bytes, window ? SIZES.allocateWindowOut : SIZES.allocateOut);
    if (!r.ok) return r;
    const o = r.out;
    const userAddress = o.u64();
    const allocated = o.u64();
    const handle = o.u32();
    const remoteKey = o.u32();
    const id = o.u64();
    return { ok: true, allocation: { userAddress, bytes: allocated, handle, remoteKey, id, window: window ? o.u32() : 0 } };
  }

  releaseMemory(id: number): number {
    const r = this.ioctl(IOCTL_SANPROXY_RELEASE_MEMORY, Fields.of(SIZES.idIn).putU64(id).bytes, 0);
    return r.ok ? 0 : r.status;
  }

  registerBuffer(nicIndex: number, access: number, address: number, length: number, bindEndpoint: number):
    { ok: true; registration: BufferRegistration } | { ok: false; status: number } {
    const r = this.ioctl(IOCTL_SANPROXY_REGISTER_BUFFER,
      Fields.of(SIZES.registerIn).putU32(nicIndex).putU32(access).putU64(address).putU64(length)
        .putU32(bindEndpoint).putU32(0).bytes,
      (access & SANPROXY_WINDOW_BIND) !== 0 ? SIZES.registerWindowOut : SIZES.registerOut);
    if (!r.ok) return r;
    const handle = r.out.u32();
    const remoteKey = r.out.u32();
    const id = r.out.u64();
    const window = (access & SANPROXY_WINDOW_BIND) !== 0 ? r.out.u32() : 0;
    return { ok: true, registration: { handle, remoteKey, id, window } };
  }

  deregisterBuffer(id: number): number {
    const r = this.ioctl(IOCTL_SANPROXY_DEREGISTER_BUFFER, Fields.of(SIZES.idIn).putU64(id).bytes, 0);
    return r.ok ? 0 : r.status;
  }

  secureMemory(address: number, length: number, probeMode: number): { ok: true; handle: number } | { ok: false; status: number } {
    const r = this.ioctl(IOCTL_SANPROXY_SECURE_MEMORY,
      Fields.of(SIZES.secureIn).putU64(address).putU64(length).putU32(probeMode).putU32(0).bytes, SIZES.secureOut);
    return r.ok ? { ok: true, handle: r.out.u64() } : r;
  }

  unsecureMemory(secureHandle: number): number {
    const r = this.ioctl(IOCTL_SANPROXY_UNSECURE_MEMORY, Fields.of(SIZES.idIn).putU64(secureHandle).bytes, 0);
    return r.ok ? 0 : r.status;
  }

  createEndpoint(nicIndex: number, sendDepth: number, recvDepth: number, completionDepth: number):
    { ok: true; endpoint: number; completionQueue: number } | { ok: false; status: number } {
    const r = this.ioctl(IOCTL_SANPROXY_CREATE_ENDPOINT,
      Fields.of(SIZES.createEndpointIn).putU32(nicIndex).putU32(sendDepth).putU32(recvDepth).putU32(completionDepth).bytes,
      SIZES.createEndpointOut);
    return r.ok ? { ok: true, endpoint: r.out.u32(), completionQueue: r.out.u32() } : r;
  }

  destroyEndpoint(nicIndex: number, endpoint: number): number {
    const r = this.ioctl(IOCTL_SANPROXY_DESTROY_ENDPOINT,
      Fields.of(SIZES.destroyEndpointIn).putU32(nicIndex).putU32(endpoint).bytes, 0);
    return r.ok ? 0 : r.status;
  }
}
