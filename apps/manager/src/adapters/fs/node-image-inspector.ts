import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { AppError } from '@hearth/errors';
import type { ImageFile, ImageInspector } from '../../application/ports/image-inspector.js';
import { imageHeadBytes, isInsideRoot } from '../../domain/image.js';

/** Reads image files from the local file system, confined to the image root. */
export class NodeImageInspector implements ImageInspector {
  constructor(private readonly imageRoot: string) {}

  async open(hostPath: string): Promise<ImageFile> {
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
    const info = await stat(path);
    if (!info.isFile()) throw notFound(hostPath, requested);
    const handle = await open(path, 'r');
    try {
      const head = new Uint8Array(imageHeadBytes);
      const { bytesRead } = await handle.read(head, 0, head.byteLength, 0);
      return { path, sizeBytes: info.size, head: head.subarray(0, bytesRead) };
    } finally {
      await handle.close();
    }
  }

  async sha256(path: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    return hash.digest('hex');
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
