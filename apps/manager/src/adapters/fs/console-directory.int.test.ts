import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readConsoleDirectory } from './console-directory.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'hearth-console-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('readConsoleDirectory', () => {
  it('reads index.html and every file under assets/, by their path', async () => {
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html>');
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'assets', 'index-abc.js'), 'export {}');
    writeFileSync(path.join(dir, 'ignored.txt'), 'not served');
    const files = await readConsoleDirectory(dir);
    expect([...(files?.keys() ?? [])].sort()).toEqual(['assets/index-abc.js', 'index.html']);
    expect(files?.get('assets/index-abc.js')?.toString()).toBe('export {}');
  });

  it('finds no console where there is no index.html', async () => {
    expect(await readConsoleDirectory(dir)).toBeUndefined();
    expect(await readConsoleDirectory(path.join(dir, 'missing'))).toBeUndefined();
  });
});
