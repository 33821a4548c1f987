import { describe, expect, it } from 'vitest';
import { isAppError } from '@hearth/errors';
import { everyProject } from '../../domain/access.js';
import { createWorldWithVm } from '../../testing/world.js';
import type { UseCaseDependencies } from '../dependencies.js';
import { acceptClones } from './clone-vms.js';
import { createSnapshot } from './snapshots.js';
import { createTemplate } from './templates.js';

/** The dependencies as a request sees them when a delete of the snapshot's VM ran between its reads of the snapshot and of the VM. */
async function vmDeletedBetweenReads(): Promise<{
  deps: UseCaseDependencies;
  snapshotId: Awaited<ReturnType<typeof createSnapshot>>['id'];
}> {
  const { world, vmId } = await createWorldWithVm();
  const snapshot = await createSnapshot(world.deps, vmId, { afterwards: 'previous_state' }, everyProject);
  const vms = Object.create(world.deps.vms, { findById: { value: async () => undefined } }) as UseCaseDependencies['vms'];
  return { deps: { ...world.deps, vms }, snapshotId: snapshot.id };
}

async function refusal(work: Promise<unknown>): Promise<unknown> {
  const error = await work.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(isAppError(error), String(error)).toBe(true);
  return error;
}

describe('a snapshot whose VM a delete took between two reads', () => {
  it('is no snapshot to clone: the request is refused as naming none, not as an internal error', async () => {
    const { deps, snapshotId } = await vmDeletedBetweenReads();
    expect(await refusal(acceptClones(deps, { name: 'clone', project: 'default', snapshotId }))).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'body/snapshotId', message: `no snapshot with id ${snapshotId}` }],
    });
  });

  it('is no snapshot for a template to carry', async () => {
    const { deps, snapshotId } = await vmDeletedBetweenReads();
    expect(await refusal(createTemplate(deps, { name: 'warm', project: 'default', snapshotId }))).toMatchObject({
      code: 'VALIDATION_FAILED',
      errors: [{ field: 'body/snapshotId' }],
    });
  });
});
