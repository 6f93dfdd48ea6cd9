/**
 * KEVENT: KeInitializeEvent, KeSetEvent, KeResetEvent, KeClearEvent, KeReadStateEvent, KeWaitForSingleObject.
 * Sources: WDK "KeInitializeEvent function (wdm.h)", "KeSetEvent function (wdm.h)" (returns the previous
 * state), "KeResetEvent function (wdm.h)" (returns the previous state), "KeClearEvent", "KeReadStateEvent",
 * "KeWaitForSingleObject function (wdm.h)" (a zero timeout tests the state: STATUS_TIMEOUT when not
 * signaled; a synchronization event is reset by a satisfied wait);
 * Wine dlls/ntoskrnl.exe/tests/driver.c test_sync (the same facts, asserted on Windows).
 */
import { describe, expect, it } from 'vitest';
import {
  EventNotificationObject, EventSynchronizationObject, Executive, KEVENT, KeClearEvent, KeInitializeEvent, KeReadStateEvent, KeResetEvent,
  KeSetEvent, KeWaitForSingleObject, NotificationEvent, SynchronizationEvent,
} from '../../src/kernel/ke/index.ts';
import { KernelMode, SynchronousIoWouldBlock } from '../../src/kernel/io/index.ts';
import { STATUS_ACCESS_VIOLATION, STATUS_SUCCESS, STATUS_TIMEOUT } from '../../src/kernel/status.ts';
import { DISPATCH_LEVEL } from '../../src/kernel/irql.ts';
import { IRQL_NOT_LESS_OR_EQUAL } from '../../src/kernel/bugcheck.ts';
import { ref } from '../../src/kernel/ref.ts';
import { raisedStatus } from '../ps/fixture.ts';
import { expectBugCheck, small } from './helpers.ts';

const zero = () => ref(0);

describe('KeInitializeEvent', () => {
  it('a notification event stays signaled through waits; KeReadStateEvent reads 0 / 1 (Wine driver.c test_sync)', () => {
    const k = small();
    const e = new KEVENT();
    KeInitializeEvent(k, e, NotificationEvent, false);
    expect(e.Header.Type).toBe(EventNotificationObject);
    expect(KeReadStateEvent(k, e)).toBe(0);
    expect(KeWaitForSingleObject(k, e, Executive, KernelMode, false, zero())).toBe(STATUS_TIMEOUT);
    expect(KeSetEvent(k, e, 0, false)).toBe(0);
    expect(KeReadStateEvent(k, e)).toBe(1);
    expect(KeWaitForSingleObject(k, e, Executive, KernelMode, false, zero())).toBe(STATUS_SUCCESS);
    expect(KeWaitForSingleObject(k, e, Executive, KernelMode, false, zero())).toBe(STATUS_SUCCESS);
    expect(KeSetEvent(k, e, 0, false)).toBe(1);
    expect(KeResetEvent(k, e)).toBe(1);
    expect(KeReadStateEvent(k, e)).toBe(0);
    KeSetEvent(k, e, 0, false);
    KeClearEvent(k, e);
    expect(KeReadStateEvent(k, e)).toBe(0);
  });

  it('a synchronization event is reset by the wait it satisfies (Wine driver.c test_sync)', () => {
    const k = small();
    const e = new KEVENT();
    KeInitializeEvent(k, e, SynchronizationEvent, true);
    expect(e.Header.Type).toBe(EventSynchronizationObject);
    expect(KeWaitForSingleObject(k, e, Executive, KernelMode, false, zero())).toBe(STATUS_SUCCESS);
    expect(KeWaitForSingleObject(k, e, Executive, KernelMode, false, zero())).toBe(STATUS_TIMEOUT);
    expect(KeReadStateEvent(k, e)).toBe(0);
  });

  it('a wait that would block cannot be satisfied in the one-threaded model: it says so (SynchronousIoWouldBlock)', () => {
    const k = small();
    const e = new KEVENT();
    KeInitializeEvent(k, e, NotificationEvent, false);
    expect(() => KeWaitForSingleObject(k, e, Executive, KernelMode, false, null)).toThrow(SynchronousIoWouldBlock);
  });

  it('waiting with a non-zero timeout above APC_LEVEL, or setting above DISPATCH_LEVEL, is IRQL_NOT_LESS_OR_EQUAL; a zero-timeout test is allowed at DISPATCH_LEVEL', () => {
    const k = small();
    const e = new KEVENT();
    KeInitializeEvent(k, e, NotificationEvent, true);
    k.irql = DISPATCH_LEVEL;
    expect(KeWaitForSingleObject(k, e, Executive, KernelMode, false, zero())).toBe(STATUS_SUCCESS);
    expectBugCheck(() => KeWaitForSingleObject(k, e, Executive, KernelMode, false, null), IRQL_NOT_LESS_OR_EQUAL);
    const k2 = small();
    k2.irql = DISPATCH_LEVEL + 1;
    expectBugCheck(() => KeSetEvent(k2, e, 0, false), IRQL_NOT_LESS_OR_EQUAL);
  });

  it('something that is not a KEVENT, or an unknown event type, raises an access violation', () => {
    const k = small();
    expect(raisedStatus(() => KeInitializeEvent(k, {} as never, NotificationEvent, false))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => KeInitializeEvent(k, new KEVENT(), 7, false))).toBe(STATUS_ACCESS_VIOLATION);
    expect(raisedStatus(() => KeSetEvent(k, null as never, 0, false))).toBe(STATUS_ACCESS_VIOLATION);
  });
});
