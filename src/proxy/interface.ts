/**
 * The SAN proxy driver's IOCTL interface: the "header file" the driver ships to its SAN service
 * provider. WSD leaves the provider↔proxy interface to the vendor ("Implementing IOCTLs for a SAN
 * Service Provider"); this is ours. It is the only part of src/proxy/ that user mode may import
 * (test/layers.test.ts allows exactly this file).
 *
 * Every request is METHOD_BUFFERED with little-endian fixed layouts, so the I/O manager copies
 * the input into a nonpaged system buffer and nothing the driver reads can change under it.
 * User buffers to register are named by address and length inside the input, and the driver
 * builds and locks its own MDL in the caller's context: the registration outlives the IRP, and
 * Irp->MdlAddress must not (the I/O manager frees it at completion).
 *
 * Layouts (offsets in bytes; u64 values must be below 2^53):
 *   QUERY_ADDRESSES   in: -                          out: u32 count, then count × {u32 ipv4, u32 nicIndex, u64 sanAddress}
 *   TRANSLATE_ADDRESS in: u32 direction, u32 nicIndex, u64 value   out: u64 value, u32 nicIndex, u32 0
 *                     (IP → SAN resolves through NIC nicIndex; SAN → IP ignores it)
 *   ALLOCATE_MEMORY   in: u32 nicIndex, u32 access, u64 bytes, u32 bindEndpoint, u32 0
 *                     out: u64 userAddress, u64 bytes, u32 handle, u32 remoteKey, u64 id
 *                     With SANPROXY_WINDOW_BIND in access: one window comes with it, as for
 *                     REGISTER_BUFFER (out has 8 more bytes: u32 windowHandle, u32 0).
 *   RELEASE_MEMORY    in: u64 id
 *   REGISTER_BUFFER   in: u32 nicIndex, u32 access, u64 address, u64 length, u32 bindEndpoint, u32 0
 *                     out: u32 handle, u32 remoteKey, u64 id
 *                     With SANPROXY_WINDOW_BIND in access the region may back memory windows and
 *                     comes with one window of the caller's, unbound; out has 8 more bytes:
 *                     u32 windowHandle, u32 0. The provider then exposes and hides the buffer
 *                     from user mode (the NIC's bindWindow / invalidateWindow on its own
 *                     connection), with no request to the driver per exposure; DEREGISTER_BUFFER
 *                     frees the window with the registration.
 *   DEREGISTER_BUFFER in: u64 id
 *   SECURE_MEMORY     in: u64 address, u64 length, u32 probeMode, u32 0   out: u64 secureHandle
 *   UNSECURE_MEMORY   in: u64 secureHandle
 *   CREATE_ENDPOINT   in: u32 nicIndex, u32 sendDepth, u32 recvDepth, u32 completionDepth
 *                     out: u32 endpointId, u32 completionQueueId
 *   DESTROY_ENDPOINT  in: u32 nicIndex, u32 endpointId
 *   INVALIDATE        in: u64 id (a registration or an allocation)
 *                     The NIC keeps the entry but refuses every access to it; the pages stay
 *                     locked. For the remote registration cache: the peer must lose access
 *                     when the switch deregisters RDMA memory it keeps cached.
 *   REVALIDATE        in: u64 id, u32 access, u32 bindEndpoint, u64 offset, u64 length
 *                     out: u32 handle, u32 remoteKey
 *                     Register the pages again under new keys (old keys stay stale), with new
 *                     rights and binding, covering only [offset, offset + length) of the
 *                     registration (length 0: all of it): a cache hit re-exposes exactly the
 *                     buffer asked for, and the peer reaches no other byte of the region.
 *
 * Statuses a provider must handle (besides STATUS_INVALID_PARAMETER / STATUS_BUFFER_TOO_SMALL
 * for malformed requests and STATUS_INSUFFICIENT_RESOURCES when memory, registrations or
 * endpoints run out):
 *   REGISTER_BUFFER → STATUS_NOT_SUPPORTED: the NIC cannot reach some page of the buffer (a
 *     32-bit NIC without DMA remapping and a page at or above 4 GiB — every user page on a
 *     NOLOWMEM host). The driver never hands a NIC an address it would truncate; the provider
 *     asks for low memory with ALLOCATE_MEMORY instead and stages through it.
 *   REGISTER_BUFFER / SECURE_MEMORY → STATUS_ACCESS_VIOLATION: the range is not valid user
 *     memory of the caller with the needed access.
 *   RELEASE / DEREGISTER / UNSECURE / DESTROY → STATUS_INVALID_HANDLE: the id is not one this
 *     handle created (ids are per open handle: another process's ids never match).
 *   QUERY_ADDRESSES → STATUS_BUFFER_OVERFLOW: the output held only some entries; `count` is the
 *     total, so the caller can retry with a larger buffer.
 */

// CTL_CODE lives in the kernel's io headers too; user mode has its own copy in winioctl.h, so
// the formula is repeated here rather than importing kernel code into user mode.
const METHOD_BUFFERED = 0;
const FILE_ANY_ACCESS = 0;
const FILE_READ_ACCESS = 1;
const FILE_WRITE_ACCESS = 2;
const ctlCode = (deviceType: number, fn: number, method: number, access: number) =>
  ((deviceType << 16) | (access << 14) | (fn << 2) | method) >>> 0;

/** Vendor device type (>= 0x8000 is for vendors). */
export const FILE_DEVICE_SANPROXY = 0x8053;
export const SANPROXY_DEVICE_NAME = '\\Device\\SanProxy';
export const SANPROXY_DOS_NAME = '\\DosDevices\\SanProxy';
export const SANPROXY_USER_PATH = '\\\\.\\SanProxy';

const RW = FILE_READ_ACCESS | FILE_WRITE_ACCESS;
export const IOCTL_SANPROXY_QUERY_ADDRESSES = ctlCode(FILE_DEVICE_SANPROXY, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_SANPROXY_TRANSLATE_ADDRESS = ctlCode(FILE_DEVICE_SANPROXY, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS);
export const IOCTL_SANPROXY_ALLOCATE_MEMORY = ctlCode(FILE_DEVICE_SANPROXY, 0x802, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_RELEASE_MEMORY = ctlCode(FILE_DEVICE_SANPROXY, 0x803, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_REGISTER_BUFFER = ctlCode(FILE_DEVICE_SANPROXY, 0x804, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_DEREGISTER_BUFFER = ctlCode(FILE_DEVICE_SANPROXY, 0x805, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_SECURE_MEMORY = ctlCode(FILE_DEVICE_SANPROXY, 0x806, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_UNSECURE_MEMORY = ctlCode(FILE_DEVICE_SANPROXY, 0x807, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_CREATE_ENDPOINT = ctlCode(FILE_DEVICE_SANPROXY, 0x808, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_DESTROY_ENDPOINT = ctlCode(FILE_DEVICE_SANPROXY, 0x809, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_INVALIDATE = ctlCode(FILE_DEVICE_SANPROXY, 0x80a, METHOD_BUFFERED, RW);
export const IOCTL_SANPROXY_REVALIDATE = ctlCode(FILE_DEVICE_SANPROXY, 0x80b, METHOD_BUFFERED, RW);

/** TRANSLATE_ADDRESS directions. */
export const TRANSLATE_IP_TO_SAN = 0;
export const TRANSLATE_SAN_TO_IP = 1;

/** Access bits of ALLOCATE_MEMORY / REGISTER_BUFFER: the NIC rights to grant. */
export const SANPROXY_LOCAL_READ = 0x1;
export const SANPROXY_LOCAL_WRITE = 0x2;
export const SANPROXY_REMOTE_READ = 0x4;
export const SANPROXY_REMOTE_WRITE = 0x8;
export const SANPROXY_ACCESS_MASK = 0xf;
/** REGISTER_BUFFER / ALLOCATE_MEMORY: the region may back memory windows, and one window comes with it. */
export const SANPROXY_WINDOW_BIND = 0x10;

/** Size of each request's input and output, in bytes. */
export const SIZES = {
  translateIn: 16,
  translateOut: 16,
  allocateIn: 24,
  allocateOut: 32,
  allocateWindowOut: 40,
  idIn: 8,
  registerIn: 32,
  registerOut: 16,
  registerWindowOut: 24,
  secureIn: 24,
  secureOut: 8,
  createEndpointIn: 16,
  createEndpointOut: 8,
  destroyEndpointIn: 8,
  revalidateIn: 32,
  revalidateOut: 8,
  addressEntry: 16,
} as const;

/** A little-endian cursor over a request buffer; `u64` refuses values beyond 2^53. */
export class Fields {
  private readonly view: DataView;
  private at = 0;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  static of(size: number): Fields {
    return new Fields(new Uint8Array(size));
  }
  u32(): number {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  /** A u64 as a number, or -1 when it is not exactly representable (>= 2^53). */
  u64(): number {
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : -1;
  }
  putU32(v: number): this {
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
    return this;
  }
  putU64(v: number): this {
    this.view.setBigUint64(this.at, BigInt(v), true);
    this.at += 8;
    return this;
  }
}
