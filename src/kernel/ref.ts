/**
 * Out parameters. Where a WDK routine takes a pointer the callee writes through (PULONG
 * NumberOfMapRegisters, PPHYSICAL_ADDRESS LogicalAddress), the emulation takes a box:
 * `const logical = { value: 0 }; AllocateCommonBuffer(adapter, n, logical, true)`.
 */
export interface Ref<T> {
  value: T;
}

export const ref = <T>(value: T): Ref<T> => ({ value });
