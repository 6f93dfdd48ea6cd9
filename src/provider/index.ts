/** The SAN service provider (user mode): public names only. */
export {
  SanServiceProvider,
  type SanServiceProviderOptions,
  AF_INET,
  SOCK_STREAM,
  IPPROTO_TCP,
  SIO_GET_EXTENSION_FUNCTION_POINTER,
  WSAID_REGISTERMEMORY,
  WSAID_DEREGISTERMEMORY,
  WSAID_REGISTERRDMAMEMORY,
  WSAID_DEREGISTERRDMAMEMORY,
  WSAID_RDMAWRITE,
  WSAID_RDMAREAD,
  WSAID_MEMORYREGISTRATIONCACHECALLBACK,
} from './provider.ts';
export * from './errors.ts';
export { RDMA_DESCRIPTOR_BYTES, encodeRdmaDescriptor, decodeRdmaDescriptor, type RdmaDescriptor, type Registration } from './registrations.ts';
export { SHADOW_TRIGGER_STATUS, type Shadow } from './shadow.ts';
export { parseIpv4, formatIpv4, type SockAddr } from './socket.ts';
export { newWsaOverlapped, type WSAOVERLAPPED, type WSABUFEX, type CompleteOverlappedUpcall } from './transfers.ts';
