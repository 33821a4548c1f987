import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { AppError } from '@hearth/errors';
import type { ImageFile, ImageInspector } from '../../application/ports/image-inspector.js';
import { imageHeadBytes, isInsideRoot } from '../../domain/image.js';

/** Reads image files from the local file system, confined to the image root. */
export class NodeImageInspector implements ImageInspector {
  constructor(private readonly imageRoot: string) {}

  async inspect(hostPath: string): Promise<ImageFile> {
    const root = await this.realRoot();
    const requested = isAbsolute(hostPath) ? resolve(hostPath) : resolve(root, hostPath);
    // Refuse `..` escapes before touching the file system, symlink escapes after resolving.
    if (!isInsideRoot(root, requested) && !isInsideRoot(resolve(this.imageRoot), requested)) throw forbidden(hostPath, root);
    let path: string;
    try {
      path = await realpath(requested);
    } catch (error) {
      if (isNotFound(error)) throw notFound(hostPath, requested);
      throw error;
    }
    if (!isInsideRoot(root, path)) throw forbidden(hostPath, root);
    // Opened once, a symlink at the end not followed and nothing opened for reading yet (O_PATH),
    // then judged as it is open: a symlink swapped in after realpath is refused, never read.
    let location: FileHandle;
    try {
      location = await open(path, openPathOnly | constants.O_NOFOLLOW);
    } catch (error) {
      if (isNotFound(error)) throw notFound(hostPath, requested);
      throw error;
    }
    try {
      if (!isInsideRoot(root, await readlink(`/proc/self/fd/${location.fd}`))) throw forbidden(hostPath, root);
      const info = await location.stat();
      if (!info.isFile()) throw notRegular(hostPath, info);
      return { path, ...(await readThrough(location, info)) };
    } finally {
      await location.close();
    }
  }

  private async realRoot(): Promise<string> {
    try {
      return await realpath(this.imageRoot);
    } catch (error) {
      if (isNotFound(error)) {
        throw new AppError('IMAGE_FILE_NOT_FOUND', `The image root ${this.imageRoot} does not exist`, {
          details: { imageRoot: this.imageRoot },
        });
      }
      throw error;
    }
  }
}

/** O_PATH (Linux): a descriptor naming the file without opening it for reading, so a FIFO cannot block. */
const openPathOnly = (constants as { O_PATH?: number }).O_PATH ?? 0o10000000;
const chunkBytes = 1024 * 1024;

/** Size, head and SHA-256 read through the descriptor `location` names (reopened via /proc/self/fd). */
async function readThrough(
  location: FileHandle,
  expected: Stats,
): Promise<{ sizeBytes: number; head: Uint8Array; sha256: string }> {
  const reader = await open(`/proc/self/fd/${location.fd}`, 'r');
  try {
    const info = await reader.stat();
    if (info.ino !== expected.ino || info.dev !== expected.dev) throw new Error('the image file changed while it was opened');
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(chunkBytes);
    let head: Uint8Array | undefined;
    let sizeBytes = 0;
    for (;;) {
      const { bytesRead } = await reader.read(buffer, 0, chunkBytes, sizeBytes);
      if (head === undefined) head = Uint8Array.from(buffer.subarray(0, Math.min(bytesRead, imageHeadBytes)));
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      sizeBytes += bytesRead;
    }
    return { sizeBytes, head: head ?? new Uint8Array(0), sha256: hash.digest('hex') };
  } finally {
    await reader.close();
  }
}

function fileTypeOf(info: Stats): string {
  if (info.isFIFO()) return 'fifo';
  if (info.isCharacterDevice()) return 'character device';
  if (info.isBlockDevice()) return 'block device';
  if (info.isSocket()) return 'socket';
  if (info.isDirectory()) return 'directory';
  if (info.isSymbolicLink()) return 'symlink';
  return 'special file';
}

function notRegular(hostPath: string, info: Stats): AppError {
  const fileType = fileTypeOf(info);
  return new AppError('IMAGE_NOT_REGULAR_FILE', `${hostPath} is a ${fileType}, not a regular file`, {
    details: { hostPath, fileType },
  });
}

function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}

function forbidden(hostPath: string, imageRoot: string): AppError {
  return new AppError('IMAGE_PATH_FORBIDDEN', `The image path is outside the image root ${imageRoot}`, {
    details: { hostPath, imageRoot },
  });
}

/** A relative hostPath is read under the image root: say where it was looked for. */
function notFound(hostPath: string, resolved: string): AppError {
  const where = isAbsolute(hostPath) ? hostPath : `${resolved} (a relative hostPath is read under the image root)`;
  return new AppError('IMAGE_FILE_NOT_FOUND', `No regular file at ${where}`, { details: { hostPath, resolvedPath: resolved } });
}
