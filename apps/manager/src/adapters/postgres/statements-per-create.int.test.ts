import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import type { HttpServer } from '@hearth/http-server';
import { fakeExt4Bytes, fakeKernelBytes } from '../fake/fake-image-inspector.js';
import { hashTokenSecret } from '../../application/use-cases/api-tokens.js';
import { buildTestApp } from '../../testing/test-app.js';
import { joinedAgentHeaders } from '../../testing/joined-agents.js';
import { agentIdFor, createWorld, hostCapacity, hostFacts, testAdminSecret, testAdminToken } from '../../testing/world.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { createPgRepositories } from './pg-repositories.js';

/** Counts the statements run through it (BEGIN and COMMIT aside), keeping their SQL for a failure's message. */
class StatementCounter implements KyselyPlugin {
  readonly statements: string[] = [];
  private readonly described = new Map<string, string>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.described.set(args.queryId.queryId, summary(args.node));
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.statements.push(this.described.get(args.queryId.queryId) ?? '?');
    this.described.delete(args.queryId.queryId);
    return args.result;
  }
}

/** A statement in a few words: its kind and the tables it names (a raw one: its first words). */
function summary(node: RootOperationNode): string {
  if (node.kind === 'RawNode') return node.sqlFragments.join('?').replace(/\s+/g, ' ').slice(0, 80);
  const tables = [
    ...JSON.stringify(node).matchAll(/"SchemableIdentifierNode","identifier":\{"kind":"IdentifierNode","name":"(\w+)"/g),
  ].map((m) => m[1]);
  return `${node.kind} ${[...new Set(tables)].join(',')}`;
}

describe('statements per create, on the embedded database', () => {
  let db: Database;
  let app: HttpServer;
  let counter: StatementCounter;
  let images: { kernelImageId: string; rootfsImageId: string };
  let agentHeaders: { authorization: string };
  let hostId: string;

  beforeAll(async () => {
    const plain = await openDatabase({ kind: 'pglite' });
    await migrate(plain, await readMigrations());
    counter = new StatementCounter();
    db = plain.withPlugin(counter);
    const world = createWorld();
    const repos = createPgRepositories(db);
    await repos.tokens.insert(testAdminToken, hashTokenSecret(testAdminSecret));
    const deps = { ...world.deps, ...repos };
    app = await buildTestApp(deps);
    agentHeaders = await joinedAgentHeaders(deps, agentIdFor(1));
    const registered = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: agentHeaders,
      payload: {
        name: 'node-a',
        agentId: agentIdFor(1),
        addr: 'https://10.0.0.1:9090',
        capacity: hostCapacity(),
        facts: hostFacts(),
      },
    });
    hostId = registered.json<{ id: string }>().id;
    world.inspector.put('vmlinux', fakeKernelBytes());
    world.inspector.put('rootfs.ext4', fakeExt4Bytes());
    const kernel = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' },
    });
    const rootfs = await app.inject({
      method: 'POST',
      url: '/v1/images',
      payload: { kind: 'rootfs', name: 'base', hostPath: 'rootfs.ext4' },
    });
    images = { kernelImageId: kernel.json<{ id: string }>().id, rootfsImageId: rootfs.json<{ id: string }>().id };
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await db?.destroy();
  });

  // Each statement is a round trip and CPU in the Manager and in PostgreSQL: these counts change
  // only on purpose. BEGIN and COMMIT of the create's one transaction are not counted.
  it('a create that waits for running: 14 statements', async () => {
    // The first create also takes guest MAC serials from the sequence, 32 at a time.
    for (const name of ['warm', 'counted']) {
      counter.statements.length = 0;
      const response = await app.inject({
        method: 'POST',
        url: '/v1/vms',
        payload: { name, vcpuCount: 1, memoryMib: 128, ...images },
      });
      expect(response.statusCode, response.body).toBe(201);
    }
    // Token; images; hosts; placement lock, host's holdings, project (locked), its usage; leases'
    // lock, a free address; the VM with its event, its lease; two transitions; the audit record.
    expect(counter.statements.length, counter.statements.join('\n')).toBe(14);
  });

  it('a heartbeat: 2 statements', async () => {
    for (const round of ['warm', 'counted']) {
      counter.statements.length = 0;
      const response = await app.inject({
        method: 'POST',
        url: `/v1/hosts/${hostId}/heartbeat`,
        headers: agentHeaders,
        payload: { capacity: hostCapacity(), facts: hostFacts() },
      });
      expect(response.statusCode, `${round}: ${response.body}`).toBe(204);
    }
    // The credential; the host updated if that Agent holds it.
    expect(counter.statements.length, counter.statements.join('\n')).toBe(2);
  });
});
