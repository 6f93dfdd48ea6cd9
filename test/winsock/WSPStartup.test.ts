/**
 * WSPStartup (WSPStartupEx for a SAN provider) — reference counting.
 * Sources: Windows Sockets Direct reference "WSPCleanup function" (ff566270: "The switch can call a
 * SAN service provider's WSPStartupEx function more than once. For each WSPStartupEx call, the switch
 * must issue a corresponding WSPCleanup call. The SAN service provider must keep an internal reference
 * count … Only the final WSPCleanup call does the actual cleanup"); Winsock SPI "LPWSPCLEANUP",
 * "Cleanup" (the provider "must be left in a state where it can be immediately reinitialized by a call
 * to WSPStartup"); "Initializing a SAN Service Provider"; Wine dlls/ws2_32/tests/sock.c
 * test_WithoutWSAStartup (a socket call before any start-up is WSANOTINITIALISED) and
 * test_WithWSAStartup (sockets of before a clean-up are unknown after a new start-up: WSAENOTSOCK).
 */
import { describe, expect, it } from 'vitest';
import { createCluster, snapshot } from '../../src/host/index.ts';
import {
  AF_INET, INVALID_SOCKET, IPPROTO_TCP, NO_ERROR, SOCK_STREAM, SOCKET_ERROR, SanServiceProvider, WSAENETDOWN, WSAENOTSOCK,
  WSANOTINITIALISED,
} from '../../src/provider/index.ts';
import { ref } from '../../src/kernel/ref.ts';
import { expectNoLeaks, ip, oneHost, socket, startProvider, withErrno } from './fixture.ts';

describe('WSPStartup', () => {
  it('counts every call: the second WSPStartup opens nothing more, and the provider is cleaned up only by the second WSPCleanup', () => {
    const { host, baseline } = oneHost();
    const { process, provider } = startProvider(host, 'app');
    const requests = provider.counters.driverRequests;
    expect(provider.WSPStartup()).toBe(NO_ERROR);
    expect(provider.startCount).toBe(2);
    // Nothing was asked of the driver a second time (the proxy handle is opened once).
    expect(provider.counters.driverRequests).toBe(requests);
    const s = socket(provider);
    expect(provider.WSPCleanup(ref(0))).toBe(NO_ERROR);
    expect(provider.startCount).toBe(1);
    // Still started: the socket lives and can be bound.
    expect(withErrno((e) => provider.WSPBind(s, { ip: ip('10.0.0.1'), port: 7100 }, e)).result).toBe(0);
    expect(provider.WSPCleanup(ref(0))).toBe(NO_ERROR);
    expect(provider.startCount).toBe(0);
    expect(provider.counters.sockets).toBe(0);
    expectNoLeaks(host, process, baseline);
  });

  it('before the first WSPStartup every call is WSANOTINITIALISED (Wine test_WithoutWSAStartup)', () => {
    const { host } = oneHost();
    const process = host.createProcess('app');
    const provider = new SanServiceProvider({ kernel: host.kernel, process, ports: host.nics.map((n) => n.nic.openUserPort(process.ProcessId)) });
    expect(provider.startCount).toBe(0);
    const e = ref(0);
    expect(provider.WSPSocket(AF_INET, SOCK_STREAM, IPPROTO_TCP, null, 0, 0, e)).toBe(INVALID_SOCKET);
    expect(e.value).toBe(WSANOTINITIALISED);
    expect(provider.WSPCleanup(e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSANOTINITIALISED);
  });

  it('a first WSPStartup that fails (no proxy driver) counts nothing and leaves nothing open', () => {
    const cluster = createCluster({ hosts: [{ name: 'h', ramBytes: 1024 * 1024 * 1024, nics: [{ addressBits: 64, ip: '10.0.0.1' }] }] });
    const host = cluster.hosts[0]!;
    const baseline = snapshot(host);
    const process = host.createProcess('app');
    const provider = new SanServiceProvider({ kernel: host.kernel, process, ports: host.nics.map((n) => n.nic.openUserPort(process.ProcessId)) });
    expect(provider.WSPStartup()).toBe(WSAENETDOWN);
    expect(provider.startCount).toBe(0);
    const e = ref(0);
    expect(provider.WSPCleanup(e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSANOTINITIALISED);
    expectNoLeaks(host, process, baseline);
  });

  it('after the last WSPCleanup it starts again at once; the sockets of before stay unknown (WSAENOTSOCK, Wine test_WithWSAStartup)', () => {
    const { host, baseline } = oneHost();
    const { process, provider } = startProvider(host, 'app');
    const old = socket(provider);
    expect(provider.WSPCleanup(ref(0))).toBe(NO_ERROR);
    expect(provider.WSPStartup()).toBe(NO_ERROR);
    const e = ref(0);
    expect(provider.WSPBind(old, { ip: 0, port: 7101 }, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAENOTSOCK);
    // A new socket works: the provider is fully usable again.
    const s = socket(provider);
    expect(provider.WSPBind(s, { ip: 0, port: 7101 }, e)).toBe(0);
    expect(provider.WSPListen(s, 5, e)).toBe(0);
    expect(provider.WSPCleanup(e)).toBe(NO_ERROR);
    expectNoLeaks(host, process, baseline);
  });
});
