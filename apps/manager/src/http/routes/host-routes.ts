import { Type } from 'typebox';
import { HostHeartbeat, HostRegistered, HostRegistration } from '@hearth/contracts';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { heartbeat } from '../../application/use-cases/heartbeat.js';
import { getHost, listHosts } from '../../application/use-cases/host-queries.js';
import { registerHost } from '../../application/use-cases/register-host.js';
import { HostIdParams, problemResponses } from '../schemas/common.js';
import { HostList, HostView } from '../schemas/host-schemas.js';
import { hostView } from '../views.js';
import { hostIdParam } from './parse-ids.js';

export function registerHostRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/hosts/register',
    {
      schema: {
        summary: 'Register an Agent host (upsert by name)',
        tags: ['hosts'],
        body: HostRegistration,
        response: { 200: HostRegistered, ...problemResponses },
      },
    },
    async (request) => {
      const { host, heartbeatIntervalMs } = await registerHost(deps, request.body);
      return { id: host.id, heartbeatIntervalMs };
    },
  );

  app.post(
    '/v1/hosts/:id/heartbeat',
    {
      schema: {
        summary: 'Record an Agent heartbeat (404 HOST_NOT_FOUND: register again)',
        tags: ['hosts'],
        params: HostIdParams,
        body: HostHeartbeat,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      await heartbeat(deps, hostIdParam(request.params.id), request.body);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/hosts',
    { schema: { summary: 'List hosts', tags: ['hosts'], response: { 200: HostList, ...problemResponses } } },
    async () => ({ items: (await listHosts(deps)).map(hostView) }),
  );

  app.get(
    '/v1/hosts/:id',
    {
      schema: {
        summary: 'Get a host',
        tags: ['hosts'],
        params: HostIdParams,
        response: { 200: HostView, ...problemResponses },
      },
    },
    async (request) => hostView(await getHost(deps, hostIdParam(request.params.id))),
  );
}
