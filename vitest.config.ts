import { defineConfig } from 'vitest/config';

/**
 * Tests that boot real guests under QEMU (`*.guest.test.ts`): they run last, one file at a time,
 * because `npm test` builds the guest images in the background meanwhile and they wait for it.
 */
const realGuests = ['**/*.guest.test.ts'];

/** Tests that run real processes or whole stacks: they run after the unit tests, one file at a time. */
const endToEnd = ['e2e/**/*.test.ts', 'bench/test/**/*.test.ts', '**/*.e2e.test.ts'];

export default defineConfig({
  test: {
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit+integration',
          include: [
            'apps/*/src/**/*.test.ts',
            'apps/*/test/**/*.test.ts',
            'packages/*/src/**/*.test.ts',
            'bench/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'tools/*/src/**/*.test.ts',
            'tools/*/test/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/dist/**', ...endToEnd, ...realGuests],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'end-to-end',
          include: endToEnd,
          exclude: ['**/node_modules/**', '**/dist/**', ...realGuests],
          // On 2 cores, stacks of real processes measured against deadlines must not compete.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'real-guests',
          include: realGuests,
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
