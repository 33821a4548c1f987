import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingRequirements, repoRoot } from '@hearth/testkit';
import { describe, expect, it } from 'vitest';
import { headlineKeys } from '../src/report.js';

const skipReason = missingRequirements({ root: true, commands: ['ip', 'mkfs.ext4'], database: true });

function runQuickBench(jsonFile: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        path.join(repoRoot, 'bench/dist/main.js'),
        ...['--quick', '--latency', '5', '--network', '3', '--vms', '10', '--rows', '500', '--json', jsonFile],
        // Another Manager build, e.g. while the checkout's is being reworked.
        ...(process.env['HEARTH_BENCH_MANAGER_MAIN'] ? ['--manager-main', process.env['HEARTH_BENCH_MANAGER_MAIN']] : []),
      ],
      { cwd: repoRoot, timeout: 200_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number | null), output: stdout + stderr }),
    );
  });
}

// The harness reports and people judge: this smoke run only checks that it works end to end.
describe.skipIf(skipReason)(`npm run bench -- --quick${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('writes every key as a number or as null with a note', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-smoke-'));
    try {
      const jsonFile = path.join(dir, 'bench.json');
      const { code, output } = await runQuickBench(jsonFile);
      expect(code, output).toBe(0);
      const results = JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, unknown> & { notes: Record<string, string> };
      const notes = (results.notes ?? {}) as Record<string, unknown>;
      const missing = headlineKeys.filter((key) => !(key in results));
      expect(missing, `keys missing from ${jsonFile}`).toEqual([]);
      const notNumbers = headlineKeys.filter((key) => results[key] !== null && typeof results[key] !== 'number');
      expect(notNumbers, 'keys neither a number nor null').toEqual([]);
      const unexplained = headlineKeys.filter(
        (key) => results[key] === null && !(typeof notes[key] === 'string' && /\S/.test(notes[key])),
      );
      expect(unexplained, `null keys without a note (notes: ${JSON.stringify(notes)})`).toEqual([]);
      expect(results['create_failures'], `creates failed; the run said:\n${output}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
