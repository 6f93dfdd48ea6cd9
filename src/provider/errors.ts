/**
 * Windows Sockets error codes the SAN service provider returns through lpErrno, the WSD
 * constants it shares with the switch (ws2san.h), and the three mappings from lower layers:
 * the proxy driver's NTSTATUS (behind DeviceIoControl), the NIC's immediate NicStatus, and the
 * status a NIC completion carries. One place decides each mapping so every WSP routine
 * reports the same failure the same way.
 * [Windows Sockets Direct reference: WSPRegisterMemory, WSPRdmaWrite, WSPGetOverlappedResult]
 */
import {
  STATUS_ACCESS_VIOLATION, STATUS_CONNECTION_REFUSED, STATUS_CONNECTION_RESET, STATUS_INSUFFICIENT_RESOURCES,
  STATUS_INVALID_ADDRESS, STATUS_INVALID_PAGE_PROTECTION, STATUS_INVALID_PARAMETER, STATUS_NOT_COMMITTED,
  STATUS_NOT_SUPPORTED, STATUS_NO_MEMORY, STATUS_WORKING_SET_QUOTA,
} from '../kernel/status.ts';
import { NicStatus, Syndrome, WcStatus } from '../nic/index.ts';

export const SOCKET_ERROR = -1;
/** INVALID_SOCKET is (SOCKET)~0; sockets here are small positive numbers. */
export const INVALID_SOCKET = -1;
export const NO_ERROR = 0;

export const WSAEINTR = 10004;
export const WSAEACCES = 10013;
export const WSAEFAULT = 10014;
export const WSAEINVAL = 10022;
export const WSAEWOULDBLOCK = 10035;
export const WSAEALREADY = 10037;
export const WSAENOTSOCK = 10038;
export const WSAEMSGSIZE = 10040;
export const WSAEPROTONOSUPPORT = 10043;
export const WSAESOCKTNOSUPPORT = 10044;
export const WSAEOPNOTSUPP = 10045;
export const WSAEAFNOSUPPORT = 10047;
export const WSAEADDRINUSE = 10048;
export const WSAEADDRNOTAVAIL = 10049;
export const WSAENETDOWN = 10050;
export const WSAENETUNREACH = 10051;
export const WSAECONNABORTED = 10053;
export const WSAECONNRESET = 10054;
export const WSAENOBUFS = 10055;
export const WSAEISCONN = 10056;
export const WSAENOTCONN = 10057;
export const WSAESHUTDOWN = 10058;
export const WSAETIMEDOUT = 10060;
export const WSAECONNREFUSED = 10061;
export const WSASYSNOTREADY = 10091;
export const WSANOTINITIALISED = 10093;
export const WSA_OPERATION_ABORTED = 995;
export const WSA_IO_INCOMPLETE = 996;
export const WSA_IO_PENDING = 997;
/** OVERLAPPED.Internal while a request is in flight ("Completing Data Transfer Requests"). */
export const WSS_OPERATION_IN_PROGRESS = 0x103;

/** dwFlags of WSPRegisterMemory / WSPRegisterRdmaMemory (ws2san.h). */
export const MEM_READ = 1;
export const MEM_WRITE = 2;
export const MEM_READWRITE = 3;


/**
 * The proxy driver's NTSTATUS (what RtlGetLastNtStatus returns after DeviceIoControl) as a
 * WSA code. Resource shortages are WSAENOBUFS (WSPRegisterMemory; "Handling a send that
 * fails for lack of memory" on the session-protocol pages); a bad user range is WSAEFAULT;
 * anything the provider cannot explain is WSAENETDOWN ("the network subsystem has failed")
 * rather than a guess.
 */
export function wsaErrorOfStatus(status: number): number {
  switch (status >>> 0) {
    case STATUS_NO_MEMORY:
    case STATUS_INSUFFICIENT_RESOURCES:
    case STATUS_WORKING_SET_QUOTA:
      return WSAENOBUFS;
    case STATUS_ACCESS_VIOLATION:
    case STATUS_NOT_COMMITTED:
    case STATUS_INVALID_ADDRESS:
    case STATUS_INVALID_PAGE_PROTECTION:
      return WSAEFAULT;
    case STATUS_INVALID_PARAMETER:
      return WSAEINVAL;
    case STATUS_NOT_SUPPORTED:
      return WSAEOPNOTSUPP;
    case STATUS_CONNECTION_RESET:
      return WSAECONNRESET;
    case STATUS_CONNECTION_REFUSED:
      return WSAECONNREFUSED;
    default:
      return WSAENETDOWN;
  }
}

/** The NIC's immediate answer to a user-queue call as a WSA code. */
export function wsaErrorOfNicStatus(status: number): number {
  switch (status) {
    case NicStatus.SUCCESS:
      return NO_ERROR;
    case NicStatus.INSUFFICIENT_RESOURCES:
    case NicStatus.QUEUE_FULL:
    case NicStatus.REGION_TOO_LARGE:
      return WSAENOBUFS;
    case NicStatus.ACCESS_DENIED:
      return WSAEACCES;
    // Posting on an endpoint that is not (or no longer) connected.
    case NicStatus.INVALID_STATE:
      return WSAENOTCONN;
    case NicStatus.NOT_SUPPORTED:
      return WSAEOPNOTSUPP;
    case NicStatus.ADDRESS_IN_USE:
      return WSAEADDRINUSE;
    case NicStatus.NO_PENDING_CONNECTION:
      return WSAEWOULDBLOCK;
    case NicStatus.NOT_ATTACHED:
      return WSAENETDOWN;
    default:
      return WSAEINVAL;
  }
}

/**
 * A NIC completion as the WSA code WSPGetOverlappedResult reports (0 for success).
 * Choices (the WSD pages give no table for RDMA errors):
 * - a flushed request (the connection left the connected state under it) → WSAECONNRESET,
 *   as "Closing a SAN Socket" suggests for receives failed by a vanished connection;
 * - the peer's NIC refused the remote access (descriptor unknown, stale, bound to another
 *   connection, missing right, out of range) → WSAEACCES: the request was well formed but
 *   not permitted; the RC connection is in error afterwards, so later calls see WSAECONNRESET;
 * - the local buffer was refused (protection, range) → WSAEFAULT, the WSD code for buffers
 *   that are not valid for the call;
 * - message larger than the peer's receive → WSAEMSGSIZE;
 * - RDMA read served by a NIC without it → WSAEOPNOTSUPP;
 * - the peer is gone (retry exceeded) → WSAECONNRESET; DMA faults → WSAENETDOWN.
 */
export function wsaErrorOfCompletion(status: number, syndrome: number): number {
  if (status === WcStatus.SUCCESS) return NO_ERROR;
  if (syndrome === Syndrome.RDMA_READ_UNSUPPORTED) return WSAEOPNOTSUPP;
  if (syndrome === Syndrome.RECV_TOO_SMALL || syndrome === Syndrome.TOO_LONG) return WSAEMSGSIZE;
  if (syndrome === Syndrome.PEER_GONE) return WSAECONNRESET;
  switch (status) {
    case WcStatus.WR_FLUSH_ERR:
    case WcStatus.RETRY_EXC_ERR:
      return WSAECONNRESET;
    case WcStatus.REM_ACCESS_ERR:
      return WSAEACCES;
    case WcStatus.LOC_PROT_ERR:
    case WcStatus.LOC_LEN_ERR:
      return WSAEFAULT;
    case WcStatus.REM_INV_REQ_ERR:
    case WcStatus.LOC_QP_OP_ERR:
      return WSAEINVAL;
    default:
      return WSAENETDOWN;
  }
}

