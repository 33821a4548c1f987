/**
 * A copy that keeps holes, for a fresh destination: blocks of zeros are not written, so they stay
 * holes, as with `cp --sparse=always`. Node cannot ask where a file's data lies (no SEEK_DATA), so
 * the first copy of a file reads it whole; the runs of data it found are remembered for that
 * version of the file (`DataMaps`), and later copies of the same unchanged file read only those.
 */

import { addRun, zeroFreeRunsIn } from '../../domain/zero-blocks.js';

export { holeBytes, isAllZero } from '../../domain/zero-blocks.js';

/** Offsets `[start, end)` of a file's runs of data: every block outside them is all zeros. */
export type DataRuns = readonly (readonly [start: number, end: number])[];

/** What the copy needs of an open file: positioned reads (Node's FileHandle). */
export interface PositionedReader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

/** What the copy needs of the destination: positioned writes (Node's FileHandle). */
export interface PositionedWriter {
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<unknown>;
}

/** Read size, and the most a copy holds in memory. */
export const chunkBytes = 1024 * 1024;

/**
 * The buffer for reads of at most `chunkBytes` over ranges whose longest is `longestBytes`: no larger
 * than the longest read. A small image's copy then holds a few KiB, not a whole chunk. A copy's
 * buffer lives as long as the copy, so it outlives the young generation and is freed only by a full
 * collection: a whole chunk for each of the copies under way at once (up to eighteen with 50 creates
 * at a time) grew the Agent's malloc heap by megabytes that it kept after the burst (ADR 0090).
 */
function readBuffer(longestBytes: number): Buffer {
  return Buffer.allocUnsafe(Math.max(0, Math.min(chunkBytes, longestBytes)));
}

function longestOf(ranges: readonly (readonly [number, number])[]): number {
  let longest = 0;
  for (const [start, end] of ranges) longest = Math.max(longest, end - start);
  return longest;
}

/**
 * Copies `sizeBytes` of `input` to the fresh `output`, reading all of it and writing only the
 * blocks that are not all zeros. Returns the runs of data it wrote (adjacent blocks joined).
 */
export async function copyReadingAll(input: PositionedReader, output: PositionedWriter, sizeBytes: number): Promise<DataRuns> {
  const runs: [number, number][] = [];
  const buffer = readBuffer(sizeBytes);
  for (let offset = 0; offset < sizeBytes;) {
    const { bytesRead } = await input.read(buffer, 0, Math.min(chunkBytes, sizeBytes - offset), offset);
    if (bytesRead === 0) break;
    for (const [start, end] of zeroFreeRunsIn(buffer.subarray(0, bytesRead))) {
      await output.write(buffer, start, end - start, offset + start);
      addRun(runs, offset + start, offset + end);
    }
    offset += bytesRead;
  }
  return runs;
}

/**
 * The runs of `input` within `ranges` (in increasing order; everything outside them reads as
 * zeros, as a file's holes do) made of blocks that are not all zeros, read a chunk at a time:
 * every byte of the file outside them is zero.
 */
export async function findDataRuns(input: PositionedReader, ranges: readonly (readonly [number, number])[]): Promise<DataRuns> {
  const runs: [number, number][] = [];
  const buffer = readBuffer(longestOf(ranges));
  for (const [rangeStart, rangeEnd] of ranges) {
    for (let offset = rangeStart; offset < rangeEnd;) {
      const { bytesRead } = await input.read(buffer, 0, Math.min(chunkBytes, rangeEnd - offset), offset);
      if (bytesRead === 0) break;
      for (const [start, end] of zeroFreeRunsIn(buffer.subarray(0, bytesRead))) addRun(runs, offset + start, offset + end);
      offset += bytesRead;
    }
  }
  return runs;
}

/** Copies only the runs of `runs` from `input` to the fresh `output`: everything else is a hole. */
export async function copyRuns(input: PositionedReader, output: PositionedWriter, runs: DataRuns): Promise<void> {
  const buffer = readBuffer(longestOf(runs));
  for (const [start, end] of runs) {
    for (let offset = start; offset < end;) {
      const { bytesRead } = await input.read(buffer, 0, Math.min(chunkBytes, end - offset), offset);
      if (bytesRead === 0) return;
      await output.write(buffer, 0, bytesRead, offset);
      offset += bytesRead;
    }
  }
}

/**
 * What makes a version of a file: its device, inode, size, and its modification and change times
 * in nanoseconds. Any write, truncation or hole punched moves the change time (ctime), which no
 * caller can set back.
 */
export interface FileVersion {
  readonly dev: bigint;
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

function keyOf(version: FileVersion): string {
  return `${version.dev}:${version.ino}:${version.size}:${version.mtimeNs}:${version.ctimeNs}`;
}

/** A version without its change time, for a file written once (`rememberWritten`). */
function writtenKeyOf(version: FileVersion): string {
  return `${version.dev}:${version.ino}:${version.size}:${version.mtimeNs}`;
}

/** The runs kept under `key`, marked the most recently used (moved last). */
function usedNow(maps: Map<string, DataRuns>, key: string): DataRuns | undefined {
  const runs = maps.get(key);
  if (runs !== undefined) {
    maps.delete(key);
    maps.set(key, runs);
  }
  return runs;
}

/**
 * The data runs of files the Agent has read whole, by file version, the most recently used kept.
 * A file's ctime ticks coarsely (a clock tick), so a write in the same tick as the read would leave
 * it unchanged: a map is kept only for a file whose ctime was at least `settledMs` old when the
 * read began, and unchanged when it ended. Any later write then gives the file a newer ctime.
 */
export class DataMaps {
  private readonly maps = new Map<string, DataRuns>();
  /** Files this process wrote whole, by version without change time (`rememberWritten`). */
  private readonly written = new Map<string, DataRuns>();
  /** Whole reads under way, by version: a copy of the same version waits for the map one of them finds. */
  private readonly reads = new Map<string, Promise<void>>();

  constructor(
    private readonly options: {
      /** The wall clock, in ms since the epoch (the clock of the file system's timestamps). */
      readonly nowMs: () => number;
      readonly settledMs?: number;
      readonly maxEntries?: number;
      /** A file this fragmented is read whole every time. */
      readonly maxRunsPerFile?: number;
    },
  ) {}

  /** The runs of this version of a file, if it was read whole before. */
  runsOf(version: FileVersion): DataRuns | undefined {
    return usedNow(this.maps, keyOf(version)) ?? usedNow(this.written, writtenKeyOf(version));
  }

  /** Remembers what a read of the whole file found, when `before` and `after` are the same settled version. */
  remember(before: FileVersion, after: FileVersion, readStartedAtMs: number, runs: DataRuns): void {
    const key = keyOf(before);
    const settledMs = this.options.settledMs ?? 1_000;
    const ctimeMs = Number(before.ctimeNs / 1_000_000n);
    if (key !== keyOf(after) || readStartedAtMs - ctimeMs < settledMs) return;
    this.keepIn(this.maps, key, runs);
  }

  /**
   * Remembers the runs of a file this process has just written whole into a fresh file, as
   * `version` (its state after the last write, truncation and mode change), for a file nothing
   * writes again (a snapshot's disk): what it holds is known exactly, with no read and no wait for
   * its ctime to settle. Its change time is not part of what it is known by: a second name given to
   * it (link(2), as a VM's directory replaced by a warm VMM's gives its snapshot files) moves that
   * and changes no byte. A write after all would give it another modification time, unless it came
   * in the same clock tick as `version` was taken; such a file must not be given here.
   */
  rememberWritten(version: FileVersion, runs: DataRuns): void {
    this.keepIn(this.written, writtenKeyOf(version), runs);
  }

  private keepIn(maps: Map<string, DataRuns>, key: string, runs: DataRuns): void {
    if (runs.length > (this.options.maxRunsPerFile ?? 4_096)) return;
    maps.delete(key);
    maps.set(key, runs);
    const maxEntries = this.options.maxEntries ?? 64;
    for (const oldest of maps.keys()) {
      if (maps.size <= maxEntries) break;
      maps.delete(oldest);
    }
  }

  /**
   * Marks a whole read of `version` as under way (one that began first stays the one waited for);
   * the returned function ends it.
   */
  beginRead(version: FileVersion): () => void {
    const key = keyOf(version);
    let end = (): void => undefined;
    const read = new Promise<void>((resolve) => {
      end = resolve;
    });
    if (!this.reads.has(key)) this.reads.set(key, read);
    return () => {
      if (this.reads.get(key) === read) this.reads.delete(key);
      end();
    };
  }

  /** Resolves once no whole read of `version` is under way (at once when none is). */
  async afterReadsOf(version: FileVersion): Promise<void> {
    await this.reads.get(keyOf(version));
  }

  /** The time a read begins, for `remember`. */
  now(): number {
    return this.options.nowMs();
  }
}
