import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { missingRequirements, repoRoot } from '@hearth/testkit';
import { describe, expect, it } from 'vitest';

const skipReason = missingRequirements({ root: true, commands: ['ip', 'mkfs.ext4'], database: true });

/** The keys the performance requirements name; each is a number, or null with a note saying why. */
const requiredKeys = [
  'create_p50_ms',
  'create_p99_ms',
  'floor_p50_ms',
  'floor_p99_ms',
  'creates_per_s',
  'deletes_per_s',
  'list_p99_ms_10k',
  'event_latency_p50_ms',
  'agent_rss_mib_500',
  'manager_rss_mib_500',
  'qemu_boot_ratio',
] as const;

function runQuickBench(jsonFile: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        path.join(repoRoot, 'bench/dist/main.js'),
        ...['--quick', '--latency', '5', '--vms', '10', '--rows', '500', '--json', jsonFile],
        // Another Manager build, e.g. while the checkout's is being reworked.
        ...(process.env['HEARTH_BENCH_MANAGER_MAIN'] ? ['--manager-main', process.env['HEARTH_BENCH_MANAGER_MAIN']] : []),
      ],
      { cwd: repoRoot, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number | null), output: stdout + stderr }),
    );
  });
}

// The harness reports and people judge: this smoke run only checks that it works end to end.
describe.skipIf(skipReason)(`npm run bench -- --quick${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('writes every key as a number or as null with a note', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-bench-smoke-'));
    try {
      const jsonFile = path.join(dir, 'bench.json');
      const { code, output } = await runQuickBench(jsonFile);
      expect(code, output).toBe(0);
      const results = JSON.parse(readFileSync(jsonFile, 'utf8')) as Record<string, unknown> & { notes: Record<string, string> };
      for (const key of requiredKeys) {
        expect(results, `key ${key}`).toHaveProperty(key);
        const value = results[key];
        if (value === null) expect(results.notes[key], `a null ${key} is explained`).toMatch(/\S/);
        else expect(typeof value, key).toBe('number');
      }
      expect(results['create_failures']).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
