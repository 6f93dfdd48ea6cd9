import { describe, expect, it } from 'vitest';
import { NicStatus, Syndrome, WcStatus } from '../nic/index.ts';
import {
  WSAEACCES, WSAECONNRESET, WSAEFAULT, WSAEINVAL, WSAEMSGSIZE, WSAENETDOWN, WSAENOBUFS, WSAENOTCONN, WSAEOPNOTSUPP,
  wsaErrorOfCompletion, wsaErrorOfNicStatus, wsaErrorOfStatus,
} from './errors.ts';

describe('error mapping', () => {
  it('driver NTSTATUS → WSA: shortages are WSAENOBUFS, bad ranges WSAEFAULT, unknown WSAENETDOWN', () => {
    expect(wsaErrorOfStatus(0xc000009a)).toBe(WSAENOBUFS);
    expect(wsaErrorOfStatus(0xc0000017 | 0)).toBe(WSAENOBUFS);
    expect(wsaErrorOfStatus(0xc0000005)).toBe(WSAEFAULT);
    expect(wsaErrorOfStatus(0xc000000d)).toBe(WSAEINVAL);
    expect(wsaErrorOfStatus(0xc00000bb)).toBe(WSAEOPNOTSUPP);
    expect(wsaErrorOfStatus(0xc0000001)).toBe(WSAENETDOWN);
  });
  it('NIC immediate status → WSA', () => {
    expect(wsaErrorOfNicStatus(NicStatus.QUEUE_FULL)).toBe(WSAENOBUFS);
    expect(wsaErrorOfNicStatus(NicStatus.INVALID_STATE)).toBe(WSAENOTCONN);
    expect(wsaErrorOfNicStatus(NicStatus.NOT_SUPPORTED)).toBe(WSAEOPNOTSUPP);
    expect(wsaErrorOfNicStatus(NicStatus.INVALID_HANDLE)).toBe(WSAEINVAL);
  });
  it('completion → WSA: remote refusal WSAEACCES, local WSAEFAULT, flush WSAECONNRESET', () => {
    expect(wsaErrorOfCompletion(WcStatus.SUCCESS, Syndrome.NONE)).toBe(0);
    expect(wsaErrorOfCompletion(WcStatus.REM_ACCESS_ERR, Syndrome.BINDING_MISMATCH)).toBe(WSAEACCES);
    expect(wsaErrorOfCompletion(WcStatus.LOC_PROT_ERR, Syndrome.ACCESS_DENIED)).toBe(WSAEFAULT);
    expect(wsaErrorOfCompletion(WcStatus.WR_FLUSH_ERR, Syndrome.NONE)).toBe(WSAECONNRESET);
    expect(wsaErrorOfCompletion(WcStatus.REM_INV_REQ_ERR, Syndrome.RECV_TOO_SMALL)).toBe(WSAEMSGSIZE);
    expect(wsaErrorOfCompletion(WcStatus.REM_OP_ERR, Syndrome.RDMA_READ_UNSUPPORTED)).toBe(WSAEOPNOTSUPP);
  });
});
