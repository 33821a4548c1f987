import { createHash } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dataRegionsSha256, decodeDataRegionStream } from '../../domain/data-region-stream.js';
import { describeDataRegionTransfer } from '../../testing/data-region-transfer-contract.js';
import { dataRegionsOf } from './data-regions.js';
import { ExecFileCommandRunner } from './exec-file-command-runner.js';
import { LinuxHostFiles } from './linux-host-files.js';

let directory: string;
const files = new LinuxHostFiles(new ExecFileCommandRunner());

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'hearth-receive-'));
});

afterEach(async () => {
  await rm(directory, { recursive: true, force: true });
});

async function* chunks(...parts: Buffer[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function regionsOf(path: string): Promise<{ start: number; end: number }[]> {
  const handle = await open(path, 'r');
  try {
    return await dataRegionsOf(handle);
  } finally {
    await handle.close();
  }
}
describe('LinuxHostFiles: receiving and reading snapshot files', () => {
  it('keeps a file whose SHA-256 matches, with its blocks of zeros left as holes, and reads it back with the same digest', async () => {
    const content = Buffer.concat([Buffer.from('head'), Buffer.alloc(4 * 1024 * 1024), Buffer.from('tail')]);
    const destination = join(directory, 'memory');

    const received = await files.receiveFile(
      destination,
      chunks(content.subarray(0, 4), content.subarray(4, content.length - 4), content.subarray(-4)),
      {
        sha256: sha256(content),
        maxBytes: content.length,
      },
    );

    expect(received).toEqual({ kind: 'verified', sizeBytes: content.length });
    expect((await readFile(destination)).equals(content)).toBe(true);
    expect((await stat(destination)).blocks * 512).toBeLessThan(content.length);
    expect(await files.sha256Of(directory, destination)).toBe(sha256(content));
    expect(await readdir(directory)).toEqual(['memory']);
  });

  it('refuses a file of another SHA-256, or longer than allowed, and keeps nothing of it', async () => {
    const destination = join(directory, 'memory');
    const content = Buffer.from('tampered bytes');

    expect(await files.receiveFile(destination, chunks(content), { sha256: '0'.repeat(64), maxBytes: 100 })).toEqual({
      kind: 'digest_mismatch',
      sha256: sha256(content),
    });
    expect(
      await files.receiveFile(destination, chunks(content, content), { sha256: sha256(content), maxBytes: content.length }),
    ).toEqual({
      kind: 'too_large',
    });
    expect(await readdir(directory)).toEqual([]);
  });

  it('reads a regular file from one open file, and nothing outside its root', async () => {
    const inside = join(directory, 'state');
    await writeFile(inside, 'device state');
    const opened = await files.openForReading(directory, inside);
    const read: Buffer[] = [];
    if ('chunks' in opened) for await (const chunk of opened.chunks) read.push(Buffer.from(chunk));
    expect(Buffer.concat(read).toString()).toBe('device state');
    expect((await files.openForReading(join(directory, 'elsewhere'), inside)).check.kind).toBe('outside');
  });
});

describe('LinuxHostFiles: a diff memory file sent and received as its data regions', () => {
  const page = 4096;

  /** 16 pages: `B`s at page 2, zeros written at pages 5-6, holes elsewhere (the file system's own layout). */
  async function diffMemory(path: string): Promise<Buffer> {
    const handle = await open(path, 'w', 0o600);
    try {
      await handle.truncate(16 * page);
      await handle.write(Buffer.alloc(page, 0x42), 0, page, 2 * page);
      await handle.write(Buffer.alloc(2 * page), 0, 2 * page, 5 * page);
    } finally {
      await handle.close();
    }
    return readFile(path);
  }

  it('keeps a region of zeros written as data and a hole as a hole, checked against the digests taken at the source', async () => {
    const source = join(directory, 'diff.memory');
    const content = await diffMemory(source);
    const layout = [
      { start: 2 * page, end: 3 * page },
      { start: 5 * page, end: 7 * page },
    ];
    expect(await regionsOf(source)).toEqual(layout);
    const regionsSha256 = await files.dataRegionsSha256Of(directory, source);
    expect(regionsSha256).toBe(dataRegionsSha256(layout));
    const opened = await files.openDataRegionsForReading(directory, source);
    if (!('chunks' in opened)) throw new Error(`the source is ${opened.check.kind}`);
    const destination = join(directory, 'copied.memory');

    const received = await files.receiveFile(destination, opened.chunks, {
      sha256: sha256(content),
      maxBytes: content.length,
      dataRegionsSha256: regionsSha256!,
    });

    expect(received).toEqual({ kind: 'verified', sizeBytes: content.length });
    expect((await readFile(destination)).equals(content)).toBe(true);
    expect(await regionsOf(destination)).toEqual(layout);
    expect((await stat(destination)).blocks * 512).toBe(3 * page);
    expect((await readdir(directory)).sort()).toEqual(['copied.memory', 'diff.memory']);
  });
});

describe('LinuxHostFiles: a full memory file sent as what it holds', () => {
  it('reads a dense file of zeros written (as Firecracker dumps memory) and sends only its pages of data; the copy keeps them as the only data', async () => {
    const source = join(directory, 'full.memory');
    const content = Buffer.alloc(8 * 1024 * 1024);
    content.fill(0x41, 3 * 4096, 5 * 4096);
    content.fill(0x42, 6 * 1024 * 1024, 6 * 1024 * 1024 + 100);
    await writeFile(source, content);
    expect(await regionsOf(source)).toEqual([{ start: 0, end: content.length }]);

    const opened = await files.openDataRegionsForReading(directory, source, 'zeros_as_holes');
    if (!('chunks' in opened)) throw new Error(`the source is ${opened.check.kind}`);
    const stream: Uint8Array[] = [];
    for await (const chunk of opened.chunks) stream.push(chunk);
    const regions = [];
    for await (const event of decodeDataRegionStream(chunks(...stream.map((chunk) => Buffer.from(chunk))), content.length))
      if (event.kind === 'region') regions.push(event.region);
    const destination = join(directory, 'copied.memory');
    const received = await files.receiveFile(
      destination,
      chunks(...stream.map((chunk) => Buffer.from(chunk))),
      { sha256: sha256(content), maxBytes: content.length },
      'data_regions',
    );

    expect(regions).toEqual([
      { start: 3 * 4096, end: 5 * 4096 },
      { start: 6 * 1024 * 1024, end: 6 * 1024 * 1024 + 4096 },
    ]);
    expect(Buffer.concat(stream).length).toBeLessThan(4 * 4096);
    expect(received).toEqual({ kind: 'verified', sizeBytes: content.length });
    expect((await readFile(destination)).equals(content)).toBe(true);
    expect(await regionsOf(destination)).toEqual(regions);
  });

  it('reads only the data regions of a sparse file, its holes never, and sends the same as for the dense one', async () => {
    const source = join(directory, 'sparse.memory');
    const handle = await open(source, 'w', 0o600);
    try {
      await handle.truncate(64 * 1024 * 1024);
      await handle.write(Buffer.alloc(4096, 0x43), 0, 4096, 40 * 1024 * 1024);
    } finally {
      await handle.close();
    }

    const opened = await files.openDataRegionsForReading(directory, source, 'zeros_as_holes');
    if (!('chunks' in opened)) throw new Error(`the source is ${opened.check.kind}`);
    const regions = [];
    for await (const event of decodeDataRegionStream(opened.chunks, 64 * 1024 * 1024)) {
      if (event.kind === 'region') regions.push(event.region);
    }

    expect(regions).toEqual([{ start: 40 * 1024 * 1024, end: 40 * 1024 * 1024 + 4096 }]);
  });
});

describeDataRegionTransfer('LinuxHostFiles', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hearth-regions-'));
  return {
    files,
    root,
    writeSparse: async (path, sizeBytes, written) => {
      const handle = await open(path, 'w', 0o600);
      try {
        await handle.truncate(sizeBytes);
        for (const { at, bytes } of written) await handle.write(bytes, 0, bytes.length, at);
      } finally {
        await handle.close();
      }
    },
    read: (path) => readFile(path),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
