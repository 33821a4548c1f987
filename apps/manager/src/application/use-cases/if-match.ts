import type { ProjectSet } from '../../domain/access.js';
import { preconditionFailed } from '../../domain/vm-errors.js';
import type { Vm } from '../../domain/vm.js';

/** What an `If-Match` header asked for: any version (`*`), or one of these versions. */
export type IfMatch = '*' | readonly number[];

/** Options every VM mutation takes. */
export interface MutationOptions {
  readonly ifMatch?: IfMatch | undefined;
  /**
   * The projects of the caller: a VM of another project is VM_NOT_FOUND. Default: every project,
   * for the Manager's own callers (the reconciler, a drain).
   */
  readonly projects?: ProjectSet | undefined;
}

/**
 * The version a mutation must find the VM at (passed on to the compare-and-set), or undefined when
 * the caller set no precondition. PRECONDITION_FAILED when the VM is at none of the given versions.
 */
export function versionToMatch(vm: Vm, ifMatch: IfMatch | undefined): number | undefined {
  return matchedVersion(vm.version, ifMatch, (expected) => preconditionFailed(vm.id, expected, vm.version));
}

/**
 * The version a change of any versioned resource must find it at: `current` when `ifMatch` names
 * it, undefined for no precondition (`*` or no header); else the error `mismatch` makes.
 */
export function matchedVersion(
  current: number,
  ifMatch: IfMatch | undefined,
  mismatch: (expected: readonly number[]) => Error,
): number | undefined {
  if (ifMatch === undefined || ifMatch === '*') return undefined;
  if (ifMatch.includes(current)) return current;
  throw mismatch(ifMatch);
}
