import { Type } from 'typebox';
import {
  hostIdPattern,
  idPrefixes,
  imageIdPattern,
  snapshotIdPattern,
  templateIdPattern,
  tokenIdPattern,
  vmIdPattern,
} from '../../domain/ids.js';
import { projectNamePattern } from '../../domain/project.js';

/** An id of one kind: its prefix and a 26-character ULID (the pattern fixes the length; maxLength says it). */
function idString(prefix: string, pattern: string) {
  return Type.String({ pattern, maxLength: prefix.length + 26 });
}

export const VmIdString = idString(idPrefixes.vm, vmIdPattern);
export const ImageIdString = idString(idPrefixes.image, imageIdPattern);
export const HostIdString = idString(idPrefixes.host, hostIdPattern);
export const TokenIdString = idString(idPrefixes.token, tokenIdPattern);
export const TemplateIdString = idString(idPrefixes.template, templateIdPattern);
export const SnapshotIdString = idString(idPrefixes.snapshot, snapshotIdPattern);

export const VmIdParams = Type.Object({ id: VmIdString }, { additionalProperties: false });
export const ImageIdParams = Type.Object({ id: ImageIdString }, { additionalProperties: false });
export const HostIdParams = Type.Object({ id: HostIdString }, { additionalProperties: false });
export const TokenIdParams = Type.Object({ id: TokenIdString }, { additionalProperties: false });
export const TemplateIdParams = Type.Object({ id: TemplateIdString }, { additionalProperties: false });
export const SnapshotIdParams = Type.Object({ id: SnapshotIdString }, { additionalProperties: false });

export const Timestamp = Type.String({ format: 'date-time' });

/** A project's name: lower-case letters, digits and `-`, 1-63 characters. */
export const ProjectName = Type.String({ pattern: projectNamePattern, minLength: 1, maxLength: 63 });

/** Which project a new object goes to; default: the token's only project, else `default`. */
export const NewObjectProject = Type.Optional(ProjectName);

/** `Idempotency-Key`: 1-255 visible ASCII characters (see idempotency.ts), honoured by every POST. */
const idempotencyKeyHeader = Type.Optional(
  Type.String({ minLength: 1, maxLength: 255, description: 'Replays the first answer to a retried POST' }),
);

/** `If-Match`: `*` or a list of entity tags (`"<version>"`); far longer than any list a client needs. */
const ifMatchHeader = Type.Optional(
  Type.String({ maxLength: 1024, description: 'The request applies only while the VM has one of these versions' }),
);

/** Headers of a POST (the other headers a request may carry are not read). */
export const PostHeaders = Type.Object({ 'idempotency-key': idempotencyKeyHeader });

/** Headers of a POST that changes a VM. */
export const VmMutationHeaders = Type.Object({ 'if-match': ifMatchHeader, 'idempotency-key': idempotencyKeyHeader });

/** Headers of a DELETE of a VM. */
export const VmDeleteHeaders = Type.Object({ 'if-match': ifMatchHeader });

/** Headers of a PUT of a part of a VM (idempotent by itself, so without `Idempotency-Key`). */
export const VmReplaceHeaders = Type.Object({ 'if-match': ifMatchHeader });

/** Headers of a PATCH or DELETE of a template: `If-Match` against its version. */
export const TemplateMutationHeaders = Type.Object({
  'if-match': Type.Optional(
    Type.String({ maxLength: 1024, description: 'The request applies only while the template has one of these versions' }),
  ),
});

/** Headers of `POST /v1/vms`: `Prefer: respond-async` answers 202 at once. */
export const CreateVmHeaders = Type.Object({
  'idempotency-key': idempotencyKeyHeader,
  prefer: Type.Optional(Type.String({ maxLength: 1024, description: '`respond-async`: answer 202 with the VM pending' })),
});

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
