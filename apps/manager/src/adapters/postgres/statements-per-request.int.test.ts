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
import { hashTokenSecret } from '../../application/use-cases/api-tokens.js';
import { buildTestApp } from '../../testing/test-app.js';
import { hostRegistration, registerFakeImages } from '../../testing/api-fixtures.js';
import { joinedAgentHeaders } from '../../testing/joined-agents.js';
import { agentIdFor, createWorld, hostCapacity, hostFacts, testAdminSecret, testAdminToken } from '../../testing/world.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { createPgRepositories } from './pg-repositories.js';

/** Counts the statements run through it, keeping their first words for a failure's message. */
class StatementCounter implements KyselyPlugin {
  readonly statements: string[] = [];
  private readonly described = new Map<string, string>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const node = args.node;
    this.described.set(
      args.queryId.queryId,
      node.kind === 'RawNode' ? node.sqlFragments.join('?').slice(0, 80) : describeStatement(node),
    );
    return node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.statements.push(this.described.get(args.queryId.queryId) ?? '?');
    this.described.delete(args.queryId.queryId);
    return args.result;
  }
}

/** The statement's kind and its table, e.g. `SelectQueryNode vms`. */
function describeStatement(node: RootOperationNode): string {
  const tables = JSON.stringify(node).match(/"table":\{"kind":"IdentifierNode","name":"([a-z_]+)"/);
  return `${node.kind} ${tables?.[1] ?? ''}`.trim();
}

// Each statement is a round trip and CPU in the Manager and in PostgreSQL, so these counts change
// only on purpose.
describe('statements per request, on the embedded database', () => {
  let db: Database;
  let app: HttpServer;
  let counter: StatementCounter;
  let agentHeaders: { authorization: string };
  let hostId: string;
  let deps: Parameters<typeof buildTestApp>[0];
  let images: { kernelImageId: string; rootfsImageId: string };

  beforeAll(async () => {
    const plain = await openDatabase({ kind: 'pglite' });
    await migrate(plain, await readMigrations());
    counter = new StatementCounter();
    db = plain.withPlugin(counter);
    const world = createWorld();
    const repos = createPgRepositories(db);
    await repos.tokens.insert(testAdminToken, hashTokenSecret(testAdminSecret));
    deps = { ...world.deps, ...repos };
    app = await buildTestApp(deps);
    agentHeaders = await joinedAgentHeaders(deps, agentIdFor(1));
    const registered = await app.inject({
      method: 'POST',
      url: '/v1/hosts/register',
      headers: agentHeaders,
      payload: hostRegistration(),
    });
    expect(registered.statusCode, registered.body).toBe(200);
    hostId = registered.json<{ id: string }>().id;
    images = await registerFakeImages(app, world.inspector);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await db?.destroy();
  });

  // A heartbeat comes from every host every few seconds: at 1,000 hosts, 200 a second.
  it('a heartbeat: 1 statement (the credential checked in the update)', async () => {
    for (const round of ['warm', 'counted']) {
      counter.statements.length = 0;
      const response = await app.inject({
        method: 'POST',
        url: `/v1/hosts/${hostId}/heartbeat`,
        headers: agentHeaders,
        payload: { capacity: hostCapacity({ vmCount: 4 }), facts: hostFacts() },
      });
      expect(response.statusCode, `${round}: ${response.body}`).toBe(204);
    }
    expect(counter.statements, counter.statements.join('\n')).toHaveLength(1);
  });

  it('a refused heartbeat reads again to say why, and changes nothing', async () => {
    const other = await joinedAgentHeaders(deps, agentIdFor(2));
    counter.statements.length = 0;
    const response = await app.inject({
      method: 'POST',
      url: `/v1/hosts/${hostId}/heartbeat`,
      headers: other,
      payload: { capacity: hostCapacity({ vmCount: 9 }), facts: hostFacts() },
    });
    expect(response.statusCode, response.body).toBe(403);
    expect(response.json<{ code: string }>().code).toBe('HOST_CREDENTIAL_MISMATCH');
    // The update that found no row, the credential, the host, the refusal's audit record.
    expect(counter.statements, counter.statements.join('\n')).toHaveLength(4);
  });

  // A create is the request the control plane exists for: its statements are its round trips and
  // much of its CPU in the Manager and PostgreSQL, so this count too changes only on purpose.
  it('a create that places, addresses and applies a VM: 7 statements', async () => {
    for (const round of ['warm', 'counted']) {
      counter.statements.length = 0;
      const response = await app.inject({
        method: 'POST',
        url: '/v1/vms',
        payload: { name: `vm-${round}`, vcpuCount: 1, memoryMib: 128, ...images },
      });
      expect(response.statusCode, `${round}: ${response.body}`).toBe(201);
    }
    // The token (its images were read by the create before, and are known); the hosts; the placement
    // lock, the project's lock and the address lock in one statement; what the host and the project hold (capacity and quota) with a free address
    // (moving the pool's frontier) in one read; the VM recorded `starting` with its guest MAC, its
    // events and its lease; once the host applied it, `running`; the audit record.
    expect(counter.statements, counter.statements.join('\n')).toHaveLength(7);
    expect(counter.statements.filter((text) => /from "images"/.test(text))).toHaveLength(0);
  });
});
