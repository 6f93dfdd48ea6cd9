/**
 * How the switch reports failure to the application: every socket call either resolves or
 * rejects with a SocketError carrying the WSA code (what WSAGetLastError would return after
 * SOCKET_ERROR). One convention for every call; never a raw TypeError.
 */
export {
  WSAEFAULT, WSAEINVAL, WSAENOTSOCK, WSAEOPNOTSUPP, WSAENOBUFS, WSAENOTCONN, WSAECONNRESET, WSAEISCONN, WSAENETDOWN,
  WSAENETUNREACH, WSAECONNREFUSED, WSANOTINITIALISED, WSAEADDRNOTAVAIL, WSAEWOULDBLOCK, WSA_OPERATION_ABORTED, WSAEINTR,
  WSAECONNABORTED, WSAESHUTDOWN, WSAEADDRINUSE, WSAEALREADY, WSASYSNOTREADY, WSAETIMEDOUT,
} from '../provider/index.ts';

/** shutdown() `how` values (winsock2.h). */
export const SD_RECEIVE = 0;
export const SD_SEND = 1;
export const SD_BOTH = 2;

export class SocketError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`${message} (WSA error ${code})`);
    this.name = 'SocketError';
  }
}
