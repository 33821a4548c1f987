import type { Hearth, Snapshot } from '@hearth/sdk';
import { resolveReference } from './resolve.js';

/** A snapshot by id or unique id prefix (snapshots have no names). */
export function resolveSnapshot(hearth: Hearth, reference: string): Promise<Snapshot> {
  return resolveReference('snapshot', reference, {
    idPrefix: 'snap_',
    byId: (id) => hearth.snapshots.get(id),
    byName: () => Promise.resolve([]),
    all: () => hearth.snapshots.list({ pageSize: 500 }),
  });
}
