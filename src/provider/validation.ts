/**
 * Argument validation for the provider's WSP routines, and the lpErrno convention.
 *
 * Every WSP routine validates first and acts after, so a failure leaves sockets,
 * registrations, driver objects and NIC state as they were, and no JavaScript TypeError or
 * RangeError escapes a routine: whatever the caller passes is checked here (`typeof`,
 * Number.isSafeInteger, ranges) before it is used. A failure is reported the WSP way: the
 * routine returns SOCKET_ERROR (or NULL / INVALID_SOCKET) and the WSA code goes to *lpErrno.
 */
import type { Ref } from '../kernel/ref.ts';
import { MM_LOWEST_USER_ADDRESS, MM_USER_SPACE_END, PAGE_NOACCESS, PAGE_READWRITE } from '../kernel/ps/address-space.ts';
import type { Process } from '../kernel/ps/process.ts';
import { addressOfPfn, pageOffset, pfnOf } from '../bus/index.ts';
import { INVALID_SOCKET, MEM_READ, MEM_READWRITE, MEM_WRITE, NO_ERROR, SOCKET_ERROR, WSAEFAULT, WSAEINVAL, WSAENOTCONN } from './errors.ts';
import type { SanSocket, SockAddr } from './socket.ts';
import type { WSAOVERLAPPED } from './transfers.ts';

const U32 = 0x1_0000_0000;

export const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < U32;
/** A C int as a JavaScript caller passes it: an integer in [-2^31, 2^32) (a DWORD-sized value is taken as its int). */
export const isCInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= -0x8000_0000 && v < U32;
export const isAddress = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isRef = (v: unknown): v is Ref<number> => typeof v === 'object' && v !== null && 'value' in v;
export const isSockAddr = (v: unknown): v is SockAddr =>
  typeof v === 'object' && v !== null && isU32((v as SockAddr).ip) && isU32((v as SockAddr).port) && (v as SockAddr).port <= 0xffff;
export const isOverlapped = (v: unknown): v is WSAOVERLAPPED => {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.Internal === 'number' && typeof o.InternalHigh === 'number' && typeof o.Offset === 'number' &&
    typeof o.OffsetHigh === 'number' && typeof o.hEvent === 'number';
};

/**
 * WSPRegisterMemory / WSPRegisterRdmaMemory arguments and socket state: flags MEM_READ,
 * MEM_WRITE or MEM_READWRITE, a length 1..2^32-1 (WSAEINVAL); a socket with an endpoint, and
 * for RDMA memory a connected one (WSAENOTCONN); a buffer inside user space (WSAEFAULT).
 */
export function checkRegistration(sock: SanSocket, lpBuffer: unknown, length: unknown, flags: unknown, connected: boolean | null): number {
  if (flags !== MEM_READ && flags !== MEM_WRITE && flags !== MEM_READWRITE) return WSAEINVAL;
  if (!isU32(length) || length === 0) return WSAEINVAL;
  if (!sock.hasEndpoint) return WSAENOTCONN;
  if (connected === false) return WSAENOTCONN;
  if (!isAddress(lpBuffer) || lpBuffer < MM_LOWEST_USER_ADDRESS || lpBuffer + length > MM_USER_SPACE_END) return WSAEFAULT;
  return NO_ERROR;
}

/**
 * Is [address, address+length) wholly valid user memory of `process`, writable when asked?
 * What VirtualQuery would tell the DLL: committed, not PAGE_NOACCESS, not read-only for a
 * writable registration. Checked before the driver is bothered (WSPRegisterMemory: WSAEFAULT).
 */
export function wholeUserRange(process: Process, address: number, length: number, write: boolean): boolean {
  if (address < MM_LOWEST_USER_ADDRESS || address + length > MM_USER_SPACE_END) return false;
  const start = address - pageOffset(address);
  const end = addressOfPfn(pfnOf(address + length - 1) + 1);
  const runs = process.space.cover(start, end);
  if (runs === null) return false;
  for (const r of runs) {
    const prot = r.vad.protect;
    if (r.vad.kind !== 'private') return false;
    for (let i = r.first; i < r.last; i++) {
      const p = prot[i]!;
      if (p === 0 || p === PAGE_NOACCESS || (write && p !== PAGE_READWRITE)) return false;
    }
  }
  return true;
}

/** Fail a routine that returns SOCKET_ERROR: the code goes to *lpErrno. */
export function fail(lpErrno: Ref<number>, error: number): number {
  lpErrno.value = error;
  return SOCKET_ERROR;
}

/** Fail a routine that returns a HANDLE (NULL on failure). */
export function failNull(lpErrno: Ref<number>, error: number): null {
  lpErrno.value = error;
  return null;
}

/** Fail a routine that returns a SOCKET (INVALID_SOCKET on failure). */
export function failSocket(lpErrno: Ref<number>, error: number): number {
  lpErrno.value = error;
  return INVALID_SOCKET;
}
