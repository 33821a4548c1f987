import { closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { ioErrorText } from '../errno.js';
import { BackendError } from './types.js';

const KERNEL_ERROR =
  'System configuration error: Cannot load kernel due to invalid memory configuration or invalid kernel image: ';
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** Firecracker's x86_64 loader takes only an ELF vmlinux; rejects anything else like upstream. */
export function checkKernelImage(path: string): void {
  const magic = Buffer.alloc(4);
  try {
    // Opening a FIFO would block: only a regular file is opened.
    if (!statSync(path).isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    const fd = openSync(path, constants.O_RDONLY);
    try {
      readSync(fd, magic, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw new BackendError(`${KERNEL_ERROR}${ioErrorText(err)}`);
  }
  if (!magic.equals(ELF_MAGIC)) throw new BackendError(`${KERNEL_ERROR}Kernel Loader: Invalid ELF magic number`);
}
