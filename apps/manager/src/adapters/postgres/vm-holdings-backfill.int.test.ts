import { describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { continueCreate } from '../../application/use-cases/continue-create.js';
import { createVm } from '../../application/use-cases/create-vm.js';
import { stopVm } from '../../application/use-cases/stop-vm.js';
import { unlimitedQuota } from '../../domain/project.js';
import { recordTestImages, registerRoomyHost } from '../../testing/world.js';
import { openDatabase } from './database.js';
import { migrate, readMigrations } from './migrator.js';
import { useCaseDependenciesOver } from '../../testing/database-world.js';

const holdings = 61;

/**
 * Migration 0061 on PGlite: VMs made through the real use cases, then the database taken back to
 * before the migration (its tables, triggers and functions dropped) as a database written by an
 * earlier build is, and the migration run: each host's and each project's counts are what their VM
 * rows sum to, and the triggers keep them so from then on.
 */
describe('migration 0061 counts what the VMs already hold', () => {
  it("counts each host's resource-holding VMs and each project's VMs, then keeps counting", async () => {
    const db = await openDatabase({ kind: 'pglite' });
    try {
      const migrations = await readMigrations();
      await migrate(db, migrations);
      const deps = useCaseDependenciesOver(db);
      const hostA = await registerRoomyHost(deps, 1);
      const hostB = await registerRoomyHost(deps, 2);
      await deps.projects.insert({ name: 'red', quota: unlimitedQuota, createdAt: new Date(0) });
      const images = await recordTestImages(deps, 'holdings');
      const redImages = await recordTestImages(deps, 'red-holdings', 'red');
      const vm = async (name: string, project: string, vcpuCount: number, memoryMib: number) => {
        const created = await createVm(deps, {
          name,
          project,
          vcpuCount,
          memoryMib,
          ...(project === 'red' ? redImages : images),
        });
        await continueCreate(deps, created.id);
        return created;
      };
      await vm('one', 'default', 1, 128);
      await vm('two', 'default', 2, 256);
      const stopped = await vm('three', 'red', 4, 1024);
      await stopVm(deps, stopped.id);
      await vm('four', 'red', 1, 64);

      const summed = async () => {
        const hosts = await sql<{ host_id: string; vcpus: string | number; memory: string | number }>`
          select host_id, sum(vcpu_count) as vcpus, sum(memory_mib) as memory from vms
          where state in ('pending', 'scheduled', 'starting', 'running', 'pausing', 'paused', 'stopping', 'unknown')
          group by host_id`.execute(db);
        const projects = await sql<{ project: string; vms: string | number; vcpus: string | number; memory: string | number }>`
          select project, count(*) as vms, sum(vcpu_count) as vcpus, sum(memory_mib) as memory from vms group by project`.execute(
          db,
        );
        return {
          hosts: Object.fromEntries(
            hosts.rows.map((r) => [r.host_id, { vcpuCount: Number(r.vcpus), memoryMib: Number(r.memory) }]),
          ),
          projects: Object.fromEntries(
            projects.rows.map((r) => [r.project, { vms: Number(r.vms), vcpus: Number(r.vcpus), memory: Number(r.memory) }]),
          ),
        };
      };
      const counted = async () => {
        const projects = await sql<{
          project: string;
          vms: string | number;
          vcpu_count: string | number;
          memory_mib: string | number;
        }>`
          select project, sum(vms) as vms, sum(vcpu_count) as vcpu_count, sum(memory_mib) as memory_mib
          from project_holdings group by project having sum(vms) <> 0`.execute(db);
        return {
          hosts: Object.fromEntries(await deps.vms.allocationsByHost()),
          projects: Object.fromEntries(
            projects.rows.map((r) => [
              r.project,
              { vms: Number(r.vms), vcpus: Number(r.vcpu_count), memory: Number(r.memory_mib) },
            ]),
          ),
        };
      };
      const before = await summed();
      // Both hosts hold VMs (placement spreads them), and the stopped VM holds nothing on its host.
      expect(Object.keys(before.hosts).sort()).toEqual([hostA, hostB].sort());
      expect(before.projects).toEqual({ default: { vms: 2, vcpus: 3, memory: 384 }, red: { vms: 2, vcpus: 5, memory: 1088 } });

      await sql`drop trigger vms_count_holdings on vms`.execute(db);
      await sql`drop trigger vms_count_holdings_on_update on vms`.execute(db);
      await sql`drop function if exists count_vm_holdings, add_host_allocation, add_project_holding, vm_holding_shard, vm_holds_resources`.execute(
        db,
      );
      await sql`drop table host_allocations, project_holdings`.execute(db);
      await sql`delete from schema_migrations where version = ${holdings}`.execute(db);
      expect(await migrate(db, migrations)).toEqual([holdings]);
      expect(await counted()).toEqual(before);

      // From now on the triggers count: a stop, a new VM and a removal.
      const later = await vm('five', 'default', 2, 512);
      await stopVm(deps, later.id);
      await vm('six', 'red', 1, 32);
      await deps.vms.delete(stopped.id, new Date(1));
      expect(await counted()).toEqual(await summed());
    } finally {
      await db.destroy();
    }
  }, 120_000);
});
