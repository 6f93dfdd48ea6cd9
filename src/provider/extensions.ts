/**
 * The extension functions of a SAN service provider and the codes WSPIoctl and
 * WSPEventSelect take (ws2san.h, winsock2.h, mswsock.h): the switch gets WSPRegisterMemory and
 * the other SAN routines through WSPIoctl(SIO_GET_EXTENSION_FUNCTION_POINTER) with their GUID
 * (the WSPIoctl page of the Windows Sockets Direct reference).
 * WSPRdmaRead and WSPMemoryRegistrationCacheCallback are optional: a provider that cannot
 * serve RDMA read fails its GUID with WSAEOPNOTSUPP and the switch uses RDMA write.
 */

/** SIO_GET_EXTENSION_FUNCTION_POINTER = _WSAIORW(IOC_WS2, 6). */
export const SIO_GET_EXTENSION_FUNCTION_POINTER = 0xc8000006;

/** Bytes of a GUID (the cbInBuffer of SIO_GET_EXTENSION_FUNCTION_POINTER) and of a function pointer. */
export const GUID_BYTES = 16;
export const POINTER_BYTES = 8;

/** Extension GUIDs of ws2san.h, in their string form. */
export const WSAID_REGISTERMEMORY = '{C0B422F5-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_DEREGISTERMEMORY = '{C0B422F6-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_REGISTERRDMAMEMORY = '{C0B422F7-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_DEREGISTERRDMAMEMORY = '{C0B422F8-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_RDMAWRITE = '{C0B422F9-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_RDMAREAD = '{C0B422FA-F58C-11D1-AD6C-00C04FA34A2D}';
export const WSAID_MEMORYREGISTRATIONCACHECALLBACK = '{E5DA4AF8-D824-48CD-A799-6337A98ED2AF}';

/** WSPEventSelect network events (winsock2.h): the provider signals FD_ACCEPT only. */
export const FD_ACCEPT = 0x08;
