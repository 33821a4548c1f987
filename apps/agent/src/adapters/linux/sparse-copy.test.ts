import { describe, expect, it } from 'vitest';
import { chunkBytes, copyReadingAll, copyRuns, DataMaps, holeBytes, type FileVersion } from './sparse-copy.js';

/** A file in memory: positioned reads (counting the bytes read) and writes (recording each). */
class MemoryFile {
  bytesRead = 0;
  /** The largest buffer a read was given. */
  largestBufferBytes = 0;
  readonly writes: [offset: number, length: number][] = [];

  constructor(readonly bytes: Buffer) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    this.largestBufferBytes = Math.max(this.largestBufferBytes, buffer.length);
    const copied = this.bytes.copy(buffer, offset, position, Math.min(position + length, this.bytes.length));
    this.bytesRead += copied;
    return { bytesRead: copied };
  }

  async write(buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
    buffer.copy(this.bytes, position, offset, offset + length);
    this.writes.push([position, length]);
  }
}

/** 3 MiB + a bit, data in five places that fall on no block or chunk edge. */
function imageBytes(): Buffer {
  const bytes = Buffer.alloc(3 * chunkBytes + 12_345);
  for (const [at, length] of [
    [0, 10],
    [4_090, 20],
    [chunkBytes - 3, 9],
    [2 * chunkBytes + 8_192, 70_000],
    [bytes.length - 5, 5],
  ] as const) {
    for (let i = 0; i < length; i++) bytes[at + i] = 1 + ((at + i) % 251);
  }
  return bytes;
}

const version = (ctimeNs: bigint, size = 100n): FileVersion => ({ dev: 1n, ino: 2n, size, mtimeNs: ctimeNs, ctimeNs });
const msToNs = (ms: number): bigint => BigInt(ms) * 1_000_000n;

describe('copyReadingAll', () => {
  it('writes only the blocks holding data and returns them as runs, adjacent blocks joined', async () => {
    const source = new MemoryFile(imageBytes());
    const destination = new MemoryFile(Buffer.alloc(source.bytes.length));

    const runs = await copyReadingAll(source, destination, source.bytes.length);

    expect(destination.bytes.equals(source.bytes)).toBe(true);
    expect(source.bytesRead).toBe(source.bytes.length);
    expect(runs).toEqual([
      [0, 2 * holeBytes],
      [chunkBytes - holeBytes, chunkBytes + holeBytes],
      [2 * chunkBytes + 8_192, 2 * chunkBytes + 8_192 + 18 * holeBytes],
      [3 * chunkBytes + 12_288, source.bytes.length],
    ]);
    const written = destination.writes.reduce((sum, [, length]) => sum + length, 0);
    expect(written).toBe(runs.reduce((sum, [start, end]) => sum + end - start, 0));
  });

  it('reads a file smaller than a chunk into a buffer of its size', async () => {
    const bytes = Buffer.alloc(3 * holeBytes + 100, 7);
    const source = new MemoryFile(bytes);
    const destination = new MemoryFile(Buffer.alloc(bytes.length));

    await copyReadingAll(source, destination, bytes.length);

    expect(destination.bytes.equals(bytes)).toBe(true);
    expect(source.largestBufferBytes).toBe(bytes.length);
  });
});

describe('copyRuns', () => {
  it('makes the same copy from the runs a whole read found, reading only those', async () => {
    const source = new MemoryFile(imageBytes());
    const runs = await copyReadingAll(source, new MemoryFile(Buffer.alloc(source.bytes.length)), source.bytes.length);
    source.bytesRead = 0;
    const destination = new MemoryFile(Buffer.alloc(source.bytes.length));

    await copyRuns(source, destination, runs);

    expect(destination.bytes.equals(source.bytes)).toBe(true);
    expect(source.bytesRead).toBe(runs.reduce((sum, [start, end]) => sum + end - start, 0));
    expect(source.bytesRead).toBeLessThan(source.bytes.length / 10);
  });

  it('reads into a buffer no larger than the longest run, and at most a chunk', async () => {
    const source = new MemoryFile(imageBytes());
    const runs = await copyReadingAll(source, new MemoryFile(Buffer.alloc(source.bytes.length)), source.bytes.length);
    const copy = async (only: typeof runs): Promise<number> => {
      const reader = new MemoryFile(source.bytes);
      await copyRuns(reader, new MemoryFile(Buffer.alloc(source.bytes.length)), only);
      return reader.largestBufferBytes;
    };

    expect(await copy(runs)).toBe(18 * holeBytes);
    expect(await copy([[0, 2 * chunkBytes]])).toBe(chunkBytes);
  });
});

describe('DataMaps', () => {
  const nowMs = 1_000_000;
  const settled = version(msToNs(nowMs - 5_000));
  const runs = [[0, 4096]] as const;

  it('answers the runs of a settled file read whole, for that version only', () => {
    const maps = new DataMaps({ nowMs: () => nowMs });
    maps.remember(settled, settled, nowMs, runs);

    expect(maps.runsOf(settled)).toEqual(runs);
    expect(maps.runsOf({ ...settled, ctimeNs: settled.ctimeNs + 1n })).toBeUndefined();
    expect(maps.runsOf({ ...settled, size: 200n })).toBeUndefined();
    expect(maps.runsOf({ ...settled, ino: 3n })).toBeUndefined();
  });

  it('answers the runs of a file written whole by this process at once, for that version only', () => {
    const maps = new DataMaps({ nowMs: () => nowMs });
    const fresh = version(msToNs(nowMs - 1));
    maps.rememberWritten(fresh, runs);

    expect(maps.runsOf(fresh)).toEqual(runs);
    expect(maps.runsOf({ ...fresh, mtimeNs: fresh.mtimeNs + 1n })).toBeUndefined();
    expect(maps.runsOf({ ...fresh, size: 200n })).toBeUndefined();
  });

  it('still answers them once the file written whole has another name: a link moves its ctime, not its bytes', () => {
    const maps = new DataMaps({ nowMs: () => nowMs });
    const fresh = version(msToNs(nowMs - 1));
    maps.rememberWritten(fresh, runs);

    expect(maps.runsOf({ ...fresh, ctimeNs: fresh.ctimeNs + 1_000_000n })).toEqual(runs);
  });

  it('keeps nothing for a file changed within the last second before the read, or during it', () => {
    const maps = new DataMaps({ nowMs: () => nowMs });
    const recent = version(msToNs(nowMs - 400));
    maps.remember(recent, recent, nowMs, runs);
    maps.remember(settled, version(msToNs(nowMs + 10)), nowMs, runs);

    expect(maps.runsOf(recent)).toBeUndefined();
    expect(maps.runsOf(settled)).toBeUndefined();
  });

  it('forgets the least recently used file beyond its capacity', () => {
    const maps = new DataMaps({ nowMs: () => nowMs, maxEntries: 2 });
    const files = [1n, 2n, 3n].map((ino) => ({ ...settled, ino }));
    maps.remember(files[0]!, files[0]!, nowMs, runs);
    maps.remember(files[1]!, files[1]!, nowMs, runs);
    maps.runsOf(files[0]!);
    maps.remember(files[2]!, files[2]!, nowMs, runs);

    expect(maps.runsOf(files[0]!)).toEqual(runs);
    expect(maps.runsOf(files[1]!)).toBeUndefined();
    expect(maps.runsOf(files[2]!)).toEqual(runs);
  });

  it('lets a copy wait for a whole read of the same version under way, and no other', async () => {
    const maps = new DataMaps({ nowMs: () => nowMs });
    const other = { ...settled, ino: 9n };
    const endRead = maps.beginRead(settled);
    const order: string[] = [];
    const waiting = maps.afterReadsOf(settled).then(() => order.push('waiter'));
    await maps.afterReadsOf(other);
    order.push('other');
    maps.remember(settled, settled, nowMs, runs);
    endRead();
    await waiting;

    expect(order).toEqual(['other', 'waiter']);
    expect(maps.runsOf(settled)).toEqual(runs);
    await maps.afterReadsOf(settled);
  });
});
