#!/usr/bin/env node
// The Manager's entry point. It sets no V8 flags: `--optimize-for-size`, set here before, kept its
// heap small under bursts of creates but tripled the garbage collection a page of `GET /v1/vms`
// paid for, and was most of that list's tail (ADR 0059). A flag set here would still come before
// the first import of the Manager itself (static imports would all load before this body).
const { runManager } = await import('./run-manager.js');
runManager().catch((error: unknown) => {
  // The logger may not exist yet: report on stderr and exit non-zero.
  process.stderr.write(`manager failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
