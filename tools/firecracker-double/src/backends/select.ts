import type { QemuBackendOptions } from './qemu.js';
import { createQemuBackend } from './qemu.js';
import { SimulatedBackend } from './simulated.js';
import type { GuestBackend } from './types.js';

export type BackendName = 'simulated' | 'qemu';

/** Picks the guest backend: `FC_DOUBLE_BACKEND=simulated|qemu` (default simulated). */
export interface BackendOptions {
  /** Where backends keep private runtime files (the API socket's directory). */
  runDir?: string;
}

export function createBackend(name = process.env['FC_DOUBLE_BACKEND'] ?? 'simulated', opts: BackendOptions = {}): GuestBackend {
  switch (name) {
    case 'simulated':
      return new SimulatedBackend();
    case 'qemu': {
      const qemuOpts: QemuBackendOptions = {};
      if (opts.runDir !== undefined) qemuOpts.runDir = opts.runDir;
      return createQemuBackend(qemuOpts);
    }
    default:
      throw new Error(`unknown FC_DOUBLE_BACKEND: ${name}`);
  }
}
