import { agentApiPrefix } from '@hearth/contracts';
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
}

/** The Agent's HTTP API under `/agent/v1`. */
export function createAgentApp(dependencies: AgentAppDependencies): HttpServer {
  const app = createHttpServer({ logger: dependencies.logger });
  app.register(
    async (scope) => {
      const api = scope as unknown as HttpServer;
      registerHostRoutes(api, dependencies.context, dependencies.status);
      registerVmRoutes(api, dependencies.context);
      await api.register(async (proxyScope) => registerProxyRoutes(proxyScope as unknown as HttpServer, dependencies.context));
    },
    { prefix: agentApiPrefix },
  );
  return app;
}
