/**
 * Rust io::Error Display text as produced by a musl-linked Firecracker:
 * `<strerror> (os error N)` with musl's wording (behaviour.md#responses, "Out of memory (os error 12)",
 * §4 vsock "Address in use (os error 98)").
 */
import { constants } from 'node:os';

const MUSL_STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'I/O error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Out of memory',
  EACCES: 'Permission denied',
  EBUSY: 'Resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENFILE: 'Too many open files in system',
  EMFILE: 'No file descriptors available',
  ETXTBSY: 'Text file busy',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ENAMETOOLONG: 'Filename too long',
  ELOOP: 'Symbolic link loop',
  EADDRINUSE: 'Address in use',
  ECONNREFUSED: 'Connection refused',
  ENOTSOCK: 'Not a socket',
  ECONNRESET: 'Connection reset by peer',
  EPIPE: 'Broken pipe',
};

/** Formats a Node fs/net error the way Rust displays an OS error. */
export function ioErrorText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined) {
    const num = (constants.errno as Record<string, number>)[code];
    const text = MUSL_STRERROR[code];
    if (num !== undefined && text !== undefined) return `${text} (os error ${num})`;
    if (num !== undefined) return `${code} (os error ${num})`;
  }
  return err instanceof Error ? err.message : String(err);
}

export function errnoText(code: string): string {
  return ioErrorText(Object.assign(new Error(code), { code }));
}
