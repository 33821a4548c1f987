import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import {
  createSnapshot,
  deleteSnapshot,
  getSnapshot,
  listSnapshots,
  mergeSnapshot,
  setSnapshotExpiry,
} from '../../application/use-cases/snapshots.js';
import { isAsyncRequested } from '../async-request.js';
import { projectsToList } from '../../domain/access.js';
import { parseSnapshotId, parseVmId, type SnapshotId, type VmId } from '../../domain/ids.js';
import { principalOf } from '../authentication.js';
import { bodyLimitBytes } from '../body-limits.js';
import { PostHeaders, problemResponses, SnapshotIdParams, VmIdParams } from '../schemas/common.js';
import {
  CreateSnapshotBody,
  ListSnapshotsQuery,
  MergeSnapshotQuery,
  SnapshotList,
  SnapshotView,
  UpdateSnapshotBody,
} from '../schemas/snapshot-schemas.js';
import { snapshotView } from '../views.js';
import { snapshotIdParam, vmIdParam } from './parse-ids.js';

export function registerSnapshotRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/vms/:id/snapshots',
    {
      config: { auth: { scope: 'snapshots:write' } },
      bodyLimit: bodyLimitBytes.snapshot,
      schema: {
        operationId: 'createSnapshot',
        summary: 'Take a full or diff snapshot of a running or paused VM',
        description:
          'Memory, device state and a copy of the disk taken while the guest is paused, so that they agree. The VM then ' +
          'goes back to the state it was in, or is stopped (`afterwards: stopped`). Answers the snapshot `ready`, with ' +
          'its sizes and how long the guest was paused; a host failure leaves it `failed` and answers the problem. A ' +
          '`diff` holds only the memory written since its parent; a VMM that cannot take diffs answers the problem ' +
          '(FIRECRACKER_REJECTED naming why), and a VM whose memory was not tracked since the parent ' +
          'SNAPSHOT_DIFF_BASE_MISMATCH (take a full snapshot).',
        tags: ['snapshots'],
        params: VmIdParams,
        headers: PostHeaders,
        body: CreateSnapshotBody,
        response: { 201: SnapshotView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const snapshot = await createSnapshot(
        deps,
        vmIdParam(request.params.id),
        {
          afterwards: body.afterwards ?? 'previous_state',
          type: body.type,
          parentId: body.parentId === undefined ? undefined : (parseSnapshotId(body.parentId) as SnapshotId),
          expiresInSeconds: body.expiresInSeconds,
        },
        principalOf(request).projects,
      );
      reply.header('location', `/v1/snapshots/${snapshot.id}`);
      return reply.status(201).send(snapshotView(snapshot));
    },
  );

  app.post(
    '/v1/snapshots/:id/merge',
    {
      config: { auth: { scope: 'snapshots:write' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'mergeSnapshot',
        summary: 'Make a full snapshot of a diff snapshot and its chain',
        description:
          "A new full snapshot (`mergedFrom` the diff) on the diff's host: the chain's memory merged, the diff's " +
          'device state and disk copied; the VM is not paused. Once it is ready, the chain can be deleted and the new ' +
          'snapshot copied to other hosts. Answers it `ready` (201), or with `?wait=false` or `Prefer: respond-async` ' +
          '202 at once with it `creating` (follow it with `GET /v1/snapshots/{id}`).',
        tags: ['snapshots'],
        params: SnapshotIdParams,
        querystring: MergeSnapshotQuery,
        headers: PostHeaders,
        response: { 201: SnapshotView, 202: SnapshotView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const isAsync = isAsyncRequested(request, request.query.wait);
      const merged = await mergeSnapshot(deps, snapshotIdParam(request.params.id), principalOf(request).projects, { isAsync });
      request.auditProject = merged.project;
      if (isAsync && request.query.wait === undefined) reply.header('preference-applied', 'respond-async');
      reply.header('location', `/v1/snapshots/${merged.id}`);
      return reply.status(isAsync ? 202 : 201).send(snapshotView(merged));
    },
  );

  app.get(
    '/v1/snapshots',
    {
      config: { auth: { scope: 'snapshots:read' } },
      schema: {
        operationId: 'listSnapshots',
        summary: 'List snapshots by id (keyset pagination; filter by project, VM and state)',
        tags: ['snapshots'],
        querystring: ListSnapshotsQuery,
        response: { 200: SnapshotList, ...problemResponses },
      },
    },
    async (request) => {
      const { project, vmId, state, limit, cursor } = request.query;
      const page = await listSnapshots(
        deps,
        {
          projects: projectsToList(principalOf(request).projects, project),
          vmId: vmId === undefined ? undefined : (parseVmId(vmId) as VmId),
          state,
        },
        { limit, cursor: cursor === undefined ? undefined : (parseSnapshotId(cursor) as SnapshotId) },
      );
      return { items: page.items.map(snapshotView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/snapshots/:id',
    {
      config: { auth: { scope: 'snapshots:read' } },
      schema: {
        operationId: 'getSnapshot',
        summary: 'Get a snapshot',
        tags: ['snapshots'],
        params: SnapshotIdParams,
        response: { 200: SnapshotView, ...problemResponses },
      },
    },
    async (request) => snapshotView(await getSnapshot(deps, snapshotIdParam(request.params.id), principalOf(request).projects)),
  );

  app.patch(
    '/v1/snapshots/:id',
    {
      config: { auth: { scope: 'snapshots:write' } },
      bodyLimit: bodyLimitBytes.snapshot,
      schema: {
        operationId: 'updateSnapshot',
        summary: "Set, move or clear a snapshot's expiry",
        description:
          'At `expiresAt` the reconciler removes the snapshot and its files on every host, unless a VM still needs it ' +
          '(a clone or restore still to load it, a VM restored from it and not stopped since) or a template carries it: ' +
          'then it is kept, a `snapshot.expiry_held` event says why, and it is removed once nothing holds it. ' +
          '`null`: never.',
        tags: ['snapshots'],
        params: SnapshotIdParams,
        body: UpdateSnapshotBody,
        response: { 200: SnapshotView, ...problemResponses },
      },
    },
    async (request) => {
      const { expiresAt } = request.body;
      const snapshot = await setSnapshotExpiry(
        deps,
        snapshotIdParam(request.params.id),
        expiresAt === null ? null : new Date(expiresAt),
        principalOf(request).projects,
      );
      request.auditProject = snapshot.project;
      return snapshotView(snapshot);
    },
  );

  app.delete(
    '/v1/snapshots/:id',
    {
      config: { auth: { scope: 'snapshots:write' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'deleteSnapshot',
        summary: 'Delete a snapshot and its files on every host; refused while it is being taken or still needed',
        tags: ['snapshots'],
        params: SnapshotIdParams,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      const deleted = await deleteSnapshot(deps, snapshotIdParam(request.params.id), principalOf(request).projects);
      request.auditProject = deleted.project;
      return reply.status(204).send(null);
    },
  );
}
