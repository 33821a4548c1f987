import { Type } from 'typebox';
import { ProjectName, Timestamp } from './common.js';

const Limit = (maximum: number) => Type.Union([Type.Integer({ minimum: 0, maximum }), Type.Null()]);

/** Limits on everything a project's VMs hold, whatever their state; null is no limit. */
export const QuotaSchema = Type.Object(
  {
    maxVms: Limit(1_000_000),
    maxVcpus: Limit(100_000_000),
    maxMemoryMib: Limit(2 ** 40),
  },
  { additionalProperties: false },
);

export const CreateProjectBody = Type.Object(
  {
    name: ProjectName,
    quota: Type.Optional(Type.Partial(QuotaSchema, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const ProjectNameParams = Type.Object({ name: ProjectName }, { additionalProperties: false });

export const ProjectView = Type.Object({
  name: Type.String(),
  quota: QuotaSchema,
  createdAt: Timestamp,
});

export const ProjectList = Type.Object({ items: Type.Array(ProjectView) });
