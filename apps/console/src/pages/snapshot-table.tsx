import type { Snapshot } from '@hearth/sdk';
import { ErrorNotice } from '../components.js';
import { formatAge, formatBytes, formatDurationMs } from '../format.js';
import { hrefOf } from '../route.js';
import type { Session } from '../session.js';
import { useAction } from '../use-action.js';
import type { Listing } from '../use-listing.js';
import { useNow } from '../use-now.js';

/**
 * Snapshots as a table, each with what can be done with it: clone it into new VMs (a ready one) and
 * delete it (after a confirmation). `showVm` adds the column of the VM each was taken of.
 */
export function SnapshotTable({
  session,
  snapshots,
  showVm,
}: {
  readonly session: Session;
  readonly snapshots: Listing<Snapshot>;
  readonly showVm: boolean;
}) {
  const action = useAction<string>();
  const now = useNow();

  const remove = (snapshot: Snapshot): void =>
    action.run(`delete:${snapshot.id}`, async () => {
      if (!confirm(`Delete snapshot ${snapshot.id}? Its files on the host go; VMs cloned from it keep running.`)) return;
      await session.hearth.snapshots.delete(snapshot.id);
      snapshots.reload();
    });

  return (
    <>
      <ErrorNotice error={action.error} />
      <ErrorNotice error={snapshots.error} />
      {snapshots.items === undefined ? (
        snapshots.error === undefined && <p class="muted">Loading…</p>
      ) : snapshots.items.length === 0 ? (
        <p class="muted">No snapshots.</p>
      ) : (
        <table class="list" data-testid="snapshot-list">
          <thead>
            <tr>
              <th>Snapshot</th>
              {showVm && <th>VM</th>}
              <th>State</th>
              <th>Memory / disk</th>
              <th>Pause</th>
              <th>Age</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {snapshots.items.map((snapshot) => (
              <tr key={snapshot.id} data-snapshot-id={snapshot.id} data-snapshot-vm-id={snapshot.vmId}>
                <td class="mono">
                  {snapshot.id}
                  <div class="muted small">
                    {snapshot.project}
                    {snapshot.expiresAt === null ? '' : ` · expires ${snapshot.expiresAt}`}
                  </div>
                </td>
                {showVm && (
                  <td class="mono">
                    <a href={hrefOf({ page: 'vm', vmId: snapshot.vmId, tab: 'snapshots' })}>{snapshot.vmId}</a>
                  </td>
                )}
                <td>
                  <span class={`state state-${snapshot.state === 'ready' ? 'running' : snapshot.state}`}>{snapshot.state}</span>
                  {snapshot.failureReason !== null && (
                    <div class="error-text small">
                      <code>{snapshot.failureReason.code}</code> {snapshot.failureReason.message}
                    </div>
                  )}
                </td>
                <td>
                  {snapshot.sizes === null
                    ? '–'
                    : `${formatBytes(snapshot.sizes.memoryBytes)} / ${formatBytes(snapshot.sizes.rootfsBytes)}`}
                </td>
                <td>{snapshot.pauseMs === null ? '–' : formatDurationMs(snapshot.pauseMs)}</td>
                <td title={snapshot.createdAt}>{formatAge(snapshot.createdAt, now)}</td>
                <td class="actions">
                  {snapshot.state === 'ready' && (
                    <a class="button" href={hrefOf({ page: 'create', from: { kind: 'snapshot', id: snapshot.id } })}>
                      Clone
                    </a>
                  )}
                  <button type="button" class="danger" disabled={action.busy !== undefined} onClick={() => remove(snapshot)}>
                    {action.busy === `delete:${snapshot.id}` ? 'delete…' : 'delete'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
