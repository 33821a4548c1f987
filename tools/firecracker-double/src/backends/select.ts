import type { QemuBackendOptions } from './qemu.js';
import type { QemuTrace } from './qemu-trace.js';
import { SimulatedBackend } from './simulated.js';
import type { GuestBackend } from './types.js';

export type { BackendName } from '../config.js';

export interface BackendOptions {
  /** Where backends keep private runtime files (the API socket's directory), asked when first needed. */
  runDir?: string | (() => string);
  /** The QEMU binary of the qemu backend (config.ts reads it from FC_DOUBLE_QEMU). */
  qemuBinary?: string;
  /** Where the qemu backend looks for `setpriv` (config.ts reads it from PATH). */
  searchPath?: string;
  /** The qemu backend's trace of its steps (config.ts reads its directory from FC_DOUBLE_TRACE_DIR). */
  trace?: QemuTrace;
}

/**
 * The backend named by `name` (the binary takes it from FC_DOUBLE_BACKEND, see config.ts). The QEMU backend (and the child_process, os and QMP modules it
 * brings) is imported only when chosen, so a simulated double starts without loading it.
 */
export async function loadBackend(name: string = 'simulated', opts: BackendOptions = {}): Promise<GuestBackend> {
  switch (name) {
    case 'simulated':
      return new SimulatedBackend();
    case 'qemu': {
      const { createQemuBackend } = await import('./qemu.js');
      const qemuOpts: QemuBackendOptions = {};
      if (opts.runDir !== undefined) qemuOpts.runDir = opts.runDir;
      if (opts.qemuBinary !== undefined) qemuOpts.qemuBinary = opts.qemuBinary;
      if (opts.searchPath !== undefined) qemuOpts.searchPath = opts.searchPath;
      if (opts.trace !== undefined) qemuOpts.trace = opts.trace;
      return createQemuBackend(qemuOpts);
    }
    default:
      throw new Error(`unknown FC_DOUBLE_BACKEND: ${name}`);
  }
}
