import { agentApiPrefix, clusterIdHeader } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import type { ClusterMembership } from '../application/cluster-membership.js';
import { createHttpServer, type HttpServer, type Logger } from '@hearth/http-server';
import type { AgentContext } from '../application/agent-context.js';
import type { HostStatusContext } from '../application/host-status.js';
import { registerHostRoutes } from './host-routes.js';
import { registerProxyRoutes } from './proxy-routes.js';
import { registerVmRoutes } from './vm-routes.js';

export interface AgentAppDependencies {
  readonly logger: Logger;
  readonly context: AgentContext;
  readonly status: HostStatusContext;
  /** Refuses callers of another cluster (`x-hearth-cluster-id`); absent: every caller is served. */
  readonly cluster?: Pick<ClusterMembership, 'accepts' | 'clusterId'>;
}

/** The Agent's HTTP API under `/agent/v1`. */
export function createAgentApp(dependencies: AgentAppDependencies): HttpServer {
  const app = createHttpServer({ logger: dependencies.logger });
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
      registerHostRoutes(api, dependencies.context, dependencies.status);
      registerVmRoutes(api, dependencies.context);
      await api.register(async (proxyScope) => registerProxyRoutes(proxyScope as unknown as HttpServer, dependencies.context));
    },
    { prefix: agentApiPrefix },
  );
  return app;
}
