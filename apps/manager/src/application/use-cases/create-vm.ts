import { AppError, type FieldError } from '@hearth/errors';
import type { Image, ImageKind } from '../../domain/image.js';
import type { ImageId } from '../../domain/ids.js';
import { placeVm, rejectionOf, type HostRejection } from '../../domain/placement.js';
import { defaultBootArgs, guestMacFor, isValidVmName, type Vm } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { applyVmOnHost } from './apply-vm.js';

export interface CreateVmInput {
  readonly name: string;
  readonly vcpuCount: number;
  readonly memoryMib: number;
  readonly kernelImageId: ImageId;
  readonly rootfsImageId: ImageId;
  readonly bootArgs?: string | undefined;
}

type Deps = Pick<UseCaseDependencies, 'vms' | 'images' | 'hosts' | 'agents' | 'clock' | 'ids' | 'log' | 'settings'>;

/**
 * Creates a VM: validates it, places it on a host with room, records it as `pending` BEFORE any
 * host side effect, then `starting`, applies it through the host's Agent and ends `running` (or
 * `failed`, with the Agent asked to remove what it made).
 */
export async function createVm(deps: Deps, input: CreateVmInput): Promise<Vm> {
  if (!isValidVmName(input.name)) {
    throw invalid([
      { field: 'body/name', message: 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit' },
    ]);
  }
  const [kernel, rootfs] = await Promise.all([
    deps.images.findById(input.kernelImageId),
    deps.images.findById(input.rootfsImageId),
  ]);
  const imageErrors = [
    ...imageFieldErrors('kernelImageId', input.kernelImageId, kernel, 'kernel'),
    ...imageFieldErrors('rootfsImageId', input.rootfsImageId, rootfs, 'rootfs'),
  ];
  if (imageErrors.length > 0 || kernel === undefined || rootfs === undefined) throw invalid(imageErrors);
  if ((await deps.vms.findByName(input.name)) !== undefined) throw vmNameTaken(input.name);

  const [hosts, allocations] = await Promise.all([deps.hosts.list(), deps.vms.allocationsByHost()]);
  const now = deps.clock.now();
  const placement = placeVm(input, hosts, allocations, deps.settings, now);
  if (!placement.isPlaced) {
    throw noCapacity(input, placement.rejections);
  }
  const host = hosts.find((h) => h.id === placement.hostId);
  if (host === undefined) throw new Error('placement chose an unknown host');

  const id = deps.ids.vmId();
  const pending: Vm = {
    id,
    name: input.name,
    state: 'pending',
    hostId: host.id,
    vcpuCount: input.vcpuCount,
    memoryMib: input.memoryMib,
    kernelImageId: kernel.id,
    rootfsImageId: rootfs.id,
    kernelPath: kernel.hostPath,
    rootfsPath: rootfs.hostPath,
    bootArgs: input.bootArgs ?? defaultBootArgs,
    guestMac: guestMacFor(id),
    isMetricsEnabled: deps.settings.isMetricsEnabled,
    failureReason: null,
    steps: [],
    totalMs: null,
    createdAt: now,
    updatedAt: now,
  };
  // Placement is checked again with the host locked, so concurrent creates cannot overbook it.
  await deps.vms.insert(pending, (held) => {
    const reason = rejectionOf(host, input, held, deps.settings, now);
    if (reason !== undefined) throw noCapacity(input, [{ hostId: host.id, reason }]);
  });
  deps.log.info({ vmId: id, hostId: host.id, state: 'pending' }, 'vm created');
  const starting = await deps.vms.transition(id, { from: 'pending', to: 'starting', at: deps.clock.now() });
  return applyVmOnHost(deps, starting, host, 'delete');
}

function imageFieldErrors(field: string, id: ImageId, image: Image | undefined, kind: ImageKind): FieldError[] {
  if (image === undefined) return [{ field: `body/${field}`, message: `no image with id ${id}` }];
  if (image.kind !== kind) return [{ field: `body/${field}`, message: `image ${id} is a ${image.kind}, not a ${kind}` }];
  return [];
}

function invalid(errors: FieldError[]): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid body: ${errors.map((e) => e.field).join(', ')}`, { errors });
}

function noCapacity(input: CreateVmInput, rejections: readonly HostRejection[]): AppError {
  return new AppError('HOST_NO_CAPACITY', `No host can take ${input.vcpuCount} vCPU and ${input.memoryMib} MiB`, {
    details: { hosts: rejections },
  });
}

export function vmNameTaken(name: string): AppError {
  return new AppError('VM_NAME_TAKEN', `A VM named ${name} already exists`, { details: { name } });
}
