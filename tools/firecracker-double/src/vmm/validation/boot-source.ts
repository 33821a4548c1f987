import type { Body } from '../../api/actions.js';
import { ioErrorText } from '../../errno.js';
import { fail } from '../errors.js';
import { openCheck } from '../files.js';
import type { BootSource } from '../types.js';

/** Kernel command line limit on x86_64 (boot protocol 2048 bytes incl. NUL). */
const CMDLINE_MAX = 2048;

export function validateBootSource(body: Body): BootSource {
  const kernel = body['kernel_image_path'] as string;
  const initrd = (body['initrd_path'] as string | undefined) ?? null;
  const args = (body['boot_args'] as string | undefined) ?? null;
  try {
    openCheck(kernel, false);
  } catch (err) {
    fail(`Boot source error: The kernel file cannot be opened: ${ioErrorText(err)}`);
  }
  if (initrd !== null) {
    try {
      openCheck(initrd, false);
    } catch (err) {
      fail(`Boot source error: The initrd file cannot be opened due to invalid path or invalid permissions. ${ioErrorText(err)}`);
    }
  }
  if (args !== null) {
    if (!/^[\x20-\x7e]*$/.test(args)) {
      fail('Boot source error: The kernel command line is invalid: String contains an invalid character');
    }
    if (args.length >= CMDLINE_MAX) fail('Boot source error: The kernel command line is invalid: Command line overflowed');
  }
  return { kernel_image_path: kernel, initrd_path: initrd, boot_args: args };
}
