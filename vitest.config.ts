import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Timeouts catch a hang, never judge speed: a whole-system test that takes 40 s on an idle
    // 2-core machine may take three times that on a loaded one, and must still pass there.
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    setupFiles: ['test/setup-fast-check.ts'],
  },
});
