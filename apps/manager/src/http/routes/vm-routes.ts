import type { FastifyReply, FastifyRequest } from 'fastify';
import { isAsyncRequested } from '../async-request.js';
import { consoleLogDefaultBytes, EgressPolicy } from '@hearth/contracts';
import { Type, type Static } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import { ConcurrencyLimiter, type ConcurrencyLimit } from '../../application/concurrency-limiter.js';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { continueCreateInBackground, continueCreatesInBackground } from '../../application/use-cases/continue-create.js';
import { acceptVm, createVm, type CreateVmInput } from '../../application/use-cases/create-vm.js';
import { cloneVms, placeAndRecordClones, snapshotCarriedBy, type CloneVmsInput } from '../../application/use-cases/clone-vms.js';
import { invalidBody } from '../../domain/template.js';
import { deleteVm } from '../../application/use-cases/delete-vm.js';
import { listVmEvents } from '../../application/use-cases/event-queries.js';
import type { MutationOptions } from '../../application/use-cases/if-match.js';
import { pauseVm } from '../../application/use-cases/pause-vm.js';
import { resumeVm } from '../../application/use-cases/resume-vm.js';
import { acceptRestore, continueRestoreInBackground, restoreVm } from '../../application/use-cases/restore-vm.js';
import { setVmEgress } from '../../application/use-cases/set-vm-egress.js';
import { updateVmRateLimits } from '../../application/use-cases/set-vm-rate-limits.js';
import { startVm } from '../../application/use-cases/start-vm.js';
import { stopVm } from '../../application/use-cases/stop-vm.js';
import { getVm, listVms } from '../../application/use-cases/vm-queries.js';
import { readVmConsole } from '../../application/use-cases/read-vm-console.js';
import { waitForVmState, waitTimeoutSeconds } from '../../application/use-cases/wait-for-vm-state.js';
import {
  parseImageId,
  parseSnapshotId,
  parseTemplateId,
  parseVmId,
  type ImageId,
  type SnapshotId,
  type TemplateId,
  type VmId,
} from '../../domain/ids.js';
import type { Vm } from '../../domain/vm.js';
import type { VmState } from '../../domain/vm-state.js';
import { bodyLimitBytes } from '../body-limits.js';
import {
  CreateVmHeaders,
  problemResponses,
  VmDeleteHeaders,
  VmIdParams,
  VmMutationHeaders,
  VmReplaceHeaders,
} from '../schemas/common.js';
import { EventPageView, ListVmEventsQuery } from '../schemas/event-schemas.js';
import {
  CreateVmBody,
  CreateVmQuery,
  DeletedVmView,
  ListVmsQuery,
  RestoreVmBody,
  RestoreVmQuery,
  UpdateVmRateLimitsBody,
  VmConsoleQuery,
  VmBatchView,
  VmPageView,
  VmView,
  WaitResultView,
  WaitVmQuery,
} from '../schemas/vm-schemas.js';
import { parseIfMatch, setEtag } from '../preconditions.js';
import { eventView, vmListingView, vmView } from '../views.js';
import { vmIdParam } from './parse-ids.js';
import { callerOf } from '../caller.js';
import { principalOf } from '../authentication.js';
import { projectForNewObject, projectsToList } from '../../domain/access.js';
import { eventVisibilityOf } from '../../domain/event.js';

/** Pending `GET /v1/vms/{id}/wait` calls allowed at once, per client and overall. */
export const defaultVmWaitLimit: ConcurrencyLimit = Object.freeze({ perClient: 100, overall: 1_000 });

/** Mutations honour `If-Match: "<version>"` (412 PRECONDITION_FAILED on a mismatch). */
function mutationOptions(request: FastifyRequest): MutationOptions {
  return { ifMatch: parseIfMatch(request.headers['if-match']), projects: principalOf(request).projects };
}

/** The preset fields a clone takes from its snapshot's VM, and so may not be given with `snapshotId` or a template that carries one. */
const clonePresetFields = [
  'vcpuCount',
  'memoryMib',
  'kernelImageId',
  'rootfsImageId',
  'bootArgs',
] as const satisfies readonly (keyof Static<typeof CreateVmBody>)[];

/**
 * `POST /v1/vms` with `snapshotId`, or with a template that carries a snapshot: one clone answered
 * as a VM, `count` clones as `{ items }`.
 */
async function createClones(
  deps: UseCaseDependencies,
  request: FastifyRequest,
  reply: FastifyReply,
  body: Static<typeof CreateVmBody>,
  wait: boolean | undefined,
): Promise<FastifyReply> {
  const origin = body.snapshotId === undefined ? 'a template that carries a snapshot' : 'snapshotId';
  const errors = clonePresetFields
    .filter((field) => body[field] !== undefined)
    .map((field) => ({ field: `body/${field}`, message: `must not be given with ${origin}: a clone is the snapshot VM's` }));
  // A clone keeps its snapshot VM's shared network (its guest was configured for it) and publishes no
  // ports: refused rather than silently left out.
  if (body.sharedNetwork !== undefined) {
    errors.push({ field: 'body/sharedNetwork', message: `must not be given with ${origin}: a clone keeps the snapshot VM's` });
  }
  if (body.ports !== undefined) {
    errors.push({ field: 'body/ports', message: `must not be given with ${origin}: a clone publishes no ports` });
  }
  if (body.snapshotId !== undefined && body.templateId !== undefined) {
    errors.push({ field: 'body/templateId', message: "must not be given with snapshotId: a clone is the snapshot VM's" });
  }
  if (body.snapshotId === undefined && body.templateId === undefined) {
    errors.push({ field: 'body/count', message: 'must be given with snapshotId or a template that carries a snapshot' });
  }
  if (errors.length > 0) throw invalidBody(errors);
  const input: CloneVmsInput = {
    snapshotId: body.snapshotId === undefined ? undefined : (parseSnapshotId(body.snapshotId) as SnapshotId),
    templateId: body.templateId === undefined ? undefined : (parseTemplateId(body.templateId) as TemplateId),
    name: body.name,
    project: projectForNewObject(principalOf(request).projects, body.project),
    count: body.count,
    ipAddress: body.ipAddress,
    userData: body.userData,
    egress: body.egress,
    rateLimits: body.rateLimits,
    restartPolicy: body.restartPolicy,
  };
  const isAsync = isAsyncRequested(request, wait);
  let vms: Vm[];
  if (isAsync) {
    // The host placement chose and the snapshot go with each clone: ten clones, twenty reads fewer.
    const accepted = await placeAndRecordClones(deps, input, 'pending');
    vms = accepted.vms;
    continueCreatesInBackground(deps, vms, accepted.host, accepted.snapshot);
    if (wait === undefined) reply.header('preference-applied', 'respond-async');
  } else {
    vms = await cloneVms(deps, input);
  }
  const status = isAsync ? 202 : 201;
  const [first] = vms;
  if (body.count === undefined && first !== undefined) {
    reply.header('location', `/v1/vms/${first.id}`);
    return sendVm(reply, status, first);
  }
  return reply.status(status).send({ items: vms.map(vmView) });
}

function sendVm(reply: FastifyReply, status: number, vm: Vm): FastifyReply {
  setEtag(reply, vm);
  return reply.status(status).send(vmView(vm));
}

const mutationHeaders = {
  description: 'Mutations honour `If-Match: "<version>"`; every POST honours `Idempotency-Key`.',
} as const;

export function registerVmRoutes(
  app: HttpServer,
  deps: UseCaseDependencies,
  waitLimit: ConcurrencyLimit = defaultVmWaitLimit,
): void {
  const waits = new ConcurrencyLimiter({
    ...waitLimit,
    code: 'VM_WAIT_LIMIT_REACHED',
    what: 'pending waits',
    retryAfterSeconds: 1,
  });

  app.post(
    '/v1/vms',
    {
      config: { auth: { scope: 'vms:write' } },
      bodyLimit: bodyLimitBytes.createVm,
      schema: {
        operationId: 'createVm',
        summary: 'Create a VM: place it, record it, start it on its host',
        description:
          'By default waits until the VM is running (201; an Agent failure answers its problem and leaves the VM ' +
          '`failed`). With `?wait=false` or `Prefer: respond-async` answers 202 at once with the VM `pending`; ' +
          'follow it with `GET /v1/vms/{id}/wait?state=running` or the event stream. Honours `Idempotency-Key`.',
        tags: ['vms'],
        headers: CreateVmHeaders,
        querystring: CreateVmQuery,
        body: CreateVmBody,
        response: {
          201: Type.Union([VmView, VmBatchView]),
          202: Type.Union([VmView, VmBatchView]),
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { project, ...body } = request.body;
      const isClone =
        body.snapshotId !== undefined ||
        body.count !== undefined ||
        (body.templateId !== undefined &&
          (await snapshotCarriedBy(
            deps,
            parseTemplateId(body.templateId) as TemplateId,
            projectForNewObject(principalOf(request).projects, project),
          )) !== null);
      if (isClone) return createClones(deps, request, reply, request.body, request.query.wait);
      const input: CreateVmInput = {
        ...body,
        project: projectForNewObject(principalOf(request).projects, project),
        kernelImageId: body.kernelImageId === undefined ? undefined : (parseImageId(body.kernelImageId) as ImageId),
        rootfsImageId: body.rootfsImageId === undefined ? undefined : (parseImageId(body.rootfsImageId) as ImageId),
        templateId: body.templateId === undefined ? undefined : (parseTemplateId(body.templateId) as TemplateId),
      };
      if (isAsyncRequested(request, request.query.wait)) {
        const pending = await acceptVm(deps, input);
        continueCreateInBackground(deps, pending.id, pending);
        reply.header('location', `/v1/vms/${pending.id}`);
        if (request.query.wait === undefined) reply.header('preference-applied', 'respond-async');
        return sendVm(reply, 202, pending);
      }
      const vm = await createVm(deps, input);
      reply.header('location', `/v1/vms/${vm.id}`);
      return sendVm(reply, 201, vm);
    },
  );

  app.get(
    '/v1/vms',
    {
      config: { auth: { scope: 'vms:read' } },
      schema: {
        operationId: 'listVms',
        summary: 'List VMs by id (keyset pagination; filter by name)',
        tags: ['vms'],
        querystring: ListVmsQuery,
        response: { 200: VmPageView, ...problemResponses },
      },
    },
    async (request) => {
      const cursor = request.query.cursor === undefined ? undefined : (parseVmId(request.query.cursor) as VmId);
      const projects = projectsToList(principalOf(request).projects, request.query.project);
      const page = await listVms(deps, { projects, name: request.query.name }, { limit: request.query.limit, cursor });
      return { items: page.items.map(vmListingView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/vms/:id',
    {
      config: { auth: { scope: 'vms:read' } },
      schema: {
        operationId: 'getVm',
        summary: 'Get a VM (its ETag is its version)',
        tags: ['vms'],
        params: VmIdParams,
        response: { 200: VmView, ...problemResponses },
      },
    },
    async (request, reply) => sendVm(reply, 200, await getVm(deps, vmIdParam(request.params.id), principalOf(request).projects)),
  );

  app.get(
    '/v1/vms/:id/console',
    {
      config: { auth: { scope: 'vms:read' } },
      schema: {
        operationId: 'getVmConsoleLog',
        summary: "Read the end of a VM's serial console output",
        description:
          'The last `bytes` bytes (default 64 KiB, at most 1 MiB) of what the guest printed on its serial console, ' +
          "as its host's Agent keeps it (a capped, rotated log; the guest's kernel needs `console=ttyS0`).",
        tags: ['vms'],
        params: VmIdParams,
        querystring: VmConsoleQuery,
        response: {
          200: { description: 'The console output', content: { 'text/plain': { schema: Type.String() } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { projects } = principalOf(request);
      const text = await readVmConsole(
        deps,
        vmIdParam(request.params.id),
        projects,
        request.query.bytes ?? consoleLogDefaultBytes,
      );
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );

  app.get(
    '/v1/vms/:id/wait',
    {
      config: { auth: { scope: 'vms:read' } },
      schema: {
        operationId: 'waitForVmState',
        summary: 'Wait until a VM is in a state (long poll)',
        description:
          `Answers as soon as the VM is in \`state\` (outcome \`reached\`), has failed (\`failed\`), or after ` +
          `\`timeout_s\` seconds (default ${waitTimeoutSeconds.default}, at most ${waitTimeoutSeconds.maximum}; ` +
          "outcome `timed_out`), always with the VM as it is then. Woken by the VM's events. Pending waits are " +
          `capped per client (${waitLimit.perClient}) and overall (${waitLimit.overall}): over a cap, 429 ` +
          'VM_WAIT_LIMIT_REACHED with `Retry-After`.',
        tags: ['vms'],
        params: VmIdParams,
        querystring: WaitVmQuery,
        response: { 200: WaitResultView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const release = waits.acquire(callerOf(request));
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      reply.raw.once('close', onClose);
      try {
        const result = await waitForVmState(deps, vmIdParam(request.params.id), request.query.state, {
          timeoutMs: (request.query.timeout_s ?? waitTimeoutSeconds.default) * 1000,
          projects: principalOf(request).projects,
          signal: abort.signal,
        });
        setEtag(reply, result.vm);
        return { vm: vmView(result.vm), outcome: result.outcome, isReached: result.outcome === 'reached' };
      } finally {
        reply.raw.off('close', onClose);
        release();
      }
    },
  );

  app.get(
    '/v1/vms/:id/events',
    {
      config: { auth: { scope: 'vms:read' } },
      schema: {
        operationId: 'listVmEvents',
        summary: 'Events of a VM, oldest first (kept after it is deleted)',
        tags: ['vms', 'events'],
        params: VmIdParams,
        querystring: ListVmEventsQuery,
        response: { 200: EventPageView, ...problemResponses },
      },
    },
    async (request) => {
      const page = await listVmEvents(deps, vmIdParam(request.params.id), eventVisibilityOf(principalOf(request)), request.query);
      return { items: page.items.map(eventView), nextCursor: page.nextCursor };
    },
  );

  /**
   * The VM's state changes. Those with an `acceptedState` are carried on by the reconciler when the
   * host does not confirm them in time: answered 202 with the VM still in that state.
   */
  const changes: readonly {
    readonly action: 'stop' | 'pause' | 'start' | 'resume';
    readonly useCase: (deps: UseCaseDependencies, id: VmId, options: MutationOptions) => Promise<Vm>;
    readonly summary: string;
    readonly acceptedState?: VmState;
    readonly description?: string;
  }[] = [
    {
      action: 'stop',
      useCase: stopVm,
      acceptedState: 'stopping',
      summary: 'Stop a running or paused VM (its rootfs copy is kept)',
      description:
        'Answers 200 with the VM `stopped`. When its host does not confirm the stop in time (its Agent does not ' +
        'answer, cannot be reached or is unavailable for now) the stop is accepted and carried on: 202 with the VM ' +
        '`stopping`, which the Manager takes to `stopped` once the Agent answers; follow it with ' +
        '`GET /v1/vms/{id}/wait?state=stopped` or the event stream. Only a definite failure on the host answers ' +
        'its problem and leaves the VM `failed`. ',
    },
    {
      action: 'pause',
      useCase: pauseVm,
      acceptedState: 'pausing',
      summary: 'Pause a running VM (its vCPUs stop; memory is kept)',
      description:
        'Answers 200 with the VM `paused`. When its host does not confirm the pause in time (its Agent does not ' +
        'answer, cannot be reached or is unavailable for now) the pause is accepted and carried on: 202 with the VM ' +
        '`pausing`, which the Manager takes to `paused` once the Agent answers; follow it with ' +
        '`GET /v1/vms/{id}/wait?state=paused` or the event stream. A definite failure on the host answers its ' +
        'problem and leaves the VM `running` (or `failed` when its VMM is gone). ',
    },
    { action: 'start', useCase: startVm, summary: 'Start a stopped or failed VM again on its host' },
    { action: 'resume', useCase: resumeVm, summary: 'Resume a paused VM' },
  ];
  for (const { action, useCase, acceptedState, summary, description = '' } of changes) {
    app.post(
      `/v1/vms/:id/${action}`,
      {
        config: { auth: { scope: 'vms:write' } },
        bodyLimit: bodyLimitBytes.none,
        schema: {
          operationId: `${action}Vm`,
          summary,
          description: description + mutationHeaders.description,
          tags: ['vms'],
          headers: VmMutationHeaders,
          params: VmIdParams,
          response:
            acceptedState === undefined
              ? { 200: VmView, ...problemResponses }
              : { 200: VmView, 202: VmView, ...problemResponses },
        },
      },
      async (request, reply) => {
        const vm = await useCase(deps, vmIdParam(request.params.id), mutationOptions(request));
        if (vm.state !== acceptedState) return sendVm(reply, 200, vm);
        reply.header('location', `/v1/vms/${vm.id}`);
        return sendVm(reply, 202, vm);
      },
    );
  }

  app.post(
    '/v1/vms/:id/restore',
    {
      config: { auth: { scope: 'vms:write' } },
      bodyLimit: bodyLimitBytes.snapshot,
      schema: {
        operationId: 'restoreVm',
        summary: 'Restore a VM in place to one of its own snapshots',
        description:
          "The VM (running, paused, stopped or failed) goes back to the snapshot's instant: its VMM is stopped, its disk " +
          "replaced by a fresh copy of the snapshot's, its memory and device state loaded, and the guest runs again " +
          '(or stays paused with `afterwards: paused`). It keeps its id, address, MAC and published ports. The path is ' +
          '`stopping → stopped → starting → running|paused`, an event each. By default waits for the end (200); with ' +
          '`?wait=false` or `Prefer: respond-async` answers 202 once the restore is recorded. A restore that fails ' +
          'leaves the VM `failed`; its next start restores the snapshot again. A snapshot of another VM is cloned ' +
          '(`POST /v1/vms` with `snapshotId`), not restored in place. ' +
          mutationHeaders.description,
        tags: ['vms', 'snapshots'],
        headers: VmMutationHeaders,
        params: VmIdParams,
        querystring: RestoreVmQuery,
        body: RestoreVmBody,
        response: { 200: VmView, 202: VmView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const id = vmIdParam(request.params.id);
      const input = {
        snapshotId: parseSnapshotId(request.body.snapshotId) as SnapshotId,
        afterwards: request.body.afterwards ?? 'running',
      };
      if (isAsyncRequested(request, request.query.wait)) {
        const accepted = await acceptRestore(deps, id, input, mutationOptions(request));
        continueRestoreInBackground(deps, accepted);
        if (request.query.wait === undefined) reply.header('preference-applied', 'respond-async');
        return sendVm(reply, 202, accepted);
      }
      return sendVm(reply, 200, await restoreVm(deps, id, input, mutationOptions(request)));
    },
  );

  app.put(
    '/v1/vms/:id/egress',
    {
      config: { auth: { scope: 'vms:write' } },
      bodyLimit: bodyLimitBytes.egress,
      schema: {
        operationId: 'setVmEgress',
        summary: "Replace a VM's egress policy",
        description:
          'Stores the policy (a new version, event `vm.egress_changed`) and, when the VM runs or is paused, has its ' +
          "host's Agent rewrite the VM's rules at once, in one transaction (in effect within a second). Every later " +
          'start, on any host, applies the stored policy. When the Agent fails the answer is its problem and the ' +
          'policy stays stored (at the new version): the next start applies it, or the same request again. ' +
          'Honours `If-Match: "<version>"`.',
        tags: ['vms'],
        headers: VmReplaceHeaders,
        params: VmIdParams,
        body: EgressPolicy,
        response: { 200: VmView, ...problemResponses },
      },
    },
    async (request, reply) =>
      sendVm(reply, 200, await setVmEgress(deps, vmIdParam(request.params.id), request.body, mutationOptions(request))),
  );

  app.patch(
    '/v1/vms/:id/rate-limits',
    {
      config: { auth: { scope: 'vms:write' } },
      bodyLimit: bodyLimitBytes.rateLimits,
      schema: {
        operationId: 'updateVmRateLimits',
        summary: "Change a VM's rate limits",
        description:
          "Each limiter given (`networkRx`, `networkTx`, `drive`) replaces the VM's own, `null` removes it, one left " +
          'out stays. Stores the result (a new version, event `vm.rate_limits_changed`) and, when the VM runs or is ' +
          "paused, has its host's Agent change its network interface and drive at once, without a restart. Every " +
          'later start applies the stored limits. When the Agent fails the answer is its problem and the limits stay ' +
          'stored (at the new version): the next start applies them. Honours `If-Match: "<version>"`.',
        tags: ['vms'],
        headers: VmReplaceHeaders,
        params: VmIdParams,
        body: UpdateVmRateLimitsBody,
        response: { 200: VmView, ...problemResponses },
      },
    },
    async (request, reply) =>
      sendVm(reply, 200, await updateVmRateLimits(deps, vmIdParam(request.params.id), request.body, mutationOptions(request))),
  );

  app.delete(
    '/v1/vms/:id',
    {
      config: { auth: { scope: 'vms:write' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'deleteVm',
        summary: 'Delete a VM and everything its host holds for it',
        description:
          'Answers 200 with what the host removed once the VM is gone. A delete once accepted is carried through: ' +
          'when its host does not confirm it in time (its Agent does not answer, cannot be reached or is ' +
          'unavailable for now), or the VM is `deleting` already, the answer is 202 with the VM `deleting`, and the ' +
          'Manager finishes the delete once the Agent answers. Follow it with `GET /v1/vms/{id}` (404 once it is ' +
          'gone) or its events (`vm.deleted`, kept after the delete). Only a definite failure on the host answers ' +
          'its problem and leaves the VM `failed`; DELETE can then be retried. ' +
          mutationHeaders.description,
        tags: ['vms'],
        headers: VmDeleteHeaders,
        params: VmIdParams,
        response: { 200: DeletedVmView, 202: VmView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const result = await deleteVm(deps, vmIdParam(request.params.id), mutationOptions(request));
      if (result.outcome === 'accepted') {
        reply.header('location', `/v1/vms/${result.vm.id}`);
        return sendVm(reply, 202, result.vm);
      }
      return reply.status(200).send({ id: result.id, project: result.project, removed: [...result.removed] });
    },
  );
}
