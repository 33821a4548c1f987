import { Type } from 'typebox';
import { projectNamePattern } from '../../domain/project.js';
import { hostIdPattern, imageIdPattern, tokenIdPattern, vmIdPattern } from '../../domain/ids.js';

export const VmIdParams = Type.Object({ id: Type.String({ pattern: vmIdPattern }) }, { additionalProperties: false });
export const ImageIdParams = Type.Object({ id: Type.String({ pattern: imageIdPattern }) }, { additionalProperties: false });
export const TokenIdParams = Type.Object({ id: Type.String({ pattern: tokenIdPattern }) }, { additionalProperties: false });
export const HostIdParams = Type.Object({ id: Type.String({ pattern: hostIdPattern }) }, { additionalProperties: false });

export const Timestamp = Type.String({ format: 'date-time' });

/** A project's name: lower-case letters, digits and `-`, 1-63 characters. */
export const ProjectName = Type.String({ pattern: projectNamePattern, minLength: 1, maxLength: 63 });

/** Which project a new object goes to; default: the token's only project, else `default`. */
export const NewObjectProject = Type.Optional(ProjectName);

/** RFC 9457 problem details, as rendered by @hearth/http-server for every error. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String(),
    correlationId: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
    details: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { $id: 'Problem' },
);

/** Error responses every route may give. */
export const problemResponses = {
  '4xx': ProblemSchema,
  '5xx': ProblemSchema,
} as const;
