import type { RootfsResult } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { vmPaths } from '../../domain/vm-paths.js';
import type { RootfsRecord } from '../../domain/vm-record.js';
import { imageProblem } from './image-paths.js';
import type { AgentContext } from '../agent-context.js';
import type { StepOutcome } from './ensure-tap.js';
import type { VmLedger } from '../vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

/** Where a VM restored from a snapshot copies its disk from: the snapshot's disk, inside `root`. */
export interface RootfsCopySource {
  readonly root: string;
  readonly path: string;
}

/** The disk copy about to be made: its path and source, no size until it is complete. */
export function rootfsIntent(path: string, sourcePath: string): RootfsRecord {
  return { path, sourcePath, sizeBytes: null };
}

function isSameRootfs(a: RootfsRecord | null, b: RootfsRecord): boolean {
  return a !== null && a.path === b.path && a.sourcePath === b.sourcePath && a.sizeBytes === b.sizeBytes;
}

/**
 * Makes the VM's private copy of the rootfs image (never the shared image itself). `sourcePath`
 * must already be resolved inside the image root. A complete copy from the same source is reused.
 * With `snapshotDisk`, the copy is made afresh from that disk (whatever a copy made before holds),
 * and recorded as descending from `sourcePath`, the image the snapshot's VM was made from.
 *
 * The complete copy must be in the record before a recorded VMM holds the disk: an apply taken up
 * again on a live recorded VMM with the copy not recorded complete would copy over the disk its
 * guest runs on. With `isSavedWithProcess` (a fresh VM, whose VMM is spawned only after this step
 * and opens the disk as it starts), it is noted and saved with the next write, at the latest the
 * one that records the VMM's process: both are in the record together or neither is, and a VMM
 * spawned but not recorded when the Agent died is killed by the start-up sweep before any apply,
 * which then copies the disk again. A restore's VMM runs beside the copy and loads the disk later:
 * its copy is saved before the step ends.
 */
export async function prepareRootfs(
  context: AgentContext,
  ledger: VmLedger,
  sourcePath: string,
  snapshotDisk?: RootfsCopySource,
  options: { readonly isSavedWithProcess?: boolean } = {},
): Promise<StepOutcome<RootfsResult>> {
  const recorded = ledger.record.rootfs;
  if (
    snapshotDisk === undefined &&
    recorded !== null &&
    recorded.sizeBytes !== null &&
    (await context.files.exists(recorded.path))
  ) {
    if (recorded.sourcePath !== sourcePath) {
      throw new AppError(
        'VM_INVALID_TRANSITION',
        `VM ${ledger.record.vmId} already has a rootfs copied from ${recorded.sourcePath}; delete the VM to change it`,
        {
          details: { recordedSourcePath: recorded.sourcePath, requestedSourcePath: sourcePath },
        },
      );
    }
    return { result: { rootfsPath: recorded.path, sizeBytes: recorded.sizeBytes }, hasRun: false };
  }
  const destination = vmPaths(context.settings.runDir, ledger.record.vmId).rootfs;
  // Recorded before the copy starts (with the record itself, for a new VM), so that a copy left
  // half-made by a crash is found and removed.
  const intent = rootfsIntent(destination, sourcePath);
  if (!isSameRootfs(recorded, intent)) await ledger.commit({ rootfs: intent });
  // Opened once more for the copy and checked again on the open file: what was checked is what is copied.
  const copied =
    snapshotDisk === undefined
      ? await context.files.copyImage(context.settings.imageRoot, sourcePath, destination)
      : await context.files.copyImage(snapshotDisk.root, snapshotDisk.path, destination);
  if (copied.kind !== 'regular') {
    if (snapshotDisk === undefined) throw imageProblem(context, copied, sourcePath, 'rootfsSourcePath');
    throw new AppError('SNAPSHOT_NOT_FOUND', `The disk of the snapshot to restore could not be copied (${copied.kind})`, {
      diagnostics: { snapshotRootfsPath: snapshotDisk.path },
    });
  }
  const sizeBytes = copied.sizeBytes;
  const complete = { rootfs: { path: destination, sourcePath, sizeBytes } };
  if (options.isSavedWithProcess === true && snapshotDisk === undefined) ledger.note(complete);
  else await ledger.commit(complete);
  failpoint('agent.apply.after-rootfs');
  return { result: { rootfsPath: destination, sizeBytes }, hasRun: true };
}
