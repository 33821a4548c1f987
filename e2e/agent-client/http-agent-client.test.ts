import type { AddressInfo } from 'node:net';
import { createLogger } from '@hearth/http-server';
import { createFakeAgent } from '../../apps/agent/src/adapters/fake/fake-agent-context.js';
import { testSpec } from '../../apps/agent/src/adapters/fake/fake-fixtures.js';
import { FakeHostProbe } from '../../apps/agent/src/adapters/fake/fake-host-probe.js';
import { PromAgentMetrics } from '../../apps/agent/src/adapters/metrics/prom-agent-metrics.js';
import { parseVmId } from '../../apps/agent/src/domain/vm-id.js';
import { createAgentApp } from '../../apps/agent/src/http/create-agent-app.js';
import { defaultAgentClientOptions, HttpAgentClient } from '../../apps/manager/src/adapters/agent-http/http-agent-client.js';
import { describeAgentClientContract } from './agent-client.contract.js';

// The real Agent HTTP app on its fake host adapters, over real HTTP on loopback.
describeAgentClientContract('HttpAgentClient talking to the Agent HTTP app over loopback', async () => {
  const agent = createFakeAgent();
  const others: ReturnType<typeof createAgentApp>[] = [];
  // A new app is a new Agent process over the same host: the fake host's records and VMMs stay.
  const start = async (
    host: typeof agent = agent,
  ): Promise<{ app: ReturnType<typeof createAgentApp>; target: { addr: string } }> => {
    const app = createAgentApp({
      logger: createLogger({ name: 'agent-contract', level: 'silent' }),
      context: host.context,
      status: {
        probe: new FakeHostProbe(),
        records: host.records,
        clock: host.clock,
        hostName: host === agent ? 'host-a' : 'host-b',
      },
      // The fake host's VMMs write no metrics FIFO: the counters are there, with no series yet.
      metrics: { registry: new PromAgentMetrics({ isProcessCollected: false }).registry, refresh: async () => undefined },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    return { app, target: { addr: `http://127.0.0.1:${port}` } };
  };
  let running = await start();
  return {
    client: new HttpAgentClient(defaultAgentClientOptions),
    target: running.target,
    spec: testSpec,
    restartAgent: async () => {
      await running.app.close();
      running = await start();
      return running.target;
    },
    startOtherAgent: async () => {
      const other = await start(createFakeAgent());
      others.push(other.app);
      return other.target;
    },
    cleanup: async () => {
      await Promise.all([running.app.close(), ...others.map((app) => app.close())]);
    },
    tearRecord: async (vmId) => agent.records.markUnreadable(parseVmId(vmId), `${agent.context.settings.runDir}/${vmId}`, 'torn'),
  };
});
