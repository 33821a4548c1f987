import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';

/**
 * The VM commands that ask for a state or a setting send no precondition: between the CLI's read of
 * the VM and its request, the VM's own transitions (a start still under way) move its
 * version, and a precondition on the version read would refuse what the user asked for.
 */
const vmId = 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA';
const snapshotId = 'snap_01JAAAAAAAAAAAAAAAAAAAAAAA';
const requests: { method: string; url: string; ifMatch: string | undefined }[] = [];
let server: http.Server;
let url: string;

beforeAll(async () => {
  server = http.createServer((request, response) => {
    requests.push({ method: request.method ?? '', url: request.url ?? '', ifMatch: request.headers['if-match'] });
    request.resume();
    request.once('end', () => {
      const isSnapshot = request.url?.startsWith('/v1/snapshots/') === true;
      const body = isSnapshot
        ? { id: snapshotId, vmId, state: 'ready' }
        : { id: vmId, name: 'web', state: 'running', version: 3, egress: { default: 'allow', rules: [] }, rateLimits: {} };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function hearth(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const code = await runCli(args, {
    env: { XDG_CONFIG_HOME: '/nonexistent/hearth-cli-test', HEARTH_URL: url, HEARTH_TOKEN: 'hearth_test' },
    stdout: () => {},
    write: () => {},
    stderr: (text) => (stderr += `${text}\n`),
  });
  return { code, stderr };
}

describe('hearth vm commands that change a VM', () => {
  it.each([
    ['start', [vmId], `/v1/vms/${vmId}/start`],
    ['stop', [vmId], `/v1/vms/${vmId}/stop`],
    ['pause', [vmId], `/v1/vms/${vmId}/pause`],
    ['resume', [vmId], `/v1/vms/${vmId}/resume`],
    ['restore', [vmId, snapshotId], `/v1/vms/${vmId}/restore`],
    ['limits', [vmId, '--unlimit', 'drive'], `/v1/vms/${vmId}/rate-limits`],
    ['egress', [vmId, '--allow-all'], `/v1/vms/${vmId}/egress`],
  ])('%s sends no If-Match with the version it read', async (command, args, path) => {
    requests.length = 0;
    const run = await hearth('vm', command, ...args);
    expect(run, run.stderr).toMatchObject({ code: 0 });
    const change = requests.find((request) => request.method !== 'GET');
    expect(change?.url.split('?')[0]).toBe(path);
    expect(change?.ifMatch).toBeUndefined();
  });
});
