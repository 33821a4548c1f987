import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '@hearth/testkit';
import { FakeAgentClient } from '../fake/fake-agent-client.js';
import { FixedClock } from '../fake/fixed-clock.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { deleteVm } from '../../application/use-cases/delete-vm.js';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { parseAddressPool, type AddressPool } from '../../domain/address-pool.js';
import { createWorld, recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { openDatabase, type Database } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';

/**
 * Address leases under churn on PostgreSQL: two Managers (each its own connection pool, as two
 * replicas are) create and delete VMs on three hosts through the real use cases, with simulated
 * Agents, from concurrent clients. The pool is small and released addresses are not quarantined, so
 * every address is leased again and again. No address may ever be held by two VMs at once.
 */
const hasDatabase = testDatabaseUrl() !== undefined;
const cycles = Number(process.env['HEARTH_CHURN_CYCLES'] ?? 2000);
const clientsPerManager = 4;

describe.skipIf(!hasDatabase)(
  `address leases under churn${hasDatabase ? '' : ' (skipped: needs TEST_DATABASE_URL, set by `npm test`)'}`,
  () => {
    let database: TestDatabase | undefined;
    const handles: Database[] = [];

    beforeAll(async () => {
      database = await createTestDatabase();
      for (let i = 0; i < 2; i += 1) handles.push(await openDatabase({ kind: 'postgres', url: database.url, poolSize: 4 }));
      await migrate(handles[0]!, await readMigrations());
    });

    afterAll(async () => {
      for (const handle of handles) await handle.destroy();
      await database?.drop();
    });

    it(`never leases one address to two VMs at once in ${cycles} create/delete cycles on 3 hosts through 2 Managers`, async () => {
      const pool = parseAddressPool('172.30.0.0/26') as AddressPool;
      // A millisecond per cycle: releases are ordered, and the hosts' heartbeats never look stale.
      const clock = new FixedClock();
      const agents = new FakeAgentClient();
      const managers: UseCaseDependencies[] = handles.map((handle) =>
        useCaseDependenciesOver(handle, {
          agents,
          clock,
          settings: { ...createWorld().deps.settings, addressing: { pool, quarantineMs: 0 } },
        }),
      );
      const [first] = managers as [UseCaseDependencies];
      for (let i = 1; i <= 3; i += 1) await registerRoomyHost(first, i);
      const images = await recordTestImages(first, 'churn');

      /** Address → the VM holding it, from its create's answer until its delete is asked for. */
      const holders = new Map<string, string>();
      const duplicates: string[] = [];
      const leasesPerAddress = new Map<string, number>();
      const hostsUsed = new Set<string>();
      let started = 0;
      let snapshots = 0;
      const startedAt = performance.now();

      async function client(deps: UseCaseDependencies): Promise<void> {
        for (;;) {
          const cycle = started++;
          if (cycle >= cycles) return;
          clock.advance(1);
          const vm = await createVm(deps, {
            name: `churn-${cycle}`,
            project: 'default',
            vcpuCount: 1,
            memoryMib: 128,
            ...images,
          });
          const address = vm.network?.ipAddress ?? 'none';
          const holder = holders.get(address);
          if (holder !== undefined) duplicates.push(`${address} leased to ${vm.id} while ${holder} held it`);
          holders.set(address, vm.id);
          leasesPerAddress.set(address, (leasesPerAddress.get(address) ?? 0) + 1);
          hostsUsed.add(vm.hostId);
          if (cycle % 50 === 0) {
            // What the database holds at one instant: every VM row with its own address.
            const { rows } = await sql<{ address: string; holders: string | number }>`
              select network->>'ipAddress' as address, count(*) as holders from vms group by 1 having count(*) > 1
            `.execute(handles[0]!);
            for (const row of rows) duplicates.push(`${row.address} in ${row.holders} VM rows at once`);
            snapshots += 1;
          }
          holders.delete(address);
          await deleteVm(deps, vm.id);
        }
      }

      await Promise.all(managers.flatMap((deps) => Array.from({ length: clientsPerManager }, () => client(deps))));
      const elapsedMs = performance.now() - startedAt;
      const leases = [...leasesPerAddress.values()];
      console.log(
        JSON.stringify({
          addressChurn: {
            cycles,
            managers: managers.length,
            clients: managers.length * clientsPerManager,
            hosts: hostsUsed.size,
            elapsedMs: Math.round(elapsedMs),
            cyclesPerSecond: Math.round((cycles * 1000) / elapsedMs),
            distinctAddresses: leasesPerAddress.size,
            mostLeasesOfOneAddress: Math.max(...leases),
            snapshots,
            duplicates: duplicates.length,
          },
        }),
      );

      expect(duplicates).toEqual([]);
      expect(hostsUsed.size).toBe(3);
      // 61 guest addresses in the /26 and no quarantine: each was leased many times over.
      expect(leasesPerAddress.size).toBeLessThanOrEqual(61);
      expect(Math.min(...leases)).toBeGreaterThan(1);
      const { rows } = await sql<{
        held: string | number;
      }>`select count(*) as held from address_leases where vm_id is not null`.execute(handles[0]!);
      expect(Number(rows[0]?.held)).toBe(0);
    }, 600_000);
  },
);
