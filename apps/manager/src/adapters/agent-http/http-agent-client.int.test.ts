import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import type { ApplyVmResult, VmSpec } from '@hearth/contracts';
import { runWithCorrelationId } from '@hearth/http-server';
import { waitFor } from '@hearth/testkit';
import type { VmId } from '../../domain/ids.js';
import { HttpAgentClient } from './http-agent-client.js';
import { rejection } from '../../testing/rejections.js';

// A stand-in Agent on a Unix socket: real HTTP through undici, and no network is touched.
interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (request: Received, response: ServerResponse) => void;

let dir: string;
let socketPath: string;
let server: Server;
let handler: Handler = (_, response) => response.end();
const received: Received[] = [];
const dispatchers: Agent[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hearth-agent-client-'));
  socketPath = join(dir, 'agent.sock');
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(entry);
      handler(entry, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterEach(() => {
  received.length = 0;
  handler = (_, response) => response.end();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await Promise.all(dispatchers.map((d) => d.close()));
  await rm(dir, { recursive: true, force: true });
});

function client(
  options: { socket?: string; timeoutMs?: number; connections?: number; onAnswer?: (addr: string) => void } = {},
): HttpAgentClient {
  const dispatcher = new Agent({
    connect: { socketPath: options.socket ?? socketPath },
    ...(options.connections === undefined ? {} : { connections: options.connections }),
  });
  dispatchers.push(dispatcher);
  return new HttpAgentClient({
    applyTimeoutMs: options.timeoutMs ?? 5000,
    requestTimeoutMs: options.timeoutMs ?? 5000,
    dispatcher,
    ...(options.onAnswer === undefined ? {} : { onAnswer: options.onAnswer }),
  });
}

function reply(status: number, body: unknown, contentType = 'application/json'): Handler {
  return (_, response) => {
    response.writeHead(status, { 'content-type': contentType });
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

const target = { addr: 'http://agent.test:9090' };
const vmId = 'vm_01JABCDEFGHJKMNPQRSTVWXYZ0' as VmId;
const spec: VmSpec = {
  vcpuCount: 1,
  memoryMib: 256,
  kernelPath: '/srv/images/vmlinux',
  rootfsSourcePath: '/srv/images/rootfs.ext4',
  bootArgs: 'console=ttyS0',
  guestMac: '06:00:00:00:00:01',
  isMetricsEnabled: false,
};
const applied: ApplyVmResult = {
  vm: {
    vmId,
    vmmState: 'running',
    pid: 42,
    tapName: 'hth-abc',
    socketPath: '/run/fc.sock',
    rootfsPath: '/run/rootfs',
    resources: [],
  },
  steps: [{ name: 'tap', durationMs: 1.5, hasRun: true }],
};

describe('HttpAgentClient', () => {
  it('puts the VM spec to /agent/v1/vms/:id and returns the Agent result', async () => {
    handler = reply(200, applied);
    expect(await client().applyVm(target, vmId, spec)).toEqual(applied);
    expect(received[0]).toMatchObject({ method: 'PUT', url: `/agent/v1/vms/${vmId}` });
    expect(JSON.parse(received[0]!.body)).toEqual(spec);
    expect(received[0]!.headers['content-type']).toBe('application/json');
  });

  it('shares one apply of a VM among callers while it waits for its answer, then applies anew', async () => {
    const answers: Array<() => void> = [];
    handler = (_, response) => answers.push(() => reply(200, applied)(_, response));
    const agent = client();
    const first = agent.applyVm(target, vmId, spec);
    await waitFor(() => received.length === 1, { description: 'the first apply reaches the Agent' });
    const second = agent.applyVm(target, vmId, spec);
    const otherSpec = agent.applyVm(target, vmId, { ...spec, memoryMib: 512 });
    await waitFor(() => received.length === 2, { description: 'the apply of another spec reaches the Agent' });
    for (const answer of answers) answer();
    expect(await Promise.all([first, second, otherSpec])).toEqual([applied, applied, applied]);
    expect(received.map((request) => JSON.parse(request.body).memoryMib)).toEqual([256, 512]);
    handler = reply(200, applied);
    expect(await agent.applyVm(target, vmId, spec)).toEqual(applied);
    expect(received).toHaveLength(3);
  });

  it('forwards the current correlation id as x-request-id', async () => {
    handler = reply(200, { removed: [] });
    await runWithCorrelationId('req-forward-1', () => client().stopVm(target, vmId));
    expect(received[0]).toMatchObject({ method: 'POST', url: `/agent/v1/vms/${vmId}/stop` });
    expect(received[0]!.headers['x-request-id']).toBe('req-forward-1');
  });

  it('asks a stop on the way to a restore to keep the network with network=keep, and an ordinary stop with no query', async () => {
    handler = reply(200, { removed: [] });
    await client().stopVm(target, vmId, { isNetworkKept: true });
    await client().stopVm(target, vmId);
    expect(received.map((request) => request.url)).toEqual([
      `/agent/v1/vms/${vmId}/stop?network=keep`,
      `/agent/v1/vms/${vmId}/stop`,
    ]);
  });

  it('turns a FIRECRACKER_REJECTED problem back into that error with its fault message', async () => {
    handler = reply(
      400,
      {
        type: 'x',
        title: 't',
        status: 400,
        detail: 'Invalid kernel',
        code: 'FIRECRACKER_REJECTED',
        correlationId: 'c',
        details: { faultMessage: 'Invalid kernel' },
      },
      'application/problem+json',
    );
    const error = await rejection(client().applyVm(target, vmId, spec));
    expect(error.code).toBe('FIRECRACKER_REJECTED');
    expect(error.message).toBe('Invalid kernel');
    expect(error.details).toEqual({ faultMessage: 'Invalid kernel' });
    expect(error.diagnostics).toMatchObject({ agentAddr: target.addr });
  });

  it('keeps VM_NOT_FOUND from a delete so the caller can treat the VM as gone', async () => {
    handler = reply(404, { code: 'VM_NOT_FOUND', detail: 'no such vm', status: 404 }, 'application/problem+json');
    const error = await rejection(client().deleteVm(target, vmId));
    expect(error.code).toBe('VM_NOT_FOUND');
    expect(received[0]).toMatchObject({ method: 'DELETE', url: `/agent/v1/vms/${vmId}` });
  });

  it('keeps the leftovers of VM_CLEANUP_INCOMPLETE', async () => {
    const leftovers = [{ kind: 'tap', ref: 'hth-abc', vmId }];
    handler = reply(
      500,
      { code: 'VM_CLEANUP_INCOMPLETE', detail: 'tap left', details: { leftovers } },
      'application/problem+json',
    );
    expect((await rejection(client().stopVm(target, vmId))).details).toMatchObject({ leftovers });
  });

  it("reports a validation problem of the Agent as AGENT_REJECTED, not as the caller's fault", async () => {
    handler = reply(400, { code: 'VALIDATION_FAILED', detail: 'Invalid body: body/guestMac' }, 'application/problem+json');
    const error = await rejection(client().applyVm(target, vmId, spec));
    expect(error.code).toBe('AGENT_REJECTED');
    expect(error.details).toMatchObject({ agentCode: 'VALIDATION_FAILED', status: 400 });
  });

  it('reports an answer that is not a problem as AGENT_REJECTED', async () => {
    handler = reply(502, '<html>bad gateway</html>', 'text/html');
    expect((await rejection(client().deleteVm(target, vmId))).code).toBe('AGENT_REJECTED');
  });

  it('reports a success body outside the contract as AGENT_REJECTED', async () => {
    handler = reply(200, { ok: true });
    expect((await rejection(client().applyVm(target, vmId, spec))).code).toBe('AGENT_REJECTED');
  });

  it('reports an Agent nobody listens for as AGENT_UNAVAILABLE', async () => {
    const error = await rejection(client({ socket: join(dir, 'nobody.sock') }).stopVm(target, vmId));
    expect(error.code).toBe('AGENT_UNAVAILABLE');
  });

  it('reports an Agent that does not answer in time as AGENT_UNAVAILABLE', async () => {
    handler = () => undefined;
    const error = await rejection(client({ timeoutMs: 200 }).stopVm(target, vmId));
    expect(error.code).toBe('AGENT_UNAVAILABLE');
    expect(error.details).toMatchObject({ reason: 'timeout' });
  });

  it("counts a call's timeout from the moment it has a connection, not its wait for one", async () => {
    // Each call is answered 600 ms after it reaches the Agent, one at a time on the one connection:
    // the second waits ~600 ms for it, then its own 600 ms, within its 1 s but not from its start.
    handler = (_, response) => setTimeout(() => reply(200, { removed: [] })(_, response), 600);
    const calls = client({ timeoutMs: 1000, connections: 1 });

    const outcomes = await Promise.allSettled([calls.stopVm(target, vmId), calls.stopVm(target, vmId)]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(received).toHaveLength(2);
  });

  it('tells of every answer of an Agent, a refusal too, and of no call that got none', async () => {
    const answers: string[] = [];
    const onAnswer = (addr: string): void => void answers.push(addr);
    handler = reply(404, { code: 'VM_NOT_FOUND', title: 'Not Found', status: 404, detail: 'no such VM' });
    await rejection(client({ onAnswer }).stopVm(target, vmId));
    expect(answers).toEqual([target.addr]);

    await rejection(client({ socket: join(dir, 'nobody.sock'), onAnswer }).stopVm(target, vmId));
    handler = () => undefined;
    await rejection(client({ timeoutMs: 200, onAnswer }).stopVm(target, vmId));
    expect(answers).toEqual([target.addr]);
  });
});
