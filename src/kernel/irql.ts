/**
 * IRQL of the (single) emulated CPU. Kernel routines check it the way Windows documents
 * ("IRQL <= DISPATCH_LEVEL"); raising and lowering follow KeRaiseIrql / KeLowerIrql
 * [ddi/wdm nf-wdm-keraiseirql, nf-wdm-kelowerirql]: raising to a lower level or lowering to
 * a higher one is a driver bug and bug-checks, as the HAL does.
 */
import type { Kernel } from './kernel.ts';
import { IRQL_NOT_GREATER_OR_EQUAL, IRQL_NOT_LESS_OR_EQUAL } from './bugcheck.ts';

export const PASSIVE_LEVEL = 0;
export const APC_LEVEL = 1;
export const DISPATCH_LEVEL = 2;
/** x64: CLOCK_LEVEL 13, IPI_LEVEL 14, HIGH_LEVEL 15. */
export const HIGH_LEVEL = 15;

export type KIRQL = number;

const validIrql = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= HIGH_LEVEL;

export function KeGetCurrentIrql(k: Kernel): KIRQL {
  return k.irql;
}

/** Returns the old IRQL (the WDK's OldIrql out parameter). */
export function KeRaiseIrql(k: Kernel, NewIrql: KIRQL): KIRQL {
  k.bugcheck.assertRunning();
  const old = k.irql;
  if (!validIrql(NewIrql) || NewIrql < old) {
    // The HAL stops with IRQL_NOT_GREATER_OR_EQUAL when asked to "raise" downwards.
    k.bugcheck.KeBugCheckEx(IRQL_NOT_GREATER_OR_EQUAL, Number.isFinite(NewIrql) ? NewIrql : 0, old, 0, 0,
      `KeRaiseIrql(${String(NewIrql)}) at IRQL ${old}: new IRQL must be an integer in [${old}, ${HIGH_LEVEL}]`);
  }
  k.irql = NewIrql;
  return old;
}

export function KeLowerIrql(k: Kernel, NewIrql: KIRQL): void {
  k.bugcheck.assertRunning();
  const old = k.irql;
  if (!validIrql(NewIrql) || NewIrql > old) {
    k.bugcheck.KeBugCheckEx(IRQL_NOT_LESS_OR_EQUAL, Number.isFinite(NewIrql) ? NewIrql : 0, old, 0, 0,
      `KeLowerIrql(${String(NewIrql)}) at IRQL ${old}: new IRQL must be an integer in [0, ${old}]`);
  }
  k.irql = NewIrql;
}
