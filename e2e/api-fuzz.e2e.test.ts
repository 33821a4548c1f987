import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  createCleanupStack,
  createManagerProcess,
  createTestDatabase,
  missingRequirements,
  waitFor,
  writeEmptyExt4,
  writeFakeKernel,
  type ManagerProcess,
} from '@hearth/testkit';
import { createAccessOracle, type AccessOracle } from './support/fuzz/access-oracle.js';
import { authorizationVariants, readerVariant } from './support/fuzz/authorization.js';
import { createDatabaseChecksum, type DatabaseChecksum } from './support/fuzz/database-checksum.js';
import { describeFailures, runFuzz, summarize } from './support/fuzz/fuzz-run.js';
import { operationsOf, type Operation } from './support/fuzz/openapi-operations.js';
import { requestArbitrary } from './support/fuzz/request-arbitrary.js';
import { startStandInAgent, type StandInAgent } from './support/fuzz/stand-in-agent.js';
import { createWire, type Wire } from './support/fuzz/wire.js';
import { request } from './support/http.js';
import { runSeed } from './support/seeded-random.js';

/**
 * Hostile input on the public API: a Manager process on PostgreSQL gets thousands of requests
 * generated from its own OpenAPI document — each valid at first, then mutated (wrong types, huge
 * and unicode values, missing and extra fields, bad headers and tokens, content types, malformed
 * JSON, odd path bytes, broken framing). Every answer is below 500, every error is problem+json
 * with a code, a refused request leaves the database as it was, and the process stays up.
 *
 * Who sends it is a parameter too: mostly the admin token; or a bad token (none, malformed,
 * unknown, altered, repeated …), which every route that needs one answers with the same 401; or
 * the reader, a token with only `vms:read` bound to another project, which gets 403 SCOPE_MISSING
 * for everything else and 404 for a VM of the first project. The audit log, left out of the
 * checksum (refused attempts are written there by design), must gain exactly one row for each
 * request it records: every mutation and every 401 or 403.
 *
 * The world: one host whose Agent is a stand-in holding nothing, and kernel images but no rootfs
 * image the fuzzer knows of. Starting a VM needs a real Agent and VMM, so every create stops at the
 * image check, one step before placement; every other route reaches its use case with ids that
 * exist. One VM, made before the run with a rootfs image the fuzzer is not told of, exists for the
 * reader to be refused.
 *
 * It runs seed 801578755 unless HEARTH_FUZZ_SEED names another (so that every run of the suite sends
 * the same requests and its result can be reproduced); HEARTH_FUZZ_REQUESTS changes its length
 * (default 10000).
 */
const skipReason = missingRequirements({ database: true, commands: ['mkfs.ext4'] });

const requestCount = Number(process.env['HEARTH_FUZZ_REQUESTS'] ?? 10_000);
const defaultSeed = 801_578_755;
const concurrency = 8;
/**
 * What refused requests write by design: an Idempotency-Key's first answer is kept, 4xx included;
 * the audit log records refused attempts (its growth is checked row by row instead); a token's
 * last use is noted whatever the answer, at most once a minute, after the answer.
 */
const auditTable = 'audit_log';
const writtenByRefusals = ['idempotency_keys', auditTable, 'api_tokens.last_used_at'];
/**
 * Routes the Agents call, with a join token or their host credential rather than an API token
 * (the OpenAPI document cannot tell them).
 */
const agentOperations = [
  'POST /v1/hosts/join',
  'POST /v1/hosts/certificate',
  'POST /v1/hosts/register',
  'POST /v1/hosts/{id}/heartbeat',
];
/**
 * What the reader's one scope, `vms:read`, and any valid token may call: every GET of VMs but the
 * serial console's attach, which types into the guest and so needs `vms:write`.
 */
const readerOperations = (operation: Operation): boolean =>
  (operation.method === 'GET' &&
    operation.pathTemplate.startsWith('/v1/vms') &&
    operation.name !== 'GET /v1/vms/{id}/console/attach') ||
  ['GET /v1/whoami', 'GET /v1/projects', 'GET /v1/projects/{name}', 'GET /v1/system'].includes(operation.name);
/** One request in this many is the reader's. */
const readerShare = 16;

describe.skipIf(skipReason)(`hostile input on the public API${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cleanups = createCleanupStack('api-fuzz');
  let manager: ManagerProcess;
  let adminToken: string;
  let agent: StandInAgent;
  let readerToken: string;
  let access: AccessOracle;
  let pid: number;
  let exit: string | undefined;
  let operations: Operation[];
  let world: Record<string, string[]>;
  let readerWorld: Record<string, string[]>;
  let checksum: DatabaseChecksum;
  let wire: Wire;

  beforeAll(async () => {
    await cleanups.unwindOnError(async () => {
      const workDir = mkdtempSync(path.join(os.tmpdir(), 'hearth-api-fuzz-'));
      cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
      const imageRoot = path.join(workDir, 'images');
      writeFakeKernel(path.join(imageRoot, 'vmlinux'));
      writeFakeKernel(path.join(imageRoot, 'vmlinux-2'));
      writeFileSync(path.join(imageRoot, 'notes.txt'), 'not an image\n');
      writeEmptyExt4(path.join(imageRoot, 'hidden-rootfs.ext4'), 2);
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      manager = await createManagerProcess({
        databaseUrl: database.url,
        imageRoot,
        logFile: path.join(workDir, 'manager.log'),
        env: {
          MANAGER_RECONCILER_DISABLED: 'on',
          MANAGER_REQUIRE_KVM: 'off',
          MANAGER_HEARTBEAT_MS: '600000',
          MANAGER_LOG_LEVEL: 'warn',
          // The run sends ~10,000 requests a minute with one token: the limit is not what it tests.
          MANAGER_RATE_LIMIT_PER_MINUTE: '100000000',
        },
      });
      // Before the start: a Manager that never gets ready (a loaded machine) is stopped too.
      cleanups.push(() => manager.stop());
      await manager.start();
      pid = manager.process.child.pid!;
      manager.process.exited.then(
        (how) => (exit = `exited: ${JSON.stringify(how)}`),
        (error: unknown) => (exit = `exited: ${String(error)}`),
      );

      adminToken = await manager.adminToken();
      const api = <T>(method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
        request<T>(manager.url, method, route, body, { authorization: `Bearer ${adminToken}`, ...headers });
      agent = await startStandInAgent(manager.url, adminToken, {
        hostName: 'fuzz-host',
        agentId: 'agent_01J00000000000000000000001',
      });
      cleanups.push(() => agent.close());
      const registration = {
        name: 'fuzz-host',
        agentId: agent.agentId,
        addr: agent.url,
        capacity: { cpuCount: 64, memoryMibTotal: 262_144, memoryMibAvailable: 262_000, vmCount: 0 },
        facts: {
          agentVersion: '0.1.0',
          isKvmUsable: true,
          hasFirecracker: true,
          firecrackerBinary: '/bin/true',
          isBridgeUp: true,
          bridge: 'hbr0',
          spawnMode: 'direct',
        },
      };
      const host = await api<{ id: string }>('POST', '/v1/hosts/register', registration, { authorization: agent.authorization });
      expect(host.status, JSON.stringify(host.body)).toBe(200);
      const kernel = await api<{ id: string }>('POST', '/v1/images', { kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' });
      expect(kernel.status).toBe(201);

      // A VM of the default project for the reader to be refused: accepted at once, then failed by
      // the stand-in Agent. Its rootfs image stays unknown to the fuzzer, so that no fuzzed create
      // gets past the image check.
      const rootfs = await api<{ id: string }>('POST', '/v1/images', {
        kind: 'rootfs',
        name: 'hidden-rootfs',
        hostPath: 'hidden-rootfs.ext4',
      });
      expect(rootfs.status, JSON.stringify(rootfs.body)).toBe(201);
      const vm = await api<{ id: string }>(
        'POST',
        '/v1/vms',
        { name: 'hidden-vm', vcpuCount: 1, memoryMib: 128, kernelImageId: kernel.body.id, rootfsImageId: rootfs.body.id },
        { prefer: 'respond-async' },
      );
      expect(vm.status, JSON.stringify(vm.body)).toBe(202);
      await waitFor(async () => (await api<{ state: string }>('GET', `/v1/vms/${vm.body.id}`)).body.state === 'failed', {
        timeoutMs: 30_000,
        description: 'the hidden VM to fail on the stand-in Agent',
      });

      // The reader's project holds an image, so that no fuzzed delete can take it (and the reader's
      // token with it); the victim is a token the fuzzer may revoke.
      expect((await api('POST', '/v1/projects', { name: 'fuzz-other' })).status).toBe(201);
      const otherImage = await api('POST', '/v1/images', {
        kind: 'kernel',
        name: 'other',
        hostPath: 'vmlinux-2',
        project: 'fuzz-other',
      });
      expect(otherImage.status).toBe(201);
      const newToken = async (name: string) => {
        const created = await api<{ id: string; secret: string }>('POST', '/v1/tokens', {
          name,
          scopes: ['vms:read'],
          projects: ['fuzz-other'],
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        return created.body;
      };
      readerToken = (await newToken('fuzz-reader')).secret;
      const victim = await newToken('fuzz-victim');

      const refused = await api<Record<string, unknown>>('GET', '/v1/vms', undefined, { authorization: '' });
      expect(refused.status).toBe(401);
      const { correlationId: _ignored, ...unauthenticated } = refused.body;
      access = createAccessOracle({ unauthenticated, hiddenFromReader: [vm.body.id, kernel.body.id, rootfs.body.id] });

      const document = await api<Parameters<typeof operationsOf>[0]>('GET', '/openapi.json');
      operations = operationsOf(document.body, agentOperations);
      const patternOf = (operationName: string): string =>
        String(operations.find((op) => op.name === operationName)!.path.find((p) => p.name === 'id')!.schema['pattern']);
      world = {
        [patternOf('GET /v1/vms/{id}')]: ['vm_01J00000000000000000000000', 'vm_7ZZZZZZZZZZZZZZZZZZZZZZZZZ'],
        [patternOf('GET /v1/images/{id}')]: [kernel.body.id, 'img_01J00000000000000000000000'],
        [patternOf('GET /v1/hosts/{id}')]: [host.body.id, 'host_01J00000000000000000000000'],
        [patternOf('GET /v1/tokens/{id}')]: [victim.id, 'tok_01J00000000000000000000000'],
        [String(operations.find((op) => op.name === 'GET /v1/projects/{name}')!.path[0]!.schema['pattern'])]: [
          'default',
          'fuzz-other',
          'no-such-project',
        ],
        addr: [agent.url],
        agentId: [agent.agentId, 'agent_01J00000000000000000000002'],
        hostPath: ['vmlinux', 'vmlinux-2', 'notes.txt', 'missing', path.join(imageRoot, 'vmlinux')],
        'if-match': ['"1"', '"2"', '*', 'W/"1"', '"1", "7"'],
        prefer: ['respond-async', 'return=minimal'],
        'last-event-id': ['0', '1', '3'],
        'idempotency-key': ['fuzz-key-1', 'fuzz-key-2', 'k'],
      };
      readerWorld = { ...world, [patternOf('GET /v1/vms/{id}')]: [vm.body.id, 'vm_01J00000000000000000000000'] };
      checksum = await createDatabaseChecksum(database.url, { excluded: writtenByRefusals, counted: [auditTable] });
      cleanups.push(() => checksum.close());
      wire = createWire(manager.url);
      cleanups.push(() => wire.close());
    });
  }, 120_000);

  afterAll(async () => {
    await cleanups.run();
  }, 60_000);

  it('answers every generated request below 500, errors as problem+json with a code, refusals without a database change', async () => {
    const checkAlive = async (): Promise<string | undefined> => {
      if (exit !== undefined) return exit;
      if (manager.process.child.pid !== pid) return `another process (${manager.process.child.pid}, was ${pid})`;
      const health = await fetch(`${manager.url}/healthz`, { signal: AbortSignal.timeout(10_000) }).catch(
        (error: unknown) => error,
      );
      if (!(health instanceof Response)) return `GET /healthz failed: ${String(health)}`;
      return health.status === 200 ? undefined : `GET /healthz answered ${health.status}`;
    };
    const requests = fc.oneof(
      {
        arbitrary: requestArbitrary({
          operations,
          world,
          authorization: authorizationVariants({ token: adminToken, agentCredential: agent.authorization }),
        }),
        weight: readerShare - 1,
      },
      {
        // Valid requests only, so that what each must get is known exactly; VM ids include the hidden VM's.
        arbitrary: requestArbitrary({
          operations,
          world: readerWorld,
          authorization: fc.constant(readerVariant(readerToken, readerOperations)),
          maxMutations: 0,
        }),
        weight: 1,
      },
    );
    const report = await runFuzz({
      seed: runSeed({ HEARTH_FUZZ_SEED: String(defaultSeed), ...process.env }, 'HEARTH_FUZZ_SEED'),
      requestCount,
      concurrency,
      requests,
      wire,
      checksum,
      access,
      auditTable,
      checkAlive,
    });
    console.log(summarize(report));
    expect(report.requestCount).toBeGreaterThanOrEqual(requestCount);
    expect(report.failures, `${summarize(report)}\n\n${describeFailures(report)}`).toEqual([]);
  }, 300_000);
});
