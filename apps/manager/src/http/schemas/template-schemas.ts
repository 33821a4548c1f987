import { EgressPolicy, RateLimits } from '@hearth/contracts';
import { Type } from 'typebox';
import { templateIdPattern } from '../../domain/ids.js';
import { templateDescriptionMaxLength } from '../../domain/template.js';
import { vmNameMaxLength, vmNamePattern } from '../../domain/vm.js';
import { templatePageSize } from '../../application/use-cases/templates.js';
import { ImageIdString, NewObjectProject, ProjectName, SnapshotIdString, TemplateIdString, Timestamp } from './common.js';
import { vmPresetFields } from './vm-schemas.js';

const TemplateName = Type.String({ minLength: 1, maxLength: vmNameMaxLength, pattern: vmNamePattern });
const Description = Type.String({ maxLength: templateDescriptionMaxLength });

export const CreateTemplateBody = Type.Object(
  {
    name: TemplateName,
    project: NewObjectProject,
    description: Type.Optional(Description),
    /**
     * A ready snapshot of the template's project: VMs created from the template are restored from it
     * (as clones, each with its own identity) instead of booted. Its VM's images, size and boot
     * arguments are the template's: those fields may be left out, and each one given must be the same.
     */
    snapshotId: Type.Optional(SnapshotIdString),
    /**
     * Required here unless `snapshotId` gives them: `vcpuCount`, `memoryMib`, `kernelImageId`,
     * `rootfsImageId` (images of the template's project). The network settings (`egress`,
     * `sharedNetwork`, `rateLimits`) default to what a VM gets without them (with `snapshotId`, to
     * its VM's); published ports are a VM's own and not part of a template.
     */
    ...vmPresetFields,
  },
  { additionalProperties: false },
);

/**
 * Each field given replaces the template's (`rateLimits` all of its limiters, `sharedNetwork: null`
 * none); the others stay. A new `snapshotId` takes its VM's preset; `null` drops the snapshot (VMs
 * created from the template boot again). While it carries one, the images, size and boot arguments
 * given must be the snapshot VM's.
 */
export const UpdateTemplateBody = Type.Object(
  {
    name: Type.Optional(TemplateName),
    description: Type.Optional(Description),
    snapshotId: Type.Optional(Type.Union([SnapshotIdString, Type.Null()])),
    ...vmPresetFields,
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListTemplatesQuery = Type.Object(
  {
    /** Only this project's templates (default: those of every project of the token). */
    project: Type.Optional(ProjectName),
    /** Case-insensitive substring of the name. */
    name: Type.Optional(Type.String({ minLength: 1, maxLength: vmNameMaxLength })),
    /** Only templates using this image, as kernel or rootfs. */
    imageId: Type.Optional(ImageIdString),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: templatePageSize.maximum, default: templatePageSize.default })),
    /** `nextCursor` of the previous page. */
    cursor: Type.Optional(TemplateIdString),
  },
  { additionalProperties: false },
);

export const TemplateView = Type.Object({
  id: Type.String({ pattern: templateIdPattern }),
  name: Type.String(),
  project: Type.String(),
  description: Type.String(),
  kernelImageId: Type.String(),
  rootfsImageId: Type.String(),
  vcpuCount: Type.Integer(),
  memoryMib: Type.Integer(),
  bootArgs: Type.String(),
  restartPolicy: Type.Union([Type.Literal('never'), Type.Literal('on-failure'), Type.Literal('always')]),
  /** The snapshot VMs created from it are restored from; null: they boot. */
  snapshotId: Type.Union([Type.String(), Type.Null()]),
  /** The egress policy of the VMs created from it (see `egress` of `POST /v1/vms`). */
  egress: EgressPolicy,
  /** The shared network its VMs join; null: none. */
  sharedNetwork: Type.Union([Type.String(), Type.Null()]),
  /** The Firecracker rate limiters of its VMs; `{}`: none. */
  rateLimits: RateLimits,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  /** Incremented on every change; also the `ETag` (`"<version>"`) for `If-Match`. */
  version: Type.Integer({ minimum: 1 }),
});

export const TemplateList = Type.Object({
  items: Type.Array(TemplateView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
