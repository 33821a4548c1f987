import { useState } from 'preact/hooks';
import type { CreateSnapshotRequest, Vm } from '@hearth/sdk';
import { ErrorNotice } from '../components.js';
import type { Session } from '../session.js';
import { useAction } from '../use-action.js';
import { useListing } from '../use-listing.js';
import { SnapshotTable } from './snapshot-table.js';

type Afterwards = NonNullable<CreateSnapshotRequest['afterwards']>;

/**
 * A VM's snapshots, and taking one (memory, devices and disk, with the guest paused meanwhile) of
 * a running or paused VM; afterwards the VM goes back to what it was, or stops if asked.
 */
export function VmSnapshots({ session, vm }: { readonly session: Session; readonly vm: Vm }) {
  const snapshots = useListing(() => session.hearth.snapshots.list({ vmId: vm.id, pageSize: 100 }), [session, vm.id]);
  const [afterwards, setAfterwards] = useState<Afterwards>('previous_state');
  const taking = useAction<'snapshot'>();
  const canTake = vm.state === 'running' || vm.state === 'paused';

  const take = (): void =>
    taking.run('snapshot', async () => {
      await session.hearth.snapshots.create(vm.id, { afterwards });
      snapshots.reload();
    });

  return (
    <div>
      <div class="actions">
        <button type="button" disabled={!canTake || taking.busy !== undefined} onClick={take}>
          {taking.busy === undefined ? 'Take snapshot' : 'Taking snapshot…'}
        </button>
        <label>
          then{' '}
          <select
            name="afterwards"
            value={afterwards}
            onChange={(event) => setAfterwards((event.currentTarget as HTMLSelectElement).value as Afterwards)}
          >
            <option value="previous_state">{vm.state === 'paused' ? 'keep it paused' : 'let it run on'}</option>
            <option value="stopped">stop the VM</option>
          </select>
        </label>
        {!canTake && <span class="hint">A snapshot is taken of a running or paused VM.</span>}
      </div>
      <ErrorNotice error={taking.error} />
      <SnapshotTable session={session} snapshots={snapshots} showVm={false} />
    </div>
  );
}
