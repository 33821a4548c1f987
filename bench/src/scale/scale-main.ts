import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { missingRequirements } from '@hearth/testkit';
import { machineFacts } from '../machine.js';
import { optionsOrExitCode } from '../options.js';
import { parseScaleOptions, scaleUsage } from './scale-options.js';
import { renderScaleText, scaleToJson, type ScaleSizeResult } from './scale-report.js';
import { runScaleSize } from './scale-run.js';

const startedMs = performance.now();
/** Each line with the seconds since the harness started, so each phase's cost shows. */
const log = (line: string): void => {
  process.stderr.write(`[${((performance.now() - startedMs) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
};

/** `npm run bench -- --scale ...`: answers the exit code. Needs PostgreSQL (TEST_DATABASE_URL), not root. */
export async function runScale(argv: readonly string[]): Promise<number> {
  const options = optionsOrExitCode(parseScaleOptions, argv, scaleUsage);
  if (typeof options === 'number') return options;
  const missing = missingRequirements({ database: true });
  if (missing !== undefined) {
    process.stderr.write(`hearth bench --scale cannot run: ${missing}\n`);
    return 1;
  }
  const startedAt = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const loadAtStart = os.loadavg()[0] ?? 0;
  log(
    `hearth bench --scale on ${machine.cpuCount} cores, load ${loadAtStart.toFixed(2)}: ${options.hostCounts.join(', ')} hosts`,
  );
  const sizes: ScaleSizeResult[] = [];
  const resultsSoFar = () => ({
    machine,
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
    startedAt: startedAt.toISOString(),
    durationS: (performance.now() - t0) / 1000,
    sizes,
  });
  let failed = false;
  for (const hostCount of options.hostCounts) {
    log(`${hostCount} hosts × ${options.vmsPerHost} VMs`);
    try {
      sizes.push(await runScaleSize(options, hostCount, log));
    } catch (error) {
      // The sizes already measured are still reported; the larger ones are not tried.
      log(`the run at ${hostCount} hosts failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      failed = true;
      break;
    }
    // Each size's figures as soon as it ends: a long run that fails later keeps them.
    log(`${hostCount} hosts done:\n${renderScaleText(resultsSoFar())}`);
  }
  const results = resultsSoFar();
  if (sizes.length > 0) process.stdout.write(`\n${renderScaleText(results)}\n`);
  if (options.jsonFile !== null) {
    writeFileSync(options.jsonFile, `${JSON.stringify(scaleToJson(results), null, 2)}\n`);
    log(`results written to ${options.jsonFile}`);
  }
  return failed ? 1 : 0;
}
