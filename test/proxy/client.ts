/**
 * A raw user-mode client of the proxy's IOCTL interface for tests: it runs in an emulated
 * process, passes real user buffers to DeviceIoControl, and decodes the replies.
 */
import { CloseHandle, CreateFile, DeviceIoControl, GENERIC_READ, GENERIC_WRITE, GetLastError, OPEN_EXISTING } from '../../src/kernel/io/index.ts';
import { MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE } from '../../src/kernel/mm/index.ts';
import type { Process } from '../../src/kernel/ps/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import type { Host } from '../../src/host/index.ts';
import {
  Fields,
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
  SANPROXY_USER_PATH,
  SIZES,
} from '../../src/proxy/index.ts';

export interface IoctlResult {
  ok: boolean;
  lastError: number;
  output: Fields;
  bytes: number;
}

export class ProxyClient {
  readonly handle: number;
  private readonly scratch: number;

  /** Opens \\.\SanProxy for read and write, or uses `handle` (e.g. one opened read-only). */
  constructor(
    readonly host: Host,
    readonly process: Process,
    handle?: number,
  ) {
    const k = host.kernel;
    this.handle = handle ?? k.ps.runInProcess(process, () => CreateFile(k, SANPROXY_USER_PATH, GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, null));
    if (this.handle === -1) throw new Error(`CreateFile(${SANPROXY_USER_PATH}) failed: ${process.lastError}`);
    this.scratch = process.VirtualAlloc(0, 8192, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
  }

  ioctl(code: number, input: Uint8Array, outputLength: number): IoctlResult {
    const k = this.host.kernel;
    return k.ps.runInProcess(this.process, () => {
      this.process.writeMemory(this.scratch, input);
      const returned = ref(0);
      const ok = DeviceIoControl(k, this.handle, code, input.length ? this.scratch : null, input.length,
        outputLength ? this.scratch + 4096 : null, outputLength, returned, null);
      const out = new Uint8Array(outputLength);
      if (outputLength) this.process.readMemory(this.scratch + 4096, out);
      return { ok, lastError: ok ? 0 : GetLastError(k), output: new Fields(out), bytes: returned.value };
    });
  }

  allocate(nicIndex: number, access: number, bytes: number, bindEndpoint = 0) {
    const r = this.ioctl(IOCTL_SANPROXY_ALLOCATE_MEMORY, Fields.of(SIZES.allocateIn).putU32(nicIndex).putU32(access).putU64(bytes).putU32(bindEndpoint).putU32(0).bytes, SIZES.allocateOut);
    if (!r.ok) return { ...r, userAddress: 0, handle: 0, remoteKey: 0, id: 0 };
    const userAddress = r.output.u64();
    r.output.u64();
    return { ...r, userAddress, handle: r.output.u32(), remoteKey: r.output.u32(), id: r.output.u64() };
  }

  release(id: number) {
    return this.ioctl(IOCTL_SANPROXY_RELEASE_MEMORY, Fields.of(8).putU64(id).bytes, 0);
  }

  register(nicIndex: number, access: number, address: number, length: number, bindEndpoint = 0) {
    const r = this.ioctl(IOCTL_SANPROXY_REGISTER_BUFFER, Fields.of(SIZES.registerIn).putU32(nicIndex).putU32(access).putU64(address).putU64(length).putU32(bindEndpoint).putU32(0).bytes, SIZES.registerOut);
    if (!r.ok) return { ...r, handle: 0, remoteKey: 0, id: 0 };
    return { ...r, handle: r.output.u32(), remoteKey: r.output.u32(), id: r.output.u64() };
  }

  deregister(id: number) {
    return this.ioctl(IOCTL_SANPROXY_DEREGISTER_BUFFER, Fields.of(8).putU64(id).bytes, 0);
  }

  secure(address: number, length: number, probeMode: number) {
    const r = this.ioctl(IOCTL_SANPROXY_SECURE_MEMORY, Fields.of(SIZES.secureIn).putU64(address).putU64(length).putU32(probeMode).putU32(0).bytes, SIZES.secureOut);
    return { ...r, secureHandle: r.ok ? r.output.u64() : 0 };
  }

  unsecure(secureHandle: number) {
    return this.ioctl(IOCTL_SANPROXY_UNSECURE_MEMORY, Fields.of(8).putU64(secureHandle).bytes, 0);
  }

  createEndpoint(nicIndex: number, sendDepth = 64, recvDepth = 64, completionDepth = 256) {
    const r = this.ioctl(IOCTL_SANPROXY_CREATE_ENDPOINT, Fields.of(16).putU32(nicIndex).putU32(sendDepth).putU32(recvDepth).putU32(completionDepth).bytes, SIZES.createEndpointOut);
    return { ...r, endpoint: r.ok ? r.output.u32() : 0, completionQueue: r.ok ? r.output.u32() : 0 };
  }

  destroyEndpoint(nicIndex: number, endpoint: number) {
    return this.ioctl(IOCTL_SANPROXY_DESTROY_ENDPOINT, Fields.of(8).putU32(nicIndex).putU32(endpoint).bytes, 0);
  }

  queryAddresses(outputLength = 4 + 4 * SIZES.addressEntry) {
    const r = this.ioctl(IOCTL_SANPROXY_QUERY_ADDRESSES, new Uint8Array(0), outputLength);
    const count = r.bytes >= 4 ? r.output.u32() : 0;
    const entries: { ip: number; nicIndex: number; sanAddress: number }[] = [];
    for (let i = 0; i < Math.floor((r.bytes - 4) / SIZES.addressEntry); i++) {
      entries.push({ ip: r.output.u32(), nicIndex: r.output.u32(), sanAddress: r.output.u64() });
    }
    return { ...r, count, entries };
  }

  translate(direction: number, nicIndex: number, value: number) {
    const r = this.ioctl(IOCTL_SANPROXY_TRANSLATE_ADDRESS, Fields.of(16).putU32(direction).putU32(nicIndex).putU64(value).bytes, SIZES.translateOut);
    return { ...r, value: r.ok ? r.output.u64() : 0 };
  }

  invalidate(id: number) {
    return this.ioctl(IOCTL_SANPROXY_INVALIDATE, Fields.of(8).putU64(id).bytes, 0);
  }

  revalidate(id: number, access: number, bindEndpoint = 0, offset = 0, length = 0) {
    const r = this.ioctl(IOCTL_SANPROXY_REVALIDATE, Fields.of(SIZES.revalidateIn).putU64(id).putU32(access).putU32(bindEndpoint).putU64(offset).putU64(length).bytes, SIZES.revalidateOut);
    return { ...r, handle: r.ok ? r.output.u32() : 0, remoteKey: r.ok ? r.output.u32() : 0 };
  }

  close(): boolean {
    const k = this.host.kernel;
    return k.ps.runInProcess(this.process, () => CloseHandle(k, this.handle));
  }
}
