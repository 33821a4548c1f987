import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { AppError } from '@hearth/errors';
import {
  dataRegionsSha256,
  decodeDataRegionStream,
  encodeDataRegionStream,
  MalformedDataRegionStream,
  type DataRegion,
} from '../../domain/data-region-stream.js';
import { addRun, zeroFreeRunsIn } from '../../domain/zero-blocks.js';
import type {
  ExpectedFile,
  FileEncoding,
  HeldImage,
  HostFiles,
  ImageFileCheck,
  OpenedFile,
  PathWatch,
  ReceivedFile,
  RegionLayout,
  ResolvedPath,
} from '../../application/ports/host-files.js';

export interface FakeFile {
  kind: 'file' | 'fifo' | 'socket' | 'directory';
  content: string;
  sizeBytes: number;
  /** What the file system would report as data (`[start, end)`); absent: the whole file is data. */
  dataRegions?: readonly (readonly [number, number])[];
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

async function* chunksOf(parts: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const part of parts) yield part;
}

/** An in-memory filesystem of absolute paths; `symlinks` maps a link path to its target. */
export class FakeHostFiles implements HostFiles {
  readonly files = new Map<string, FakeFile>();
  readonly symlinks = new Map<string, string>();
  readonly unremovable = new Set<string>();
  copyCount = 0;
  /** How many sizes were read (`sizeOf`). */
  sizeReads = 0;
  /** False: a file system that does not report what was written as data as such (received layouts are refused). */
  keepsDataRegions = true;
  /** Images held open now, by held path (`/proc/agent/fd/<n>`). */
  readonly held = new Map<string, string>();
  /** Directories made or moved here (a directory holding files is there whether listed or not). */
  readonly directories = new Set<string>();
  private readonly movedListeners: ((from: string, to: string) => void)[] = [];
  private nextFd = 100;

  addFile(path: string, content = '', sizeBytes = content.length): void {
    this.files.set(path, { kind: 'file', content, sizeBytes });
  }

  appendTo(path: string, text: string): void {
    const file = this.files.get(path) ?? { kind: 'file' as const, content: '', sizeBytes: 0 };
    file.content += text;
    file.sizeBytes = file.content.length;
    this.files.set(path, file);
  }

  pathsUnder(directory: string): string[] {
    return [...this.files.keys()].filter((path) => isInside(directory, path));
  }

  /** Never waits: the caller's (manual) clock decides how time passes. */
  watchPath(path: string): PathWatch {
    return { appeared: async () => this.exists(path), close: () => undefined };
  }

  async copyImage(root: string, source: string, destination: string): Promise<ImageFileCheck> {
    const check = await this.inspectImage(root, source);
    if (check.kind !== 'regular') return check;
    this.copyCount += 1;
    const file = this.files.get(check.realPath);
    if (file !== undefined) this.files.set(destination, { ...file });
    return check;
  }

  async mergeMemoryLayers(root: string, layers: readonly string[], destination: string): Promise<ImageFileCheck> {
    const checks = await Promise.all(layers.map((layer) => this.inspectImage(root, layer)));
    const refused = checks.find((check) => check.kind !== 'regular');
    if (refused !== undefined || checks.length === 0) return refused ?? { kind: 'missing' };
    const bytes: string[] = [];
    for (const check of checks) {
      const layer = this.files.get((check as { realPath: string }).realPath);
      if (layer === undefined) continue;
      for (const [start, end] of layer.dataRegions ?? [[0, layer.content.length]]) {
        for (let at = start; at < end && at < layer.content.length; at += 1) bytes[at] = layer.content[at] ?? '\0';
      }
    }
    const content = Array.from(bytes, (byte) => byte ?? '\0').join('');
    this.files.set(destination, { kind: 'file', content, sizeBytes: content.length });
    return { kind: 'regular', realPath: destination, sizeBytes: content.length };
  }

  /** Every file flushed (`flushFile`), in order. */
  readonly flushed: string[] = [];

  async flushFile(root: string, path: string): Promise<boolean> {
    const check = await this.inspectImage(root, path);
    if (check.kind !== 'regular') return false;
    this.flushed.push(check.realPath);
    return true;
  }

  /** A file's content is its bytes (one byte per character, latin1), whatever size it claims. */
  async sha256Of(root: string, path: string): Promise<string | undefined> {
    const check = await this.inspectImage(root, path);
    if (check.kind !== 'regular') return undefined;
    return createHash('sha256')
      .update(Buffer.from(this.files.get(check.realPath)?.content ?? '', 'latin1'))
      .digest('hex');
  }

  async openForReading(root: string, path: string): Promise<OpenedFile> {
    const check = await this.inspectImage(root, path);
    if (check.kind !== 'regular') return { check };
    const bytes = Buffer.from(this.files.get(check.realPath)?.content ?? '', 'latin1');
    // What is read is the content, whatever size the file claims.
    return {
      check: { ...check, sizeBytes: bytes.length },
      chunks: chunksOf([bytes.subarray(0, bytes.length >> 1), bytes.subarray(bytes.length >> 1)]),
    };
  }

  /** What the file system would report as data of a regular file: `dataRegions`, or its whole content. */
  private regionsOf(file: FakeFile): DataRegion[] {
    if (file.dataRegions !== undefined) return file.dataRegions.map(([start, end]) => ({ start, end }));
    return file.content.length === 0 ? [] : [{ start: 0, end: file.content.length }];
  }

  /** Bytes other than zeros in what the file system would report as data: the rest reads as zeros. */
  private zeroFreeRegionsOf(file: FakeFile, bytes: Buffer): DataRegion[] {
    const runs: [number, number][] = [];
    for (const region of this.regionsOf(file)) {
      for (const [start, end] of zeroFreeRunsIn(bytes.subarray(region.start, region.end))) {
        addRun(runs, region.start + start, region.start + end);
      }
    }
    return runs.map(([start, end]) => ({ start, end }));
  }

  async openDataRegionsForReading(root: string, path: string, layout: RegionLayout = 'as_written'): Promise<OpenedFile> {
    const check = await this.inspectImage(root, path);
    if (check.kind !== 'regular') return { check };
    const file = this.files.get(check.realPath)!;
    const bytes = Buffer.from(file.content, 'latin1');
    const regions = layout === 'as_written' ? this.regionsOf(file) : this.zeroFreeRegionsOf(file, bytes);
    const chunks = encodeDataRegionStream(bytes.length, regions, (region) =>
      chunksOf([bytes.subarray(region.start, region.end)]),
    );
    return { check: { ...check, sizeBytes: bytes.length }, chunks };
  }

  async dataRegionsSha256Of(root: string, path: string): Promise<string | undefined> {
    const check = await this.inspectImage(root, path);
    if (check.kind !== 'regular') return undefined;
    return dataRegionsSha256(this.regionsOf(this.files.get(check.realPath)!));
  }

  /** Writes `<destination>.partial` as the chunks come (a reader that fails midway leaves it, as a crash would). */
  async receiveFile(
    destination: string,
    chunks: AsyncIterable<Uint8Array>,
    expected: ExpectedFile,
    encoding: FileEncoding = 'whole',
  ): Promise<ReceivedFile> {
    if (expected.dataRegionsSha256 !== undefined || encoding === 'data_regions') {
      return this.receiveDataRegions(destination, chunks, expected);
    }
    const temporary = `${destination}.partial`;
    const hash = createHash('sha256');
    let content = '';
    this.addFile(temporary, '');
    for await (const chunk of chunks) {
      content += Buffer.from(chunk).toString('latin1');
      this.addFile(temporary, content);
      if (content.length > expected.maxBytes) {
        this.files.delete(temporary);
        return { kind: 'too_large' };
      }
      hash.update(chunk);
    }
    this.files.delete(temporary);
    const sha256 = hash.digest('hex');
    if (sha256 !== expected.sha256) return { kind: 'digest_mismatch', sha256 };
    this.addFile(destination, content);
    return { kind: 'verified', sizeBytes: content.length };
  }

  /**
   * As a real host: regions written as data (zeros included), holes left, all checked before the
   * rename; the layout only when one is expected (a file without one keeps no layout, as one sent whole).
   */
  private async receiveDataRegions(
    destination: string,
    chunks: AsyncIterable<Uint8Array>,
    expected: ExpectedFile,
  ): Promise<ReceivedFile> {
    const temporary = `${destination}.partial`;
    this.addFile(temporary, '');
    let bytes = Buffer.alloc(0);
    const regions: DataRegion[] = [];
    try {
      for await (const event of decodeDataRegionStream(chunks, expected.maxBytes)) {
        if (event.kind === 'size') bytes = Buffer.alloc(event.sizeBytes);
        else if (event.kind === 'region') regions.push(event.region);
        else Buffer.from(event.bytes).copy(bytes, event.position);
        this.addFile(temporary, bytes.toString('latin1'));
      }
    } catch (error) {
      if (!(error instanceof MalformedDataRegionStream)) throw error;
      this.files.delete(temporary);
      return error.isTooLarge ? { kind: 'too_large' } : { kind: 'malformed', reason: error.message };
    }
    this.files.delete(temporary);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== expected.sha256) return { kind: 'digest_mismatch', sha256 };
    const content = bytes.toString('latin1');
    if (expected.dataRegionsSha256 === undefined) {
      this.addFile(destination, content);
      return { kind: 'verified', sizeBytes: content.length };
    }
    const layout = dataRegionsSha256(regions);
    if (layout !== expected.dataRegionsSha256) return { kind: 'layout_mismatch', dataRegionsSha256: layout };
    if (!this.keepsDataRegions) return { kind: 'layout_not_kept' };
    this.files.set(destination, {
      kind: 'file',
      content,
      sizeBytes: content.length,
      dataRegions: regions.map((region) => [region.start, region.end] as const),
    });
    return { kind: 'verified', sizeBytes: content.length };
  }

  async createFifo(path: string): Promise<void> {
    const existing = this.files.get(path);
    if (existing !== undefined && existing.kind !== 'fifo')
      throw new AppError('HOST_COMMAND_FAILED', 'The metrics FIFO path is taken by another file', { diagnostics: { path } });
    this.files.set(path, { kind: 'fifo', content: '', sizeBytes: 0 });
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }

  async sizeOf(path: string): Promise<number | undefined> {
    this.sizeReads += 1;
    return this.files.get(path)?.sizeBytes;
  }

  async remove(path: string): Promise<void> {
    if (this.unremovable.has(path)) throw new AppError('HOST_COMMAND_FAILED', `EACCES: permission denied, unlink '${path}'`);
    this.files.delete(path);
  }

  async removeDirectory(path: string): Promise<void> {
    for (const file of this.pathsUnder(path)) this.files.delete(file);
    this.directories.delete(path);
  }

  async makeDirectory(path: string): Promise<void> {
    this.directories.add(path);
  }

  /** Renames a directory with what it holds, as rename(2): false when `to` is there or `from` is not. */
  async moveDirectory(from: string, to: string): Promise<boolean> {
    const isThere = (path: string): boolean => this.directories.has(path) || this.pathsUnder(path).length > 0;
    if (isThere(to) || this.files.has(to) || !isThere(from)) return false;
    for (const path of this.pathsUnder(from)) {
      const file = this.files.get(path);
      this.files.delete(path);
      if (file !== undefined) this.files.set(`${to}${path.slice(from.length)}`, file);
    }
    this.directories.delete(from);
    this.directories.add(to);
    for (const moved of this.movedListeners) moved(from, to);
    return true;
  }

  /** Called after each directory moved, as the kernel moves the sockets bound in it (FakeVmm follows). */
  onDirectoryMoved(listener: (from: string, to: string) => void): void {
    this.movedListeners.push(listener);
  }

  async readTail(path: string, maxBytes: number): Promise<string> {
    return (this.files.get(path)?.content ?? '').slice(-maxBytes);
  }

  async rotateLog(path: string, rotatedPath: string, maxBytes: number): Promise<boolean> {
    const file = this.files.get(path);
    if (file === undefined || file.sizeBytes <= maxBytes) return false;
    this.files.set(rotatedPath, { ...file });
    file.content = '';
    file.sizeBytes = 0;
    return true;
  }

  async holdImage(root: string, path: string): Promise<{ check: ImageFileCheck; held?: HeldImage }> {
    const check = await this.inspectImage(root, path);
    if (check.kind !== 'regular') return { check };
    const heldPath = `/proc/agent/fd/${this.nextFd++}`;
    this.held.set(heldPath, check.realPath);
    return { check, held: { realPath: check.realPath, heldPath, release: async () => void this.held.delete(heldPath) } };
  }

  /**
   * Follows `symlinks` component by component, `..` after a link included, as the kernel does.
   * Every directory exists; a leaf exists when it is one of `files` or holds one.
   */
  async resolvePath(path: string): Promise<ResolvedPath> {
    if (!posix.isAbsolute(path) || path.includes('\0') || path.endsWith('/')) return { kind: 'unresolvable' };
    const name = posix.basename(path);
    if (name === '.' || name === '..') {
      const real = this.realPathOf(path);
      return real === undefined || !this.isExisting(real) ? { kind: 'unresolvable' } : { kind: 'existing', realPath: real };
    }
    const parent = this.realPathOf(posix.dirname(path));
    if (parent === undefined) return { kind: 'unresolvable' };
    const leaf = posix.join(parent, name);
    if (this.symlinks.has(leaf)) {
      const real = this.realPathOf(leaf);
      return real === undefined || !this.isExisting(real) ? { kind: 'unresolvable' } : { kind: 'existing', realPath: real };
    }
    return this.isExisting(leaf) ? { kind: 'existing', realPath: leaf } : { kind: 'absent', realPath: leaf };
  }

  private isExisting(path: string): boolean {
    return this.files.has(path) || [...this.files.keys()].some((file) => file.startsWith(`${path === '/' ? '' : path}/`));
  }

  /** The real path of `path`, or undefined on a symlink loop. */
  private realPathOf(path: string, depth = 0): string | undefined {
    if (depth > 40) return undefined;
    let real = '/';
    for (const part of path.split('/').filter((segment) => segment !== '' && segment !== '.')) {
      if (part === '..') {
        real = posix.dirname(real);
        continue;
      }
      const next = posix.join(real, part);
      const target = this.symlinks.get(next);
      if (target === undefined) {
        real = next;
        continue;
      }
      const resolved = this.realPathOf(posix.isAbsolute(target) ? target : posix.join(real, target), depth + 1);
      if (resolved === undefined) return undefined;
      real = resolved;
    }
    return real;
  }

  /** A symlink at the path's end is never followed (O_NOFOLLOW), as on a real host. */
  async inspectImage(root: string, path: string): Promise<ImageFileCheck> {
    const normalized = posix.normalize(path);
    if (!posix.isAbsolute(path) || !isInside(posix.normalize(root), normalized)) return { kind: 'outside', realPath: normalized };
    if (this.symlinks.has(normalized)) return { kind: 'not_regular', fileType: 'symlink' };
    const file = this.files.get(normalized);
    if (file === undefined) return { kind: 'missing' };
    if (file.kind !== 'file') return { kind: 'not_regular', fileType: file.kind };
    return { kind: 'regular', realPath: normalized, sizeBytes: file.sizeBytes };
  }
}
