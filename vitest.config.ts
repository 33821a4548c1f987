import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Tests that boot real guests under QEMU (`*.guest.test.ts`): they run last, one file at a time,
 * because `npm test` builds the guest images in the background meanwhile and they wait for it.
 */
const realGuests = ['**/*.guest.test.ts'];

/** Tests that run real processes or whole stacks. */
const endToEnd = ['e2e/**/*.test.ts', 'bench/test/**/*.test.ts', '**/*.e2e.test.ts'];

/**
 * Files without deadlines run this many at a time: one per core, and at least two, since most of them
 * wait on I/O (PostgreSQL, sockets, child processes) much of the time. vitest's default, one fewer
 * than the cores, runs one file at a time on 2 cores.
 */
const workersWithoutDeadlines = Math.max(availableParallelism(), 2);

/**
 * End-to-end files that hold no process to a deadline (no "within N s", no timed budget): they check
 * outcomes only, so they run beside other files, and those with deadlines run one at a time after
 * them. A file not listed here counts as one with deadlines.
 */
const withoutDeadlines = [
  'e2e/address-churn.e2e.test.ts',
  'e2e/api-fuzz.e2e.test.ts',
  'bench/test/*.test.ts',
  'e2e/cli.e2e.test.ts',
  'e2e/node-lts.e2e.test.ts',
  'e2e/identity.e2e.test.ts',
  'e2e/snapshots.e2e.test.ts',
  'e2e/lifecycle.e2e.test.ts',
  'e2e/sdk.e2e.test.ts',
  'e2e/error-details.e2e.test.ts',
  'e2e/guest-reboot.e2e.test.ts',
  'e2e/templates.e2e.test.ts',
  'e2e/serial-console.e2e.test.ts',
  'e2e/walking-skeleton.e2e.test.ts',
  'e2e/agent-client/*.test.ts',
  'e2e/workspace-commands.test.ts',
  'e2e/metrics-docs.test.ts',
  'apps/*/src/**/*.e2e.test.ts',
  'apps/*/test/**/*.e2e.test.ts',
];

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
          maxWorkers: workersWithoutDeadlines,
          // A worker runs file after file without a new process and module graph for each: forking
          // and importing the apps again cost about a second per file. Each file builds its own apps,
          // databases and fakes, and changes no module state another file reads.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'end-to-end',
          include: endToEnd,
          exclude: ['**/node_modules/**', '**/dist/**', ...realGuests, ...withoutDeadlines],
          // Alone, one file at a time: on 2 cores a stack of real processes held to a deadline must not
          // compete with another.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'end-to-end, no deadlines',
          include: withoutDeadlines,
          exclude: ['**/node_modules/**', '**/dist/**', ...realGuests],
          // With the unit and integration tests (the same group and number of workers), before the
          // files with deadlines, which then run alone.
          maxWorkers: workersWithoutDeadlines,
          sequence: { groupOrder: 0 },
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
