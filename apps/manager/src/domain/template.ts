import { AppError, type FieldError } from '@hearth/errors';
import type { ImageId, SnapshotId, TemplateId } from './ids.js';
import { allowAllEgress, type EgressPolicy } from './egress.js';

import type { Image, ImageKind } from './image.js';
import type { RateLimits } from './rate-limits.js';
import { defaultRestartPolicy, type RestartPolicy } from './restart-policy.js';
import { defaultBootArgs } from './vm.js';

/**
 * What a VM is made of: its images, its size, its kernel command line, what happens when its VMM
 * dies, and its network settings (egress policy, shared network, rate limits). Published ports are
 * not part of it: a host port is one VM's alone.
 */
export interface VmPreset {
  readonly kernelImageId: ImageId;
  readonly rootfsImageId: ImageId;
  readonly vcpuCount: number;
  readonly memoryMib: number;
  readonly bootArgs: string;
  readonly restartPolicy: RestartPolicy;
  /** What the guest may send beyond its host. */
  readonly egress: EgressPolicy;
  /** The network of its project the guest shares with the others that joined it; null: none. */
  readonly sharedNetwork: string | null;
  /** Firecracker rate limiters of its network interface and drive; `{}`: none. */
  readonly rateLimits: RateLimits;
}

/**
 * A named preset a VM can be created from, owned by a project. A VM copies the values when it is
 * created (and records the template's id and version): changing or deleting the template later
 * never changes a VM.
 */
export interface Template extends VmPreset {
  readonly id: TemplateId;
  /** Unique within its project; the same rules as a VM name. */
  readonly name: string;
  readonly project: string;
  readonly description: string;
  /**
   * A ready snapshot of its project that VMs created from it are restored from instead of booted
   * (each as a clone, with its own identity); its preset is the snapshot VM's. Null: they boot.
   */
  readonly snapshotId: SnapshotId | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** Incremented on every change; the API's ETag (`"<version>"`). */
  readonly version: number;
}

export const templateDescriptionMaxLength = 1024;

/** What a change of a template may set; absent fields stay as they are. */
export type TemplateChanges = Partial<Pick<Template, 'name' | 'description' | 'snapshotId' | keyof VmPreset>>;

/** The preset fields a snapshot fixes: its memory and device state were made with them. */
export const snapshotPresetFields = ['kernelImageId', 'rootfsImageId', 'vcpuCount', 'memoryMib', 'bootArgs'] as const;

/**
 * The preset of a template that carries a snapshot: the snapshot VM's images, size and boot
 * arguments (each field given must be the same), and the restart policy given, else the one it had;
 * the network settings given, else the source's (a template's own when `source` is the template).
 * VALIDATION_FAILED names each field given that differs.
 */
export function presetFromSnapshotVm(
  source: Omit<VmPreset, 'restartPolicy'>,
  given: Partial<VmPreset>,
  restartPolicy: VmPreset['restartPolicy'],
): VmPreset {
  const errors = snapshotPresetFields
    .filter((field) => given[field] !== undefined && given[field] !== source[field])
    .map((field) => ({ field: `body/${field}`, message: `must be the snapshot VM's (${String(source[field])}) or left out` }));
  if (errors.length > 0) throw invalidBody(errors);
  const preset: VmPreset = {
    kernelImageId: source.kernelImageId,
    rootfsImageId: source.rootfsImageId,
    vcpuCount: source.vcpuCount,
    memoryMib: source.memoryMib,
    bootArgs: source.bootArgs,
    restartPolicy: given.restartPolicy ?? restartPolicy,
    egress: given.egress ?? source.egress,
    sharedNetwork: given.sharedNetwork === undefined ? source.sharedNetwork : given.sharedNetwork,
    rateLimits: given.rateLimits ?? source.rateLimits,
  };
  return preset;
}

/** The fields of a VM preset a create may leave out when it names a template, with what they default to otherwise. */
const presetDefaults: Pick<VmPreset, 'bootArgs' | 'restartPolicy' | 'egress' | 'sharedNetwork' | 'rateLimits'> = {
  bootArgs: defaultBootArgs,
  restartPolicy: defaultRestartPolicy,
  egress: allowAllEgress,
  sharedNetwork: null,
  rateLimits: {},
};

const requiredPresetFields = ['vcpuCount', 'memoryMib', 'kernelImageId', 'rootfsImageId'] as const;

/** Every field of a preset: what a VM copies from a template. */
export const presetFields = [
  ...requiredPresetFields,
  'bootArgs',
  'restartPolicy',
  'egress',
  'sharedNetwork',
  'rateLimits',
] as const satisfies readonly (keyof VmPreset)[];

/**
 * The preset of a new VM: each value given, else the template's, else the default. A value replaces
 * the template's whole field: rate limits given replace all of the template's limiters, and a shared
 * network of null joins none, whatever the template's. Without a template, the images and the size
 * must be given: VALIDATION_FAILED names each one missing.
 */
export function presetOf(template: VmPreset | undefined, given: Partial<VmPreset>): VmPreset {
  const merged: Record<string, unknown> = {};
  for (const field of presetFields) {
    merged[field] =
      given[field] !== undefined ? given[field] : (template?.[field] ?? presetDefaults[field as keyof typeof presetDefaults]);
  }
  const missing = requiredPresetFields.filter((field) => merged[field] === undefined);
  if (missing.length > 0) {
    throw invalidBody(missing.map((field) => ({ field: `body/${field}`, message: 'is required unless a templateId gives it' })));
  }
  return merged as unknown as VmPreset;
}

/**
 * Why the preset's images may not be used by an object of `project`: an image of another project
 * is, to it, no image at all; a kernel must be a kernel and a rootfs a rootfs.
 */
export function presetImageErrors(
  preset: Pick<VmPreset, 'kernelImageId' | 'rootfsImageId'>,
  images: { readonly kernel: Image | undefined; readonly rootfs: Image | undefined },
  project: string,
): FieldError[] {
  return [
    ...imageFieldErrors('kernelImageId', preset.kernelImageId, images.kernel, project, 'kernel'),
    ...imageFieldErrors('rootfsImageId', preset.rootfsImageId, images.rootfs, project, 'rootfs'),
  ];
}

function imageFieldErrors(field: string, id: ImageId, image: Image | undefined, project: string, kind: ImageKind): FieldError[] {
  if (image === undefined || image.project !== project) return [{ field: `body/${field}`, message: `no image with id ${id}` }];
  if (image.kind !== kind) return [{ field: `body/${field}`, message: `image ${id} is a ${image.kind}, not a ${kind}` }];
  return [];
}

export function invalidBody(errors: readonly FieldError[]): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid body: ${errors.map((e) => e.field).join(', ')}`, { errors: [...errors] });
}

export function templateNotFound(id: string): AppError {
  return new AppError('TEMPLATE_NOT_FOUND', `No template with id ${id}`, { details: { templateId: id } });
}

export function templateNameTaken(name: string): AppError {
  return new AppError('TEMPLATE_NAME_TAKEN', `A template named ${name} already exists`, { details: { name } });
}

/** PRECONDITION_FAILED: the template is not at any of the versions the caller's `If-Match` named. */
export function templatePreconditionFailed(
  id: TemplateId,
  expectedVersions: readonly number[],
  currentVersion: number,
): AppError {
  const expected = expectedVersions.map((v) => `"${v}"`).join(', ');
  return new AppError(
    'PRECONDITION_FAILED',
    `Template ${id} is at version "${currentVersion}", not ${expected || 'the one asked for'}`,
    {
      details: { templateId: id, expectedVersions: [...expectedVersions], currentVersion },
    },
  );
}
