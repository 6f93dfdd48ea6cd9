/** The SAN service provider (user mode): public names only. */
export { SanServiceProvider, DEFAULT_CONNECT_TIMEOUT_MS, type SanServiceProviderOptions } from './provider.ts';
export type { LocalRegistrationResult, RdmaRegistrationResult } from './memory-registration.ts';
export {
  SIO_GET_EXTENSION_FUNCTION_POINTER,
  GUID_BYTES,
  POINTER_BYTES,
  FD_ACCEPT,
  WSAID_REGISTERMEMORY,
  WSAID_DEREGISTERMEMORY,
  WSAID_REGISTERRDMAMEMORY,
  WSAID_DEREGISTERRDMAMEMORY,
  WSAID_RDMAWRITE,
  WSAID_RDMAREAD,
  WSAID_MEMORYREGISTRATIONCACHECALLBACK,
} from './extensions.ts';
export * from './errors.ts';
export { RDMA_DESCRIPTOR_BYTES, encodeRdmaDescriptor, decodeRdmaDescriptor, type RdmaDescriptor } from './rdma-descriptor.ts';
export type { Registration } from './registration-handles.ts';
export { SHADOW_TRIGGER_STATUS, type Shadow } from './shadow.ts';
export { AF_INET, SOCK_STREAM, IPPROTO_TCP, WsaEvent, type SockAddr } from './socket.ts';
export { newWsaOverlapped, type WSAOVERLAPPED, type WSABUFEX, type CompleteOverlappedUpcall } from './transfers.ts';
