import { sql, type Insertable, type RawBuilder, type Selectable, type Transaction, type Updateable } from 'kysely';
import { KeyedLock } from '@hearth/concurrency';
import { AppError } from '@hearth/errors';
import {
  assertStatesOnlyChange,
  type Admit,
  type NewVm,
  type VmEgressChange,
  type VmRateLimitsChange,
  type VmListFilter,
  type VmPage,
  type VmRepository,
  type VmStateChange,
} from '../../application/ports/vm-repository.js';
import type { HostId, ImageId, SnapshotId, TemplateId, VmId } from '../../domain/ids.js';
import type { HostAllocation } from '../../domain/placement.js';
import type { HostStatus } from '../../domain/host.js';
import { stepsAlong, type ObservedVmState, type VmState } from '../../domain/vm-state.js';
import { guestMacOf, mappedSnapshotAfter, type FailureReason, type Vm, type VmListing, type VmStep } from '../../domain/vm.js';
import { isLimited } from '../../domain/project.js';
import { snapshotNotFound, snapshotNotReady, type SnapshotState } from '../../domain/snapshot.js';
import { snapshotGoingWithItsVm, whyVmNotDeletable } from '../../domain/vm-deletion.js';
import type { Database } from './database.js';
import { translated, translateDatabaseError } from './database-errors.js';
import { ofProjects } from './project-filter.js';
import { whyNotChanged, whyNotUpdated } from '../../domain/vm-errors.js';
import type { AddressLeasesTable, EventsTable, ProjectsTable, VmsTable } from './schema.js';
import { StatementShapes, type StatementValues } from './statement-shapes.js';
import { quotaOf } from './pg-project-repository.js';
import type { RestartPolicy } from '../../domain/restart-policy.js';
import { addressTaken, invalidAddress, poolExhausted, type ChosenAddress } from '../../domain/address-lease.js';
import { vmNetworkOf, whyNotLeasable, type LeaseRequest, type VmNetwork } from '../../domain/address-pool.js';
import type { ManagerDatabase } from './schema.js';
import { readSnapshotHolders } from './snapshot-holders.js';
import { egressChangeMessage, type EgressPolicy } from '../../domain/egress.js';
import { rateLimitsChangeMessage, type RateLimits } from '../../domain/rate-limits.js';
import { hostPortTaken, type PublishedPort, type TakenPort } from '../../domain/published-ports.js';

export class PgVmRepository implements VmRepository {
  /**
   * Admissions (inserts that check capacity and quota) one at a time in this process: per host, and
   * per project for a project with a quota. The database serialises them anyway (each holds its
   * host's lock, and a project's row lock when it has a quota, until it commits); waiting here
   * instead holds no pooled connection, so a burst of creates cannot take the whole pool and leave
   * heartbeats and reads to time out waiting for a connection.
   */
  private readonly admissions = new KeyedLock();
  /**
   * Projects last seen with a quota: their admissions go straight to the exclusive path. Only a
   * hint for the first attempt's lock; what the locked row says decides.
   */
  private readonly limitedProjects = new Set<string>();

  constructor(private readonly db: Database) {}

  async insert(vm: NewVm, admit?: Admit, lease?: LeaseRequest): Promise<Vm> {
    const [inserted] = await this.insertAll([vm], admit, lease);
    if (inserted === undefined) throw new Error('insertAll answered no VM');
    return inserted;
  }

  async insertAll(vms: readonly NewVm[], admit?: Admit, lease?: LeaseRequest): Promise<Vm[]> {
    const [vm] = vms;
    if (vm === undefined) return [];
    if (vms.some((other) => other.hostId !== vm.hostId || other.project !== vm.project)) {
      throw new Error('insertAll takes VMs of one host and one project');
    }
    if (admit === undefined) return (await this.writeAll(vms, vm, undefined, lease, 'exclusive')) ?? [];
    // A project without a quota has nothing its creates could pass together: they take its row in
    // share mode and are admitted side by side, each host still one at a time. Should the locked row
    // show a quota (set since), the attempt is rolled back and the insert admitted exclusively.
    if (!this.limitedProjects.has(vm.project)) {
      const inserted = await this.admissions.run(`host:${vm.hostId}`, () => this.writeAll(vms, vm, admit, lease, 'shared'));
      if (inserted !== null) return inserted;
      this.limitedProjects.add(vm.project);
    }
    const inserted = await this.admissions.run(`project:${vm.project}`, () => this.writeAll(vms, vm, admit, lease, 'exclusive'));
    if (inserted === null) throw new Error('an exclusive admission asked for the exclusive path');
    return inserted;
  }

  /**
   * The insert in one transaction; null when a `shared` admission found its project with a quota
   * (nothing written: the caller admits it exclusively).
   */
  private writeAll(
    vms: readonly NewVm[],
    vm: NewVm,
    admit: Admit | undefined,
    lease: LeaseRequest | undefined,
    mode: 'shared' | 'exclusive',
  ): Promise<Vm[] | null> {
    return translated(
      () =>
        this.db.transaction().execute(async (trx): Promise<Vm[] | null> => {
          const restoredFrom = vm.restoredFrom?.snapshotId;
          // A create's leases' lock is taken with the project's (one round trip fewer); a clone's after
          // its snapshot's row, the order clones have always taken them in.
          const isLeasesLockWithProject = admit !== undefined && lease !== undefined && restoredFrom === undefined;
          // A create of one VM at the lowest free address searches for it with the holdings (another
          // round trip fewer); one asked for, or several VMs, are leased one by one (`insertOne`).
          const freshSearch = isLeasesLockWithProject && lease.address === undefined && vms.length === 1 ? lease.pool : undefined;
          let areLeasesLocked = false;
          /** The lowest address never leased, found with the holdings; null: none (see `leaseAddress`). */
          let fresh: number | null | undefined;
          if (admit !== undefined) {
            // Serialises placements on this host until commit. An advisory lock, not the host row's
            // FOR UPDATE: heartbeats update that row and must not queue behind a burst of creates
            // (a late heartbeat makes the host look stale and refuses VMs).
            // Then the project (always in this order: host, project, leases, so that creates never
            // deadlock): with a quota, its row locked for update, so concurrent creates in it cannot
            // pass the quota together; without one, in share mode, which keeps a quota from being set
            // (and the project from being removed) until this insert commits, and no other create out.
            // One statement takes the three: the project's row is read only once the placement lock is
            // held (the condition on `placement`, a one-time filter evaluated before the row is locked),
            // and the leases' lock is called by the outer select for the row the materialized CTE
            // answers, which it answers only locked. In READ COMMITTED a statement reads what was
            // committed when it began, before it waited; the locked row is the exception (a row lock
            // answers its last committed version), and the row is all this statement reads. What the
            // host and the project hold is read in the next statement, which begins with the locks held.
            // The keys and the project's name are written in the text, not as parameters: a statement
            // without parameters goes with the transaction's `begin`, one round trip for all
            // (preparedStatementsPool). The host's id is one this Manager parsed (`host_` and a ULID),
            // the project's name one the request's schema allowed, and `sql.lit` quotes both.
            const { rows: projects } = await sql<Selectable<ProjectsTable>>`
              with placement as materialized (
                select pg_advisory_xact_lock(hashtextextended(${sql.lit(`hearth.placement:${vm.hostId}`)}, 0))
              ), locked as materialized (
                select * from projects where name = ${sql.lit(vm.project)} and exists (select from placement)
                ${mode === 'exclusive' ? sql`for update` : sql`for share`} of projects
              )
              select locked.*${isLeasesLockWithProject ? sql`, ${leasesLockCall} as leases_lock` : sql``} from locked`.execute(
              trx,
            );
            const project = projects[0];
            if (project === undefined) {
              throw new AppError('PROJECT_NOT_FOUND', `No project named ${vm.project}`, { details: { project: vm.project } });
            }
            areLeasesLocked = isLeasesLockWithProject;
            const quota = quotaOf(project);
            const hasQuota = isLimited(quota);
            if (hasQuota && mode === 'shared') return null;
            if (!hasQuota) this.limitedProjects.delete(vm.project);
            // What the host and the project hold: a row for the host and 16 for the project, kept by
            // triggers on `vms` (migration 0061), not summed from the VM rows (a create would read every
            // VM of its project). What this statement reads was settled by the locks held before it
            // began: the holdings by the host's and the project's, the address a create of one VM
            // leases by the leases' (`freshAddress`, moving the pool's frontier in this transaction: a
            // refusal by `admit` rolls it back with the rest). With them, the host's status and
            // cordon as committed when the statement begins (`admit`'s standing): a cordon since the
            // placement's listing refuses the VM.
            const { rows } = await sql<{
              host_vcpus: string | number;
              host_memory_mib: string | number;
              vms: string | number;
              vcpus: string | number;
              memory_mib: string | number;
              host_status: HostStatus | null;
              host_is_cordoned: boolean | null;
              fresh_address?: string | number | null;
            }>`
              ${freshSearch === undefined ? sql`` : sql`with ${freshAddress(freshSearch)}`}
              select coalesce(host.vcpu_count, 0) as host_vcpus, coalesce(host.memory_mib, 0) as host_memory_mib,
                project.vms, project.vcpus, project.memory_mib,
                standing.status as host_status, standing.is_cordoned as host_is_cordoned
                ${freshSearch === undefined ? sql`` : sql`, (select address from found) as fresh_address`}
              from (
                select coalesce(sum(vms), 0) as vms, coalesce(sum(vcpu_count), 0) as vcpus,
                  coalesce(sum(memory_mib), 0) as memory_mib
                from project_holdings where project = ${vm.project}
              ) project
              left join host_allocations host on host.host_id = ${vm.hostId}
              left join hosts standing on standing.id = ${vm.hostId}`.execute(trx);
            const held = rows[0];
            if (held === undefined) throw new Error('the holdings read answered no row');
            if (freshSearch !== undefined) fresh = held.fresh_address == null ? null : Number(held.fresh_address);
            admit(
              { vcpuCount: Number(held.host_vcpus), memoryMib: Number(held.host_memory_mib) },
              {
                quota,
                usage: { vms: Number(held.vms), vcpus: Number(held.vcpus), memoryMib: Number(held.memory_mib) },
              },
              held.host_status === null ? null : { status: held.host_status, isCordoned: held.host_is_cordoned === true },
            );
          }
          // Last (host, project, snapshot: the order every writer takes them in): a removal of the
          // snapshot waits for these clones, and sees them, or they wait for it and find it gone.
          if (restoredFrom !== undefined) await holdSnapshot(trx, restoredFrom);
          const insertedVms: Vm[] = [];
          for (const vm of vms) {
            if (lease !== undefined && !areLeasesLocked) {
              await leasesLock.execute(trx);
              areLeasesLocked = true;
            }
            insertedVms.push(await insertOne(trx, vm, lease, fresh));
            fresh = undefined;
          }
          return insertedVms;
        }),
      {
        '23503': (cause) => new AppError('IMAGE_NOT_FOUND', `A host, image or project of VM ${vm.id} does not exist`, { cause }),
        '23505': (cause) => {
          const constraint = (cause as { constraint?: unknown }).constraint;
          if (constraint === 'vms_project_name_key') {
            return new AppError('VM_NAME_TAKEN', `A VM named ${vms.map((v) => v.name).join(', ')} already exists`, {
              details: { name: vms.length === 1 ? vm.name : vms.map((v) => v.name) },
              cause,
            });
          }
          // Another replica admitted a VM publishing the port on this host since placement looked.
          if (constraint === 'published_ports_pkey') {
            return hostPortTaken(
              vms.flatMap((each) =>
                each.ports.map((port) => ({
                  hostId: each.hostId,
                  protocol: port.protocol,
                  hostPort: port.hostPort,
                  vmId: each.id,
                })),
              ),
            );
          }
          return translateDatabaseError(cause);
        },
      },
    );
  }

  async allocateGuestMac(): Promise<string> {
    const { rows } = await translated(() =>
      sql<{ serial: string | number }>`select nextval('guest_mac_serials') as serial`.execute(this.db),
    );
    return guestMacOf(Number(rows[0]!.serial));
  }

  async listAwaitingRestore(snapshotId: SnapshotId): Promise<readonly VmId[]> {
    const rows = await translated(() =>
      this.db
        .selectFrom('vms')
        .select('id')
        .where((eb) =>
          eb.or([
            eb.and([eb('snapshot_id', '=', snapshotId), eb('total_ms', 'is', null)]),
            eb('restore_snapshot_id', '=', snapshotId),
          ]),
        )
        .orderBy('id')
        .execute(),
    );
    return rows.map((row) => row.id as VmId);
  }

  async takenPorts(ports: readonly PublishedPort[]): Promise<readonly TakenPort[]> {
    if (ports.length === 0) return [];
    const rows = await translated(() =>
      this.db
        .selectFrom('published_ports')
        .select(['host_id', 'protocol', 'host_port', 'vm_id'])
        .where((eb) =>
          eb.or(ports.map((port) => eb.and([eb('protocol', '=', port.protocol), eb('host_port', '=', port.hostPort)]))),
        )
        .orderBy('host_id')
        .orderBy('protocol')
        .orderBy('host_port')
        .execute(),
    );
    return rows.map((row) => ({
      hostId: row.host_id as HostId,
      protocol: row.protocol === 'udp' ? 'udp' : 'tcp',
      hostPort: row.host_port,
      vmId: row.vm_id as VmId,
    }));
  }

  async findById(id: VmId): Promise<Vm | undefined> {
    const row = await translated(() => this.db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst());
    return row === undefined ? undefined : toVm(row);
  }

  async findByName(project: string, name: string): Promise<Vm | undefined> {
    const row = await translated(() =>
      this.db.selectFrom('vms').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst(),
    );
    return row === undefined ? undefined : toVm(row);
  }

  async list(filter: VmListFilter, options: { limit: number; afterId?: VmId | undefined }): Promise<VmPage> {
    const rows = await translated(() => {
      let query = this.db
        .selectFrom('vms')
        .select(listingColumns)
        .orderBy('id')
        .limit(options.limit + 1);
      query = query.where((eb) => ofProjects(eb, filter.projects));
      if (filter.name !== undefined) query = query.where('name', '=', filter.name);
      if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
      return query.execute();
    });
    // Each row is already the VM as the list shows it (see listingColumns): no second object per VM.
    const items = (rows.length > options.limit ? rows.slice(0, options.limit) : rows) as unknown as VmListing[];
    const last = items.at(-1);
    return { items, nextCursor: rows.length > options.limit && last !== undefined ? last.id : null };
  }

  async countByState(): Promise<ReadonlyMap<VmState, number>> {
    const rows = await translated(() =>
      this.db
        .selectFrom('vms')
        .select(['state', (eb) => eb.fn.countAll<string>().as('count')])
        .groupBy('state')
        .execute(),
    );
    return new Map(rows.map((row) => [row.state as VmState, Number(row.count)]));
  }

  async listOnHost(hostId: HostId): Promise<readonly Vm[]> {
    // Served by vms_host_id_idx.
    const rows = await translated(() =>
      this.db.selectFrom('vms').selectAll().where('host_id', '=', hostId).orderBy('id').execute(),
    );
    return rows.map(toVm);
  }

  /**
   * One statement (so one round trip and its own transaction): the compare-and-set UPDATE and the
   * event rows of each step, as data-modifying CTEs. Only when nothing matched is the row read again,
   * to say why.
   */
  async transition(id: VmId, change: VmStateChange): Promise<Vm> {
    const restoring = change.pendingRestore?.snapshotId;
    if (change.to === 'deleting') {
      return translated(() =>
        this.db.transaction().execute(async (trx) => {
          await assertDeletable(trx, id);
          return this.transitionIn(trx, id, change);
        }),
      );
    }
    if (restoring === undefined) return this.transitionIn(this.db, id, change);
    // A restore recorded holds its snapshot's row meanwhile, as clones do (see insertAll).
    return translated(() =>
      this.db.transaction().execute(async (trx) => {
        await holdSnapshot(trx, restoring);
        return this.transitionIn(trx, id, change);
      }),
    );
  }

  async transitionAll(ids: readonly VmId[], change: VmStateChange): Promise<Vm[]> {
    assertStatesOnlyChange(change);
    if (ids.length === 0) return [];
    const { rows } = await translated(() => this.db.executeQuery(transitionStatement(this.db, ids, change)));
    return rows.map(toVm);
  }

  private async transitionIn(db: Database, id: VmId, change: VmStateChange): Promise<Vm> {
    const row = await translated(async () => {
      const { rows } = await db.executeQuery(transitionStatement(db, [id], change));
      const updated = rows[0];
      if (updated !== undefined) return updated;
      const current = await db.selectFrom('vms').select(['state', 'version']).where('id', '=', id).executeTakeFirst();
      throw whyNotChanged(id, change, current);
    });
    return toVm(row);
  }

  async setEgress(id: VmId, change: VmEgressChange): Promise<Vm> {
    return this.changeWithEvent(
      id,
      change,
      { egress: JSON.stringify(change.egress) },
      'vm.egress_changed',
      egressChangeMessage(change.egress),
    );
  }

  async setRateLimits(id: VmId, change: VmRateLimitsChange): Promise<Vm> {
    return this.changeWithEvent(
      id,
      change,
      { rate_limits: JSON.stringify(change.rateLimits) },
      'vm.rate_limits_changed',
      rateLimitsChangeMessage(change.rateLimits),
    );
  }

  /** One statement, like `transition`: the compare-and-set UPDATE and its event row as data-modifying CTEs. */
  private async changeWithEvent(
    id: VmId,
    change: { readonly at: Date; readonly ifVersion?: number | undefined },
    columns: { readonly egress?: string; readonly rate_limits?: string },
    type: string,
    message: string,
  ): Promise<Vm> {
    const row = await translated(async () => {
      const updated = await this.db
        .with('changed', (db) => {
          let update = db
            .updateTable('vms')
            .set((eb) => ({ ...columns, updated_at: change.at, version: eb('version', '+', 1) }))
            .where('id', '=', id);
          if (change.ifVersion !== undefined) update = update.where('version', '=', change.ifVersion);
          return update.returningAll();
        })
        .with('recorded', (db) =>
          db
            .insertInto('events')
            .columns(['type', 'vm_id', 'host_id', 'project', 'at', 'from_state', 'to_state', 'message'])
            .expression((eb) =>
              eb
                .selectFrom('changed')
                .select([
                  sql<string>`cast(${type} as text)`.as('type'),
                  'changed.id as vm_id',
                  'changed.host_id as host_id',
                  'changed.project as project',
                  sql<Date>`cast(${change.at} as timestamptz)`.as('at'),
                  sql<string | null>`cast(null as text)`.as('from_state'),
                  sql<string | null>`cast(null as text)`.as('to_state'),
                  sql<string>`cast(${message} as text)`.as('message'),
                ]),
            ),
        )
        .selectFrom('changed')
        .selectAll()
        .executeTakeFirst();
      if (updated !== undefined) return updated;
      const current = await this.db.selectFrom('vms').select(['version']).where('id', '=', id).executeTakeFirst();
      throw whyNotUpdated(id, change.ifVersion, current);
    });
    return toVm(row);
  }

  /**
   * One statement (one round trip, its own transaction; the reconciler records one for about every
   * VM it sees start): the row locked, then updated, and the event written only when what the Agent
   * observed changed. The lock reads the row as last committed, so the event names the state it
   * replaced even when another observation of the VM committed meanwhile.
   */
  async recordObservation(id: VmId, observed: ObservedVmState, at: Date): Promise<Vm | undefined> {
    const { rows } = await translated(() =>
      sql<Selectable<VmsTable>>`
        with before as (select id, observed_state from vms where id = ${id} for update),
        changed as (
          update vms set observed_state = ${observed}, observed_at = ${at}
          from before where vms.id = before.id
          returning vms.*, before.observed_state as previous_observed_state
        ),
        recorded as (
          insert into events (type, vm_id, host_id, project, at, from_state, to_state, message)
          select text 'vm.observed_state_changed', id, host_id, project, cast(${at} as timestamptz), null, null,
            ${observedChangeMessage(observed)}
          from changed where previous_observed_state is distinct from cast(${observed} as text)
        )
        select * from changed`.execute(this.db),
    );
    const row = rows[0];
    return row === undefined ? undefined : toVm(row);
  }

  async delete(id: VmId, at: Date): Promise<void> {
    await translated(() =>
      this.db.transaction().execute(async (trx) => {
        // The address first: the lease refers to the row (a VM is never removed still holding one).
        await trx.updateTable('address_leases').set({ vm_id: null, released_at: at }).where('vm_id', '=', id).execute();
        // Its snapshots go with it (ON DELETE CASCADE, as their files went with its directory), each
        // with its own event: no snapshot disappears without one.
        await trx
          .insertInto('events')
          .columns(['type', 'vm_id', 'host_id', 'project', 'object_id', 'at', 'from_state', 'to_state', 'message'])
          .expression((eb) =>
            eb
              .selectFrom('snapshots')
              .select([
                sql<string>`text 'snapshot.deleted'`.as('type'),
                'vm_id',
                'host_id',
                'project',
                'id as object_id',
                sql<Date>`cast(${at} as timestamptz)`.as('at'),
                sql<string | null>`cast(null as text)`.as('from_state'),
                sql<string | null>`cast(null as text)`.as('to_state'),
                sql<string>`text 'deleted with its VM'`.as('message'),
              ])
              .where('vm_id', '=', id)
              .orderBy('id'),
          )
          .execute();
        const deleted = await trx
          .deleteFrom('vms')
          .where('id', '=', id)
          .returning(['state', 'host_id', 'project'])
          .executeTakeFirst();
        if (deleted === undefined) throw new AppError('VM_NOT_FOUND', `No VM with id ${id}`, { details: { vmId: id } });
        await trx
          .insertInto('events')
          .values({
            type: 'vm.deleted',
            vm_id: id,
            host_id: deleted.host_id,
            project: deleted.project,
            at,
            from_state: deleted.state,
            to_state: null,
            message: 'deleted',
          })
          .execute();
      }),
    );
  }

  async isImageInUse(imageId: ImageId): Promise<boolean> {
    const row = await translated(() =>
      this.db
        .selectFrom('vms')
        .select('id')
        .where((eb) => eb.or([eb('kernel_image_id', '=', imageId), eb('rootfs_image_id', '=', imageId)]))
        .limit(1)
        .executeTakeFirst(),
    );
    return row !== undefined;
  }

  async allocationsByHost(hostIds?: readonly HostId[]): Promise<ReadonlyMap<HostId, HostAllocation>> {
    if (hostIds?.length === 0) return new Map();
    // One row per host, kept by triggers on `vms` (migration 0061); a host whose VMs hold nothing
    // any more keeps a row of zeros, left out as a host without VMs is.
    const rows = await translated(() =>
      this.db
        .selectFrom('host_allocations')
        .select(['host_id', 'vcpu_count', 'memory_mib'])
        .where((eb) => eb.or([eb('vcpu_count', '<>', 0), eb('memory_mib', '<>', 0)]))
        .$if(hostIds !== undefined, (query) => query.where('host_id', 'in', [...(hostIds ?? [])]))
        .execute(),
    );
    return new Map(
      rows.map((row) => [row.host_id as HostId, { vcpuCount: Number(row.vcpu_count), memoryMib: Number(row.memory_mib) }]),
    );
  }
}

interface StepJson {
  name: string;
  durationMs: number;
  at: string;
}

function stepToJson(step: VmStep): StepJson {
  return { name: step.name, durationMs: step.durationMs, at: step.at.toISOString() };
}

/** One VM of an admitted insert: its address (last in the lock order: host, project, addresses), its row and its event. */
/**
 * The next guest MAC of the sequence, written as `guestMacOf` writes it: `06:` and the serial's five
 * bytes in hex (the sequence's bounds are the serials' range).
 */
const nextGuestMac = sql<string>`(
  select '06:' || substr(hex, 1, 2) || ':' || substr(hex, 3, 2) || ':' || substr(hex, 5, 2) || ':' || substr(hex, 7, 2) || ':' || substr(hex, 9, 2)
  from (select lpad(to_hex(nextval('guest_mac_serials')), 10, '0') as hex) serial)`;

/** The statements of this repository built and compiled once per shape. */
const statementShapes = new StatementShapes();

interface VmInsertValues extends StatementValues {
  readonly vm: Omit<Insertable<VmsTable>, 'guest_mac'> & { readonly guest_mac: string | undefined };
  readonly lease: Pick<Insertable<AddressLeasesTable>, 'address' | 'pool' | 'vm_id' | 'leased_at'> | undefined;
  /** Its `vm.created` event, then one per step of `via` (see {@link insertEvents}). */
  readonly events: readonly InsertEvent[];
}

type InsertEvent = Pick<
  Insertable<EventsTable>,
  'type' | 'vm_id' | 'host_id' | 'project' | 'at' | 'from_state' | 'to_state' | 'message'
>;

/**
 * The events an insert writes, in order: `vm.created` in the first state of the VM's path, then a
 * `vm.state_changed` for each step to its `state`, as a transition along that path writes them.
 */
function insertEvents(vm: NewVm): InsertEvent[] {
  const path = [...(vm.via ?? []), vm.state];
  const [created] = path;
  const common = { vm_id: vm.id, host_id: vm.hostId, project: vm.project, at: vm.createdAt };
  return [
    { ...common, type: 'vm.created', from_state: null, to_state: created, message: 'created' },
    ...stepsAlong(path).map((step) => ({
      ...common,
      type: 'vm.state_changed',
      from_state: step.from,
      to_state: step.to,
      message: '',
    })),
  ];
}

/**
 * The VM, its event and its address's lease in one statement, with the VM's guest MAC from the
 * sequence when it has none yet. Built once per shape (`StatementShapes`): it reads nothing but
 * `values` and `isReuse` (which the statement's name tells apart), and branches only on what is
 * undefined.
 */
function vmInsert(db: Transaction<ManagerDatabase>, values: VmInsertValues, isReuse: boolean) {
  const { lease } = values;
  return db
    .with('inserted', (db) =>
      db
        .insertInto('vms')
        .values({ ...values.vm, guest_mac: values.vm.guest_mac ?? nextGuestMac })
        .returning('guest_mac'),
    )
    .with('leased', (db) =>
      lease === undefined
        ? db
            .selectFrom('address_leases')
            .select('address')
            .where(sql<boolean>`false`)
        : db
            .insertInto('address_leases')
            .values({ ...lease, released_at: null })
            // An address leased before is taken again only if no VM holds it (it was chosen under the
            // address lock, so one always does); a new one is refused by the primary key if leased.
            .$if(isReuse, (insert) =>
              insert.onConflict((conflict) =>
                conflict
                  .column('address')
                  .doUpdateSet({ vm_id: lease.vm_id, pool: lease.pool, leased_at: lease.leased_at, released_at: null })
                  .where('address_leases.vm_id', 'is', null),
              ),
            )
            .returning('address'),
    )
    .insertInto('events')
    .values([...values.events])
    .returning((eb) => [
      eb.selectFrom('inserted').select('guest_mac').as('guest_mac'),
      eb
        .selectFrom('leased')
        .select((count) => count.fn.countAll<string | number>().as('leases'))
        .as('leases'),
    ]);
}

/** The statement of a state transition of the VMs `ids` (see {@link vmTransition}), compiled once per shape. */
function transitionStatement(db: Database, ids: readonly VmId[], change: VmStateChange) {
  const path = [change.from, ...(change.via ?? []), change.to];
  const values: VmTransitionValues = {
    set: {
      state: change.to,
      updated_at: change.at,
      failure_reason:
        change.failureReason === undefined
          ? undefined
          : change.failureReason === null
            ? null
            : JSON.stringify(change.failureReason),
      steps: change.steps === undefined ? undefined : JSON.stringify(change.steps.map(stepToJson)),
      total_ms: change.totalMs,
      restore_snapshot_id: change.pendingRestore === undefined ? undefined : (change.pendingRestore?.snapshotId ?? null),
      is_restore_paused: change.pendingRestore === undefined ? undefined : (change.pendingRestore?.isPaused ?? false),
      mapped_snapshot_id: mappedSnapshotAfter(path, change.mappedSnapshotId),
      observed_state: change.observedState,
      observed_at: change.observedState === undefined ? undefined : change.at,
    },
    observed: change.observedState,
    versionSteps: path.length - 1,
    ids,
    from: change.from,
    ifVersion: change.ifVersion,
    steps: path.slice(1).map((to, index) => ({ from: path[index] ?? change.from, to })),
    at: change.at,
    message: change.message ?? '',
  };
  return statementShapes.compiled('vm transition', values, (v) => vmTransition(db, v));
}

interface VmTransitionValues extends StatementValues {
  readonly set: Pick<
    Updateable<VmsTable>,
    | 'state'
    | 'updated_at'
    | 'failure_reason'
    | 'steps'
    | 'total_ms'
    | 'restore_snapshot_id'
    | 'is_restore_paused'
    | 'mapped_snapshot_id'
    | 'observed_state'
    | 'observed_at'
  >;
  /** The VMM's state the Agent reported with the change: its event when it differs from the one recorded. */
  readonly observed: ObservedVmState | undefined;
  readonly versionSteps: number;
  readonly ids: readonly VmId[];
  readonly from: VmState;
  readonly ifVersion: number | undefined;
  /** One event row per step of the path. */
  readonly steps: readonly { readonly from: VmState; readonly to: VmState }[];
  readonly at: Date;
  readonly message: string;
}

/**
 * A state transition in one statement: the compare-and-set update and the event rows of its steps,
 * as data-modifying CTEs. Built once per shape (`StatementShapes`): which columns it sets, whether
 * it checks a version, how many steps it records and whether it records an observation. An
 * observation reads the row's previous one locked (`for update`, so its last committed version, as
 * `recordObservation` does), for its event.
 */
function vmTransition(db: Database, values: VmTransitionValues) {
  const observed = values.observed;
  return db
    .with('changed', (db) => {
      let update = db
        .updateTable('vms')
        .set((eb) => ({ ...values.set, version: eb('version', '+', values.versionSteps) }))
        .where('id', 'in', [...values.ids])
        .where('state', '=', values.from);
      if (values.ifVersion !== undefined) update = update.where('version', '=', values.ifVersion);
      const plain = update.returningAll().returning(sql<ObservedVmState | null>`null`.as('previous_observed_state'));
      if (observed === undefined) return plain;
      let observing = db
        .updateTable('vms')
        .set((eb) => ({ ...values.set, version: eb('vms.version', '+', values.versionSteps) }))
        .from((eb) =>
          eb
            .selectFrom('vms as locked')
            .select(['locked.id', 'locked.observed_state as previous_observed_state'])
            .where('locked.id', 'in', [...values.ids])
            .where('locked.state', '=', values.from)
            .forUpdate()
            .as('before'),
        )
        .whereRef('vms.id', '=', 'before.id')
        .where('vms.state', '=', values.from);
      if (values.ifVersion !== undefined) observing = observing.where('vms.version', '=', values.ifVersion);
      // The same row as the plain update answers, with the observation it replaced.
      return observing.returningAll('vms').returning('before.previous_observed_state') as unknown as typeof plain;
    })
    .with('recorded', (db) =>
      db
        .insertInto('events')
        .columns(['type', 'vm_id', 'host_id', 'project', 'at', 'from_state', 'to_state', 'message'])
        .expression((eb) => {
          // One event row per step, and none when the update matched nothing.
          const stepRow = (step: { readonly from: VmState; readonly to: VmState }) =>
            eb
              .selectFrom('changed')
              .select([
                sql<string>`text 'vm.state_changed'`.as('type'),
                'changed.id as vm_id',
                'changed.host_id as host_id',
                'changed.project as project',
                sql<Date>`cast(${values.at} as timestamptz)`.as('at'),
                sql<string>`cast(${step.from} as text)`.as('from_state'),
                sql<string>`cast(${step.to} as text)`.as('to_state'),
                sql<string>`cast(${values.message} as text)`.as('message'),
              ]);
          const [first, ...rest] = values.steps;
          if (first === undefined) throw new Error('a transition of no step');
          const stepRows = rest.reduce((rows, step) => rows.unionAll(stepRow(step)), stepRow(first));
          if (observed === undefined) return stepRows;
          // After the steps' rows, the observation's, when it differs from the one recorded.
          return stepRows.unionAll(
            eb
              .selectFrom('changed')
              .select([
                sql<string>`text 'vm.observed_state_changed'`.as('type'),
                'changed.id as vm_id',
                'changed.host_id as host_id',
                'changed.project as project',
                sql<Date>`cast(${values.at} as timestamptz)`.as('at'),
                sql<string>`null`.as('from_state'),
                sql<string>`null`.as('to_state'),
                observedChangeMessage(observed).as('message'),
              ])
              .where(sql<boolean>`changed.previous_observed_state is distinct from cast(${observed} as text)`),
          );
        }),
    )
    .selectFrom('changed')
    .selectAll();
}

async function insertOne(
  trx: Transaction<ManagerDatabase>,
  vm: NewVm,
  lease: LeaseRequest | undefined,
  fresh: number | null | undefined,
): Promise<Vm> {
  const address =
    lease === undefined
      ? undefined
      : fresh === undefined || fresh === null
        ? await leaseAddress(trx, vm, lease)
        : { address: fresh, isReuse: false };
  const network = lease === undefined || address === undefined ? vm.network : vmNetworkOf(lease.pool, address.address);
  // The VM, its event and its address's lease in one statement, with the VM's guest MAC from the
  // sequence when it has none yet. No pre-check of the name: the unique constraint answers it
  // (VM_NAME_TAKEN below), race-free. The lease's reference to the VM is checked at the statement's
  // end, when the VM's row is there.
  const { rows } = await trx.executeQuery(
    statementShapes.compiled(
      address?.isReuse === true ? 'vm insert, its address leased again' : 'vm insert',
      {
        vm: {
          id: vm.id,
          name: vm.name,
          project: vm.project,
          state: vm.state,
          host_id: vm.hostId,
          vcpu_count: vm.vcpuCount,
          memory_mib: vm.memoryMib,
          kernel_image_id: vm.kernelImageId,
          rootfs_image_id: vm.rootfsImageId,
          kernel_path: vm.kernelPath,
          rootfs_path: vm.rootfsPath,
          boot_args: vm.bootArgs,
          guest_mac: vm.guestMac,
          network: network === null ? null : JSON.stringify(network),
          user_data: vm.userData,
          egress: JSON.stringify(vm.egress),
          ports: JSON.stringify(vm.ports),
          shared_network: vm.sharedNetwork,
          rate_limits: JSON.stringify(vm.rateLimits),
          is_metrics_enabled: vm.isMetricsEnabled,
          failure_reason: vm.failureReason === null ? null : JSON.stringify(vm.failureReason),
          steps: JSON.stringify(vm.steps.map(stepToJson)),
          total_ms: vm.totalMs,
          created_at: vm.createdAt,
          updated_at: vm.updatedAt,
          version: vm.version,
          observed_state: vm.observedState,
          observed_at: vm.observedAt,
          restart_policy: vm.restartPolicy,
          template_id: vm.templateId,
          template_version: vm.templateVersion,
          snapshot_id: vm.restoredFrom?.snapshotId ?? null,
          snapshot_vm_id: vm.restoredFrom?.vmId ?? null,
          restore_snapshot_id: vm.pendingRestore?.snapshotId ?? null,
          is_restore_paused: vm.pendingRestore?.isPaused ?? false,
          mapped_snapshot_id: vm.mappedSnapshotId,
        },
        lease:
          address === undefined
            ? undefined
            : { address: address.address, pool: lease?.pool.cidr ?? '', vm_id: vm.id, leased_at: vm.createdAt },
        events: insertEvents(vm),
      },
      (values) => vmInsert(trx, values, address?.isReuse === true),
    ),
  );
  const written = rows[0];
  if (written === undefined) throw new Error(`the insert of VM ${vm.id} answered no row`);
  if (written.guest_mac === null) throw new Error(`the insert of VM ${vm.id} answered no guest MAC`);
  if (address !== undefined && Number(written.leases) !== 1) throw new Error(`address ${address.address} was not leased`);
  const { via: _via, ...recorded } = vm;
  const inserted: Vm = { ...recorded, guestMac: written.guest_mac, network };
  if (vm.ports.length > 0) {
    // The primary key (host, protocol, port) refuses a port another VM publishes on this host.
    await trx
      .insertInto('published_ports')
      .values(
        vm.ports.map((port) => ({
          host_id: vm.hostId,
          protocol: port.protocol,
          host_port: port.hostPort,
          vm_id: vm.id,
          guest_port: port.guestPort,
        })),
      )
      .execute();
  }
  return inserted;
}

/**
 * A timestamp written as `Date.prototype.toISOString` writes it (UTC, milliseconds truncated, as
 * the driver's `Date` truncates them), by the database: the list's instants become one string each
 * instead of a `Date` and then a string. Null stays null.
 */
function isoOf<Column extends 'created_at' | 'updated_at' | 'observed_at'>(
  column: Column,
): RawBuilder<VmsTable[Column] extends Date ? string : string | null> {
  return sql`to_char(${sql.ref(column)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * The columns of a VM as the list shows it ({@link VmListing}), named as its fields, so that the
 * driver's row is the listing itself: what `toVm` and then `vmListingOf` make of the whole row, in
 * one object and without the columns the list does not show (user data, the reconciler's
 * bookkeeping). Steps are stored as the listing writes them (`stepToJson`). The repository contract
 * holds each listed VM equal to `vmListingOf` of the VM read by id.
 */
const listingColumns = [
  'id',
  'name',
  'project',
  'state',
  'host_id as hostId',
  'vcpu_count as vcpuCount',
  'memory_mib as memoryMib',
  'kernel_image_id as kernelImageId',
  'rootfs_image_id as rootfsImageId',
  'kernel_path as kernelPath',
  'rootfs_path as rootfsPath',
  'boot_args as bootArgs',
  'guest_mac as guestMac',
  'network',
  'egress',
  'ports',
  'shared_network as sharedNetwork',
  'rate_limits as rateLimits',
  'is_metrics_enabled as isMetricsEnabled',
  'failure_reason as failureReason',
  'steps',
  'total_ms as totalMs',
  isoOf('created_at').as('createdAt'),
  isoOf('updated_at').as('updatedAt'),
  'version',
  'observed_state as observedState',
  isoOf('observed_at').as('observedAt'),
  'restart_policy as restartPolicy',
  'template_id as templateId',
  'template_version as templateVersion',
  sql<unknown>`case when snapshot_id is null or snapshot_vm_id is null then null
    else json_build_object('snapshotId', snapshot_id, 'vmId', snapshot_vm_id) end`.as('restoredFrom'),
  sql<unknown>`case when restore_snapshot_id is null then null
    else json_build_object('snapshotId', restore_snapshot_id, 'isPaused', is_restore_paused) end`.as('pendingRestore'),
] as const;

function toVm(row: Selectable<VmsTable>): Vm {
  const steps = (row.steps as StepJson[] | null) ?? [];
  return {
    id: row.id as VmId,
    name: row.name,
    project: row.project,
    state: row.state as VmState,
    hostId: row.host_id as HostId,
    vcpuCount: row.vcpu_count,
    memoryMib: row.memory_mib,
    kernelImageId: row.kernel_image_id as ImageId,
    rootfsImageId: row.rootfs_image_id as ImageId,
    kernelPath: row.kernel_path,
    rootfsPath: row.rootfs_path,
    bootArgs: row.boot_args,
    guestMac: row.guest_mac,
    network: (row.network as VmNetwork | null) ?? null,
    userData: row.user_data,
    egress: row.egress as EgressPolicy,
    ports: row.ports as PublishedPort[],
    sharedNetwork: row.shared_network,
    rateLimits: (row.rate_limits as RateLimits | null) ?? {},
    isMetricsEnabled: row.is_metrics_enabled,
    failureReason: (row.failure_reason as FailureReason | null) ?? null,
    steps: steps.map((step) => ({ name: step.name, durationMs: step.durationMs, at: new Date(step.at) })),
    totalMs: row.total_ms === null ? null : Number(row.total_ms),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    version: row.version,
    observedState: row.observed_state as ObservedVmState | null,
    observedAt: row.observed_at === null ? null : new Date(row.observed_at),
    restartPolicy: row.restart_policy as RestartPolicy,
    templateId: row.template_id as TemplateId | null,
    templateVersion: row.template_version,
    restoredFrom:
      row.snapshot_id === null || row.snapshot_vm_id === null
        ? null
        : { snapshotId: row.snapshot_id as SnapshotId, vmId: row.snapshot_vm_id as VmId },
    pendingRestore:
      row.restore_snapshot_id === null
        ? null
        : { snapshotId: row.restore_snapshot_id as SnapshotId, isPaused: row.is_restore_paused },
    mappedSnapshotId: row.mapped_snapshot_id as SnapshotId | null,
  };
}

/**
 * Holds the snapshot's row (FOR SHARE) until the transaction ends, for a write that records VMs
 * restoring it: SNAPSHOT_NOT_FOUND when it is gone (a removal that went first), SNAPSHOT_NOT_READY
 * when it is not ready. A removal locks the row FOR UPDATE, so it waits for these writes and then
 * sees their VMs.
 */
async function holdSnapshot(trx: Transaction<ManagerDatabase>, id: SnapshotId): Promise<void> {
  const snapshot = await trx
    .selectFrom('snapshots')
    .select(['id', 'state', 'vm_id'])
    .where('id', '=', id)
    .forShare()
    .executeTakeFirst();
  if (snapshot === undefined) throw snapshotNotFound(id);
  if (snapshot.state !== 'ready') {
    throw snapshotNotReady({ id, state: snapshot.state as SnapshotState }, 'only a ready snapshot can be restored');
  }
  // Read after the lock: a VM that became `deleting` checked its snapshots' holders under it.
  const vm = await trx.selectFrom('vms').select('state').where('id', '=', snapshot.vm_id).executeTakeFirst();
  if (vm?.state === 'deleting') throw snapshotGoingWithItsVm(id);
}

/**
 * Refuses a VM whose ready snapshots are still needed (see `whyVmNotDeletable`), with the rows of
 * those snapshots locked (FOR UPDATE) until the transaction ends: a write that records a clone or a
 * restore of one holds the row FOR SHARE (`holdSnapshot`), a template that carries one its key
 * (foreign key), so each waits for the other and the checks here see every such VM and template.
 */
async function assertDeletable(trx: Transaction<ManagerDatabase>, vmId: VmId): Promise<void> {
  const snapshots = await trx
    .selectFrom('snapshots')
    .select('id')
    .where('vm_id', '=', vmId)
    .where('state', '=', 'ready')
    .orderBy('id')
    .forUpdate()
    .execute();
  const holders = await readSnapshotHolders(
    trx,
    snapshots.map((snapshot) => snapshot.id as SnapshotId),
  );
  const refusal = whyVmNotDeletable(
    vmId,
    [...holders].map(([snapshotId, held]) => ({ snapshotId, holders: held })),
  );
  if (refusal !== undefined) throw refusal;
}

/**
 * The leases' lock: one for the whole cluster, so that concurrent creates choose their addresses one
 * at a time instead of failing on the primary key. Taken after the host's and the project's, held
 * until commit, and always in a statement before the one that reads the leases (in READ COMMITTED a
 * statement reads what was committed when it began).
 */
const leasesLockCall = sql`pg_advisory_xact_lock(hashtextextended('hearth.address_leases', 0))`;
const leasesLock = sql`select ${leasesLockCall}`;

/**
 * The CTEs `frontier`, `found` and `moved` of a statement run with the leases' lock held: `found`
 * answers the lowest address of `pool` never leased, or null when every one was leased once; the
 * frontier (every address below it was leased) if it was not, else the one after the first leased
 * address from there whose next was not, walked in address order. `moved` moves the frontier past
 * the address found, in the statement's transaction: it is leased by the insert that follows, or
 * nothing is. Without the frontier, each create walked every lease the pool ever had, under the
 * leases' lock (ADR 0078).
 */
function freshAddress(pool: LeaseRequest['pool']): RawBuilder<unknown> {
  return sql`frontier as (
      select greatest(cast(${pool.first} as bigint), coalesce(
        (select all_leased_below from address_pool_frontiers where pool = ${pool.cidr}), 0)) as address
    ), found as (
      select coalesce(
        (select frontier.address from frontier
          where frontier.address <= ${pool.last}
            and not exists (select 1 from address_leases where address = frontier.address)),
        (select leased.address + 1 from address_leases leased
          where leased.address >= (select address from frontier) and leased.address < ${pool.last}
            and not exists (select 1 from address_leases next where next.address = leased.address + 1)
          order by leased.address
          limit 1)
      ) as address
    ), moved as (
      insert into address_pool_frontiers (pool, all_leased_below)
      select cast(${pool.cidr} as text), address + 1 from found where address is not null
      on conflict (pool) do update set all_leased_below = excluded.all_leased_below
    )`;
}

/**
 * The address `vm` leases, chosen with the leases' lock held, so that concurrent creates on any
 * Manager choose one after the other (the primary key would refuse a second holder anyway).
 */
async function leaseAddress(trx: Transaction<ManagerDatabase>, vm: NewVm, lease: LeaseRequest): Promise<ChosenAddress> {
  const cutoff = new Date(vm.createdAt.getTime() - lease.quarantineMs);
  const { pool } = lease;
  if (lease.address !== undefined) {
    const why = whyNotLeasable(pool, lease.address);
    if (why !== undefined) throw invalidAddress(why);
    const row = await trx
      .selectFrom('address_leases')
      .select(['vm_id', 'released_at'])
      .where('address', '=', lease.address)
      .executeTakeFirst();
    if (row === undefined) return { address: lease.address, isReuse: false };
    if (row.vm_id === null && row.released_at !== null && new Date(row.released_at) <= cutoff) {
      return { address: lease.address, isReuse: true };
    }
    throw addressTaken(
      lease.address,
      row.vm_id === null && row.released_at !== null ? new Date(row.released_at) : null,
      lease.quarantineMs,
    );
  }
  // The lowest address never leased (`freshAddress`).
  const { rows } = await sql<{ address: string | number | null }>`
    with ${freshAddress(pool)}
    select address from found`.execute(trx);
  const fresh = rows[0]?.address;
  if (fresh !== null && fresh !== undefined) return { address: Number(fresh), isReuse: false };
  // Every address was leased once: the one released longest ago, if its quarantine is over.
  const released = await trx
    .selectFrom('address_leases')
    .select('address')
    .where('address', '>=', pool.first)
    .where('address', '<=', pool.last)
    .where('vm_id', 'is', null)
    .where('released_at', '<=', cutoff)
    .orderBy('released_at')
    .orderBy('address')
    .limit(1)
    .executeTakeFirst();
  if (released === undefined) throw poolExhausted(pool);
  return { address: Number(released.address), isReuse: true };
}

/** The message of `vm.observed_state_changed`, from the `changed` row's previous observation to `observed`. */
function observedChangeMessage(observed: string): RawBuilder<string> {
  return sql<string>`'observed ' || coalesce(changed.previous_observed_state, 'nothing') || ' → ' || cast(${observed} as text)`;
}
