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
 * Unit and integration files run this many at a time: one per core, and at least two, since most of
 * them wait on I/O (PostgreSQL, sockets, child processes) much of the time. vitest's default, one
 * fewer than the cores, runs one file at a time on 2 cores.
 */
const unitWorkers = Math.max(availableParallelism(), 2);

export default defineConfig({
  test: {
    exclude: ['**/node_modules/**', '**/dist/**'],
    pool: 'forks',
    testTimeout: 30_000,
    // A setup that opens embedded PGlite and runs every migration took over 60 s on a 2-core
    // machine at load 20; a hook's limit only bounds how long a broken setup takes to be reported.
    hookTimeout: 180_000,
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
          maxWorkers: unitWorkers,
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
          exclude: ['**/node_modules/**', '**/dist/**', ...realGuests],
          // Alone, one file at a time: every stack of real processes here is held to deadlines, open or
          // hidden (a host is taken for dead after three missed heartbeats of 400 ms), and on 2 cores
          // two stacks at once miss them.
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
