import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MEM_RELEASE } from '../../src/kernel/mm/virtual-memory.ts';
import { ref } from '../../src/kernel/ref.ts';
import { MEM_READ, MEM_READWRITE, MEM_WRITE, RDMA_DESCRIPTOR_BYTES, SOCKET_ERROR, WSAEFAULT, WSAEINVAL } from '../../src/provider/index.ts';
import { connectedPair, userBuffer } from './harness.ts';

describe('WSPMemoryRegistrationCacheCallback ("Caching Registered Memory", "Securing and Releasing Ownership of Virtual Addresses")', () => {
  it('WSAEINVAL when never cached; a cached registration is reused without driver work, then released and unsecured', async () => {
    const { a } = await connectedPair({ provider: { cacheRegistrations: true } });
    const e = ref(0);
    const va = userBuffer(a.process, 4 * 4096);
    const nic = a.host.nics[0]!.nic;
    expect(a.provider.WSPMemoryRegistrationCacheCallback(va, 4096, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEINVAL);
    const h = a.provider.WSPRegisterMemory(a.s, va, 4 * 4096, MEM_READWRITE, e)!;
    expect(a.provider.WSPDeregisterMemory(a.s, h, e)).toBe(0);
    expect(a.provider.counters.cached).toBe(1);
    expect(nic.regionCount).toBe(1);
    expect(a.process.secureEntries.size).toBe(1);
    // A hit: same NIC registration, no request to the driver.
    const requests = a.provider.counters.driverRequests;
    const h2 = a.provider.WSPRegisterMemory(a.s, va, 4 * 4096, MEM_READWRITE, e)!;
    expect(a.provider.counters.driverRequests).toBe(requests);
    // Registered and in use again: cached but cannot be released now.
    expect(a.provider.WSPMemoryRegistrationCacheCallback(va + 4096, 100, e)).toBe(SOCKET_ERROR);
    expect(e.value).toBe(WSAEFAULT);
    expect(a.provider.WSPDeregisterMemory(a.s, h2, e)).toBe(0);
    // The application frees the memory: the switch calls the callback for the overlapping range.
    expect(a.provider.WSPMemoryRegistrationCacheCallback(va + 4096, 100, e)).toBe(0);
    expect(nic.regionCount).toBe(0);
    expect(a.process.secureEntries.size).toBe(0);
    expect(a.process.lockedPages).toBe(0);
    expect(a.process.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
  });

  it('a secured cached range blocks VirtualFree until the callback releases it', async () => {
    const { a } = await connectedPair({ provider: { cacheRegistrations: true } });
    const e = ref(0);
    const va = userBuffer(a.process, 4096);
    const h = a.provider.WSPRegisterMemory(a.s, va, 4096, MEM_READ, e)!;
    expect(a.provider.WSPDeregisterMemory(a.s, h, e)).toBe(0);
    expect(a.process.VirtualFree(va, 0, MEM_RELEASE)).toBe(false);
    // The switch's SecureMemoryCacheCallback hook calls the provider (AddSecureMemoryCacheCallback).
    a.process.AddSecureMemoryCacheCallback((addr, size) => a.provider.WSPMemoryRegistrationCacheCallback(addr, size, ref(0)) === 0);
    expect(a.process.VirtualFree(va, 0, MEM_RELEASE)).toBe(true);
    expect(a.provider.counters.cached).toBe(0);
  });
});

describe('garbage in', () => {
  it('property: every WSP routine answers with an error code for junk, never a thrown TypeError', async () => {
    const { a } = await connectedPair();
    const p = a.provider;
    const junk = fc.oneof(fc.anything(), fc.integer(), fc.constantFrom(a.s, 0, -1, Number.NaN, 2 ** 53, null, undefined, 0x10000));
    const calls: ((x: unknown[]) => unknown)[] = [
      (x) => p.WSPRegisterMemory(...(x.slice(0, 5) as Parameters<typeof p.WSPRegisterMemory>)),
      (x) => p.WSPDeregisterMemory(...(x.slice(0, 3) as Parameters<typeof p.WSPDeregisterMemory>)),
      (x) => p.WSPRegisterRdmaMemory(...(x.slice(0, 7) as Parameters<typeof p.WSPRegisterRdmaMemory>)),
      (x) => p.WSPDeregisterRdmaMemory(...(x.slice(0, 4) as Parameters<typeof p.WSPDeregisterRdmaMemory>)),
      (x) => p.WSPSend(...(x.slice(0, 9) as Parameters<typeof p.WSPSend>)),
      (x) => p.WSPRecv(...(x.slice(0, 9) as Parameters<typeof p.WSPRecv>)),
      (x) => p.WSPRdmaWrite(...(x.slice(0, 12) as Parameters<typeof p.WSPRdmaWrite>)),
      (x) => p.WSPRdmaRead(...(x.slice(0, 12) as Parameters<typeof p.WSPRdmaRead>)),
      (x) => p.WSPGetOverlappedResult(...(x.slice(0, 6) as Parameters<typeof p.WSPGetOverlappedResult>)),
      (x) => p.WSPIoctl(...(x.slice(0, 11) as Parameters<typeof p.WSPIoctl>)),
      (x) => p.WSPMemoryRegistrationCacheCallback(...(x.slice(0, 3) as Parameters<typeof p.WSPMemoryRegistrationCacheCallback>)),
      (x) => p.WSPBind(...(x.slice(0, 3) as Parameters<typeof p.WSPBind>)),
      (x) => p.WSPListen(...(x.slice(0, 3) as Parameters<typeof p.WSPListen>)),
      (x) => p.WSPSocket(...(x.slice(0, 7) as Parameters<typeof p.WSPSocket>)),
      (x) => p.WSPEventSelect(...(x.slice(0, 4) as Parameters<typeof p.WSPEventSelect>)),
      (x) => p.registerMemory(...(x.slice(0, 4) as Parameters<typeof p.registerMemory>)).error,
      (x) => p.releaseCachedRange(...(x.slice(0, 2) as Parameters<typeof p.releaseCachedRange>)).error,
    ];
    fc.assert(fc.property(fc.integer({ min: 0, max: calls.length - 1 }), fc.array(junk, { minLength: 12, maxLength: 12 }), fc.boolean(),
      (which, args, withErrno) => {
        const errno = ref(0);
        if (withErrno) args[args.length - 1] = errno;
        // Put lpErrno where each routine expects it by also passing it at every slot-sized prefix end.
        const out = calls[which]!(args.map((v, i) => (withErrno && i % 3 === 2 ? errno : v)));
        expect(out === null || typeof out === 'number' || typeof out === 'boolean').toBe(true);
      }), { numRuns: 2000 });
    // The connection survived the barrage.
    expect(p.socketInfo(a.s)?.state).toBe('connected');
  });
});

describe('a registration says what it cost (what the switch counts its cache from)', () => {
  it('registerMemory answers cacheHit exactly when no driver request was made; registerRdmaMemory answers reexposed; releaseCachedRange counts what went', async () => {
    const { a } = await connectedPair({ provider: { cacheRegistrations: true } });
    const e = ref(0);
    const va = userBuffer(a.process, 8 * 4096);
    const requests = () => a.provider.counters.driverRequests;
    let before = requests();
    const first = a.provider.registerMemory(a.s, va, 8 * 4096, MEM_READWRITE);
    expect(first).toMatchObject({ error: 0, cacheHit: false });
    expect(requests()).toBeGreaterThan(before);
    expect(a.provider.WSPDeregisterMemory(a.s, first.handle, e)).toBe(0);
    before = requests();
    const contained = a.provider.registerMemory(a.s, va + 4096, 4096, MEM_READ);
    expect(contained).toMatchObject({ error: 0, cacheHit: true });
    expect(requests()).toBe(before);
    expect(a.provider.WSPDeregisterMemory(a.s, contained.handle, e)).toBe(0);
    expect(a.provider.registerMemory(a.s, 0, 4096, MEM_READ)).toEqual({ error: WSAEFAULT, handle: 0, cacheHit: false });

    const rdmaVa = userBuffer(a.process, 4 * 4096);
    const d = new Uint8Array(RDMA_DESCRIPTOR_BYTES);
    expect(a.provider.registerRdmaMemory(a.s, rdmaVa, 4 * 4096, MEM_WRITE, d, ref(RDMA_DESCRIPTOR_BYTES))).toEqual({ error: 0, reexposed: false });
    expect(a.provider.WSPDeregisterRdmaMemory(a.s, d, RDMA_DESCRIPTOR_BYTES, e)).toBe(0);
    before = requests();
    expect(a.provider.registerRdmaMemory(a.s, rdmaVa, 4 * 4096, MEM_WRITE, d, ref(RDMA_DESCRIPTOR_BYTES))).toEqual({ error: 0, reexposed: true });
    expect(requests()).toBe(before);
    expect(a.provider.WSPDeregisterRdmaMemory(a.s, d, RDMA_DESCRIPTOR_BYTES, e)).toBe(0);

    expect(a.provider.releaseCachedRange(va, 8 * 4096)).toEqual({ error: 0, released: 1 });
    expect(a.provider.releaseCachedRange(rdmaVa, 1)).toEqual({ error: 0, released: 1 });
    expect(a.provider.releaseCachedRange(rdmaVa, 1)).toEqual({ error: WSAEINVAL, released: 0 });
  });
});
