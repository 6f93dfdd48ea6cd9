/**
 * Fault injection and random request sequences: every failure is a clean Win32 error, and
 * after the handles are closed (or the process exits) nothing the I/O manager took is left.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ref } from '../../src/kernel/ref.ts';
import { MM_USER_PROBE_ADDRESS } from '../../src/kernel/mm/system-space.ts';
import {
  CancelIo, CloseHandle, CreateFile, DeviceIoControl, FILE_FLAG_OVERLAPPED, GENERIC_READ, GENERIC_WRITE, GetLastError,
  INVALID_HANDLE_VALUE, newOverlapped, OPEN_EXISTING, ReadFile, SynchronousIoWouldBlock, WriteFile,
} from '../../src/kernel/io/index.ts';
import {
  IOCTL_ECHO, IOCTL_IN_DIRECT, IOCTL_NEED16, IOCTL_NEITHER, IOCTL_OUT_DIRECT, IOCTL_PEND, IOCTL_PEND_DIRECT, IOCTL_UNKNOWN,
} from './sample-driver.ts';
import { rig, snapshot, type Rig } from './helpers.ts';

function touchAll(r: Rig): void {
  r.write(r.buf, new Uint8Array(r.bytes).map((_, i) => i & 0xff));
}

type Op = (r: Rig, h: number) => boolean;
const ops: Record<string, Op> = {
  bufferedIoctl: (r, h) => DeviceIoControl(r.k, h, IOCTL_ECHO, r.buf, 5000, r.buf + 0x4000, 6000, ref(0), null),
  outDirect: (r, h) => DeviceIoControl(r.k, h, IOCTL_OUT_DIRECT, r.buf, 4, r.buf + 0x100, 0x5000, ref(0), null),
  inDirect: (r, h) => DeviceIoControl(r.k, h, IOCTL_IN_DIRECT, r.buf, 4, r.buf + 0x100, 0x5000, ref(0), null),
  read: (r, h) => ReadFile(r.k, h, r.buf + 0x10, 0x3000, ref(0), null),
  write: (r, h) => WriteFile(r.k, h, r.buf + 0x10, 0x3000, ref(0), null),
};

describe('fault injection on every allocation of the I/O path', () => {
  for (const method of ['buffered', 'direct'] as const) {
    for (const [name, op] of Object.entries(ops)) {
      it(`${method} ${name}: failing allocation n (for every n) gives a clean error and leaks nothing`, () => {
        for (let n = 1; n < 40; n++) {
          const r = rig(method);
          touchAll(r);
          const before = snapshot(r.k);
          r.k.faults.setPolicy({ kind: 'nth', n });
          r.run(() => {
            const h = CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ | GENERIC_WRITE, 0, null, OPEN_EXISTING, 0, null);
            if (h === INVALID_HANDLE_VALUE) {
              expect(GetLastError(r.k)).not.toBe(0);
              return;
            }
            const ok = op(r, h);
            if (!ok) expect(GetLastError(r.k)).not.toBe(0);
            expect(CloseHandle(r.k, h)).toBe(true);
          });
          r.k.faults.setPolicy({ kind: 'none' });
          expect(r.k.bugcheck.crashed).toBeNull();
          expect(snapshot(r.k)).toEqual(before);
          if (r.k.faults.injected.length === 0) break; // n is past the last allocation: all sites covered
        }
      });
    }
  }
});

const codes = [IOCTL_ECHO, IOCTL_NEED16, IOCTL_IN_DIRECT, IOCTL_OUT_DIRECT, IOCTL_NEITHER, IOCTL_PEND, IOCTL_PEND_DIRECT, IOCTL_UNKNOWN];

describe('random request sequences (property)', () => {
  it('any interleaving of opens, IOCTLs, reads, writes, pends, completions, cancels, closes and exit leaves nothing behind', () => {
    const addr = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constant(-1), fc.constant(-2));
    const cmd = fc.oneof(
      fc.record({ t: fc.constant('open' as const), overlapped: fc.boolean(), access: fc.constantFrom(0, GENERIC_READ, GENERIC_READ | GENERIC_WRITE) }),
      fc.record({ t: fc.constant('close' as const), pick: fc.nat() }),
      fc.record({ t: fc.constant('ioctl' as const), pick: fc.nat(), code: fc.constantFrom(...codes), inVa: addr, inLen: fc.integer({ min: 0, max: 0x3000 }), outVa: addr, outLen: fc.integer({ min: 0, max: 0x3000 }) }),
      fc.record({ t: fc.constant('rw' as const), pick: fc.nat(), read: fc.boolean(), va: addr, len: fc.integer({ min: 0, max: 0x3000 }) }),
      fc.record({ t: fc.constant('complete' as const), pick: fc.nat(), fill: fc.nat(255) }),
      fc.record({ t: fc.constant('cancel' as const), pick: fc.nat() }),
      fc.record({ t: fc.constant('faults' as const), p: fc.constantFrom(0, 0, 0.2) }),
    );
    fc.assert(fc.property(fc.constantFrom('buffered', 'direct', 'neither'), fc.array(cmd, { maxLength: 40 }), fc.boolean(), (method, cmds, exitAtEnd) => {
      const r = rig(method as 'buffered', { bytes: 0x10000 });
      touchAll(r);
      const before = snapshot(r.k);
      const handles: number[] = [];
      const va = (a: number) => (a === -1 ? MM_USER_PROBE_ADDRESS - 4 : a === -2 ? 0x7000_0000 : r.buf + a);
      const pick = (n: number) => handles[n % Math.max(1, handles.length)] ?? 0;
      const guard = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          if (!(e instanceof SynchronousIoWouldBlock)) throw e;
        }
      };
      for (const c of cmds) {
        r.run(() => {
          switch (c.t) {
            case 'open': {
              const h = CreateFile(r.k, '\\\\.\\Sample', c.access, 0, null, OPEN_EXISTING, c.overlapped ? FILE_FLAG_OVERLAPPED : 0, null);
              if (h !== INVALID_HANDLE_VALUE) handles.push(h);
              break;
            }
            case 'close':
              if (handles.length) {
                const i = c.pick % handles.length;
                CloseHandle(r.k, handles[i]!);
                handles.splice(i, 1);
              }
              break;
            case 'ioctl':
              guard(() => DeviceIoControl(r.k, pick(c.pick), c.code, va(c.inVa), c.inLen, va(c.outVa), c.outLen, ref(0), newOverlapped()));
              break;
            case 'rw':
              guard(() => (c.read ? ReadFile : WriteFile)(r.k, pick(c.pick), va(c.va), c.len, ref(0), newOverlapped()));
              break;
            case 'cancel':
              CancelIo(r.k, pick(c.pick));
              break;
            case 'faults':
              r.k.faults.setPolicy(c.p === 0 ? { kind: 'none' } : { kind: 'probability', p: c.p, seed: 7 });
              break;
          }
        });
        if (c.t === 'complete' && r.drv.queue.length) r.drv.completeQueued(c.pick % r.drv.queue.length, 0, c.fill, 4);
        expect(r.k.bugcheck.crashed).toBeNull();
        expect(r.k.irql).toBe(0);
      }
      r.k.faults.setPolicy({ kind: 'none' });
      if (exitAtEnd) {
        r.k.ps.terminateProcess(r.app, 0);
        expect(r.k.bugcheck.crashed).toBeNull();
        const after = snapshot(r.k);
        expect({ ...after, poolBlocks: 0 }).toEqual({ ...before, poolBlocks: 0 });
        expect(after.poolBlocks).toBe(before.poolBlocks);
      } else {
        while (r.drv.queue.length) r.drv.completeQueued(0, 0, 1, 4);
        r.run(() => handles.forEach((h) => CloseHandle(r.k, h)));
        expect(snapshot(r.k)).toEqual(before);
      }
    }), { numRuns: 60 });
  });
});
