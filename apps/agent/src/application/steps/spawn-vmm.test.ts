import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../../adapters/fake/fake-agent-context.js';
import { testSpec, testVmId } from '../../adapters/fake/fake-fixtures.js';
import { vmPaths } from '../../domain/vm-paths.js';
import { applyVm } from '../use-cases/apply-vm.js';

describe('spawnVmm', () => {
  it("asks the VMM's API only once its socket is there, not with a connect bound to fail first", async () => {
    const agent = createFakeAgent();
    const socket = vmPaths(agent.context.settings.runDir, testVmId).socket;
    const events: string[] = [];
    // The socket appears a moment after the spawn, at the watch's first wait, as a real VMM's does.
    const spawn = agent.vmm.spawn.bind(agent.vmm);
    agent.vmm.spawn = async (request) => {
      const process = await spawn(request);
      const file = agent.files.files.get(socket);
      agent.files.files.delete(socket);
      const watchPath = agent.files.watchPath.bind(agent.files);
      agent.files.watchPath = (path: string) => {
        const watch = watchPath(path);
        return {
          appeared: async (timeoutMs: number) => {
            if (path === socket && file !== undefined && !agent.files.files.has(socket)) {
              events.push('socket appears');
              agent.files.files.set(socket, file);
            }
            return watch.appeared(timeoutMs);
          },
          close: () => watch.close(),
        };
      };
      return process;
    };
    const client = agent.firecracker.client.bind(agent.firecracker);
    agent.firecracker.client = (socketPath) => {
      const inner = client(socketPath);
      const describeInstance = inner.describeInstance.bind(inner);
      inner.describeInstance = async () => {
        events.push(agent.files.files.has(socketPath) ? 'GET /' : 'GET / before the socket');
        return describeInstance();
      };
      return inner;
    };

    await applyVm(agent.context, testVmId, testSpec);

    expect(events.slice(0, 2)).toEqual(['socket appears', 'GET /']);
    expect(events).not.toContain('GET / before the socket');
  });
});
