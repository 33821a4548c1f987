import { userDataMaxLength } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import { parseIpv4 } from '../../domain/address-pool.js';
import { allowAllEgress, egressPolicyErrors, type EgressPolicy } from '../../domain/egress.js';
import type { RateLimits } from '../../domain/rate-limits.js';
import type { Host } from '../../domain/host.js';
import type { SnapshotId, TemplateId } from '../../domain/ids.js';
import { holdsSnapshotFiles, restoreRefusalOf, snapshotIncompatible } from '../../domain/snapshot-compatibility.js';
import { ancestorsOf } from './snapshot-chains.js';
import type { Snapshot } from '../../domain/snapshot.js';
import { placeVm, rejectionOf, type ResourceRequest } from '../../domain/placement.js';
import { quotaOverruns } from '../../domain/project.js';
import type { RestartPolicy } from '../../domain/restart-policy.js';
import { invalidBody, type Template } from '../../domain/template.js';
import { isValidVmName, type Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { NewVm } from '../ports/vm-repository.js';
import { continueCreate } from './continue-create.js';
import { recordedIn } from './create-vm.js';
import { readySnapshotAndVm } from './ready-snapshot.js';
import { placeOnListedHosts } from '../recent-host-listing.js';

/** At most this many clones in one request. */
export const cloneCountMaximum = 16;

/**
 * VMs to start from a ready snapshot of their project: their size, images and boot arguments are
 * the snapshot's VM's (memory and device state must match them); each gets its own name, address,
 * MAC and disk copy.
 */
export interface CloneVmsInput {
  /** The snapshot; or `templateId`, a template of the project that carries one. */
  readonly snapshotId?: SnapshotId | undefined;
  /** Recorded on each clone as what it was created from; its restart policy is the default. */
  readonly templateId?: TemplateId | undefined;
  /** The clone's name; with `count`, the clones are `<name>-1` … `<name>-<count>`. */
  readonly name: string;
  readonly project: string;
  readonly count?: number | undefined;
  readonly ipAddress?: string | undefined;
  readonly userData?: string | undefined;
  readonly egress?: EgressPolicy | undefined;
  /** Default: the snapshot VM's. */
  readonly rateLimits?: RateLimits | undefined;
  readonly restartPolicy?: RestartPolicy | undefined;
}

type Deps = Pick<
  UseCaseDependencies,
  'vms' | 'hosts' | 'snapshots' | 'templates' | 'agents' | 'clock' | 'ids' | 'log' | 'settings' | 'contacts'
> &
  Partial<Pick<UseCaseDependencies, 'recentHosts'>>;

/**
 * The snapshot a template of `project` carries, null when it carries none: VMs created from it are
 * then clones of that snapshot. Another project's template is, to it, no template at all.
 */
export async function snapshotCarriedBy(
  deps: Pick<Deps, 'templates'>,
  templateId: TemplateId,
  project: string,
): Promise<SnapshotId | null> {
  return (await carryingTemplateOf(deps, templateId, project)).snapshotId;
}

async function carryingTemplateOf(deps: Pick<Deps, 'templates'>, id: TemplateId, project: string): Promise<Template> {
  const template = await deps.templates.findById(id);
  if (template === undefined || template.project !== project) {
    throw invalidBody([{ field: 'body/templateId', message: `no template with id ${id}` }]);
  }
  return template;
}

/** `acceptClones`, then each clone taken to `running` (side by side); the first failure is thrown once all have settled. */
export async function cloneVms(deps: Deps, input: CloneVmsInput): Promise<Vm[]> {
  // Recorded `starting` by their insert (see `placeAndRecordClones`): their applies begin together,
  // not each after a transition of its own.
  const { vms, host, snapshot } = await placeAndRecordClones(deps, input, 'starting');
  const outcomes = await Promise.allSettled(
    vms.map((vm) => continueCreate(deps, vm.id, { known: vm, knownHost: host, knownSnapshot: snapshot })),
  );
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure !== undefined) throw failure.reason;
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<Vm>).value);
}

/**
 * Accepts the clones, all or none: validated, admitted together on the snapshot's host (its
 * capacity and the project's quota checked for all of them at once, with both locked), each leased
 * its own address, and recorded `pending` before anything happens on the host.
 */
export async function acceptClones(deps: Deps, input: CloneVmsInput): Promise<Vm[]> {
  return (await placeAndRecordClones(deps, input, 'pending')).vms;
}

/**
 * `acceptClones`, with the host they were placed on and their snapshot: their applies need not
 * read either again (the insert held the snapshot's row: it was there, ready, when they were recorded).
 * `recordedAs` as a create's (`recordedIn`): `starting`, for clones whose applies begin at once,
 * writes each through `pending` and `scheduled` in the insert, with those steps' events.
 */
export async function placeAndRecordClones(
  deps: Deps,
  input: CloneVmsInput,
  recordedAs: 'pending' | 'starting',
): Promise<{ readonly vms: Vm[]; readonly host: Host; readonly snapshot: Snapshot }> {
  const count = input.count ?? 1;
  const names = input.count === undefined ? [input.name] : Array.from({ length: count }, (_, i) => `${input.name}-${i + 1}`);
  const errors = names.some((name) => !isValidVmName(name))
    ? [{ field: 'body/name', message: 'must be 1-63 characters of a-z, 0-9 and "-" (with the suffix of each clone)' }]
    : [];
  if (count < 1 || count > cloneCountMaximum) {
    errors.push({ field: 'body/count', message: `must be from 1 to ${cloneCountMaximum}` });
  }
  if (input.ipAddress !== undefined && count > 1) {
    errors.push({ field: 'body/ipAddress', message: 'can be given for one clone only' });
  }
  const requestedAddress = input.ipAddress === undefined ? undefined : parseIpv4(input.ipAddress);
  if (input.ipAddress !== undefined && requestedAddress === undefined) {
    errors.push({ field: 'body/ipAddress', message: 'must be an IPv4 address like 172.30.0.2' });
  }
  if (input.userData !== undefined && input.userData.length > userDataMaxLength) {
    errors.push({ field: 'body/userData', message: `must NOT have more than ${userDataMaxLength} characters` });
  }
  if (input.egress !== undefined) errors.push(...egressPolicyErrors(input.egress, 'body/egress'));
  if (errors.length > 0) throw invalidBody(errors);

  const template = input.templateId === undefined ? undefined : await carryingTemplateOf(deps, input.templateId, input.project);
  const snapshotId = input.snapshotId ?? template?.snapshotId ?? undefined;
  if (snapshotId === undefined) {
    throw invalidBody([{ field: 'body/count', message: 'must be given with snapshotId or a template that carries a snapshot' }]);
  }
  const { snapshot, source } = await readySnapshotAndVm(deps, snapshotId, input.project, 'only a ready snapshot can be cloned');

  // Only a host that runs what the snapshot was taken with; one that holds its files is preferred
  // (the others get a copy before the restore).
  const holders = new Set<string>(
    (await deps.snapshots.listCopies(snapshot.id)).filter((copy) => copy.state === 'ready').map((copy) => copy.hostId),
  );
  const ancestors = await ancestorsOf(deps.snapshots, snapshot);
  const request = { vcpuCount: source.vcpuCount * count, memoryMib: source.memoryMib * count };
  const { recorded, host } = await placeOnListedHosts(deps, async (listed) => {
    const hosts = listed.hosts;
    const reasons = hosts.map((h) => ({ hostId: h.id, reason: restoreRefusalOf(snapshot, h, holders, ancestors) }));
    const compatible = hosts.filter((h) => restoreRefusalOf(snapshot, h, holders, ancestors) === undefined);
    if (compatible.length === 0) throw snapshotIncompatible(snapshot.id, reasons);
    const now = deps.clock.now();
    const chosen = await cloneHost(deps, snapshot, compatible, holders, request, now);
    // Their applies go to its Agent together once they are recorded: its connections for them are
    // opened meanwhile, while it is idle, not each behind the first applies' work (ADR 0108).
    deps.agents.openConnections(chosen, count);
    // Each clone's guest MAC is taken by the insert, in the statement that writes its row.
    const pending: NewVm[] = names.map((name) => ({
      ...source,
      id: deps.ids.vmId(),
      hostId: chosen.id,
      name,
      ...recordedIn(recordedAs),
      guestMac: undefined,
      failureReason: null,
      steps: [],
      totalMs: null,
      createdAt: now,
      updatedAt: now,
      observedState: null,
      observedAt: null,
      restartPolicy: input.restartPolicy ?? template?.restartPolicy ?? source.restartPolicy,
      templateId: template?.id ?? source.templateId,
      templateVersion: template?.version ?? source.templateVersion,
      network: null,
      userData: input.userData ?? null,
      egress: input.egress ?? template?.egress ?? allowAllEgress,
      rateLimits: input.rateLimits ?? template?.rateLimits ?? source.rateLimits,
      restoredFrom: { snapshotId: snapshot.id, vmId: source.id },
      pendingRestore: null,
      mappedSnapshotId: null,
    }));
    const inserted = await deps.vms.insertAll(
      pending,
      (held, project, standing) => {
        const overruns = quotaOverruns(project.quota, project.usage, {
          vms: count,
          vcpus: request.vcpuCount,
          memoryMib: request.memoryMib,
        });
        if (overruns.length > 0) {
          const what = overruns.map((o) => `${o.resource}: ${o.used} used + ${o.requested} requested > ${o.limit}`).join('; ');
          throw new AppError('QUOTA_EXCEEDED', `Project ${input.project} would pass its quota (${what})`, {
            details: { project: input.project, overruns },
          });
        }
        // The host's VM count is checked for one VM more than it holds: `count` more here.
        const vmCount = (held.vmCount ?? chosen.capacity.vmCount) + count - 1;
        const reason = listed.admission(chosen, standing, (current) =>
          rejectionOf(current, request, { ...held, vmCount }, deps.settings, now, deps.contacts.lastAnswerOf),
        );
        if (reason !== undefined) {
          throw new AppError(
            'HOST_NO_CAPACITY',
            `No host that can restore the snapshot can take ${count} VM(s) of ${source.vcpuCount} vCPU and ${source.memoryMib} MiB`,
            {
              details: { hosts: [{ hostId: chosen.id, reason }] },
            },
          );
        }
      },
      { ...deps.settings.addressing, address: requestedAddress },
    );
    return { recorded: inserted, host: chosen };
  });
  deps.log.info({ snapshotId: snapshot.id, hostId: host.id, vmIds: recorded.map((vm) => vm.id) }, 'vms cloned');
  failpoint('manager.clone.after-pending');
  return { vms: recorded, host, snapshot };
}

/**
 * The host the clones go to, among the compatible ones: one that holds the snapshot's files if any
 * can take them all (by the placement policy), else another that can (it gets a copy first), else
 * the snapshot's own host or the first compatible one, whose admission then says why it cannot.
 */
async function cloneHost(
  deps: Deps,
  snapshot: Snapshot,
  compatible: readonly Host[],
  holders: ReadonlySet<string>,
  request: ResourceRequest,
  now: Date,
): Promise<Host> {
  const allocations = await deps.vms.allocationsByHost(compatible.map((h) => h.id));
  const withFiles = compatible.filter((h) => holdsSnapshotFiles(snapshot, h.id, holders));
  const withoutFiles = compatible.filter((h) => !holdsSnapshotFiles(snapshot, h.id, holders));
  for (const candidates of [withFiles, withoutFiles]) {
    const placement = placeVm(request, candidates, allocations, deps.settings, now, deps.contacts.lastAnswerOf);
    if (placement.isPlaced) return candidates.find((h) => h.id === placement.hostId) ?? (candidates[0] as Host);
  }
  return withFiles[0] ?? (compatible[0] as Host);
}
