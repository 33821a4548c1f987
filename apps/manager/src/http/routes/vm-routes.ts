import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { deleteVm } from '../../application/use-cases/delete-vm.js';
import { startVm } from '../../application/use-cases/start-vm.js';
import { stopVm } from '../../application/use-cases/stop-vm.js';
import { getVm, listVms } from '../../application/use-cases/vm-queries.js';
import { parseImageId, parseVmId, type ImageId, type VmId } from '../../domain/ids.js';
import { problemResponses, VmIdParams } from '../schemas/common.js';
import { CreateVmBody, DeletedVmView, ListVmsQuery, VmPageView, VmView } from '../schemas/vm-schemas.js';
import { vmView } from '../views.js';
import { vmIdParam } from './parse-ids.js';

export function registerVmRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/vms',
    {
      schema: {
        summary: 'Create a VM: place it, record it, start it on its host',
        tags: ['vms'],
        body: CreateVmBody,
        response: { 201: VmView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const vm = await createVm(deps, {
        ...body,
        kernelImageId: parseImageId(body.kernelImageId) as ImageId,
        rootfsImageId: parseImageId(body.rootfsImageId) as ImageId,
      });
      return reply.status(201).send(vmView(vm));
    },
  );

  app.get(
    '/v1/vms',
    {
      schema: {
        summary: 'List VMs by id (keyset pagination)',
        tags: ['vms'],
        querystring: ListVmsQuery,
        response: { 200: VmPageView, ...problemResponses },
      },
    },
    async (request) => {
      const cursor = request.query.cursor === undefined ? undefined : (parseVmId(request.query.cursor) as VmId);
      const page = await listVms(deps, { limit: request.query.limit, cursor });
      return { items: page.items.map(vmView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/vms/:id',
    {
      schema: { summary: 'Get a VM', tags: ['vms'], params: VmIdParams, response: { 200: VmView, ...problemResponses } },
    },
    async (request) => vmView(await getVm(deps, vmIdParam(request.params.id))),
  );

  app.post(
    '/v1/vms/:id/stop',
    {
      schema: {
        summary: 'Stop a running VM (its rootfs copy is kept)',
        tags: ['vms'],
        params: VmIdParams,
        response: { 200: VmView, ...problemResponses },
      },
    },
    async (request) => vmView(await stopVm(deps, vmIdParam(request.params.id))),
  );

  app.post(
    '/v1/vms/:id/start',
    {
      schema: {
        summary: 'Start a stopped or failed VM again on its host',
        tags: ['vms'],
        params: VmIdParams,
        response: { 200: VmView, ...problemResponses },
      },
    },
    async (request) => vmView(await startVm(deps, vmIdParam(request.params.id))),
  );

  app.delete(
    '/v1/vms/:id',
    {
      schema: {
        summary: 'Delete a VM and everything its host holds for it',
        tags: ['vms'],
        params: VmIdParams,
        response: { 200: DeletedVmView, ...problemResponses },
      },
    },
    async (request) => {
      const deleted = await deleteVm(deps, vmIdParam(request.params.id));
      return { id: deleted.id, removed: [...deleted.removed] };
    },
  );
}
