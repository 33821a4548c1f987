import { AppError } from '@hearth/errors';

/** `sun_path` is 108 bytes including the terminating NUL. */
export const maxUnixSocketPathBytes = 107;

export function unixSocketPathProblem(path: string): string | undefined {
  const bytes = Buffer.byteLength(path, 'utf8');
  return bytes > maxUnixSocketPathBytes
    ? `Unix socket path ${path} is ${bytes} bytes; the limit is ${maxUnixSocketPathBytes}`
    : undefined;
}

/** Throws HOST_LIMIT_EXCEEDED before anything is created when the path cannot be bound. */
export function assertUnixSocketPath(path: string): void {
  const problem = unixSocketPathProblem(path);
  if (problem !== undefined) {
    throw new AppError('HOST_LIMIT_EXCEEDED', `A Unix socket path of this VM is longer than ${maxUnixSocketPathBytes} bytes`, {
      details: { limit: 'unix_socket_path_bytes', maxBytes: maxUnixSocketPathBytes },
      diagnostics: { problem, path },
    });
  }
}
