/** Test helper: run `fn` and return the bug check it raised; fail the test when none happened. */
import { BugCheck } from '../src/kernel/bugcheck.ts';

export function bugCheckOf(fn: () => unknown): BugCheck {
  try {
    fn();
  } catch (e) {
    if (e instanceof BugCheck) return e;
    throw e;
  }
  throw new Error('expected a bug check, none happened');
}
