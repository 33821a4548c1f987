import { bootArgsMaxLength, userDataMaxLength } from '@hearth/contracts';
import { failpoint } from '@hearth/failpoints';
import { AppError, type FieldError } from '@hearth/errors';
import type { Host } from '../../domain/host.js';
import type { Image, ImageKind } from '../../domain/image.js';
import type { ImageId } from '../../domain/ids.js';
import { noAllocation, placeVm, rejectionOf, type HostRejection } from '../../domain/placement.js';
import { quotaOverruns } from '../../domain/project.js';
import { defaultRestartPolicy, type RestartPolicy } from '../../domain/restart-policy.js';
import { defaultBootArgs, isValidVmName, type Vm } from '../../domain/vm.js';
import { parseIpv4 } from '../../domain/address-pool.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { continueCreate } from './continue-create.js';

export interface CreateVmInput {
  readonly name: string;
  /** The project that will own it (already checked against the caller's token); its images must be its own. */
  readonly project: string;
  readonly vcpuCount: number;
  readonly memoryMib: number;
  readonly kernelImageId: ImageId;
  readonly rootfsImageId: ImageId;
  readonly bootArgs?: string | undefined;
  /** A specific free address of the pool; default: the lowest free one. */
  readonly ipAddress?: string | undefined;
  /** Served to the guest by MMDS. */
  readonly userData?: string | undefined;
  /** What the reconciler does when the VM's VMM dies (default `on-failure`). */
  readonly restartPolicy?: RestartPolicy | undefined;
}

type Deps = Pick<UseCaseDependencies, 'vms' | 'images' | 'hosts' | 'agents' | 'clock' | 'ids' | 'log' | 'settings'>;

/**
 * Creates a VM and waits for it: `acceptVm`, then `continueCreate` until it is `running` (or
 * `failed`, with the Agent asked to remove what it made, and the Agent's error thrown).
 */
export async function createVm(deps: Deps, input: CreateVmInput): Promise<Vm> {
  const { vm, host } = await placeAndRecord(deps, input);
  return continueCreate(deps, vm.id, { known: vm, knownHost: host });
}

/**
 * Accepts a VM: validates it, places it on a host with room and records it as `pending` (the host's
 * resources reserved), BEFORE any host side effect. The row is all a later `continueCreate` needs,
 * in this process or, after a crash, in the reconciler of any Manager.
 */
export async function acceptVm(deps: Deps, input: CreateVmInput): Promise<Vm> {
  return (await placeAndRecord(deps, input)).vm;
}

/** `acceptVm`, also answering the host it chose (a create goes on to call it at once). */
async function placeAndRecord(deps: Deps, input: CreateVmInput): Promise<{ readonly vm: Vm; readonly host: Host }> {
  if (!isValidVmName(input.name)) {
    throw invalid([
      { field: 'body/name', message: 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit' },
    ]);
  }
  if (input.bootArgs !== undefined && input.bootArgs.length > bootArgsMaxLength) {
    throw invalid([{ field: 'body/bootArgs', message: `must NOT have more than ${bootArgsMaxLength} characters` }]);
  }
  const requestedAddress = input.ipAddress === undefined ? undefined : parseIpv4(input.ipAddress);
  if (input.ipAddress !== undefined && requestedAddress === undefined) {
    throw invalid([{ field: 'body/ipAddress', message: 'must be an IPv4 address like 172.30.0.2' }]);
  }
  if (input.userData !== undefined && input.userData.length > userDataMaxLength) {
    throw invalid([{ field: 'body/userData', message: `must NOT have more than ${userDataMaxLength} characters` }]);
  }
  const [kernel, rootfs] = await Promise.all([
    deps.images.findById(input.kernelImageId),
    deps.images.findById(input.rootfsImageId),
  ]);
  const imageErrors = [
    ...imageFieldErrors('kernelImageId', input.kernelImageId, ownImage(kernel, input.project), 'kernel'),
    ...imageFieldErrors('rootfsImageId', input.rootfsImageId, ownImage(rootfs, input.project), 'rootfs'),
  ];
  if (imageErrors.length > 0 || kernel === undefined || rootfs === undefined) throw invalid(imageErrors);
  // A taken name is refused by the insert (VM_NAME_TAKEN from the unique constraint): no pre-check.

  const hosts = await deps.hosts.list();
  const now = deps.clock.now();
  // Hosts that could take the VM if nothing else held their resources. What the VMs placed on them
  // hold is read only to choose among several: the insert checks the chosen one again, locked.
  const refused: HostRejection[] = [];
  const candidates = hosts.filter((candidate) => {
    const reason = rejectionOf(candidate, input, noAllocation, deps.settings, now);
    if (reason !== undefined) refused.push({ hostId: candidate.id, reason });
    return reason === undefined;
  });
  let host = candidates.length === 1 ? candidates[0] : undefined;
  if (host === undefined) {
    const allocations = candidates.length === 0 ? new Map() : await deps.vms.allocationsByHost(candidates.map((h) => h.id));
    const placement = placeVm(input, candidates, allocations, deps.settings, now);
    if (!placement.isPlaced) throw noCapacity(input, inHostOrder(hosts, [...refused, ...placement.rejections]));
    host = candidates.find((h) => h.id === placement.hostId);
    if (host === undefined) throw new Error('placement chose an unknown host');
  }
  const chosen = host;

  const id = deps.ids.vmId();
  const pending: Vm = {
    id,
    name: input.name,
    project: input.project,
    state: 'pending',
    hostId: chosen.id,
    vcpuCount: input.vcpuCount,
    memoryMib: input.memoryMib,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
    kernelPath: kernel.hostPath,
    rootfsPath: rootfs.hostPath,
    bootArgs: input.bootArgs ?? defaultBootArgs,
    guestMac: await deps.vms.allocateGuestMac(),
    network: null,
    userData: input.userData ?? null,
    isMetricsEnabled: deps.settings.isMetricsEnabled,
    failureReason: null,
    steps: [],
    totalMs: null,
    createdAt: now,
    updatedAt: now,
    version: 1,
    observedState: null,
    observedAt: null,
    restartPolicy: input.restartPolicy ?? defaultRestartPolicy,
  };
  // Placement and the project's quota are checked again with the host and the project locked, so
  // concurrent creates can overbook neither; the address is leased in the same transaction, so no
  // two VMs ever hold one. A refusal rolls everything back: nothing stays reserved or leased.
  const recorded = await deps.vms.insert(
    pending,
    (held, project) => {
      const overruns = quotaOverruns(project.quota, project.usage, {
        vms: 1,
        vcpus: input.vcpuCount,
        memoryMib: input.memoryMib,
      });
      if (overruns.length > 0) throw quotaExceeded(input.project, overruns);
      const reason = rejectionOf(chosen, input, held, deps.settings, now);
      if (reason !== undefined) throw noCapacity(input, inHostOrder(hosts, [...refused, { hostId: chosen.id, reason }]));
    },
    { ...deps.settings.addressing, address: requestedAddress },
  );
  deps.log.info({ vmId: id, hostId: chosen.id, state: 'pending', ipAddress: recorded.network?.ipAddress }, 'vm created');
  failpoint('manager.create.after-pending');
  return { vm: recorded, host: chosen };
}

/** Another project's image is, to this VM, no image at all. */
function ownImage(image: Image | undefined, project: string): Image | undefined {
  return image?.project === project ? image : undefined;
}

function quotaExceeded(project: string, overruns: ReturnType<typeof quotaOverruns>): AppError {
  const what = overruns.map((o) => `${o.resource}: ${o.used} used + ${o.requested} requested > ${o.limit}`).join('; ');
  return new AppError('QUOTA_EXCEEDED', `Project ${project} would pass its quota (${what})`, {
    details: { project, overruns },
  });
}

function imageFieldErrors(field: string, id: ImageId, image: Image | undefined, kind: ImageKind): FieldError[] {
  if (image === undefined) return [{ field: `body/${field}`, message: `no image with id ${id}` }];
  if (image.kind !== kind) return [{ field: `body/${field}`, message: `image ${id} is a ${image.kind}, not a ${kind}` }];
  return [];
}

function invalid(errors: FieldError[]): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid body: ${errors.map((e) => e.field).join(', ')}`, { errors });
}

/** The rejections in the order of `hosts`, as placement lists them. */
function inHostOrder(hosts: readonly Host[], rejections: readonly HostRejection[]): HostRejection[] {
  const position = new Map(hosts.map((host, index) => [host.id, index]));
  return [...rejections].sort((a, b) => (position.get(a.hostId) ?? 0) - (position.get(b.hostId) ?? 0));
}

function noCapacity(input: CreateVmInput, rejections: readonly HostRejection[]): AppError {
  return new AppError('HOST_NO_CAPACITY', `No host can take ${input.vcpuCount} vCPU and ${input.memoryMib} MiB`, {
    details: { hosts: rejections },
  });
}
