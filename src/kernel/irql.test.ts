import { describe, expect, it } from 'vitest';
import { MIB } from '../bus/index.ts';
import { BugCheck, IRQL_NOT_GREATER_OR_EQUAL, IRQL_NOT_LESS_OR_EQUAL } from './bugcheck.ts';
import { APC_LEVEL, DISPATCH_LEVEL, KeGetCurrentIrql, KeLowerIrql, KeRaiseIrql, PASSIVE_LEVEL } from './irql.ts';
import { Kernel } from './kernel.ts';

const boot = () => Kernel.boot({ ramBytes: 16 * MIB, nolowmem: false });
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as BugCheck).code;
  }
  return null;
};

describe('IRQL', () => {
  it('KeRaiseIrql returns the old level; KeLowerIrql restores it', () => {
    const k = boot();
    expect(KeGetCurrentIrql(k)).toBe(PASSIVE_LEVEL);
    const old = KeRaiseIrql(k, DISPATCH_LEVEL);
    expect([old, KeGetCurrentIrql(k)]).toEqual([PASSIVE_LEVEL, DISPATCH_LEVEL]);
    KeLowerIrql(k, old);
    expect(KeGetCurrentIrql(k)).toBe(PASSIVE_LEVEL);
  });

  it('raising to a lower IRQL bug-checks IRQL_NOT_GREATER_OR_EQUAL', () => {
    const k = boot();
    KeRaiseIrql(k, DISPATCH_LEVEL);
    expect(code(() => KeRaiseIrql(k, APC_LEVEL))).toBe(IRQL_NOT_GREATER_OR_EQUAL);
  });

  it('lowering to a higher IRQL, or to garbage, bug-checks IRQL_NOT_LESS_OR_EQUAL', () => {
    expect(code(() => KeLowerIrql(boot(), DISPATCH_LEVEL))).toBe(IRQL_NOT_LESS_OR_EQUAL);
    expect(code(() => KeLowerIrql(boot(), NaN))).toBe(IRQL_NOT_LESS_OR_EQUAL);
    expect(code(() => KeRaiseIrql(boot(), 99))).toBe(IRQL_NOT_GREATER_OR_EQUAL);
  });
});
