import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCleanupStack,
  createManagerProcess,
  createTestDatabase,
  missingRequirements,
  writeFakeKernel,
  type HearthProcess,
} from '@hearth/testkit';
import { authorizationVariants } from './support/fuzz/authorization.js';
import { createDatabaseChecksum, type DatabaseChecksum } from './support/fuzz/database-checksum.js';
import { describeFailures, runFuzz, summarize } from './support/fuzz/fuzz-run.js';
import { operationsOf, type Operation } from './support/fuzz/openapi-operations.js';
import { requestArbitrary } from './support/fuzz/request-arbitrary.js';
import { startStandInAgent } from './support/fuzz/stand-in-agent.js';
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
 * The world: one host whose Agent is a stand-in holding nothing, and kernel images but no rootfs
 * image. Starting a VM needs a real Agent and VMM, so every create stops at the image check, one
 * step before placement; every other route reaches its use case with ids that exist.
 *
 * HEARTH_FUZZ_SEED replays a run; HEARTH_FUZZ_REQUESTS changes its length (default 10000).
 */
const skipReason = missingRequirements({ database: true });

const requestCount = Number(process.env['HEARTH_FUZZ_REQUESTS'] ?? 10_000);
const concurrency = 8;
/** Tables that refused requests write by design: an Idempotency-Key's first answer is kept, 4xx included. */
const tablesWrittenByRefusals = ['idempotency_keys'];

describe.skipIf(skipReason)(`hostile input on the public API${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const cleanups = createCleanupStack('api-fuzz');
  let manager: HearthProcess;
  let pid: number;
  let exit: string | undefined;
  let operations: Operation[];
  let world: Record<string, string[]>;
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
      const database = await createTestDatabase();
      cleanups.push(() => database.drop());
      const agent = await startStandInAgent('fuzz-host');
      cleanups.push(() => agent.close());
      manager = await createManagerProcess({
        databaseUrl: database.url,
        imageRoot,
        logFile: path.join(workDir, 'manager.log'),
        env: {
          MANAGER_RECONCILER_DISABLED: 'on',
          MANAGER_REQUIRE_KVM: 'off',
          MANAGER_HEARTBEAT_MS: '600000',
          MANAGER_LOG_LEVEL: 'warn',
        },
      });
      await manager.start();
      cleanups.push(() => manager.stop());
      pid = manager.process.child.pid!;
      manager.process.exited.then(
        (how) => (exit = `exited: ${JSON.stringify(how)}`),
        (error: unknown) => (exit = `exited: ${String(error)}`),
      );

      const api = <T>(method: string, route: string, body?: unknown) => request<T>(manager.url, method, route, body);
      const host = await api<{ id: string }>('POST', '/v1/hosts/register', {
        name: 'fuzz-host',
        agentId: 'agent_01J00000000000000000000001',
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
      });
      expect(host.status).toBe(200);
      const kernel = await api<{ id: string }>('POST', '/v1/images', { kind: 'kernel', name: 'vmlinux', hostPath: 'vmlinux' });
      expect(kernel.status).toBe(201);

      const document = await api<Parameters<typeof operationsOf>[0]>('GET', '/openapi.json');
      operations = operationsOf(document.body);
      const patternOf = (operationName: string): string =>
        String(operations.find((op) => op.name === operationName)!.path.find((p) => p.name === 'id')!.schema['pattern']);
      world = {
        [patternOf('GET /v1/vms/{id}')]: ['vm_01J00000000000000000000000', 'vm_7ZZZZZZZZZZZZZZZZZZZZZZZZZ'],
        [patternOf('GET /v1/images/{id}')]: [kernel.body.id, 'img_01J00000000000000000000000'],
        [patternOf('GET /v1/hosts/{id}')]: [host.body.id, 'host_01J00000000000000000000000'],
        addr: [agent.url],
        hostPath: ['vmlinux', 'vmlinux-2', 'notes.txt', 'missing', path.join(imageRoot, 'vmlinux')],
        'if-match': ['"1"', '"2"', '*', 'W/"1"', '"1", "7"'],
        prefer: ['respond-async', 'return=minimal'],
        'last-event-id': ['0', '1', '3'],
        'idempotency-key': ['fuzz-key-1', 'fuzz-key-2', 'k'],
      };
      checksum = await createDatabaseChecksum(database.url, tablesWrittenByRefusals);
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
    const report = await runFuzz({
      seed: runSeed(process.env, 'HEARTH_FUZZ_SEED'),
      requestCount,
      concurrency,
      requests: requestArbitrary({ operations, world, authorization: authorizationVariants(undefined) }),
      wire,
      checksum,
      checkAlive,
    });
    console.log(summarize(report));
    expect(report.requestCount).toBeGreaterThanOrEqual(requestCount);
    expect(report.failures, `${summarize(report)}\n\n${describeFailures(report)}`).toEqual([]);
  }, 300_000);
});
