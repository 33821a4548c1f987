import type { VmSpec } from '@hearth/contracts';
import { isAppError, type AppError } from '@hearth/errors';
import type { ForwardRequest } from '../../application/ports/firecracker-api.js';
import { fakeKernelPath, fakeRootfsPath } from './fake-agent-context.js';
import { parseVmId } from '../../domain/vm-id.js';

export const testVmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ0');
export const otherVmId = parseVmId('vm_01JABCDEFGHJKMNPQRSTVWXYZ1');

export const testSpec: VmSpec = {
  vcpuCount: 1,
  memoryMib: 128,
  kernelPath: fakeKernelPath,
  rootfsSourcePath: fakeRootfsPath,
  bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off',
  guestMac: '06:00:ac:10:00:02',
  isMetricsEnabled: true,
};

/**
 * The resource kinds of a VM's VMM files, recorded and removed as its logs: stdout and its rotated
 * part, stderr, Firecracker's log, and the configuration and MMDS data it was started with.
 */
export const vmmFileKinds = ['log', 'log', 'log', 'log', 'log', 'log'] as const;

/** The AppError a promise rejects with (fails the test when it resolves or throws something else). */
export async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error;
    throw error;
  }
  throw new Error('expected the promise to reject with an AppError');
}

/** A proxied `PUT` of a JSON body, as the Agent's HTTP layer hands it to the application. */
export function jsonPut(path: string, body: unknown): ForwardRequest {
  return {
    method: 'PUT',
    path,
    contentType: 'application/json',
    body: Buffer.from(JSON.stringify(body)),
    correlationId: undefined,
  };
}
