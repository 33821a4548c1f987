import type { QemuBackendOptions } from './qemu.js';
import { SimulatedBackend } from './simulated.js';
import type { GuestBackend } from './types.js';

export type BackendName = 'simulated' | 'qemu';

/** Picks the guest backend: `FC_DOUBLE_BACKEND=simulated|qemu` (default simulated). */
export interface BackendOptions {
  /** Where backends keep private runtime files (the API socket's directory). */
  runDir?: string;
}

/**
 * The backend named by `name`. The QEMU backend (and the child_process, os and QMP modules it
 * brings) is imported only when chosen, so a simulated double starts without loading it.
 */
export async function loadBackend(
  name = process.env['FC_DOUBLE_BACKEND'] ?? 'simulated',
  opts: BackendOptions = {},
): Promise<GuestBackend> {
  switch (name) {
    case 'simulated':
      return new SimulatedBackend();
    case 'qemu': {
      const { createQemuBackend } = await import('./qemu.js');
      const qemuOpts: QemuBackendOptions = {};
      if (opts.runDir !== undefined) qemuOpts.runDir = opts.runDir;
      return createQemuBackend(qemuOpts);
    }
    default:
      throw new Error(`unknown FC_DOUBLE_BACKEND: ${name}`);
  }
}
