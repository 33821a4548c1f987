import type { components, operations } from './generated/openapi.js';

type JsonOf<
  Op extends keyof operations,
  Status extends keyof operations[Op]['responses'],
> = operations[Op]['responses'][Status] extends {
  content: { 'application/json': infer Body };
}
  ? Body
  : never;

type BodyOf<Op extends keyof operations> = operations[Op] extends {
  requestBody?: { content: { 'application/json': infer Body } };
}
  ? Body
  : never;

type QueryOf<Op extends keyof operations> = NonNullable<operations[Op]['parameters']['query']>;

/** RFC 9457 problem details, the body of every error answer. */
export type Problem = components['schemas']['Problem'];

export type Vm = JsonOf<'getVm', 200>;
export type VmState = Vm['state'];
export type CreateVmRequest = BodyOf<'createVm'>;
/** A VM deleted to the end: what its host removed. */
export type DeletedVm = JsonOf<'deleteVm', 200>;
/**
 * What a delete answers: the VM gone (`DeletedVm`, with `removed`), or a delete accepted and still
 * under way (the VM, `deleting`: its host did not confirm in time, and the Manager finishes it).
 */
export type DeleteVmResult = DeletedVm | JsonOf<'deleteVm', 202>;
/** What a VM's guest may send beyond its host: everything, nothing, or an allow or deny list. */
export type EgressPolicy = BodyOf<'setVmEgress'>;
/** Firecracker rate limiters of a VM's network interface (`networkRx`, `networkTx`) and drive. */
export type RateLimits = Vm['rateLimits'];
/** A change of a VM's rate limits: each limiter given replaces its own, `null` removes it. */
export type RateLimitsChange = BodyOf<'updateVmRateLimits'>;
export type VmWaitResult = JsonOf<'waitForVmState', 200>;
export type ListVmsFilter = Omit<QueryOf<'listVms'>, 'cursor' | 'limit'>;

export type Image = JsonOf<'getImage', 200>;
export type RegisterImageRequest = BodyOf<'registerImage'>;
export type ListImagesFilter = Omit<QueryOf<'listImages'>, 'cursor' | 'limit'>;

export type Host = JsonOf<'getHost', 200>;
export type DrainReport = JsonOf<'drainHost', 200>;
export type HostResources = JsonOf<'listHostResources', 200>;
export type JoinToken = JsonOf<'createJoinToken', 201>;

export type HearthEvent = JsonOf<'listEvents', 200>['items'][number];
export type ListEventsFilter = Omit<QueryOf<'listEvents'>, 'cursor' | 'limit'>;

export type Token = JsonOf<'getToken', 200>;
export type CreateTokenRequest = BodyOf<'createToken'>;
export type CreatedToken = JsonOf<'createToken', 201>;
export type CurrentToken = JsonOf<'getCurrentToken', 200>;

export type AuditEntry = JsonOf<'listAuditEntries', 200>['items'][number];
export type ListAuditFilter = Omit<QueryOf<'listAuditEntries'>, 'cursor' | 'limit'>;

export type Project = JsonOf<'getProject', 200>;
export type CreateProjectRequest = BodyOf<'createProject'>;
export type ProjectQuota = BodyOf<'setProjectQuota'>;

export type Template = JsonOf<'getTemplate', 200>;
export type CreateTemplateRequest = BodyOf<'createTemplate'>;
export type UpdateTemplateRequest = BodyOf<'updateTemplate'>;
export type ListTemplatesFilter = Omit<QueryOf<'listTemplates'>, 'cursor' | 'limit'>;

export type Snapshot = JsonOf<'getSnapshot', 200>;
export type CreateSnapshotRequest = BodyOf<'createSnapshot'>;
export type ListSnapshotsFilter = Omit<QueryOf<'listSnapshots'>, 'cursor' | 'limit'>;
