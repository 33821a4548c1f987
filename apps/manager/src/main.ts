#!/usr/bin/env node
// The Manager's entry point. V8 sizes its heap as modules load, so the heap flag is set here,
// before the first import of the Manager itself (static imports would all load before this body).
import { setFlagsFromString } from 'node:v8';

// Collect the old generation before it grows far: under a burst of creates most of what each
// create allocates lives past two scavenges (it waits on the database and the Agent) and is then
// garbage. With V8's default growth the heap reached ~200 MiB during 500 creates at concurrency 10;
// with this, ~125 MiB, for about 5 ms more CPU per create (bench/, ADR 0011).
setFlagsFromString('--optimize-for-size');

const { runManager } = await import('./run-manager.js');
runManager().catch((error: unknown) => {
  // The logger may not exist yet: report on stderr and exit non-zero.
  process.stderr.write(`manager failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
