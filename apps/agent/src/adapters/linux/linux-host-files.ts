import { spawn } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  watch,
  type FSWatcher,
  type Stats,
} from 'node:fs';
import { chmod, copyFile, mkdir, open, rename, rm, stat, truncate, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, posix } from 'node:path';
import { AppError } from '@hearth/errors';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import {
  dataRegionsSha256,
  decodeDataRegionStream,
  encodeDataRegionStream,
  MalformedDataRegionStream,
  type DataRegion,
} from '../../domain/data-region-stream.js';
import type {
  CopyImageOptions,
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
import { syncDirectory } from '../fs/durable-file.js';
import { dataRegionsOf } from './data-regions.js';
import { chunkBytes, copyReadingAll, copyRuns, DataMaps, findDataRuns, isAllZero, type DataRuns } from './sparse-copy.js';

/** O_PATH (Linux): a descriptor naming the file without opening it for reading, so a FIFO cannot block. */
const openPathOnly = (constants as { O_PATH?: number }).O_PATH ?? 0o10000000;

function fileTypeOf(info: Stats): string {
  if (info.isSymbolicLink()) return 'symlink';
  if (info.isFIFO()) return 'fifo';
  if (info.isCharacterDevice()) return 'character device';
  if (info.isBlockDevice()) return 'block device';
  if (info.isSocket()) return 'socket';
  if (info.isDirectory()) return 'directory';
  return 'special file';
}

/**
 * `cp` reading the already open descriptor as its fd 3 (reopened through /proc/self/fd, which
 * names the open file, not a path), so it keeps reflinks and holes. No time limit: a large image
 * takes as long as it takes.
 */
function copyWithCp(fd: number, destination: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['--reflink=auto', '--sparse=always', '--', '/proc/self/fd/3', destination], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.once('error', (error) =>
      reject(
        new AppError('HOST_COMMAND_FAILED', 'The rootfs copy could not be started', {
          diagnostics: { destination },
          cause: error,
        }),
      ),
    );
    child.once('close', (exitCode, signal) => {
      if (exitCode === 0) {
        resolve();
        return;
      }
      reject(
        new AppError('HOST_COMMAND_FAILED', 'The rootfs copy failed', {
          details: { exitCode, signal },
          diagnostics: { destination, stderr: stderr.trim() },
        }),
      );
    });
  });
}

/** Errors of FICLONE that mean "this filesystem (pair) cannot share extents", not a failed copy. */
const cannotClone = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOSYS', 'ENOTTY']);

/** Up to this size an image is copied by the Agent itself; a larger one by `cp`, which skips holes without reading them. */
export const inProcessCopyMaxBytes = 128 * 1024 * 1024;

/**
 * Writes each data region of `input` (what the file system reports as data, see `dataRegionsOf`)
 * at the same offset of `output`, as upstream's `snapshot-editor edit-memory rebase` does: a page
 * the guest wrote back to zeros is data and overwrites the base; a hole leaves the base as it was.
 */
async function overlayDataRegions(input: FileHandle, output: FileHandle): Promise<void> {
  const buffer = Buffer.alloc(chunkBytes);
  for (const region of await dataRegionsOf(input)) {
    for (let position = region.start; position < region.end;) {
      const { bytesRead } = await input.read(buffer, 0, Math.min(chunkBytes, region.end - position), position);
      if (bytesRead === 0) break;
      await output.write(buffer, 0, bytesRead, position);
      position += bytesRead;
    }
  }
}

/** Refusals of a reflink that say the filesystem (or the pair of them) cannot clone at all. */
const cannotCloneHere = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'ENOSYS', 'ENOTTY']);

/**
 * The pairs of filesystems (the source's device, the destination directory's device) between
 * which a reflink was refused for a reason of the filesystems, not of the file: copies between them
 * do not try again. A mounted filesystem does not learn to clone, and each try creates the
 * destination file and removes it again (a new inode on ext4, which searches its inode table past
 * the recently deleted ones).
 */
class CloneRefusals {
  private readonly pairs = new Set<string>();

  keyOf(sourceFd: number, destination: string): string {
    return `${fstatSync(sourceFd).dev}:${statSync(dirname(destination)).dev}`;
  }

  has(key: string): boolean {
    return this.pairs.has(key);
  }

  add(key: string): void {
    this.pairs.add(key);
  }
}

/**
 * Copies the open image at `source` (a /proc/self/fd path) to a new file `destination` (mode
 * 0600, which must not exist), keeping holes: a reflink when the filesystem shares extents
 * (FICLONE: no data is read), else only its blocks that are not all zeros are written. A file
 * read whole before and unchanged since is read only where it holds data (`DataMaps`). No fork: a
 * fork of the Agent costs more than copying a small image (ADR 0016, ADR 0053). No reflink is
 * tried between filesystems that refused one (`clones`).
 */
async function copyInProcess(
  source: string,
  destination: string,
  dataMaps: DataMaps,
  clones: { readonly refusals: CloneRefusals; readonly key: string },
): Promise<DataRuns | undefined> {
  if (!clones.refusals.has(clones.key)) {
    try {
      await copyFile(source, destination, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
      return undefined;
    } catch (error) {
      const code = String((error as NodeJS.ErrnoException).code);
      if (!cannotClone.has(code)) throw error;
      if (cannotCloneHere.has(code)) clones.refusals.add(clones.key);
      rmSync(destination, { force: true });
    }
  }
  const input = await open(source, constants.O_RDONLY);
  try {
    const before = await input.stat({ bigint: true });
    // Copies of one image started together (clones of one snapshot) wait for the first one's map.
    if (dataMaps.runsOf(before) === undefined) await dataMaps.afterReadsOf(before);
    const known = dataMaps.runsOf(before);
    const output = await open(destination, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      let written: DataRuns;
      if (known !== undefined) {
        await copyRuns(input, output, known);
        written = known;
      } else {
        const endRead = dataMaps.beginRead(before);
        try {
          const readStartedAtMs = dataMaps.now();
          written = await copyReadingAll(input, output, Number(before.size));
          dataMaps.remember(before, await input.stat({ bigint: true }), readStartedAtMs, written);
        } finally {
          endRead();
        }
      }
      await output.truncate(Number(before.size));
      // Data only where the copy wrote: everything else of the fresh file is a hole.
      return written;
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

/** The bytes of one data region of the open file, read in chunks at their positions. */
async function* regionBytes(input: FileHandle, region: DataRegion): AsyncIterable<Uint8Array> {
  for (let position = region.start; position < region.end;) {
    const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, region.end - position));
    const { bytesRead } = await input.read(buffer, 0, buffer.byteLength, position);
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
    position += bytesRead;
  }
}

/** The chunks, then the file closed (also when their reader stops early). */
async function* closingAfter(chunks: AsyncIterable<Uint8Array>, handle: FileHandle): AsyncIterable<Uint8Array> {
  try {
    yield* chunks;
  } finally {
    await handle.close();
  }
}

const zeros = Buffer.alloc(chunkBytes);

/** Feeds `count` zero bytes to the hash: a hole reads as zeros. */
function hashZeros(hash: Hash, count: number): void {
  for (let left = count; left > 0; left -= chunkBytes) hash.update(zeros.subarray(0, Math.min(chunkBytes, left)));
}

function isSameLayout(a: readonly DataRegion[], b: readonly DataRegion[]): boolean {
  return a.length === b.length && a.every((region, index) => region.start === b[index]?.start && region.end === b[index]?.end);
}

/**
 * Receives a file into `<destination>.partial` (0600), written and judged by `write`: kept (renamed,
 * its directory flushed; `write` flushed the file) only when verified, removed otherwise, also when
 * `write` throws (the bytes stopped coming).
 */
async function receiveInto(destination: string, write: (handle: FileHandle) => Promise<ReceivedFile>): Promise<ReceivedFile> {
  const temporary = `${destination}.partial`;
  const handle = await open(temporary, 'w+', 0o600);
  let outcome: ReceivedFile | undefined;
  try {
    outcome = await write(handle);
  } finally {
    await handle.close();
    if (outcome?.kind !== 'verified') await rm(temporary, { force: true });
  }
  if (outcome.kind !== 'verified') return outcome;
  await rename(temporary, destination);
  await syncDirectory(dirname(destination));
  return outcome;
}

/**
 * A file sent as its data regions, its content's SHA-256 checked (holes read as zeros). With a
 * layout expected (`dataRegionsSha256`: a diff's memory), each region is written as data at its
 * offset, zeros included, the rest left as holes, and it is verified only when the digest of its
 * regions and the regions this file system reports for what was written (after a flush) agree
 * too. Without, the regions' blocks of zeros are left as holes as well, as in a file sent whole.
 */
async function writeDataRegions(
  handle: FileHandle,
  chunks: AsyncIterable<Uint8Array>,
  expected: ExpectedFile,
): Promise<ReceivedFile> {
  const keepsLayout = expected.dataRegionsSha256 !== undefined;
  const hash = createHash('sha256');
  const regions: DataRegion[] = [];
  let sizeBytes = 0;
  let hashedBytes = 0;
  try {
    for await (const event of decodeDataRegionStream(chunks, expected.maxBytes)) {
      if (event.kind === 'size') {
        sizeBytes = event.sizeBytes;
      } else if (event.kind === 'region') {
        hashZeros(hash, event.region.start - hashedBytes);
        hashedBytes = event.region.start;
        regions.push(event.region);
      } else {
        hash.update(event.bytes);
        if (keepsLayout || !isAllZero(event.bytes)) await handle.write(event.bytes, 0, event.bytes.byteLength, event.position);
        hashedBytes += event.bytes.byteLength;
      }
    }
  } catch (error) {
    if (!(error instanceof MalformedDataRegionStream)) throw error;
    return error.isTooLarge ? { kind: 'too_large' } : { kind: 'malformed', reason: error.message };
  }
  hashZeros(hash, sizeBytes - hashedBytes);
  await handle.truncate(sizeBytes);
  const sha256 = hash.digest('hex');
  if (sha256 !== expected.sha256) return { kind: 'digest_mismatch', sha256 };
  if (!keepsLayout) {
    await handle.sync();
    return { kind: 'verified', sizeBytes };
  }
  const layout = dataRegionsSha256(regions);
  if (layout !== expected.dataRegionsSha256) return { kind: 'layout_mismatch', dataRegionsSha256: layout };
  await handle.sync();
  const kept = await dataRegionsOf(handle).catch(() => undefined);
  return kept !== undefined && isSameLayout(kept, regions) ? { kind: 'verified', sizeBytes } : { kind: 'layout_not_kept' };
}

/**
 * How many FIFOs one `mkfifo` makes ahead. Node has no call that makes a FIFO, so each batch is a
 * fork of the Agent: on a Firecracker guest about 0.4 ms of the Agent's CPU and 0.6 ms of the
 * child's per create (two FIFOs each) in batches of 32, against 0.04 and 0.1–0.15 ms in batches of
 * 256 (ADR 0105). A FIFO costs an inode and a name in the spare directory until it is handed out.
 */
export const fifoSpareBatchSize = 256;

/** FIFOs made ahead of need, in batches, in a directory of their own. */
class FifoSpares {
  private readonly spares: string[] = [];
  private refill: Promise<void> | null = null;
  private isPrepared = false;
  private batchCount = 0;

  constructor(
    private readonly runner: CommandRunner,
    private readonly directory: string,
    private readonly batchSize: number,
  ) {}

  /** The path of a spare FIFO (mode 0600) that no one else was given. */
  async take(): Promise<string> {
    for (;;) {
      const spare = this.spares.pop();
      if (spare !== undefined) return spare;
      this.refill ??= this.makeBatch().finally(() => {
        this.refill = null;
      });
      await this.refill;
    }
  }

  private async makeBatch(): Promise<void> {
    if (!this.isPrepared) {
      // Spares an earlier run left are nobody's: start from an empty directory.
      await rm(this.directory, { recursive: true, force: true });
      await mkdir(this.directory, { recursive: true, mode: 0o700 });
      this.isPrepared = true;
    }
    this.batchCount += 1;
    const names = Array.from({ length: this.batchSize }, (_, i) => posix.join(this.directory, `fifo-${this.batchCount}-${i}`));
    await this.runner.run(['mkfifo', '-m', '0600', '--', ...names]);
    this.spares.push(...names.reverse());
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

/** Errors that mean a path leads nowhere: a missing component, a file used as a directory, a loop. */
function isUnresolvable(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG';
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/** A descriptor an image was opened with (O_PATH), closed by its holder. */
interface PathHandle {
  readonly fd: number;
  close(): Promise<void>;
}

function pathHandleOf(fd: number): PathHandle {
  let isClosed = false;
  return {
    fd,
    close: async () => {
      if (isClosed) return;
      isClosed = true;
      closeSync(fd);
    },
  };
}

/**
 * VM files on the local filesystem; large copies and FIFOs through `cp` and `mkfifo` argument arrays.
 *
 * What a create does to files of its own directory and to the image it opens (look at a path, open
 * a descriptor and read where it leads, make a FIFO's link, remove a file) is done synchronously:
 * metadata the kernel holds in memory, each call some microseconds, where a round trip through
 * libuv's thread pool costs the Agent a request, a promise, a wake-up of a pool thread and one of
 * the loop. Copies, reads of content and flushes to disk stay in the pool.
 */
export class LinuxHostFiles implements HostFiles {
  private readonly fifoSpares: FifoSpares | null;
  private readonly dataMaps: DataMaps;
  private readonly cloneRefusals = new CloneRefusals();

  /**
   * With `fifoSpareDirectory` (on the filesystem of the VM directories), FIFOs are made ahead in
   * batches of `fifoSpareBatchSize` (default {@link fifoSpareBatchSize}) by one `mkfifo` each and
   * handed out by a link: one fork for many VMs, not one each. `nowMs` is the wall clock the image
   * copies compare file change times with (default `Date.now`).
   */
  constructor(
    private readonly runner: CommandRunner,
    options: {
      readonly fifoSpareDirectory?: string;
      readonly fifoSpareBatchSize?: number;
      readonly nowMs?: () => number;
    } = {},
  ) {
    this.fifoSpares =
      options.fifoSpareDirectory === undefined
        ? null
        : new FifoSpares(runner, options.fifoSpareDirectory, options.fifoSpareBatchSize ?? fifoSpareBatchSize);
    this.dataMaps = new DataMaps({ nowMs: options.nowMs ?? Date.now });
  }

  async copyImage(root: string, source: string, destination: string, options: CopyImageOptions = {}): Promise<ImageFileCheck> {
    const opened = await this.openImage(root, source);
    if (opened.handle === undefined) return opened.check;
    let written: DataRuns | undefined;
    try {
      rmSync(destination, { force: true });
      if (opened.check.sizeBytes <= inProcessCopyMaxBytes) {
        const clones = { refusals: this.cloneRefusals, key: this.cloneRefusals.keyOf(opened.handle.fd, destination) };
        written = await copyInProcess(`/proc/self/fd/${opened.handle.fd}`, destination, this.dataMaps, clones);
      } else {
        await copyWithCp(opened.handle.fd, destination);
      }
    } finally {
      await opened.handle.close();
    }
    chmodSync(destination, 0o600);
    const copied = statSync(destination, { bigint: true });
    if (options.isWrittenOnce === true && written !== undefined) this.dataMaps.rememberWritten(copied, written);
    return { ...opened.check, sizeBytes: Number(copied.size) };
  }

  async holdImage(root: string, path: string): Promise<{ check: ImageFileCheck; held?: HeldImage }> {
    const opened = await this.openImage(root, path);
    if (opened.handle === undefined) return { check: opened.check };
    const handle = opened.handle;
    return {
      check: opened.check,
      held: {
        realPath: opened.check.realPath,
        heldPath: `/proc/${process.pid}/fd/${handle.fd}`,
        release: () => handle.close(),
      },
    };
  }

  async sha256Of(root: string, path: string): Promise<string | undefined> {
    const opened = await this.openForReading(root, path);
    if (!('chunks' in opened)) return undefined;
    const hash = createHash('sha256');
    for await (const chunk of opened.chunks) hash.update(chunk);
    return hash.digest('hex');
  }

  async flushFile(root: string, path: string): Promise<boolean> {
    const opened = await this.openImage(root, path);
    if (opened.handle === undefined) return false;
    try {
      // Reopened through /proc: the file that was checked, not a name that could be swapped since.
      const file = await open(`/proc/self/fd/${opened.handle.fd}`, constants.O_RDONLY);
      try {
        await file.datasync();
      } finally {
        await file.close();
      }
      return true;
    } finally {
      await opened.handle.close();
    }
  }

  async openForReading(root: string, path: string): Promise<OpenedFile> {
    const opened = await this.openImage(root, path);
    if (opened.handle === undefined) return { check: opened.check as OpenedFile['check'] & { kind: 'missing' } };
    const handle = opened.handle;
    // Reopened for reading through /proc: the file that was checked, not a name that could be swapped since.
    const stream = createReadStream(`/proc/self/fd/${handle.fd}`, { highWaterMark: chunkBytes });
    stream.once('close', () => void handle.close().catch(() => undefined));
    return { check: opened.check, chunks: stream };
  }

  async openDataRegionsForReading(root: string, path: string, layout: RegionLayout = 'as_written'): Promise<OpenedFile> {
    const input = await this.openForRegions(root, path);
    if (!('handle' in input)) return { check: input.check };
    try {
      const regions =
        layout === 'as_written'
          ? await dataRegionsOf(input.handle)
          : await this.zeroFreeRegionsOf(input.handle, input.check.sizeBytes);
      const chunks = encodeDataRegionStream(input.check.sizeBytes, regions, (region) => regionBytes(input.handle, region));
      return { check: input.check, chunks: closingAfter(chunks, input.handle) };
    } catch (error) {
      await input.handle.close();
      throw error;
    }
  }

  /**
   * The regions of an open file that hold bytes other than zeros: what its file system reports as
   * data (the whole file when it cannot tell), read for blocks of zeros, which are left out. Read
   * only where it holds data when this version of the file was read or written whole before
   * (`DataMaps`, as an image copy does), and remembered for the next time.
   */
  private async zeroFreeRegionsOf(handle: FileHandle, sizeBytes: number): Promise<DataRegion[]> {
    const before = await handle.stat({ bigint: true });
    let runs = this.dataMaps.runsOf(before);
    if (runs === undefined) {
      // For a file where a hole and zeros mean the same, the whole file is a sound answer.
      const reported = await dataRegionsOf(handle).catch(() => [{ start: 0, end: sizeBytes }]);
      const readStartedAtMs = this.dataMaps.now();
      runs = await findDataRuns(
        handle,
        reported.map((region) => [region.start, region.end] as const),
      );
      this.dataMaps.remember(before, await handle.stat({ bigint: true }), readStartedAtMs, runs);
    }
    return runs.map(([start, end]) => ({ start, end }));
  }

  async dataRegionsSha256Of(root: string, path: string): Promise<string | undefined> {
    const input = await this.openForRegions(root, path);
    if (!('handle' in input)) return undefined;
    try {
      return dataRegionsSha256(await dataRegionsOf(input.handle));
    } finally {
      await input.handle.close();
    }
  }

  /** The checked file reopened for reading through /proc (lseek SEEK_DATA needs a descriptor that reads). */
  private async openForRegions(
    root: string,
    path: string,
  ): Promise<
    | { readonly check: Exclude<ImageFileCheck, { readonly kind: 'regular' }> }
    | { readonly check: ImageFileCheck & { readonly kind: 'regular' }; readonly handle: FileHandle }
  > {
    const opened = await this.openImage(root, path);
    if (opened.handle === undefined) return { check: opened.check as Exclude<ImageFileCheck, { kind: 'regular' }> };
    try {
      return { check: opened.check, handle: await open(`/proc/self/fd/${opened.handle.fd}`, 'r') };
    } finally {
      await opened.handle.close();
    }
  }

  async receiveFile(
    destination: string,
    chunks: AsyncIterable<Uint8Array>,
    expected: ExpectedFile,
    encoding: FileEncoding = 'whole',
  ): Promise<ReceivedFile> {
    if (expected.dataRegionsSha256 !== undefined || encoding === 'data_regions') {
      return receiveInto(destination, (handle) => writeDataRegions(handle, chunks, expected));
    }
    return receiveInto(destination, async (handle) => {
      const hash = createHash('sha256');
      let sizeBytes = 0;
      for await (const chunk of chunks) {
        sizeBytes += chunk.byteLength;
        if (sizeBytes > expected.maxBytes) return { kind: 'too_large' };
        hash.update(chunk);
        // Blocks of zeros stay holes, as the disk copies of VMs do: memory files are mostly zeros.
        if (!isAllZero(chunk)) await handle.write(chunk, 0, chunk.byteLength, sizeBytes - chunk.byteLength);
      }
      await handle.truncate(sizeBytes);
      const sha256 = hash.digest('hex');
      if (sha256 !== expected.sha256) return { kind: 'digest_mismatch', sha256 };
      await handle.sync();
      return { kind: 'verified', sizeBytes };
    });
  }

  async mergeMemoryLayers(root: string, layers: readonly string[], destination: string): Promise<ImageFileCheck> {
    const [base, ...diffs] = layers;
    if (base === undefined) throw new Error('a memory chain has a full layer at least');
    const temporary = `${destination}.partial`;
    const copied = await this.copyImage(root, base, temporary);
    if (copied.kind !== 'regular') return copied;
    const output = await open(temporary, 'r+');
    try {
      for (const diff of diffs) {
        const opened = await this.openImage(root, diff);
        if (opened.handle === undefined) {
          await rm(temporary, { force: true });
          return opened.check;
        }
        const input = await open(`/proc/self/fd/${opened.handle.fd}`, 'r');
        try {
          await opened.handle.close();
          await overlayDataRegions(input, output);
        } finally {
          await input.close();
        }
      }
      await output.sync();
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    } finally {
      await output.close();
    }
    await rename(temporary, destination);
    await syncDirectory(dirname(destination));
    return { kind: 'regular', realPath: destination, sizeBytes: (await stat(destination)).size };
  }

  async inspectImage(root: string, path: string): Promise<ImageFileCheck> {
    const opened = await this.openImage(root, path);
    await opened.handle?.close();
    return opened.check;
  }

  /**
   * Opens `path` once (O_PATH, O_NOFOLLOW) and judges the open file, not the name: its real path,
   * read back from /proc/self/fd, must lie inside the real root, and it must be a regular file. A
   * symlink swapped in at any moment is either what was opened (and refused) or not seen at all.
   * The handle is returned only for a regular file inside the root; the caller closes it.
   */
  private async openImage(
    root: string,
    path: string,
  ): Promise<
    { check: ImageFileCheck; handle?: undefined } | { check: ImageFileCheck & { kind: 'regular' }; handle: PathHandle }
  > {
    const normalized = posix.normalize(path);
    if (!isAbsolute(path) || !isInside(posix.normalize(root), normalized)) {
      return { check: { kind: 'outside', realPath: normalized } };
    }
    let fd: number;
    let realRoot: string;
    try {
      realRoot = realpathSync.native(root);
      fd = openSync(normalized, openPathOnly | constants.O_NOFOLLOW);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return { check: { kind: 'missing' } };
      if (code === 'ELOOP') return { check: { kind: 'not_regular', fileType: 'symlink' } };
      throw error;
    }
    try {
      const realPath = readlinkSync(`/proc/self/fd/${fd}`);
      if (!isInside(realRoot, realPath)) {
        closeSync(fd);
        return { check: { kind: 'outside', realPath } };
      }
      const info = fstatSync(fd);
      if (!info.isFile()) {
        closeSync(fd);
        return { check: { kind: 'not_regular', fileType: fileTypeOf(info) } };
      }
      return { check: { kind: 'regular', realPath, sizeBytes: info.size }, handle: pathHandleOf(fd) };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  async createFifo(path: string): Promise<void> {
    const existing = lstatSync(path, { throwIfNoEntry: false });
    if (existing !== undefined) {
      if (existing.isFIFO()) {
        chmodSync(path, 0o600);
        return;
      }
      throw new AppError('HOST_COMMAND_FAILED', 'The metrics FIFO path is taken by another file', { diagnostics: { path } });
    }
    if (this.fifoSpares === null) {
      await this.runner.run(['mkfifo', '-m', '0600', '--', path]);
      return;
    }
    const spare = await this.fifoSpares.take();
    // A new name for the spare, never over an existing file (link fails with EEXIST, rename would replace it).
    linkSync(spare, path);
    rmSync(spare, { force: true });
  }

  async exists(path: string): Promise<boolean> {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  }

  /**
   * Synchronous: the console log's rotation pass asks it for every running VM every few seconds,
   * of files in the Agent's own run directory whose inodes the kernel holds in memory. Through the
   * thread pool 500 of them cost about 16 ms of CPU (a request, a promise and a `Stats` each), read
   * here about 3 ms, the loop held that long.
   */
  async sizeOf(path: string): Promise<number | undefined> {
    return statSync(path, { throwIfNoEntry: false })?.size;
  }

  /**
   * Watches the parent directory (inotify), so a wait ends when the path appears, not at a poll;
   * one watch for all the waits of the caller (a VMM's socket wait polls its process between them).
   */
  watchPath(path: string): PathWatch {
    const name = basename(path);
    const isThere = (): boolean => lstatSync(path, { throwIfNoEntry: false }) !== undefined;
    let waiter: ((appeared: boolean) => void) | undefined;
    const wake = (appeared: boolean): void => {
      const waiting = waiter;
      waiter = undefined;
      waiting?.(appeared);
    };
    let watcher: FSWatcher | undefined;
    const stop = (): void => {
      watcher?.close();
      watcher = undefined;
      wake(false);
    };
    try {
      watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
        if (changed === name && waiter !== undefined && isThere()) wake(true);
      });
      watcher.on('error', stop);
    } catch (error) {
      // A directory not there (yet): each wait answers after a look at the path.
      if (!isNotFound(error)) throw error;
    }
    return {
      appeared: (timeoutMs) =>
        new Promise((resolve) => {
          // Looked at with the watch already set up, so an appearance in between is not missed.
          if (isThere()) resolve(true);
          else if (watcher === undefined) resolve(false);
          else {
            const timer = setTimeout(() => wake(false), timeoutMs);
            waiter = (appeared) => {
              clearTimeout(timer);
              resolve(appeared);
            };
          }
        }),
      close: stop,
    };
  }

  async remove(path: string): Promise<void> {
    rmSync(path, { force: true });
  }

  async removeDirectory(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
  }

  async makeDirectory(path: string): Promise<void> {
    await mkdir(path, { recursive: true, mode: 0o700 });
  }

  async readTail(path: string, maxBytes: number): Promise<string> {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isNotFound(error)) return '';
      throw error;
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, maxBytes);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  }

  async rotateLog(path: string, rotatedPath: string, maxBytes: number): Promise<boolean> {
    let sizeBytes: number;
    try {
      ({ size: sizeBytes } = await stat(path));
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    if (sizeBytes <= maxBytes) return false;
    // Removed first and created exclusively, so a link planted at the rotated path is not followed.
    await rm(rotatedPath, { force: true });
    await copyFile(path, rotatedPath, constants.COPYFILE_EXCL);
    await chmod(rotatedPath, 0o600);
    await truncate(path, 0);
    return true;
  }

  async resolvePath(path: string): Promise<ResolvedPath> {
    if (!isAbsolute(path) || path.includes('\0') || path.endsWith('/')) return { kind: 'unresolvable' };
    try {
      return { kind: 'existing', realPath: realpathSync.native(path) };
    } catch (error) {
      if (!isUnresolvable(error)) throw error;
    }
    try {
      // It is there but leads nowhere: a dangling symlink, which an O_CREAT open would follow.
      lstatSync(path);
      return { kind: 'unresolvable' };
    } catch (error) {
      if (!isUnresolvable(error)) throw error;
    }
    const name = basename(path);
    if (name === '.' || name === '..') return { kind: 'unresolvable' };
    try {
      return { kind: 'absent', realPath: posix.join(realpathSync.native(dirname(path)), name) };
    } catch (error) {
      if (isUnresolvable(error)) return { kind: 'unresolvable' };
      throw error;
    }
  }
}
