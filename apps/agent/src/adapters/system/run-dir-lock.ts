import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';

export interface RunDirLock {
  release(): Promise<void>;
}

export class RunDirLockedError extends Error {
  constructor(readonly runDir: string) {
    super(
      `Another live Agent holds FC_RUN_DIR ${runDir}; two Agents must not share a run directory (their sweeps would remove each other's VMs)`,
    );
    this.name = 'RunDirLockedError';
  }
}

/**
 * Holds the run directory for this process: a listening Unix socket in the abstract namespace,
 * named after the directory's real path. Binding is atomic and the kernel releases it when the
 * process dies, however it dies, so there is no stale lock to clean up. (Abstract names belong to
 * a network namespace: Agents sharing a run directory must share one, as they do on one host.)
 */
export async function acquireRunDirLock(runDir: string): Promise<RunDirLock> {
  const resolved = await realpath(runDir);
  const name = `\0hearth-agent-run-dir:${createHash('sha256').update(resolved).digest('hex')}`;
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new RunDirLockedError(resolved) : error),
    );
    server.listen({ path: name }, () => resolve());
  });
  server.unref();
  return {
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
