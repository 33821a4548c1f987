import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { AppError } from '@hearth/errors';
import type { ImageFile, ImageInspector } from '../../application/ports/image-inspector.js';
import { isInsideRoot } from '../../domain/image.js';

/**
 * An image root held in memory: `put(path, bytes)` adds a file, `putSpecial(path, type)` a FIFO or
 * device (paths are absolute, no symlinks).
 */
export class FakeImageInspector implements ImageInspector {
  private readonly files = new Map<string, Uint8Array>();
  private readonly specials = new Map<string, string>();

  constructor(readonly root: string = '/srv/images') {}

  put(path: string, content: Uint8Array): string {
    const absolute = posix.resolve(this.root, path);
    this.files.set(absolute, content);
    return absolute;
  }

  putSpecial(path: string, fileType: 'fifo' | 'character device'): string {
    const absolute = posix.resolve(this.root, path);
    this.specials.set(absolute, fileType);
    return absolute;
  }

  async inspect(hostPath: string): Promise<ImageFile> {
    const path = posix.resolve(this.root, hostPath);
    if (!isInsideRoot(this.root, path)) {
      throw new AppError('IMAGE_PATH_FORBIDDEN', 'The image path is outside the image root', { details: { hostPath } });
    }
    const fileType = this.specials.get(path);
    if (fileType !== undefined) {
      throw new AppError('IMAGE_NOT_REGULAR_FILE', `${hostPath} is a ${fileType}, not a regular file`, {
        details: { hostPath, fileType },
      });
    }
    const content = this.files.get(path);
    if (content === undefined) throw new AppError('IMAGE_FILE_NOT_FOUND', `No file at ${hostPath}`, { details: { hostPath } });
    return {
      path,
      sizeBytes: content.byteLength,
      head: content.subarray(0, 4096),
      sha256: createHash('sha256').update(content).digest('hex'),
    };
  }
}

/** Bytes that pass as an ELF vmlinux. */
export function fakeKernelBytes(): Uint8Array {
  const bytes = new Uint8Array(4096);
  bytes.set([0x7f, 0x45, 0x4c, 0x46], 0);
  return bytes;
}

/** Bytes that pass as an ext4 file system. */
export function fakeExt4Bytes(): Uint8Array {
  const bytes = new Uint8Array(4096);
  bytes.set([0x53, 0xef], 1080);
  return bytes;
}
