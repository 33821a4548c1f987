import { Page } from '../components.js';
import type { Session } from '../session.js';
import { useListing } from '../use-listing.js';
import { SnapshotTable } from './snapshot-table.js';

/** How often the page reads the snapshots again (one being taken becomes ready or failed). */
const refreshMs = 5000;

/** Every snapshot of the token's projects; a snapshot is taken from its VM's page. */
export function Snapshots({ session }: { readonly session: Session }) {
  const snapshots = useListing(() => session.hearth.snapshots.list({ pageSize: 100 }), [session], refreshMs);
  return (
    <Page title="Snapshots">
      <p class="hint">Take a snapshot from a VM’s Snapshots tab; clone one into new VMs here.</p>
      <SnapshotTable session={session} snapshots={snapshots} showVm={true} />
    </Page>
  );
}
