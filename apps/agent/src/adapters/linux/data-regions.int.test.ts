import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import { dataRegionsOf } from './data-regions.js';
import { LinuxHostFiles } from './linux-host-files.js';

const page = 4096;
const noCommands: CommandRunner = { run: () => Promise.reject(new Error('merging memory runs no command')) };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hearth-memory-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A file of `pages` pages with a page of `fill` bytes written at each given page and holes elsewhere. */
function sparseFile(name: string, pages: number, written: Record<number, number>): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w', 0o600);
  try {
    ftruncateSync(fd, pages * page);
    for (const [index, fill] of Object.entries(written)) writeSync(fd, Buffer.alloc(page, fill), 0, page, Number(index) * page);
  } finally {
    closeSync(fd);
  }
  return path;
}

function pageOf(path: string, index: number): Buffer {
  return readFileSync(path).subarray(index * page, (index + 1) * page);
}

describe('dataRegionsOf', () => {
  it('reports what the file system holds as data, zeros written included, and not its holes', async () => {
    const path = sparseFile('diff.memory', 64, { 3: 0xab, 10: 0, 11: 0 });
    const handle = await open(path, 'r');
    try {
      expect(await dataRegionsOf(handle)).toEqual([
        { start: 3 * page, end: 4 * page },
        { start: 10 * page, end: 12 * page },
      ]);
    } finally {
      await handle.close();
    }
  });
});

describe('LinuxHostFiles.mergeMemoryLayers', () => {
  it('writes each diff over the base in order, a page written back to zeros included, and leaves the holes to the layer below', async () => {
    const files = new LinuxHostFiles(noCommands);
    const base = sparseFile('full.memory', 32, { 0: 1, 1: 1, 2: 1, 5: 1 });
    // The guest zeroed page 1 and rewrote page 2; then wrote page 2 again and page 7.
    const first = sparseFile('first.memory', 32, { 1: 0, 2: 2 });
    const second = sparseFile('second.memory', 32, { 2: 3, 7: 3 });
    const merged = join(dir, 'restored.memory');

    const outcome = await files.mergeMemoryLayers(dir, [base, first, second], merged);

    expect(outcome).toEqual({ kind: 'regular', realPath: merged, sizeBytes: 32 * page });
    expect(pageOf(merged, 0)).toEqual(Buffer.alloc(page, 1));
    expect(pageOf(merged, 1)).toEqual(Buffer.alloc(page, 0));
    expect(pageOf(merged, 2)).toEqual(Buffer.alloc(page, 3));
    expect(pageOf(merged, 5)).toEqual(Buffer.alloc(page, 1));
    expect(pageOf(merged, 7)).toEqual(Buffer.alloc(page, 3));
    expect(statSync(merged).mode & 0o777).toBe(0o600);
    expect(statSync(`${merged}.partial`, { throwIfNoEntry: false })).toBeUndefined();
  });

  it('writes nothing when a layer is missing', async () => {
    const files = new LinuxHostFiles(noCommands);
    const base = sparseFile('full.memory', 4, { 0: 1 });
    const merged = join(dir, 'restored.memory');
    expect((await files.mergeMemoryLayers(dir, [base, join(dir, 'gone.memory')], merged)).kind).toBe('missing');
    expect(statSync(merged, { throwIfNoEntry: false })).toBeUndefined();
    expect(statSync(`${merged}.partial`, { throwIfNoEntry: false })).toBeUndefined();
  });
});
