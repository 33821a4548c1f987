import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingRequirements } from '@hearth/testkit';
import { startCluster, type Cluster, type ClusterAgent } from './support/cluster.js';

/**
 * Templates over real processes (a Manager on PostgreSQL, an Agent and the double): a VM created
 * from a template runs with the template's values and its overrides, on the host too; changing and
 * deleting the template leave the VM as it was; and another project's tenant can neither see the
 * template nor start a VM from it.
 */
const skipReason = missingRequirements({ root: true, database: true, commands: ['ip', 'mkfs.ext4'] });

interface Template {
  id: string;
  name: string;
  version: number;
}

interface Vm {
  id: string;
  state: string;
  vcpuCount: number;
  memoryMib: number;
  bootArgs: string;
  templateId: string | null;
  templateVersion: number | null;
}

/** What the VM's VMM was started with on the host: its Firecracker configuration file. */
function specOnHost(agent: ClusterAgent, vmId: string): { vcpuCount: number; memoryMib: number; bootArgs: string } {
  const configuration = JSON.parse(readFileSync(path.join(agent.runDir, 'vms', vmId, 'vmm-config.json'), 'utf8')) as {
    'machine-config': { vcpu_count: number; mem_size_mib: number };
    'boot-source': { boot_args: string };
  };
  return {
    vcpuCount: configuration['machine-config'].vcpu_count,
    memoryMib: configuration['machine-config'].mem_size_mib,
    bootArgs: configuration['boot-source'].boot_args,
  };
}

describe.skipIf(skipReason)(`templates over real processes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ agentCount: 1 });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('starts a VM from a template with its overrides, and the VM keeps its values when the template changes or goes', async () => {
    const images = await cluster.images();
    const created = await cluster.api<Template>('POST', '/v1/templates', {
      name: 'small',
      vcpuCount: 1,
      memoryMib: 128,
      bootArgs: 'console=ttyS0 reboot=k panic=1 pci=off quiet',
      ...images,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const template = created.body;

    const started = await cluster.api<Vm>('POST', '/v1/vms', { name: 'from-template', templateId: template.id, vcpuCount: 2 });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const vm = started.body;
    expect(vm).toMatchObject({ state: 'running', vcpuCount: 2, memoryMib: 128, templateId: template.id, templateVersion: 1 });
    const agent = cluster.agents[0]!;
    expect(specOnHost(agent, vm.id)).toMatchObject({
      vcpuCount: 2,
      memoryMib: 128,
      bootArgs: expect.stringContaining('quiet') as unknown,
    });

    const patched = await cluster.api<Template>(
      'PATCH',
      `/v1/templates/${template.id}`,
      { memoryMib: 512, bootArgs: 'console=ttyS0' },
      { 'if-match': '"1"' },
    );
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    expect(patched.body.version).toBe(2);
    expect((await cluster.api('DELETE', `/v1/templates/${template.id}`, undefined, { 'if-match': '"2"' })).status).toBe(204);

    const after = await cluster.api<Vm>('GET', `/v1/vms/${vm.id}`);
    expect(after.body).toMatchObject({ state: 'running', memoryMib: 128, bootArgs: vm.bootArgs, templateId: template.id });
    // A restart re-applies the VM's own spec, not the template's.
    expect((await cluster.api('POST', `/v1/vms/${vm.id}/stop`)).status).toBe(200);
    expect((await cluster.api('POST', `/v1/vms/${vm.id}/start`)).status).toBe(200);
    expect(specOnHost(agent, vm.id)).toMatchObject({ vcpuCount: 2, memoryMib: 128 });

    const events = await cluster.api<{ items: Array<{ type: string; objectId: string | null }> }>('GET', '/v1/events?limit=500');
    expect(events.body.items.filter((e) => e.objectId === template.id).map((e) => e.type)).toEqual([
      'template.created',
      'template.updated',
      'template.deleted',
    ]);
    expect((await cluster.api('DELETE', `/v1/vms/${vm.id}`)).status).toBe(200);
  });

  it("keeps one project's templates from another project's tenant", async () => {
    const images = await cluster.images();
    const template = (
      await cluster.api<Template>('POST', '/v1/templates', { name: 'private', vcpuCount: 1, memoryMib: 128, ...images })
    ).body;
    expect((await cluster.api('POST', '/v1/projects', { name: 'green' })).status).toBe(201);
    const token = await cluster.api<{ secret: string }>('POST', '/v1/tokens', {
      name: 'green-owner',
      scopes: ['vms:write', 'templates:write', 'events:read'],
      projects: ['green'],
    });
    expect(token.status).toBe(201);
    const green = { authorization: `Bearer ${token.body.secret}` };

    for (const [method, body] of [['GET'], ['PATCH', { vcpuCount: 2 }], ['DELETE']] as const) {
      const response = await cluster.api(method, `/v1/templates/${template.id}`, body, green);
      expect(response.status, method).toBe(404);
      expect(response.body).toMatchObject({ code: 'TEMPLATE_NOT_FOUND' });
    }
    expect((await cluster.api('GET', '/v1/templates', undefined, green)).body).toEqual({ items: [], nextCursor: null });
    const refused = await cluster.api('POST', '/v1/vms', { name: 'stolen', templateId: template.id }, green);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ errors: [{ field: 'body/templateId' }] });
    const events = await cluster.api<{ items: Array<{ objectId: string | null }> }>(
      'GET',
      '/v1/events?limit=500',
      undefined,
      green,
    );
    expect(events.body.items.filter((e) => e.objectId === template.id)).toEqual([]);
    expect((await cluster.api<Template>('GET', `/v1/templates/${template.id}`)).body.name).toBe('private');
  });
});
