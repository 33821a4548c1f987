#!/usr/bin/env node
// The Manager's entry point. V8 sizes its heap as modules load, so the heap flags are settled here,
// before the first import of the Manager itself (static imports would all load before this body).
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { nodeFlagsFile } from './package-files.js';

// Some V8 flags only work on node's command line (the memory reducer's, the young generation's):
// every launcher gives them from node-flags.json (ADR 0011). Started without them, the Manager runs,
// with more garbage collection per request, and says so. --no-memory-reducer: V8's memory reducer
// starts up to three memory-reducing mark-compacts about eight seconds after each one, busy or not
// (ADR 0079), each a pause of tens of milliseconds in whatever request meets it.
const nodeFlags = JSON.parse(readFileSync(nodeFlagsFile, 'utf8')) as string[];
const missingFlags = nodeFlags.filter((flag) => !process.execArgv.includes(flag));
if (missingFlags.length > 0) {
  process.stderr.write(
    `hearth-manager: started without the node flags ${missingFlags.join(' ')} (apps/manager/node-flags.json); ` +
      'start it as apps/manager/bin/hearth-manager.mjs, or give them to node before the script\n',
  );
}

// Collect the old generation before it grows far: under a burst of creates most of what each
// create allocates lives past two scavenges (it waits on the database and the Agent) and is then
// garbage. With V8's default growth (up to ×4 a mark-compact on this much memory) the heap reached
// ~200 MiB during 500 creates at concurrency 10 (ADR 0011). The limit grows by 30 % a mark-compact
// instead: the Manager peaks at ~137 MiB there. Not --optimize-for-size, which caps the growth
// alike but also makes every mark-compact a memory-reducing one that shrinks the young generation
// back to its smallest: two to three times the scavenges, and about 1.6 times the CPU in a resync
// that reads every host's inventory (ADR 0125). V8 reads it at each collection: it may be set here.
setFlagsFromString('--heap-growing-percent=30');

const { runManager } = await import('./run-manager.js');
runManager().catch((error: unknown) => {
  // The logger may not exist yet: report on stderr and exit non-zero.
  process.stderr.write(`manager failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
