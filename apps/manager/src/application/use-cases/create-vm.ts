import { bootArgsMaxLength, userDataMaxLength } from '@hearth/contracts';
import { failpoint } from '@hearth/failpoints';
import { AppError, type FieldError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { TemplateId } from '../../domain/ids.js';
import { noAllocation, placeVm, portRejectionOf, rejectionOf, type HostRejection } from '../../domain/placement.js';
import { quotaOverruns } from '../../domain/project.js';
import { parseIpv4 } from '../../domain/address-pool.js';
import { invalidBody, presetImageErrors, presetOf, type Template, type VmPreset } from '../../domain/template.js';
import { isValidVmName, type Vm } from '../../domain/vm.js';
import { egressPolicyErrors } from '../../domain/egress.js';
import {
  agentPortOf,
  hostPortTaken,
  publishedPortErrors,
  sortedPublishedPorts,
  type PublishedPort,
  type TakenPort,
} from '../../domain/published-ports.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { NewVm } from '../ports/vm-repository.js';
import { placeOnListedHosts } from '../recent-host-listing.js';
import { continueCreate } from './continue-create.js';
import { insertNaming, presetImages } from './preset-images.js';

/**
 * A VM to create: its preset given in full, or a template of its project and what to change of it
 * (each field given replaces the template's). Without a template, boot arguments default to
 * `defaultBootArgs`, the restart policy to `on-failure`, egress to allow all, and the VM joins no
 * shared network and has no rate limits.
 */
export interface CreateVmInput extends Partial<VmPreset> {
  readonly name: string;
  /** The project that will own it (already checked against the caller's token); its images and template must be its own. */
  readonly project: string;
  readonly templateId?: TemplateId | undefined;
  /** A specific free address of the pool; default: the lowest free one. */
  readonly ipAddress?: string | undefined;
  /** Served to the guest by MMDS. */
  readonly userData?: string | undefined;
  /** Host ports forwarded to the guest; the VM goes only to a host with egress through NAT where they are free. */
  readonly ports?: readonly PublishedPort[] | undefined;
}

type Deps = Pick<
  UseCaseDependencies,
  'vms' | 'images' | 'templates' | 'snapshots' | 'hosts' | 'agents' | 'contacts' | 'clock' | 'ids' | 'log' | 'settings'
> &
  Partial<Pick<UseCaseDependencies, 'recentHosts'>>;

/**
 * Creates a VM and waits for it: `acceptVm`, then `continueCreate` until it is `running` (or
 * `failed`, with the Agent asked to remove what it made, and the Agent's error thrown).
 */
export async function createVm(deps: Deps, input: CreateVmInput): Promise<Vm> {
  const { vm, host } = await placeAndRecord(deps, input, 'starting');
  failpoint('manager.create.after-scheduled');
  failpoint('manager.create.after-starting');
  return continueCreate(deps, vm.id, { known: vm, knownHost: host });
}

/**
 * Accepts a VM: validates it, places it on a host with room and records it as `pending` (the host's
 * resources reserved), BEFORE any host side effect. The row is all a later `continueCreate` needs,
 * in this process or, after a crash, in the reconciler of any Manager.
 */
export async function acceptVm(deps: Deps, input: CreateVmInput): Promise<Vm> {
  return (await placeAndRecord(deps, input, 'pending')).vm;
}

/**
 * `acceptVm`, also answering the host it chose (a create goes on to call it at once). Recorded
 * `starting`, the VM is written as `pending` and moved through `scheduled` to `starting` by the
 * insert itself, with the events and the version of those steps: what a create that goes on at once
 * would write next, since nothing happens on a host before `starting`, in one statement instead of
 * two. Either way the row is committed before any host side effect.
 */
async function placeAndRecord(
  deps: Deps,
  request: CreateVmInput,
  recordedAs: 'pending' | 'starting',
): Promise<{ readonly vm: Vm; readonly host: Host }> {
  if (!isValidVmName(request.name)) {
    throw invalidBody([
      { field: 'body/name', message: 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit' },
    ]);
  }
  const template = request.templateId === undefined ? undefined : await templateOf(deps, request.templateId, request.project);
  const input = { ...request, ...presetOf(template, request) };
  if (input.bootArgs.length > bootArgsMaxLength) {
    throw invalidBody([{ field: 'body/bootArgs', message: `must NOT have more than ${bootArgsMaxLength} characters` }]);
  }
  const requestedAddress = input.ipAddress === undefined ? undefined : parseIpv4(input.ipAddress);
  if (input.ipAddress !== undefined && requestedAddress === undefined) {
    throw invalidBody([{ field: 'body/ipAddress', message: 'must be an IPv4 address like 172.30.0.2' }]);
  }
  if (input.userData !== undefined && input.userData.length > userDataMaxLength) {
    throw invalidBody([{ field: 'body/userData', message: `must NOT have more than ${userDataMaxLength} characters` }]);
  }
  const egressErrors = egressPolicyErrors(input.egress, 'body/egress');
  if (egressErrors.length > 0) throw invalidBody(egressErrors);
  const ports = sortedPublishedPorts(input.ports ?? []);
  const portErrors = publishedPortErrors(input.ports ?? [], 'body/ports');
  if (portErrors.length > 0) throw invalidBody(portErrors);
  const { kernel, rootfs } = await presetImages(deps, input);
  const imageErrors = presetImageErrors(input, { kernel, rootfs }, input.project);
  if (imageErrors.length > 0 || kernel === undefined || rootfs === undefined) throw invalidBody(imageErrors);
  // A taken name is refused by the insert (VM_NAME_TAKEN from the unique constraint): no pre-check.

  return placeOnListedHosts(deps, async (listed): Promise<{ readonly vm: Vm; readonly host: Host }> => {
    const hosts = listed.hosts;
    const now = deps.clock.now();
    const reservedErrors = agentPortErrors(input.ports ?? [], hosts);
    if (reservedErrors.length > 0) throw invalidBody(reservedErrors);
    // Which hosts publish one of the ports already: read to choose a host, enforced by the insert.
    const taken = ports.length === 0 ? [] : await deps.vms.takenPorts(ports);
    // Hosts that could take the VM if nothing else held their resources. What the VMs placed on them
    // hold is read only to choose among several: the insert checks the chosen one again, locked.
    const refused: HostRejection[] = [];
    const candidates = hosts.filter((candidate) => {
      const reason =
        portRejectionOf(candidate, ports, taken) ??
        rejectionOf(candidate, input, noAllocation, deps.settings, now, deps.contacts.lastAnswerOf);
      if (reason !== undefined) refused.push({ hostId: candidate.id, reason });
      return reason === undefined;
    });
    let host = candidates.length === 1 ? candidates[0] : undefined;
    if (host === undefined) {
      const allocations = candidates.length === 0 ? new Map() : await deps.vms.allocationsByHost(candidates.map((h) => h.id));
      const placement = placeVm(input, candidates, allocations, deps.settings, now, deps.contacts.lastAnswerOf);
      if (!placement.isPlaced) throw noPlace(input, inHostOrder(hosts, [...refused, ...placement.rejections]), taken);
      host = candidates.find((h) => h.id === placement.hostId);
      if (host === undefined) throw new Error('placement chose an unknown host');
    }
    const chosen = host;

    const id = deps.ids.vmId();
    // Its guest MAC is taken by the insert, in the statement that writes the row.
    const pending: NewVm = {
      id,
      name: input.name,
      project: input.project,
      ...recordedIn(recordedAs),
      hostId: chosen.id,
      vcpuCount: input.vcpuCount,
      memoryMib: input.memoryMib,
      kernelImageId: kernel.id,
      rootfsImageId: rootfs.id,
      kernelPath: kernel.hostPath,
      rootfsPath: rootfs.hostPath,
      bootArgs: input.bootArgs,
      isMetricsEnabled: deps.settings.isMetricsEnabled,
      failureReason: null,
      steps: [],
      totalMs: null,
      createdAt: now,
      updatedAt: now,
      observedState: null,
      observedAt: null,
      restartPolicy: input.restartPolicy,
      templateId: template?.id ?? null,
      templateVersion: template?.version ?? null,
      restoredFrom: null,
      pendingRestore: null,
      mappedSnapshotId: null,
      network: null,
      userData: input.userData ?? null,
      egress: input.egress,
      ports,
      sharedNetwork: input.sharedNetwork,
      rateLimits: input.rateLimits,
    };
    // Placement and the project's quota are checked again with the host and the project locked, so
    // concurrent creates can overbook neither; the address is leased in the same transaction, so no
    // two VMs ever hold one. A refusal rolls everything back: nothing stays reserved or leased.
    const recorded = await insertNaming(deps, [kernel.id, rootfs.id], () =>
      deps.vms.insert(
        pending,
        (held, project, standing) => {
          const overruns = quotaOverruns(project.quota, project.usage, {
            vms: 1,
            vcpus: input.vcpuCount,
            memoryMib: input.memoryMib,
          });
          if (overruns.length > 0) throw quotaExceeded(input.project, overruns);
          const reason = listed.admission(chosen, standing, (current) =>
            rejectionOf(current, input, held, deps.settings, now, deps.contacts.lastAnswerOf),
          );
          if (reason !== undefined) throw noCapacity(input, inHostOrder(hosts, [...refused, { hostId: chosen.id, reason }]));
        },
        { ...deps.settings.addressing, address: requestedAddress },
      ),
    );
    deps.log.info({ vmId: id, hostId: chosen.id, state: recorded.state, ipAddress: recorded.network?.ipAddress }, 'vm created');
    failpoint('manager.create.after-pending');
    return { vm: recorded, host: chosen };
  });
}

/**
 * A new VM's state, the states its insert records it passing through and its version: `pending`
 * alone, or `starting` through `pending` and `scheduled` (a version per step, as transitions count
 * them).
 */
export function recordedIn(state: 'pending' | 'starting'): Pick<NewVm, 'state' | 'via' | 'version'> {
  return state === 'pending' ? { state, version: 1 } : { state, via: ['pending', 'scheduled'], version: 3 };
}

/** The template a VM of `project` is created from; another project's template is, to it, no template at all. */
async function templateOf(deps: Pick<Deps, 'templates'>, id: TemplateId, project: string): Promise<Template> {
  const template = await deps.templates.findById(id);
  if (template === undefined || template.project !== project) {
    throw invalidBody([{ field: 'body/templateId', message: `no template with id ${id}` }]);
  }
  return template;
}

function quotaExceeded(project: string, overruns: ReturnType<typeof quotaOverruns>): AppError {
  const what = overruns.map((o) => `${o.resource}: ${o.used} used + ${o.requested} requested > ${o.limit}`).join('; ');
  return new AppError('QUOTA_EXCEEDED', `Project ${project} would pass its quota (${what})`, {
    details: { project, overruns },
  });
}

/** The rejections in the order of `hosts`, as placement lists them. */
function inHostOrder(hosts: readonly Host[], rejections: readonly HostRejection[]): HostRejection[] {
  const position = new Map(hosts.map((host, index) => [host.id, index]));
  return [...rejections].sort((a, b) => (position.get(a.hostId) ?? 0) - (position.get(b.hostId) ?? 0));
}

/**
 * Why no host took a VM: HOST_PORT_TAKEN when some host refused it only for a port another VM
 * publishes there, PORTS_NEED_EGRESS when the hosts refused it for want of NAT, else HOST_NO_CAPACITY.
 */
function noPlace(
  input: Pick<VmPreset, 'vcpuCount' | 'memoryMib'>,
  rejections: readonly HostRejection[],
  taken: readonly TakenPort[],
): AppError {
  if (rejections.some((rejection) => rejection.reason === 'host_port_taken')) {
    const refusing = new Set(rejections.filter((r) => r.reason === 'host_port_taken').map((r) => r.hostId));
    return hostPortTaken(taken.filter((port) => refusing.has(port.hostId)));
  }
  if (rejections.some((rejection) => rejection.reason === 'egress_off')) {
    return new AppError('PORTS_NEED_EGRESS', 'Published ports need a host with egress through NAT (AGENT_EGRESS=nat)', {
      details: { hosts: rejections },
    });
  }
  return noCapacity(input, rejections);
}

/** The ports that are the TCP port of a host's Agent: a Manager reaches its Agents there, so no guest may take it. */
function agentPortErrors(ports: readonly PublishedPort[], hosts: readonly Host[]): FieldError[] {
  // Most VMs publish nothing: no host's address is parsed for them.
  if (ports.length === 0) return [];
  const agentPorts = new Set(hosts.map((host) => agentPortOf(host)));
  return ports.flatMap((port, index) =>
    port.protocol === 'tcp' && agentPorts.has(port.hostPort)
      ? [{ field: `body/ports/${index}/hostPort`, message: `tcp/${port.hostPort} is the port of a host's Agent` }]
      : [],
  );
}

function noCapacity(input: Pick<VmPreset, 'vcpuCount' | 'memoryMib'>, rejections: readonly HostRejection[]): AppError {
  return new AppError('HOST_NO_CAPACITY', `No host can take ${input.vcpuCount} vCPU and ${input.memoryMib} MiB`, {
    details: { hosts: rejections },
  });
}
