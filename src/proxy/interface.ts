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

import { getU32LE, getU64LE, putU32LE, putU64LE } from '../bus/little-endian.ts';

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
/** A control code of this device: vendor function `fn` (0x800 and up), METHOD_BUFFERED like every request here. */
const sanproxyIoctl = (fn: number, access = RW) => ctlCode(FILE_DEVICE_SANPROXY, fn, METHOD_BUFFERED, access);
export const IOCTL_SANPROXY_QUERY_ADDRESSES = sanproxyIoctl(0x800, FILE_ANY_ACCESS);
export const IOCTL_SANPROXY_TRANSLATE_ADDRESS = sanproxyIoctl(0x801, FILE_ANY_ACCESS);
export const IOCTL_SANPROXY_ALLOCATE_MEMORY = sanproxyIoctl(0x802);
export const IOCTL_SANPROXY_RELEASE_MEMORY = sanproxyIoctl(0x803);
export const IOCTL_SANPROXY_REGISTER_BUFFER = sanproxyIoctl(0x804);
export const IOCTL_SANPROXY_DEREGISTER_BUFFER = sanproxyIoctl(0x805);
export const IOCTL_SANPROXY_SECURE_MEMORY = sanproxyIoctl(0x806);
export const IOCTL_SANPROXY_UNSECURE_MEMORY = sanproxyIoctl(0x807);
export const IOCTL_SANPROXY_CREATE_ENDPOINT = sanproxyIoctl(0x808);
export const IOCTL_SANPROXY_DESTROY_ENDPOINT = sanproxyIoctl(0x809);
export const IOCTL_SANPROXY_INVALIDATE = sanproxyIoctl(0x80a);
export const IOCTL_SANPROXY_REVALIDATE = sanproxyIoctl(0x80b);
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

// ───────────────────────────── the codec ─────────────────────────────
//
// One codec for every buffer of this interface: each layout below is the table in the header
// comment, as data. The driver decodes requests and encodes replies with it; the provider and
// the test client encode requests and decode replies with it. Fields are little-endian; a u64
// must be a safe integer, and one that is not decodes as -1 (an invalid value to any check).

type FieldKind = 'u32' | 'u64' | 'pad32';
/** A field: its name ('' for padding, written as zero and never read) and kind. */
type FieldSpec = readonly [name: string, kind: FieldKind];

/** A fixed little-endian layout; `N` names its fields. */
export interface Layout<N extends string> {
  readonly bytes: number;
  readonly fields: readonly FieldSpec[];
  /** Type-level only: the field names. */
  readonly names?: N;
}

/** The values of a layout's fields, by name. */
export type Values<L> = L extends Layout<infer N> ? { [K in N]: number } : never;

const FIELD_BYTES: Record<FieldKind, number> = { u32: 4, u64: 8, pad32: 4 };

function layout<const F extends readonly FieldSpec[]>(...fields: F): Layout<Exclude<F[number][0], ''>> {
  return { bytes: fields.reduce((n, [, kind]) => n + FIELD_BYTES[kind], 0), fields };
}

/** `base` with more fields after it (the WINDOW_BIND replies). */
function extend<N extends string, const F extends readonly FieldSpec[]>(base: Layout<N>, ...fields: F): Layout<N | Exclude<F[number][0], ''>> {
  return layout(...base.fields, ...fields) as Layout<N | Exclude<F[number][0], ''>>;
}

const PAD = ['', 'pad32'] as const;

/** The request and reply layouts of every IOCTL (see the table at the top of this file). */
export const LAYOUTS = {
  translateIn: layout(['direction', 'u32'], ['nicIndex', 'u32'], ['value', 'u64']),
  translateOut: layout(['value', 'u64'], ['nicIndex', 'u32'], PAD),
  allocateIn: layout(['nicIndex', 'u32'], ['access', 'u32'], ['bytes', 'u64'], ['bindEndpoint', 'u32'], PAD),
  allocateOut: layout(['userAddress', 'u64'], ['bytes', 'u64'], ['handle', 'u32'], ['remoteKey', 'u32'], ['id', 'u64']),
  /** RELEASE_MEMORY, DEREGISTER_BUFFER, UNSECURE_MEMORY (`id` is the secure handle), INVALIDATE. */
  idIn: layout(['id', 'u64']),
  registerIn: layout(['nicIndex', 'u32'], ['access', 'u32'], ['address', 'u64'], ['length', 'u64'], ['bindEndpoint', 'u32'], PAD),
  registerOut: layout(['handle', 'u32'], ['remoteKey', 'u32'], ['id', 'u64']),
  secureIn: layout(['address', 'u64'], ['length', 'u64'], ['probeMode', 'u32'], PAD),
  secureOut: layout(['secureHandle', 'u64']),
  createEndpointIn: layout(['nicIndex', 'u32'], ['sendDepth', 'u32'], ['recvDepth', 'u32'], ['completionDepth', 'u32']),
  createEndpointOut: layout(['endpoint', 'u32'], ['completionQueue', 'u32']),
  destroyEndpointIn: layout(['nicIndex', 'u32'], ['endpoint', 'u32']),
  revalidateIn: layout(['id', 'u64'], ['access', 'u32'], ['bindEndpoint', 'u32'], ['offset', 'u64'], ['length', 'u64']),
  revalidateOut: layout(['handle', 'u32'], ['remoteKey', 'u32']),
  /** One entry of QUERY_ADDRESSES, after its u32 count. */
  addressEntry: layout(['ipv4', 'u32'], ['nicIndex', 'u32'], ['sanAddress', 'u64']),
} as const;

/** The replies that carry a window handle when the request had SANPROXY_WINDOW_BIND. */
export const WINDOW_LAYOUTS = {
  allocateOut: extend(LAYOUTS.allocateOut, ['window', 'u32'], PAD),
  registerOut: extend(LAYOUTS.registerOut, ['window', 'u32'], PAD),
} as const;

/**
 * One IOCTL of the device: its control code and the layouts of its request and reply (a reply
 * of 0 bytes carries no data). `windowReply` is the reply when the request's access has
 * SANPROXY_WINDOW_BIND. QUERY_ADDRESSES' reply is its u32 count, then the entries
 * (encodeAddressList).
 */
export interface IoctlSpec<I extends string, O extends string> {
  readonly code: number;
  readonly request: Layout<I>;
  readonly reply: Layout<O>;
  readonly windowReply: Layout<O | 'window'> | null;
}

const spec = <I extends string, O extends string>(
  code: number, request: Layout<I>, reply: Layout<O>, windowReply: Layout<O | 'window'> | null = null,
): IoctlSpec<I, O> => ({ code, request, reply, windowReply });

const NONE = layout();

/** Every IOCTL of the device with its codec, by function number: the driver refuses any other code. */
export const SANPROXY_REQUESTS = {
  queryAddresses: spec(IOCTL_SANPROXY_QUERY_ADDRESSES, NONE, layout(['count', 'u32'])),
  translate: spec(IOCTL_SANPROXY_TRANSLATE_ADDRESS, LAYOUTS.translateIn, LAYOUTS.translateOut),
  allocate: spec(IOCTL_SANPROXY_ALLOCATE_MEMORY, LAYOUTS.allocateIn, LAYOUTS.allocateOut, WINDOW_LAYOUTS.allocateOut),
  release: spec(IOCTL_SANPROXY_RELEASE_MEMORY, LAYOUTS.idIn, NONE),
  register: spec(IOCTL_SANPROXY_REGISTER_BUFFER, LAYOUTS.registerIn, LAYOUTS.registerOut, WINDOW_LAYOUTS.registerOut),
  deregister: spec(IOCTL_SANPROXY_DEREGISTER_BUFFER, LAYOUTS.idIn, NONE),
  secure: spec(IOCTL_SANPROXY_SECURE_MEMORY, LAYOUTS.secureIn, LAYOUTS.secureOut),
  unsecure: spec(IOCTL_SANPROXY_UNSECURE_MEMORY, LAYOUTS.idIn, NONE),
  createEndpoint: spec(IOCTL_SANPROXY_CREATE_ENDPOINT, LAYOUTS.createEndpointIn, LAYOUTS.createEndpointOut),
  destroyEndpoint: spec(IOCTL_SANPROXY_DESTROY_ENDPOINT, LAYOUTS.destroyEndpointIn, NONE),
  invalidate: spec(IOCTL_SANPROXY_INVALIDATE, LAYOUTS.idIn, NONE),
  revalidate: spec(IOCTL_SANPROXY_REVALIDATE, LAYOUTS.revalidateIn, LAYOUTS.revalidateOut),
} as const;

type AnySpec = IoctlSpec<string, string>;
const SPECS: readonly AnySpec[] = Object.values(SANPROXY_REQUESTS);
const BY_CODE = new Map(SPECS.map((s) => [s.code, s]));

/** Every control code of the device, by function number. */
export const SANPROXY_IOCTLS: readonly number[] = SPECS.map((s) => s.code);

/** The IOCTL of control code `code`, or null when the device has none. */
export function ioctlSpec(code: number): AnySpec | null {
  return BY_CODE.get(code >>> 0) ?? null;
}

/** The reply layout of `s` for `request`: the window reply when its access has SANPROXY_WINDOW_BIND. */
export function replyLayout<O extends string>(s: IoctlSpec<string, O>, request: Readonly<Record<string, number>>): Layout<O> | Layout<O | 'window'> {
  return s.windowReply !== null && ((request.access ?? 0) & SANPROXY_WINDOW_BIND) !== 0 ? s.windowReply : s.reply;
}

/** Encode `values` in `l`'s layout; a new buffer of exactly `l.bytes` unless `into` is given. */
export function encode<N extends string>(l: Layout<N>, values: { [K in N]: number }, into = new Uint8Array(l.bytes), at = 0): Uint8Array {
  const v = values as Record<string, number>;
  for (const [name, kind] of l.fields) {
    if (kind === 'u32') putU32LE(into, at, v[name]!);
    else if (kind === 'u64') putU64LE(into, at, v[name]!);
    else putU32LE(into, at, 0);
    at += FIELD_BYTES[kind];
  }
  return into;
}

/** Decode `l` from `bytes` at `at` (the caller checked the length); a u64 >= 2^53 reads -1. */
export function decode<N extends string>(l: Layout<N>, bytes: Uint8Array, at = 0): { [K in N]: number } {
  const out: Record<string, number> = {};
  for (const [name, kind] of l.fields) {
    if (kind === 'u32') out[name] = getU32LE(bytes, at);
    else if (kind === 'u64') out[name] = getU64LE(bytes, at);
    at += FIELD_BYTES[kind];
  }
  return out as { [K in N]: number };
}

/** A reply: null when fewer than `l.bytes` bytes came back. */
export function decodeReply<N extends string>(l: Layout<N>, bytes: Uint8Array, returned: number): { [K in N]: number } | null {
  return returned < l.bytes || bytes.length < l.bytes ? null : decode(l, bytes);
}

/** The reply of `s` to `request`: null when shorter than replyLayout; `window` is 0 unless the request asked for one. */
export function decodeIoctlReply<O extends string>(
  s: IoctlSpec<string, O>, request: Readonly<Record<string, number>>, bytes: Uint8Array, returned: number,
): ({ [K in O]: number } & { window: number }) | null {
  const reply: Record<string, number> | null = decodeReply(replyLayout(s, request), bytes, returned);
  return reply === null ? null : ({ ...reply, window: reply.window ?? 0 } as { [K in O]: number } & { window: number });
}

export interface AddressEntry {
  ipv4: number;
  nicIndex: number;
  sanAddress: number;
}

/** QUERY_ADDRESSES' reply: the total count, then as many entries as fit in `capacity` bytes. */
export function encodeAddressList(entries: readonly AddressEntry[], capacity: number): { bytes: Uint8Array; complete: boolean } {
  const fit = Math.max(0, Math.min(entries.length, Math.floor((capacity - 4) / LAYOUTS.addressEntry.bytes)));
  const bytes = new Uint8Array(4 + fit * LAYOUTS.addressEntry.bytes);
  putU32LE(bytes, 0, entries.length);
  for (let i = 0; i < fit; i++) encode(LAYOUTS.addressEntry, entries[i]!, bytes, 4 + i * LAYOUTS.addressEntry.bytes);
  return { bytes, complete: fit === entries.length };
}

/** QUERY_ADDRESSES' reply read back: `count` is the total, `entries` those that came back. */
export function decodeAddressList(bytes: Uint8Array, returned: number): { count: number; entries: AddressEntry[] } {
  const length = Math.min(returned, bytes.length);
  if (length < 4) return { count: 0, entries: [] };
  const entries: AddressEntry[] = [];
  for (let at = 4; at + LAYOUTS.addressEntry.bytes <= length; at += LAYOUTS.addressEntry.bytes) entries.push(decode(LAYOUTS.addressEntry, bytes, at));
  return { count: getU32LE(bytes, 0), entries };
}
