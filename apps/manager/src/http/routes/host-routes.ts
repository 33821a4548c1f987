import { Type } from 'typebox';
import {
  CertificateRenewalRequest,
  CertificateRenewed,
  HostHeartbeat,
  HostJoined,
  HostJoinRequest,
  HostRegistered,
  HostRegistration,
  JoinTokenCreated,
  JoinTokenRequest,
} from '@hearth/contracts';
import { Readable } from 'node:stream';
import { metricsContentType, type HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { cordonHost, uncordonHost } from '../../application/use-cases/cordon-host.js';
import { drainHost } from '../../application/use-cases/drain-host.js';
import { heartbeat } from '../../application/use-cases/heartbeat.js';
import { getHost, listHosts } from '../../application/use-cases/host-queries.js';
import { readHostMetrics } from '../../application/use-cases/host-metrics.js';
import { listHostResources } from '../../application/use-cases/host-resources.js';
import { registerHost } from '../../application/use-cases/register-host.js';
import { removeHost } from '../../application/use-cases/remove-host.js';
import { joinHost, renewHostCertificate } from '../../application/use-cases/join-host.js';
import { authenticateAgent, createJoinToken, joinTokenOf } from '../../application/use-cases/join-tokens.js';
import { bodyLimitBytes } from '../body-limits.js';
import { HostIdParams, PostHeaders, problemResponses } from '../schemas/common.js';
import {
  DrainReportView,
  HostList,
  HostResourcesView,
  HostView,
  ListHostsQuery,
  RemoveHostQuery,
} from '../schemas/host-schemas.js';
import { hostView } from '../views.js';
import { hostIdParam } from './parse-ids.js';

export function registerHostRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/hosts/join-tokens',
    {
      config: { auth: { scope: 'hosts:admin' } },
      bodyLimit: bodyLimitBytes.hostTrust,
      schema: {
        operationId: 'createJoinToken',
        summary:
          'Create a one-time join token for an Agent (AGENT_JOIN_TOKEN); shown once, good for one join within ttlSeconds (default 3600)',
        tags: ['hosts'],
        headers: PostHeaders,
        body: JoinTokenRequest,
        response: { 201: JoinTokenCreated, ...problemResponses },
      },
      // `curl -X POST` with no body asks for the default lifetime.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const created = await createJoinToken(deps, { ttlSeconds: request.body.ttlSeconds });
      return reply.status(201).send({ id: created.id, token: created.token, expiresAt: created.expiresAt.toISOString() });
    },
  );

  app.post(
    '/v1/hosts/join',
    {
      config: { auth: 'agent' },
      bodyLimit: bodyLimitBytes.hostTrust,
      schema: {
        operationId: 'joinHost',
        summary:
          'An Agent joins the cluster with a join token (authorization: Bearer hjt_…): it gets a certificate for its key and a host credential (401 JOIN_TOKEN_INVALID, JOIN_TOKEN_USED, JOIN_TOKEN_EXPIRED; 409 AGENT_ALREADY_JOINED)',
        tags: ['hosts'],
        headers: PostHeaders,
        body: HostJoinRequest,
        response: { 200: HostJoined, ...problemResponses },
      },
    },
    async (request) => {
      const joined = await joinHost(deps, {
        joinToken: joinTokenOf(request.headers.authorization),
        agentId: request.body.agentId,
        publicKeyPem: request.body.publicKey,
      });
      return {
        clusterId: joined.clusterId,
        caCertificate: joined.caCertificatePem,
        certificate: joined.certificatePem,
        credential: joined.credential,
      };
    },
  );

  app.post(
    '/v1/hosts/certificate',
    {
      config: { auth: 'agent' },
      bodyLimit: bodyLimitBytes.hostTrust,
      schema: {
        operationId: 'renewHostCertificate',
        summary:
          'An Agent renews its certificate for a new key (authorization: Bearer hhc_…; 401 HOST_CREDENTIAL_INVALID once its host was removed)',
        tags: ['hosts'],
        headers: PostHeaders,
        body: CertificateRenewalRequest,
        response: { 200: CertificateRenewed, ...problemResponses },
      },
    },
    async (request) => {
      const credential = await authenticateAgent(deps, request.headers.authorization);
      const renewed = await renewHostCertificate(deps, credential, request.body.publicKey);
      return { caCertificate: renewed.caCertificatePem, certificate: renewed.certificatePem };
    },
  );

  app.post(
    '/v1/hosts/register',
    {
      config: { auth: 'agent' },
      bodyLimit: bodyLimitBytes.hostReport,
      schema: {
        operationId: 'registerHost',
        summary:
          "Register an Agent's host (authorization: Bearer hhc_…, the credential it joined with): a name belongs to the Agent (agentId) holding it (401 HOST_CREDENTIAL_INVALID, 403 HOST_CREDENTIAL_MISMATCH, 409 HOST_NAME_TAKEN, 409 HOST_CLUSTER_MISMATCH)",
        tags: ['hosts'],
        headers: PostHeaders,
        body: HostRegistration,
        response: { 200: HostRegistered, ...problemResponses },
      },
    },
    async (request) => {
      const credential = await authenticateAgent(deps, request.headers.authorization);
      const { host, heartbeatIntervalMs, clusterId } = await registerHost(deps, request.body, credential);
      return { id: host.id, heartbeatIntervalMs, clusterId };
    },
  );

  app.post(
    '/v1/hosts/:id/heartbeat',
    {
      config: { auth: 'agent' },
      bodyLimit: bodyLimitBytes.hostReport,
      schema: {
        operationId: 'recordHostHeartbeat',
        summary: 'Record an Agent heartbeat (authorization: Bearer hhc_…; 404 HOST_NOT_FOUND: register again)',
        tags: ['hosts'],
        headers: PostHeaders,
        params: HostIdParams,
        body: HostHeartbeat,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      await heartbeat(deps, hostIdParam(request.params.id), request.body, request.headers.authorization);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/hosts',
    {
      config: { auth: { scope: 'hosts:admin' } },
      schema: {
        operationId: 'listHosts',
        summary: 'List hosts by id (keyset pagination)',
        tags: ['hosts'],
        querystring: ListHostsQuery,
        response: { 200: HostList, ...problemResponses },
      },
    },
    async (request) => {
      const cursor = request.query.cursor === undefined ? undefined : hostIdParam(request.query.cursor);
      const page = await listHosts(deps, { limit: request.query.limit, cursor });
      return { items: page.items.map(hostView), nextCursor: page.nextCursor };
    },
  );

  app.delete(
    '/v1/hosts/:id',
    {
      config: { auth: { scope: 'hosts:admin' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'removeHost',
        summary:
          'Remove a host that is gone for good (409 HOST_STILL_ACTIVE while its Agent heartbeats; 409 HOST_HAS_VMS while VM records refer to it, unless force=true removes them too)',
        tags: ['hosts'],
        params: HostIdParams,
        querystring: RemoveHostQuery,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      await removeHost(deps, hostIdParam(request.params.id), { isForced: request.query.force === true });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/v1/hosts/:id',
    {
      config: { auth: { scope: 'hosts:admin' } },
      schema: {
        operationId: 'getHost',
        summary: 'Get a host',
        tags: ['hosts'],
        params: HostIdParams,
        response: { 200: HostView, ...problemResponses },
      },
    },
    async (request) => hostView(await getHost(deps, hostIdParam(request.params.id))),
  );

  app.get(
    '/v1/hosts/:id/resources',
    {
      config: { auth: { scope: 'hosts:admin' } },
      schema: {
        operationId: 'listHostResources',
        summary: "The host's resource ledger, read live from its Agent, each resource tagged with its VM (503 AGENT_UNAVAILABLE)",
        tags: ['hosts'],
        params: HostIdParams,
        response: { 200: HostResourcesView, ...problemResponses },
      },
    },
    async (request) => {
      const ledger = await listHostResources(deps, hostIdParam(request.params.id));
      return {
        hostId: ledger.hostId,
        hostName: ledger.hostName,
        readAt: ledger.readAt.toISOString(),
        items: ledger.resources.map((resource) => ({ ...resource })),
      };
    },
  );

  app.get(
    '/v1/hosts/:id/metrics',
    {
      config: { auth: { scope: 'metrics:read' } },
      schema: {
        operationId: 'getHostMetrics',
        summary:
          "The host's Agent's Prometheus metrics, per-VM Firecracker counters included, read live over its mutual TLS (text exposition format; catalog in docs/metrics.md; 503 AGENT_UNAVAILABLE when it does not answer within 5 s)",
        tags: ['hosts'],
        produces: ['text/plain'],
        params: HostIdParams,
        response: {
          200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: Type.String() } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const metrics = await readHostMetrics(deps, hostIdParam(request.params.id));
      // Streamed as the Agent answers: the schema's string is what the client receives, not what is sent.
      const text = Readable.from(metrics.body, { objectMode: false }) as unknown as string;
      return reply.type(metricsContentType).send(text);
    },
  );

  app.post(
    '/v1/hosts/:id/cordon',
    {
      config: { auth: { scope: 'hosts:admin' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'cordonHost',
        summary: 'Cordon a host: it gets no new VMs (its VMs keep running)',
        tags: ['hosts'],
        headers: PostHeaders,
        params: HostIdParams,
        response: { 200: HostView, ...problemResponses },
      },
    },
    async (request) => hostView(await cordonHost(deps, hostIdParam(request.params.id))),
  );

  app.post(
    '/v1/hosts/:id/uncordon',
    {
      config: { auth: { scope: 'hosts:admin' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'uncordonHost',
        summary: 'Let a cordoned host take new VMs again',
        tags: ['hosts'],
        headers: PostHeaders,
        params: HostIdParams,
        response: { 200: HostView, ...problemResponses },
      },
    },
    async (request) => hostView(await uncordonHost(deps, hostIdParam(request.params.id))),
  );

  app.post(
    '/v1/hosts/:id/drain',
    {
      config: { auth: { scope: 'hosts:admin' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'drainHost',
        summary: 'Drain a host: cordon it and stop its running and paused VMs (no live migration yet); reports each VM',
        tags: ['hosts'],
        headers: PostHeaders,
        params: HostIdParams,
        response: { 200: DrainReportView, ...problemResponses },
      },
    },
    async (request) => {
      const report = await drainHost(deps, hostIdParam(request.params.id));
      return {
        host: hostView(report.host),
        stopped: [...report.stopped],
        failed: report.failed.map((entry) => ({ ...entry })),
        skipped: report.skipped.map((entry) => ({ ...entry })),
      };
    },
  );
}
