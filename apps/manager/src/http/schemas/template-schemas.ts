import { EgressPolicy, RateLimits } from '@hearth/contracts';
import { Type } from 'typebox';
import { templateIdPattern } from '../../domain/ids.js';
import { templateDescriptionMaxLength } from '../../domain/template.js';
import { vmNameMaxLength, vmNamePattern } from '../../domain/vm.js';
import { templatePageSize } from '../../application/use-cases/templates.js';
import { ImageIdString, NewObjectProject, ProjectName, TemplateIdString, Timestamp } from './common.js';
import { vmPresetFields } from './vm-schemas.js';

const TemplateName = Type.String({ minLength: 1, maxLength: vmNameMaxLength, pattern: vmNamePattern });
const Description = Type.String({ maxLength: templateDescriptionMaxLength });

export const CreateTemplateBody = Type.Object(
  {
    name: TemplateName,
    project: NewObjectProject,
    description: Type.Optional(Description),
    /**
     * Required here: `vcpuCount`, `memoryMib`, `kernelImageId`, `rootfsImageId` (images of the
     * template's project). The network settings (`egress`, `sharedNetwork`, `rateLimits`) default to
     * what a VM gets without them; published ports are a VM's own and not part of a template.
     */
    ...vmPresetFields,
  },
  { additionalProperties: false },
);

/** Each field given replaces the template's (`rateLimits` all of its limiters, `sharedNetwork: null` none); the others stay. */
export const UpdateTemplateBody = Type.Object(
  { name: Type.Optional(TemplateName), description: Type.Optional(Description), ...vmPresetFields },
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
