import { AppError } from '@hearth/errors';
import type { VmId } from './ids.js';
import type { VmState } from './vm-state.js';

export function vmNotFound(id: string): AppError {
  return new AppError('VM_NOT_FOUND', `No VM with id ${id}`, { details: { vmId: id } });
}

/** Why a compare-and-set on a VM row changed nothing: gone, another version, or another state. */
export function whyNotChanged(
  id: VmId,
  change: { readonly from: VmState; readonly ifVersion?: number | undefined },
  current: { state: string; version: number } | undefined,
): AppError {
  if (current === undefined) return vmNotFound(id);
  if (change.ifVersion !== undefined && current.version !== change.ifVersion) {
    return preconditionFailed(id, [change.ifVersion], current.version);
  }
  return new AppError('VM_BUSY', `VM ${id} is ${current.state}, not ${change.from}`, {
    details: { vmId: id, state: current.state },
  });
}

/** VM_BUSY: the VM is in a state no change may be made in (e.g. `deleting`). */
export function vmBusy(id: VmId, state: VmState): AppError {
  return new AppError('VM_BUSY', `VM ${id} is ${state}`, { details: { vmId: id, state } });
}

/** Why a version-checked change of a VM row (not of its state) changed nothing: gone, or another version. */
export function whyNotUpdated(id: VmId, ifVersion: number | undefined, current: { version: number } | undefined): AppError {
  if (current === undefined) return vmNotFound(id);
  return preconditionFailed(id, ifVersion === undefined ? [] : [ifVersion], current.version);
}

/** PRECONDITION_FAILED: the VM is not at any of the versions the caller's `If-Match` named. */
export function preconditionFailed(id: VmId, expectedVersions: readonly number[], currentVersion: number): AppError {
  const expected = expectedVersions.map((v) => `"${v}"`).join(', ');
  return new AppError(
    'PRECONDITION_FAILED',
    `VM ${id} is at version "${currentVersion}", not ${expected || 'the one asked for'}`,
    {
      details: { vmId: id, expectedVersions: [...expectedVersions], currentVersion },
    },
  );
}
