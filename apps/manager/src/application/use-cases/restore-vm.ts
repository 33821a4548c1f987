import { AppError, isAppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import { everyProject } from '../../domain/access.js';
import type { SnapshotId, VmId } from '../../domain/ids.js';
import { invalidBody } from '../../domain/template.js';
import { restoreRefusalOf, snapshotIncompatible } from '../../domain/snapshot-compatibility.js';
import { ancestorsOf } from './snapshot-chains.js';
import type { Host } from '../../domain/host.js';
import type { PendingRestore, Vm } from '../../domain/vm.js';
import { assertTransition, invalidTransition, type VmState } from '../../domain/vm-state.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { failureReasonOf } from './apply-vm.js';
import { continueCreate, type ContinueCreateOptions } from './continue-create.js';
import { versionToMatch, type MutationOptions } from './if-match.js';
import { assertHostTakesVm } from './start-vm.js';
import { hostOf } from './host-queries.js';
import { getVm } from './vm-queries.js';

type Deps = Pick<
  UseCaseDependencies,
  'vms' | 'hosts' | 'snapshots' | 'agents' | 'contacts' | 'clock' | 'log' | 'settings' | 'reconcileStates'
>;

/** The states a VM can be restored in place from. */
const restorableStates: readonly VmState[] = ['running', 'paused', 'stopped', 'failed'];

/** A restore in place: the VM goes back to one of its own ready snapshots, then runs (or stays paused). */
export interface RestoreVmInput {
  readonly snapshotId: SnapshotId;
  readonly afterwards: 'running' | 'paused';
}

/**
 * `acceptRestore`, then `continueRestore`: answers the VM `running` (or `paused`) once its host has
 * restored the snapshot, or throws the host's error (the VM is then `failed`, and its next start
 * restores the snapshot again).
 */
export async function restoreVm(deps: Deps, id: VmId, input: RestoreVmInput, options: MutationOptions = {}): Promise<Vm> {
  return continueRestore(deps, await acceptRestore(deps, id, input, options));
}

/**
 * Records a restore in place of a running, paused, stopped or failed VM to a ready snapshot of its
 * own, in the same compare-and-set as its first step: a VM whose VMM runs becomes `stopping`, one
 * without becomes `starting`. From then on the VM's next start restores the snapshot (its disk
 * replaced by a fresh copy of the snapshot's, its memory loaded) instead of booting, until a start
 * reaches running: a crash at any later step leaves a VM that the reconciler or the next start
 * takes on from there. The VM keeps its id, address, MAC, TAP and published ports.
 */
export async function acceptRestore(deps: Deps, id: VmId, input: RestoreVmInput, options: MutationOptions = {}): Promise<Vm> {
  const vm = await getVm(deps, id, options.projects ?? everyProject);
  const ifVersion = versionToMatch(vm, options.ifMatch);
  const snapshot = await deps.snapshots.findById(input.snapshotId);
  if (snapshot?.vmId !== vm.id) {
    throw invalidBody([
      {
        field: 'body/snapshotId',
        message: `no snapshot with id ${input.snapshotId} of VM ${vm.id} (a snapshot of another VM is cloned, not restored in place)`,
      },
    ]);
  }
  if (snapshot.state !== 'ready') {
    throw new AppError(
      'SNAPSHOT_NOT_READY',
      `Snapshot ${snapshot.id} is ${snapshot.state}: only a ready snapshot can be restored`,
      {
        details: { snapshotId: snapshot.id, state: snapshot.state },
      },
    );
  }
  // Not a VM whose host cannot be reached (unknown), nor one in the middle of another change.
  if (!restorableStates.includes(vm.state)) throw invalidTransition(vm.state, 'starting');
  const pendingRestore: PendingRestore = { snapshotId: snapshot.id, isPaused: input.afterwards === 'paused' };
  const host = await hostOf(deps, vm.hostId);
  // Its host may run another VMM, kernel or CPU than when the snapshot was taken.
  const refusal = restoreRefusalOf(snapshot, host, undefined, await ancestorsOf(deps.snapshots, snapshot));
  if (refusal !== undefined) throw snapshotIncompatible(snapshot.id, [{ hostId: host.id, reason: refusal }]);
  if (vm.state === 'running' || vm.state === 'paused') {
    assertTransition(vm.state, 'stopping');
    return deps.vms.transition(id, {
      from: vm.state,
      to: 'stopping',
      at: deps.clock.now(),
      ifVersion,
      pendingRestore,
      message: `stopping to restore snapshot ${snapshot.id}`,
    });
  }
  assertTransition(vm.state, 'starting');
  await assertHostTakesVm(deps, host, vm);
  const starting = await deps.vms.transition(id, {
    from: vm.state,
    to: 'starting',
    at: deps.clock.now(),
    ifVersion,
    pendingRestore,
    message: `restoring snapshot ${snapshot.id}`,
  });
  // As a user's start: a fresh crash-loop budget, and no restart the reconciler had scheduled.
  await deps.reconcileStates.resetCrashWindow(id);
  await deps.reconcileStates.clearRetry(id);
  return starting;
}

/**
 * Takes an accepted restore on: a `stopping` VM is stopped on its host (its disk is replaced next,
 * so its VMM must be gone) keeping its network (its TAP and its entry in Hearth's tables, which the
 * restore's apply then finds in place: the restored guest keeps its address, MAC and TAP), then
 * `stopping → stopped → starting` in one statement; a `starting` VM is applied with the snapshot
 * to restore (see `continueCreate`). A stop that fails leaves the VM `failed` with the reason; its
 * restore stays recorded for its next start. One whose Agent could not be reached, when `outage`
 * says to retry, leaves it `stopping`: the reconciler finishes the stop and goes on to the restore.
 */
export async function continueRestore(deps: Deps, vm: Vm, options: Omit<ContinueCreateOptions, 'known'> = {}): Promise<Vm> {
  let current = vm;
  // The host read for the stop is the one the apply goes to: the VM does not move in a restore.
  let knownHost: Host | undefined;
  if (current.state === 'stopping' && current.pendingRestore !== null) {
    const host = await hostOf(deps, current.hostId);
    knownHost = host;
    try {
      await deps.agents.stopVm(host, current.id, { isNetworkKept: true });
    } catch (error) {
      const reason = failureReasonOf(error);
      if (reason.code === 'AGENT_UNAVAILABLE' && options.outage?.onAgentUnavailable === 'retry') {
        deps.log.warn(
          { vmId: current.id, hostId: host.id, state: 'stopping', code: reason.code },
          'vm stop before a restore interrupted; will retry',
        );
        throw error;
      }
      await deps.vms.transition(current.id, {
        from: 'stopping',
        to: 'failed',
        at: deps.clock.now(),
        failureReason: reason,
        message: `stop before the restore failed: ${reason.message}`,
      });
      deps.log.warn({ vmId: current.id, from: 'stopping', to: 'failed', code: reason.code }, 'vm state changed');
      throw error;
    }
    failpoint('manager.restore.after-stop');
    current = await deps.vms.transition(current.id, {
      from: 'stopping',
      via: ['stopped'],
      to: 'starting',
      at: deps.clock.now(),
      message: `restoring snapshot ${current.pendingRestore.snapshotId}`,
    });
  }
  const restored = await continueCreate(deps, current.id, {
    ...options,
    known: current,
    knownHost: knownHost ?? options.knownHost,
  });
  deps.log.info({ vmId: restored.id, state: restored.state, snapshotId: vm.pendingRestore?.snapshotId }, 'vm restored');
  return restored;
}

/**
 * `continueRestore` without waiting for it (the request answered 202): the outcome is in the VM row
 * and its events. An Agent that cannot be reached does not fail it: the reconciler applies it again.
 */
export function continueRestoreInBackground(deps: Deps, vm: Vm): void {
  continueRestore(deps, vm, { outage: { onAgentUnavailable: 'retry' } }).catch((error: unknown) => {
    const code = isAppError(error) ? error.code : 'INTERNAL';
    if (code === 'AGENT_UNAVAILABLE') return; // logged by applyVmOnHost; the reconciler retries
    deps.log.warn({ vmId: vm.id, code, err: error }, 'background restore did not finish');
  });
}
