import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, type HttpServer } from '@hearth/http-server';
import { snapshotFileNames, type SnapshotCopyRequest, type SnapshotResult } from '@hearth/contracts';
import { createFakeAgent, type FakeAgent } from '../adapters/fake/fake-agent-context.js';
import { FakeHostProbe } from '../adapters/fake/fake-host-probe.js';
import { otherVmId, testSpec, testVmId } from '../adapters/fake/fake-fixtures.js';
import { adoptVms } from '../application/use-cases/adopt-vms.js';
import { applyVm } from '../application/use-cases/apply-vm.js';
import { snapshotVm } from '../application/use-cases/snapshot-vm.js';
import {
  dataRegionStreamType,
  dataRegionsSha256,
  decodeDataRegionStream,
  type DataRegion,
} from '../domain/data-region-stream.js';
import { vmPaths } from '../domain/vm-paths.js';
import { createAgentApp } from './create-agent-app.js';

const snapshotId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ0';
const copyDirectory = `/srv/fc/snapshots/${snapshotId}`;

interface ListeningAgent {
  readonly agent: FakeAgent;
  readonly app: HttpServer;
  readonly base: string;
}

const apps: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** An Agent of fakes behind its real HTTP API, listening on loopback. */
async function listeningAgent(hostName: string): Promise<ListeningAgent> {
  const agent = createFakeAgent();
  const app = createAgentApp({
    logger: createLogger({ name: 'agent-test', level: 'silent' }),
    context: agent.context,
    status: { probe: new FakeHostProbe(), records: agent.records, clock: agent.clock, hostName },
  });
  apps.push(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { agent, app, base: `http://127.0.0.1:${port}/agent/v1` };
}

/** Host A runs a VM and has taken a snapshot of it; host B has nothing yet. */
async function twoHosts(): Promise<{ a: ListeningAgent; b: ListeningAgent; taken: SnapshotResult }> {
  const [a, b] = await Promise.all([listeningAgent('host-a'), listeningAgent('host-b')]);
  await applyVm(a.agent.context, testVmId, testSpec);
  const taken = await snapshotVm(a.agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
  return { a, b, taken };
}

function copyRequest(taken: SnapshotResult): SnapshotCopyRequest {
  if (taken.digests === undefined) throw new Error('the snapshot has no digests');
  return {
    vmId: testVmId,
    digests: taken.digests,
    sizes: {
      stateSizeBytes: taken.files.stateSizeBytes,
      memorySizeBytes: taken.files.memorySizeBytes,
      rootfsSizeBytes: taken.files.rootfsSizeBytes,
    },
  };
}

async function putJson(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/**
 * One file streamed from A to B, as the Manager does: A's answer body is B's request body, in the
 * media type A answered (`contentType` overrides it).
 */
async function streamFile(
  a: ListeningAgent,
  b: ListeningAgent,
  file: string,
  id: string = snapshotId,
  contentType?: string,
  accept?: string,
): Promise<Response> {
  const source = await fetch(`${a.base}/snapshots/${id}/files/${file}`, accept === undefined ? {} : { headers: { accept } });
  expect(source.status).toBe(200);
  return fetch(`${b.base}/snapshots/${id}/files/${file}`, {
    method: 'PUT',
    headers: { 'content-type': contentType ?? source.headers.get('content-type') ?? 'application/octet-stream' },
    body: source.body,
    duplex: 'half',
  } as RequestInit);
}

describe('snapshot copies between two Agents over HTTP', () => {
  it('a copy received file by file, each with its digest, is ready and restores a VM on the other host', async () => {
    const { a, b, taken } = await twoHosts();

    const prepared = await putJson(`${b.base}/snapshots/${snapshotId}`, copyRequest(taken));
    expect(await prepared.json()).toEqual({ snapshotId, state: 'copying', missing: ['state', 'memory', 'rootfs'] });
    const answers = [];
    for (const file of snapshotFileNames) answers.push(await (await streamFile(a, b, file)).json());
    expect(answers.at(-1)).toEqual({ snapshotId, state: 'ready', missing: [] });
    for (const suffix of ['vmstate', 'memory', 'rootfs.ext4']) {
      const path = `${copyDirectory}/${snapshotId}.${suffix}`;
      expect(await b.agent.files.sha256Of(copyDirectory, path)).toBe(
        await a.agent.files.sha256Of(`/srv/fc/vms/${testVmId}`, `/srv/fc/vms/${testVmId}/${snapshotId}.${suffix}`),
      );
    }
    const inventory = (await (await fetch(`${b.base}/inventory`)).json()) as { snapshotCopies: unknown };
    expect(inventory.snapshotCopies).toEqual([{ snapshotId, vmId: testVmId, state: 'ready', directory: copyDirectory }]);

    // A clone on B restores from B's copy: its source VM is on A only.
    const clone = await applyVm(b.agent.context, otherVmId, {
      ...testSpec,
      guestMac: '06:00:ac:10:00:03',
      restoreFrom: { vmId: testVmId, snapshotId },
    });
    expect(clone.vm.vmmState).toBe('running');
    const loads = b.agent.vmm.liveProcesses[0]?.calls.filter((call) => call.path === '/snapshot/load') ?? [];
    expect(loads.map((call) => call.body)).toMatchObject([
      { statePath: `${copyDirectory}/${snapshotId}.vmstate`, memoryPath: `${copyDirectory}/${snapshotId}.memory` },
    ]);

    const removed = await fetch(`${b.base}/snapshots/${snapshotId}`, { method: 'DELETE' });
    expect(await removed.json()).toEqual({ removed: [{ kind: 'snapshot', ref: snapshotId, vmId: testVmId }] });
    expect(b.agent.files.pathsUnder(copyDirectory)).toEqual([]);
  });

  it('a file whose bytes differ from the digest taken with the snapshot is refused and nothing of it is kept', async () => {
    const { a, b, taken } = await twoHosts();
    await putJson(`${b.base}/snapshots/${snapshotId}`, copyRequest(taken));
    // The source's memory file changed after the snapshot was taken (a disk fault, a tampering).
    a.agent.files.addFile(`/srv/fc/vms/${testVmId}/${snapshotId}.memory`, 'not the guest memory');

    const refused = await streamFile(a, b, 'memory');
    expect(refused.status).toBe(409);
    expect(await refused.json()).toMatchObject({ code: 'SNAPSHOT_DIGEST_MISMATCH', details: { snapshotId, file: 'memory' } });
    expect(b.agent.files.pathsUnder(copyDirectory).filter((path) => !path.endsWith('copy.json'))).toEqual([]);
    expect((await b.agent.copies.get(snapshotId))?.state).toBe('copying');
    // A restore from an incomplete copy is refused before anything is made for the VM.
    await expect(
      applyVm(b.agent.context, otherVmId, { ...testSpec, restoreFrom: { vmId: testVmId, snapshotId } }),
    ).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });

  it('a copy interrupted mid-file (the Agent killed) leaves no file once the Agent starts again', async () => {
    const { a, b, taken } = await twoHosts();
    await putJson(`${b.base}/snapshots/${snapshotId}`, copyRequest(taken));
    await streamFile(a, b, 'state');
    // The bytes stop coming halfway through the memory file: what arrived is on disk under a temporary name.
    const halfway = (async function* (): AsyncIterable<Uint8Array> {
      yield Buffer.from('first half');
      throw new Error('connection reset');
    })();
    await expect(
      b.agent.files.receiveFile(`${copyDirectory}/${snapshotId}.memory`, halfway, { sha256: '0'.repeat(64), maxBytes: 1024 }),
    ).rejects.toThrow('connection reset');
    expect(b.agent.files.pathsUnder(copyDirectory)).toContain(`${copyDirectory}/${snapshotId}.memory.partial`);

    await adoptVms(b.agent.context);

    expect(b.agent.files.pathsUnder(copyDirectory)).toEqual([]);
    expect(await b.agent.copies.list()).toEqual([]);
  });

  /** A full memory file as Firecracker writes one: every page written, the guest's one page of data among zeros. */
  async function fullMemoryOnA(
    a: ListeningAgent,
    taken: SnapshotResult,
  ): Promise<{ memory: Buffer; request: SnapshotCopyRequest }> {
    const memory = Buffer.alloc(8 * 4096);
    memory.fill(0x41, 2 * 4096, 3 * 4096);
    a.agent.files.addFile(`/srv/fc/vms/${testVmId}/${snapshotId}.memory`, memory.toString('latin1'));
    const request = copyRequest(taken);
    return {
      memory,
      request: {
        ...request,
        digests: { ...request.digests, memorySha256: createHash('sha256').update(memory).digest('hex') },
        sizes: { ...request.sizes, memorySizeBytes: memory.length },
      },
    };
  }

  it("to an asker that takes data regions, a full snapshot's memory and disk go as what they hold (no zeros), its device state whole", async () => {
    const { a, b, taken } = await twoHosts();
    const { memory, request } = await fullMemoryOnA(a, taken);
    await putJson(`${b.base}/snapshots/${snapshotId}`, request);

    const served = await fetch(`${a.base}/snapshots/${snapshotId}/files/memory`, { headers: { accept: dataRegionStreamType } });
    const regions: DataRegion[] = [];
    for await (const event of decodeDataRegionStream(served.body as AsyncIterable<Uint8Array>, memory.length)) {
      if (event.kind === 'region') regions.push(event.region);
    }
    expect(regions).toEqual([{ start: 2 * 4096, end: 3 * 4096 }]);

    const types: (string | null)[] = [];
    const answers = [];
    for (const file of snapshotFileNames) {
      const source = await fetch(`${a.base}/snapshots/${snapshotId}/files/${file}`, {
        headers: { accept: `${dataRegionStreamType}, application/octet-stream` },
      });
      types.push(source.headers.get('content-type'));
      await source.arrayBuffer();
      answers.push(await (await streamFile(a, b, file, snapshotId, undefined, dataRegionStreamType)).json());
    }
    expect(types).toEqual(['application/octet-stream', dataRegionStreamType, dataRegionStreamType]);
    expect(answers.at(-1)).toEqual({ snapshotId, state: 'ready', missing: [] });
    expect(b.agent.files.files.get(`${copyDirectory}/${snapshotId}.memory`)?.content).toBe(memory.toString('latin1'));
  });

  it('to an asker that does not name data regions (an older Manager), every file of a full snapshot goes whole', async () => {
    const { a, taken } = await twoHosts();
    await fullMemoryOnA(a, taken);

    const types: (string | null)[] = [];
    for (const file of snapshotFileNames) {
      const source = await fetch(`${a.base}/snapshots/${snapshotId}/files/${file}`, { headers: { accept: '*/*' } });
      types.push(source.headers.get('content-type'));
      await source.arrayBuffer();
    }

    expect(types).toEqual(['application/octet-stream', 'application/octet-stream', 'application/octet-stream']);
  });

  it('refuses a full file sent as data regions that are malformed or hash to another SHA-256, keeping nothing of it', async () => {
    const { a, b, taken } = await twoHosts();
    const { request } = await fullMemoryOnA(a, taken);
    await putJson(`${b.base}/snapshots/${snapshotId}`, request);
    const putMemory = (body: Buffer): Promise<Response> =>
      fetch(`${b.base}/snapshots/${snapshotId}/files/memory`, {
        method: 'PUT',
        headers: { 'content-type': dataRegionStreamType },
        body,
      });
    const source = Buffer.from(
      await (
        await fetch(`${a.base}/snapshots/${snapshotId}/files/memory`, { headers: { accept: dataRegionStreamType } })
      ).arrayBuffer(),
    );

    const trailing = await putMemory(Buffer.concat([source, Buffer.from('more')]));
    const cutShort = await putMemory(source.subarray(0, source.length - 20));
    const flipped = Buffer.from(source);
    flipped[40] = 0x42;
    const otherBytes = await putMemory(flipped);

    expect([trailing.status, cutShort.status, otherBytes.status]).toEqual([409, 409, 409]);
    expect(await trailing.json()).toMatchObject({
      code: 'SNAPSHOT_DIGEST_MISMATCH',
      detail: expect.stringContaining('malformed'),
    });
    expect(await cutShort.json()).toMatchObject({
      code: 'SNAPSHOT_DIGEST_MISMATCH',
      detail: expect.stringContaining('malformed'),
    });
    expect(await otherBytes.json()).toMatchObject({
      code: 'SNAPSHOT_DIGEST_MISMATCH',
      detail: expect.stringContaining('SHA-256'),
    });
    expect(b.agent.files.pathsUnder(copyDirectory).filter((path) => !path.endsWith('copy.json'))).toEqual([]);
  });

  it('a full file arriving as data regions and cut off mid-stream (the Agent killed) leaves no file once the Agent starts again', async () => {
    const { a, b, taken } = await twoHosts();
    const { memory, request } = await fullMemoryOnA(a, taken);
    await putJson(`${b.base}/snapshots/${snapshotId}`, request);
    const served = await fetch(`${a.base}/snapshots/${snapshotId}/files/memory`, { headers: { accept: dataRegionStreamType } });
    const stream = Buffer.from(await served.arrayBuffer());
    const halfway = (async function* (): AsyncIterable<Uint8Array> {
      yield stream.subarray(0, stream.length - 100);
      throw new Error('connection reset');
    })();
    await expect(
      b.agent.files.receiveFile(
        `${copyDirectory}/${snapshotId}.memory`,
        halfway,
        { sha256: request.digests.memorySha256, maxBytes: memory.length },
        'data_regions',
      ),
    ).rejects.toThrow('connection reset');
    expect(b.agent.files.pathsUnder(copyDirectory)).toContain(`${copyDirectory}/${snapshotId}.memory.partial`);

    await adoptVms(b.agent.context);

    expect(b.agent.files.pathsUnder(copyDirectory)).toEqual([]);
    expect(await b.agent.copies.list()).toEqual([]);
  });

  it('a snapshot this host does not hold is not served (404 SNAPSHOT_NOT_FOUND)', async () => {
    const { b } = await twoHosts();
    const missing = await fetch(`${b.base}/snapshots/${snapshotId}/files/memory`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'SNAPSHOT_NOT_FOUND' });
  });
});

describe('diff snapshot copies between two Agents over HTTP', () => {
  const diffId = 'snap_01JABCDEFGHJKMNPQRSTVWXYZ1';
  const sourceDirectory = `/srv/fc/vms/${testVmId}`;
  const diffCopyDirectory = `/srv/fc/snapshots/${diffId}`;

  /**
   * Host A holds a full snapshot (memory `AAAAAAAA`) and a diff on top of it whose guest wrote `B`
   * at 0 and zeros at [4, 6) (data), holes elsewhere; B holds a ready copy of the full one. Answers
   * the diff's copy request, its digests taken from A's files.
   */
  async function diffOnA(): Promise<{ a: ListeningAgent; b: ListeningAgent; diffRequest: SnapshotCopyRequest }> {
    const { a, b, taken } = await twoHosts();
    await snapshotVm(a.agent.context, testVmId, diffId, { afterwards: 'previous_state', type: 'diff', parentId: snapshotId });
    a.agent.files.files.set(`${sourceDirectory}/${snapshotId}.memory`, { kind: 'file', content: 'AAAAAAAA', sizeBytes: 8 });
    a.agent.files.files.set(`${sourceDirectory}/${diffId}.memory`, {
      kind: 'file',
      content: 'B\0\0\0\0\0\0\0',
      sizeBytes: 8,
      dataRegions: [
        [0, 1],
        [4, 6],
      ],
    });
    const digestOf = async (id: string) => ({
      ...copyRequest(taken).digests,
      memorySha256: (await a.agent.files.sha256Of(sourceDirectory, `${sourceDirectory}/${id}.memory`))!,
    });
    await putJson(`${b.base}/snapshots/${snapshotId}`, { ...copyRequest(taken), digests: await digestOf(snapshotId) });
    for (const file of snapshotFileNames) expect((await streamFile(a, b, file)).status).toBe(200);
    const diffRequest: SnapshotCopyRequest = {
      ...copyRequest(taken),
      parentId: snapshotId,
      digests: {
        ...(await digestOf(diffId)),
        memoryRegionsSha256: (await a.agent.files.dataRegionsSha256Of(sourceDirectory, `${sourceDirectory}/${diffId}.memory`))!,
      },
    };
    return { a, b, diffRequest };
  }

  it("takes the digest of a diff's memory layout with the snapshot", async () => {
    const { a } = await twoHosts();
    const diff = await snapshotVm(a.agent.context, testVmId, diffId, {
      afterwards: 'previous_state',
      type: 'diff',
      parentId: snapshotId,
    });
    // The fake VMM's guest wrote nothing since the full snapshot: a diff of holes only.
    expect(diff.digests?.memoryRegionsSha256).toBe(dataRegionsSha256([]));
    const full = await snapshotVm(a.agent.context, testVmId, snapshotId, { afterwards: 'previous_state' });
    expect(full.digests?.memoryRegionsSha256).toBeUndefined();
  });

  it("a diff's memory arrives as its data regions and keeps them (zeros written stay data); a clone on B restores the chain merged", async () => {
    const { a, b, diffRequest } = await diffOnA();

    expect((await putJson(`${b.base}/snapshots/${diffId}`, diffRequest)).status).toBe(200);
    const served = await fetch(`${a.base}/snapshots/${diffId}/files/memory`);
    expect(served.headers.get('content-type')).toBe(dataRegionStreamType);
    await served.body?.cancel();
    const answers = [];
    for (const file of snapshotFileNames) answers.push(await (await streamFile(a, b, file, diffId)).json());

    expect(answers.at(-1)).toEqual({ snapshotId: diffId, state: 'ready', missing: [] });
    expect(b.agent.files.files.get(`${diffCopyDirectory}/${diffId}.memory`)).toMatchObject({
      content: 'B\0\0\0\0\0\0\0',
      dataRegions: [
        [0, 1],
        [4, 6],
      ],
    });
    await applyVm(b.agent.context, otherVmId, {
      ...testSpec,
      guestMac: '06:00:ac:10:00:03',
      restoreFrom: { vmId: testVmId, snapshotId: diffId },
    });
    // The diff's data (its zeros included) over the full snapshot's; its holes leave the parent's bytes.
    expect(b.agent.files.files.get(vmPaths('/srv/fc', otherVmId).restoredMemory)?.content).toBe('BAAA\0\0AA');
  });

  it("refuses a diff's memory sent whole, with other data regions than recorded, or to a file system that does not keep them", async () => {
    const { a, b, diffRequest } = await diffOnA();
    await putJson(`${b.base}/snapshots/${diffId}`, diffRequest);

    const whole = await streamFile(a, b, 'memory', diffId, 'application/octet-stream');
    expect(whole.status).toBe(409);
    expect(await whole.json()).toMatchObject({
      code: 'SNAPSHOT_DIGEST_MISMATCH',
      detail: expect.stringContaining('data regions'),
    });

    // The source now reports the written zeros as a hole: same bytes, another layout.
    a.agent.files.files.get(`${sourceDirectory}/${diffId}.memory`)!.dataRegions = [[0, 1]];
    const moved = await streamFile(a, b, 'memory', diffId);
    expect(moved.status).toBe(409);
    expect(await moved.json()).toMatchObject({
      code: 'SNAPSHOT_DIGEST_MISMATCH',
      detail: expect.stringContaining('other data regions'),
    });

    a.agent.files.files.get(`${sourceDirectory}/${diffId}.memory`)!.dataRegions = [
      [0, 1],
      [4, 6],
    ];
    b.agent.files.keepsDataRegions = false;
    const unkept = await streamFile(a, b, 'memory', diffId);
    expect(unkept.status).toBe(409);
    expect(await unkept.json()).toMatchObject({ code: 'SNAPSHOT_INCOMPATIBLE' });

    expect(b.agent.files.pathsUnder(diffCopyDirectory).filter((path) => !path.endsWith('copy.json'))).toEqual([]);
    expect((await b.agent.copies.get(diffId))?.state).toBe('copying');
  });

  it("refuses a diff's copy without the digest of its memory layout with 400 VALIDATION_FAILED", async () => {
    const { b, diffRequest } = await diffOnA();
    const { memoryRegionsSha256: _dropped, ...digests } = diffRequest.digests;

    const refused = await putJson(`${b.base}/snapshots/${diffId}`, { ...diffRequest, digests });

    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await b.agent.copies.get(diffId)).toBeUndefined();
  });

  it('refuses to restore a copied diff whose parent this host does not hold with SNAPSHOT_NOT_FOUND', async () => {
    const { a, b, diffRequest } = await diffOnA();
    await putJson(`${b.base}/snapshots/${diffId}`, diffRequest);
    for (const file of snapshotFileNames) await streamFile(a, b, file, diffId);
    await fetch(`${b.base}/snapshots/${snapshotId}`, { method: 'DELETE' });

    await expect(
      applyVm(b.agent.context, otherVmId, { ...testSpec, restoreFrom: { vmId: testVmId, snapshotId: diffId } }),
    ).rejects.toMatchObject({ code: 'SNAPSHOT_NOT_FOUND', details: { snapshotId } });
  });
});
