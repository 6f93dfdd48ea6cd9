/**
 * State a module keeps for each host without a field on Kernel: made on first use, dropped
 * with the kernel (a WeakMap), so several hosts live in one process.
 *
 *   const blocksOf = perHost(() => new Map<number, Block>());
 *   blocksOf(k).set(va, block);
 */
import type { Kernel } from './kernel.ts';

export function perHost<T>(create: () => T): (k: Kernel) => T {
  const states = new WeakMap<Kernel, T>();
  return (k) => {
    let state = states.get(k);
    if (state === undefined) {
      state = create();
      states.set(k, state);
    }
    return state;
  };
}
