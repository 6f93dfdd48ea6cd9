import { describe, expect, it } from 'vitest';
import * as bugcheck from './bugcheck.ts';
import { BugCheck, bugCheckName } from './bugcheck.ts';

/** Every stop code the kernel raises, as bugcheck.ts exports it (upper-case numeric exports). */
const CODES: [string, number][] = Object.entries(bugcheck).flatMap(([name, value]) =>
  /^[A-Z][A-Z0-9_]*$/.test(name) && typeof value === 'number' ? [[name, value] as [string, number]] : [],
);

describe('bug-check codes (Bug Check Code Reference)', () => {
  it('every exported code is named in the STOP message by its own export name', () => {
    expect(CODES.length).toBeGreaterThan(20);
    for (const [name, code] of CODES) {
      expect(bugCheckName(code)).toBe(name);
      expect(new BugCheck(code).message).toContain(` ${name} (`);
    }
  });

  it('no two exported names share a code', () => {
    expect(new Set(CODES.map(([, code]) => code)).size).toBe(CODES.length);
  });

  it('a code that is not in the reference table is UNKNOWN_BUGCHECK', () => {
    expect(bugCheckName(0x7fff)).toBe('UNKNOWN_BUGCHECK');
  });
});
