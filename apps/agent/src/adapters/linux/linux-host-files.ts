import { watch } from 'node:fs';
import { chmod, lstat, open, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, posix } from 'node:path';
import { AppError } from '@hearth/errors';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import type { HostFiles, ResolvedPath } from '../../application/ports/host-files.js';

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

/** VM files on the local filesystem; copies and FIFOs through `cp` and `mkfifo` argument arrays. */
export class LinuxHostFiles implements HostFiles {
  constructor(private readonly runner: CommandRunner) {}

  async copySparse(source: string, destination: string): Promise<number> {
    await rm(destination, { force: true });
    await this.runner.run(['cp', '--reflink=auto', '--sparse=always', '--', source, destination]);
    await chmod(destination, 0o600);
    return (await stat(destination)).size;
  }

  async createFifo(path: string): Promise<void> {
    try {
      const existing = await lstat(path);
      if (existing.isFIFO()) {
        await chmod(path, 0o600);
        return;
      }
      throw new AppError('HOST_COMMAND_FAILED', 'The metrics FIFO path is taken by another file', { diagnostics: { path } });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    await this.runner.run(['mkfifo', '-m', '0600', '--', path]);
  }

  async exists(path: string): Promise<boolean> {
    try {
      await lstat(path);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** Watches the parent directory (inotify), so the answer comes when the path appears, not at a poll. */
  async waitForPath(path: string, timeoutMs: number): Promise<boolean> {
    const name = basename(path);
    return new Promise((resolve, reject) => {
      let isDone = false;
      const finish = (appeared: boolean): void => {
        if (isDone) return;
        isDone = true;
        clearTimeout(timer);
        watcher?.close();
        resolve(appeared);
      };
      let watcher: ReturnType<typeof watch> | undefined;
      try {
        watcher = watch(dirname(path), { persistent: false }, (_event, changed) => {
          if (changed === name) this.exists(path).then((exists) => exists && finish(true), reject);
        });
        watcher.on('error', () => finish(false));
      } catch (error) {
        if (!isNotFound(error)) {
          reject(error);
          return;
        }
      }
      const timer = setTimeout(() => finish(false), timeoutMs);
      // Checked after the watch is set up, so an appearance in between is not missed.
      this.exists(path).then((exists) => exists && finish(true), reject);
    });
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  async removeDirectory(path: string): Promise<void> {
    await rm(path, { recursive: true, force: true });
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

  async resolvePath(path: string): Promise<ResolvedPath> {
    if (!isAbsolute(path) || path.includes('\0') || path.endsWith('/')) return { kind: 'unresolvable' };
    try {
      return { kind: 'existing', realPath: await realpath(path) };
    } catch (error) {
      if (!isUnresolvable(error)) throw error;
    }
    try {
      // It is there but leads nowhere: a dangling symlink, which an O_CREAT open would follow.
      await lstat(path);
      return { kind: 'unresolvable' };
    } catch (error) {
      if (!isUnresolvable(error)) throw error;
    }
    const name = basename(path);
    if (name === '.' || name === '..') return { kind: 'unresolvable' };
    try {
      return { kind: 'absent', realPath: posix.join(await realpath(dirname(path)), name) };
    } catch (error) {
      if (isUnresolvable(error)) return { kind: 'unresolvable' };
      throw error;
    }
  }

  async resolveInside(
    root: string,
    path: string,
  ): Promise<{ kind: 'inside'; realPath: string } | { kind: 'outside'; realPath: string } | { kind: 'missing' }> {
    const normalized = posix.normalize(path);
    if (!isAbsolute(path) || !isInside(posix.normalize(root), normalized)) return { kind: 'outside', realPath: normalized };
    let realRoot: string;
    let realPath: string;
    try {
      [realRoot, realPath] = await Promise.all([realpath(root), realpath(normalized)]);
    } catch (error) {
      if (isNotFound(error)) return { kind: 'missing' };
      throw error;
    }
    return isInside(realRoot, realPath) ? { kind: 'inside', realPath } : { kind: 'outside', realPath };
  }
}
