import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import websocket from '@fastify/websocket';
import { agentApiPrefix, clusterIdHeader, managerIdentityUri, uriNamesOf } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { ClusterMembership } from '../application/cluster/cluster-membership.js';
import { createHttpServer, registerRequestMetrics, type HttpServer, type Logger } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import type { ConsoleAttachments } from '../application/use-cases/console-attachments.js';
import type { HostStatusContext } from '../application/use-cases/host-status.js';
import { registerHostRoutes } from './host-routes.js';
import { InventoryReads } from './inventory-reads.js';
import { registerConsoleRoutes } from './console-routes.js';
import { registerMetricsRoute, type AgentMetricsExposition } from './metrics-routes.js';
import { registerProxyRoutes } from './proxy-routes.js';
import { registerSnapshotCopyRoutes } from './snapshot-copy-routes.js';
import { registerVmRoutes } from './vm-routes.js';

export interface AgentAppDependencies {
  readonly logger: Logger;
  /** This Agent process (random, 32 hex digits); default a new one, as for a new process. */
  readonly instanceId?: string;
  /**
   * The inventory's answers, shared with what else needs its tag (the heartbeat); default new ones
   * for `instanceId`, which they must then be of.
   */
  readonly inventories?: InventoryReads;
  /** When request and response schemas are compiled (default `lazily`, on each route's first request). */
  readonly compileSchemas?: 'lazily' | 'at-start';
  readonly context: AgentContext;
  readonly status: HostStatusContext;
  /** Refuses callers of another cluster (`x-hearth-cluster-id`); absent: every caller is served. */
  readonly cluster?: Pick<ClusterMembership, 'accepts' | 'clusterId'>;
  /**
   * HTTPS that asks every caller for a client certificate issued by the cluster CA (others fail the
   * handshake), and serves only a Manager's (`urn:hearth:manager`): an Agent's is refused with 403
   * AGENT_CALLER_FORBIDDEN. Absent: plain HTTP, for loopback only (tests, a Manager-less Agent).
   */
  readonly tls?: AgentTlsOptions;
  /** Serial console attachments (`GET /agent/v1/vms/:id/console/attach`); absent: no such route. */
  readonly consoles?: ConsoleAttachments;
  /** `GET /agent/v1/metrics` and the request histogram; absent: neither. */
  readonly metrics?: AgentMetricsExposition;
}

export interface AgentTlsOptions {
  readonly caCertificatePem: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** The TLS options of the Agent's server for `tls` (also what a renewal swaps in). */
export function agentSecureContextOptions(tls: AgentTlsOptions): {
  ca: string;
  cert: string;
  key: string;
  minVersion: 'TLSv1.3';
} {
  return { ca: tls.caCertificatePem, cert: tls.certificatePem, key: tls.privateKeyPem, minVersion: 'TLSv1.3' };
}

/** The Agent's HTTP API under `/agent/v1`. */
export function createAgentApp(dependencies: AgentAppDependencies): HttpServer {
  const { tls } = dependencies;
  const instanceId = dependencies.inventories?.instanceId ?? dependencies.instanceId ?? randomBytes(16).toString('hex');
  const inventories =
    dependencies.inventories ?? new InventoryReads(dependencies.context, dependencies.status.hostName, instanceId);
  const app = createHttpServer({
    logger: dependencies.logger,
    // The Agent reads a request's correlation id in one place, its proxy route, from the request.
    isCorrelationIdStored: false,
    ...(dependencies.compileSchemas === undefined ? {} : { compileSchemas: dependencies.compileSchemas }),
    ...(tls === undefined ? {} : { https: { ...agentSecureContextOptions(tls), requestCert: true, rejectUnauthorized: true } }),
  });
  if (dependencies.metrics !== undefined) registerRequestMetrics(app, dependencies.metrics.registry);
  // Console input arrives in frames of at most 64 KiB; a larger one closes the connection (1009).
  void app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  if (tls !== undefined) {
    // A connection's certificate is fixed at its handshake: each kept-alive connection is looked at once.
    const managerSockets = new WeakSet<object>();
    app.addHook('onRequest', async (request) => {
      const socket = request.raw.socket as Partial<TLSSocket>;
      if (managerSockets.has(socket)) return;
      const names = socket.authorized === true ? uriNamesOf(socket.getPeerCertificate?.().subjectaltname) : [];
      if (!names.includes(managerIdentityUri)) {
        throw new AppError('AGENT_CALLER_FORBIDDEN', "Only a Manager's client certificate may call this Agent");
      }
      managerSockets.add(socket);
    });
  }
  app.register(
    async (scope) => {
      const api = scope as unknown as HttpServer;
      const { cluster } = dependencies;
      if (cluster !== undefined) {
        api.addHook('onRequest', async (request) => {
          const header = request.headers[clusterIdHeader];
          const callerClusterId = typeof header === 'string' ? header : undefined;
          if (!cluster.accepts(callerClusterId)) {
            throw new AppError(
              'HOST_CLUSTER_MISMATCH',
              `This Agent belongs to cluster ${cluster.clusterId ?? ''}, not ${callerClusterId ?? ''}`,
              {
                details: { agentClusterId: cluster.clusterId, clusterId: callerClusterId },
              },
            );
          }
        });
      }
      registerHostRoutes(api, dependencies.status, inventories);
      if (dependencies.metrics !== undefined) registerMetricsRoute(api, dependencies.metrics);
      registerVmRoutes(api, dependencies.context, dependencies.consoles);
      if (dependencies.consoles !== undefined) registerConsoleRoutes(api, dependencies.consoles);
      await api.register(async (proxyScope) => registerProxyRoutes(proxyScope as unknown as HttpServer, dependencies.context));
      await api.register(async (copyScope) =>
        registerSnapshotCopyRoutes(copyScope as unknown as HttpServer, dependencies.context),
      );
    },
    { prefix: agentApiPrefix },
  );
  return app;
}
