import { describe, expect, it } from 'vitest';
import { createFakeAgent } from '../adapters/fake/fake-agent-context.js';
import { applyVm } from './apply-vm.js';
import { proxyToFirecracker } from './proxy-to-firecracker.js';
import { appErrorOf, testSpec, testVmId } from '../adapters/fake/fake-fixtures.js';

const getRoot = { method: 'GET', path: '', contentType: undefined, body: undefined, correlationId: 'corr-12345678' };

describe('proxyToFirecracker', () => {
  it('forwards an allowed request to the VM socket and returns the answer as is', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const response = await proxyToFirecracker(agent.context, testVmId, getRoot);

    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({ state: 'Running' });
    expect(agent.firecracker.forwarded.at(-1)?.correlationId).toBe('corr-12345678');
  });

  it('rejects a path outside the allow-list with PROXY_PATH_NOT_ALLOWED', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);

    const error = await appErrorOf(
      proxyToFirecracker(agent.context, testVmId, { ...getRoot, method: 'PUT', path: 'cpu-config' }),
    );

    expect(error.code).toBe('PROXY_PATH_NOT_ALLOWED');
  });

  it('answers VM_NOT_FOUND for an unknown VM', async () => {
    const agent = createFakeAgent();

    expect((await appErrorOf(proxyToFirecracker(agent.context, testVmId, getRoot))).code).toBe('VM_NOT_FOUND');
  });

  it('answers VMM_NOT_RUNNING when the VMM has exited', async () => {
    const agent = createFakeAgent();
    await applyVm(agent.context, testVmId, testSpec);
    for (const process of agent.vmm.liveProcesses) process.isAlive = false;

    expect((await appErrorOf(proxyToFirecracker(agent.context, testVmId, getRoot))).code).toBe('VMM_NOT_RUNNING');
  });
});
