import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';

/** Every path under `dir` (itself included) whose mode lets group or others in. */
function openToOthers(dir: string): string[] {
  const found: string[] = [];
  const walk = (entry: string): void => {
    const stats = statSync(entry);
    if ((stats.mode & 0o077) !== 0) found.push(`${path.relative(dir, entry) || '.'} ${(stats.mode & 0o777).toString(8)}`);
    if (stats.isDirectory()) for (const name of readdirSync(entry)) walk(path.join(entry, name));
  };
  walk(dir);
  return found;
}

describe('the embedded database directory', () => {
  let parent: string | undefined;
  const oldUmask = process.umask();

  afterEach(() => {
    process.umask(oldUmask);
    if (parent !== undefined) rmSync(parent, { recursive: true, force: true });
    parent = undefined;
  });

  // One PGlite start (tens of seconds on a busy machine) covers both: the files PGlite creates, and
  // a directory an earlier version left open to others.
  it(
    'is readable by its owner alone after a start, even when an earlier version left it open',
    { timeout: 120_000 },
    async () => {
      parent = mkdtempSync(path.join(os.tmpdir(), 'hearth-pglite-'));
      const dataDir = path.join(parent, 'manager');
      process.umask(0o022);
      mkdirSync(path.join(dataDir, 'base'), { recursive: true });
      chmodSync(dataDir, 0o755);
      chmodSync(path.join(dataDir, 'base'), 0o755);
      writeFileSync(path.join(dataDir, 'base', 'left-by-an-old-version'), 'x', { mode: 0o644 });
      const db = await openDatabase({ kind: 'pglite', dataDir });
      await db.destroy();
      expect((statSync(dataDir).mode & 0o777).toString(8)).toBe('700');
      expect((statSync(path.join(dataDir, 'PG_VERSION')).mode & 0o777).toString(8)).toBe('600');
      expect((statSync(path.join(dataDir, 'base', 'left-by-an-old-version')).mode & 0o777).toString(8)).toBe('600');
      expect(openToOthers(dataDir)).toEqual([]);
    },
  );
});
