/** IoCompleteRequest: the rules that crash a host when a driver breaks them. */
import { describe, expect, it } from 'vitest';
import { ref } from '../../src/kernel/ref.ts';
import { KeRaiseIrql } from '../../src/kernel/irql.ts';
import {
  CreateFile, DeviceIoControl, FILE_FLAG_OVERLAPPED, GENERIC_READ, IoCompleteRequest, newOverlapped, OPEN_EXISTING,
} from '../../src/kernel/io/index.ts';
import { STATUS_PENDING } from '../../src/kernel/status.ts';
import { IOCTL_COMPLETE_TWICE, IOCTL_LEAVE_IRQL_RAISED, IOCTL_OVERREPORT, IOCTL_PEND } from '../io/sample-driver.ts';
import { rig } from '../io/helpers.ts';
import { bugCheckOf as crash } from '../bug-check.ts';


describe('IoCompleteRequest', () => {
  it('completing an IRP twice is bug check MULTIPLE_IRP_COMPLETE_REQUESTS (0x44) with P1 = the IRP', () => {
    const r = rig('buffered');
    const h = r.run(() => CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, 0, null));
    const irpsBefore = r.k.io.irpsAllocated;
    const stop = crash(() => r.run(() => DeviceIoControl(r.k, h, IOCTL_COMPLETE_TWICE, null, 0, null, 0, ref(0), null)));
    expect(stop.code).toBe(0x44);
    expect(stop.parameters[0]).toBeGreaterThanOrEqual(0x8000_0000_0000); // a pool address
    expect(r.k.io.irpsAllocated).toBe(irpsBefore + 1);
    expect(r.k.bugcheck.crashed).toBe(stop);
  });

  it('IoCompleteRequest above DISPATCH_LEVEL is IRQL_NOT_LESS_OR_EQUAL, or 0xC9/0x0E with the verifier', () => {
    for (const verifier of [false, true]) {
      const r = rig('buffered', { verifier });
      const h = r.run(() => CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, null));
      r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, null, 0, ref(0), newOverlapped()));
      const irp = r.drv.queue[0]!;
      irp.CancelRoutine = null;
      KeRaiseIrql(r.k, 5);
      const stop = crash(() => IoCompleteRequest(r.k, irp, 0));
      expect(stop.code).toBe(verifier ? 0xc9 : 0x0a);
      if (verifier) expect(stop.parameters.slice(0, 3)).toEqual([0x0e, 5, irp.address]);
      else expect(stop.parameters[1]).toBe(5);
    }
  });

  it('with the verifier, completing with STATUS_PENDING (0xC9/0x06) or with a cancel routine set (0xC9/0x07) bug-checks', () => {
    const r = rig('buffered', { verifier: true });
    const h = r.run(() => CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, null));
    r.run(() => DeviceIoControl(r.k, h, IOCTL_PEND, null, 0, null, 0, ref(0), newOverlapped()));
    const irp = r.drv.queue[0]!;
    const stop = crash(() => IoCompleteRequest(r.k, irp, 0));
    expect(stop.parameters.slice(0, 3)).toEqual([0x07, 0, irp.address]);

    const r2 = rig('buffered', { verifier: true });
    const h2 = r2.run(() => CreateFile(r2.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, null));
    r2.run(() => DeviceIoControl(r2.k, h2, IOCTL_PEND, null, 0, null, 0, ref(0), newOverlapped()));
    const irp2 = r2.drv.queue[0]!;
    irp2.CancelRoutine = null;
    irp2.IoStatus.Status = STATUS_PENDING;
    expect(crash(() => IoCompleteRequest(r2.k, irp2, 0)).parameters.slice(0, 3)).toEqual([0x06, STATUS_PENDING, irp2.address]);
  });

  it('a driver that returns to user mode with the IRQL raised is IRQL_GT_ZERO_AT_SYSTEM_SERVICE (0x4A)', () => {
    const r = rig('buffered');
    const h = r.run(() => CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, 0, null));
    const stop = crash(() => r.run(() => DeviceIoControl(r.k, h, IOCTL_LEAVE_IRQL_RAISED, null, 0, null, 0, ref(0), null)));
    expect(stop.code).toBe(0x4a);
    expect(stop.parameters[1]).toBe(2);
  });

  it('Information larger than the output buffer copies only what fits and is recorded as a finding', () => {
    const r = rig('buffered');
    const h = r.run(() => CreateFile(r.k, '\\\\.\\Sample', GENERIC_READ, 0, null, OPEN_EXISTING, 0, null));
    r.write(r.buf + 8, new Uint8Array(8).fill(0xcc));
    r.run(() => DeviceIoControl(r.k, h, IOCTL_OVERREPORT, null, 0, r.buf, 8, ref(0), null));
    expect(r.read(r.buf + 8, 8)).toEqual(new Uint8Array(8).fill(0xcc));
    expect(r.k.io.findings.some((f) => /exceeds the output buffer/.test(f.message))).toBe(true);
  });

  it('rejects something that is not an IRP with the access violation a bad pointer causes', () => {
    const r = rig('buffered');
    expect(() => IoCompleteRequest(r.k, {} as never, 0)).toThrow(/not an IRP/);
  });
});
