import type { Transaction } from 'kysely';
import type { SnapshotId, TemplateId, VmId } from '../../domain/ids.js';
import type { SnapshotHolders } from '../../domain/snapshot.js';
import type { ManagerDatabase } from './schema.js';

/**
 * What holds each of the snapshots (see `SnapshotHolders`), to be read under their rows' locks: VMs
 * whose next start restores one (clones that have not run, restores in place not finished) or whose
 * VMM maps its memory file, merges still reading its files, and templates that carry it. Three
 * statements whatever the number of snapshots; a snapshot nothing holds maps to empty lists.
 */
export async function readSnapshotHolders(
  trx: Transaction<ManagerDatabase>,
  ids: readonly SnapshotId[],
): Promise<Map<SnapshotId, SnapshotHolders>> {
  const holders = new Map(
    ids.map((id) => [id, { vmIds: [] as VmId[], mergeIds: [] as SnapshotId[], templateIds: [] as TemplateId[] }]),
  );
  if (ids.length === 0) return holders;
  const vms = await trx
    .selectFrom('vms')
    .select(['id', 'snapshot_id', 'total_ms', 'restore_snapshot_id', 'mapped_snapshot_id'])
    .where((eb) =>
      eb.or([
        eb.and([eb('snapshot_id', 'in', ids), eb('total_ms', 'is', null)]),
        eb('restore_snapshot_id', 'in', ids),
        eb('mapped_snapshot_id', 'in', ids),
      ]),
    )
    .orderBy('id')
    .execute();
  for (const vm of vms) {
    const held = new Set([vm.total_ms === null ? vm.snapshot_id : null, vm.restore_snapshot_id, vm.mapped_snapshot_id]);
    for (const id of held) if (id !== null) holders.get(id as SnapshotId)?.vmIds.push(vm.id as VmId);
  }
  const merges = await trx
    .selectFrom('snapshots')
    .select(['id', 'merged_from'])
    .where('merged_from', 'in', ids)
    .where('state', '=', 'creating')
    .orderBy('id')
    .execute();
  for (const merge of merges) holders.get(merge.merged_from as SnapshotId)?.mergeIds.push(merge.id as SnapshotId);
  const templates = await trx
    .selectFrom('templates')
    .select(['id', 'snapshot_id'])
    .where('snapshot_id', 'in', ids)
    .orderBy('id')
    .execute();
  for (const template of templates) holders.get(template.snapshot_id as SnapshotId)?.templateIds.push(template.id as TemplateId);
  return holders;
}
