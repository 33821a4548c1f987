import type { RootfsResult } from '@hearth/contracts';
import { AppError } from '@hearth/errors';
import { vmPaths } from '../domain/vm-paths.js';
import { imageProblem } from './image-paths.js';
import type { AgentContext } from './agent-context.js';
import type { StepOutcome } from './ensure-tap.js';
import type { VmLedger } from './vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

/**
 * Makes the VM's private copy of the rootfs image (never the shared image itself). `sourcePath`
 * must already be resolved inside the image root. A complete copy from the same source is reused.
 */
export async function prepareRootfs(
  context: AgentContext,
  ledger: VmLedger,
  sourcePath: string,
): Promise<StepOutcome<RootfsResult>> {
  const recorded = ledger.record.rootfs;
  if (recorded !== null && recorded.sizeBytes !== null && (await context.files.exists(recorded.path))) {
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
  await ledger.commit({ rootfs: { path: destination, sourcePath, sizeBytes: null } });
  // Opened once more for the copy and checked again on the open file: what was checked is what is copied.
  const copied = await context.files.copyImage(context.settings.imageRoot, sourcePath, destination);
  if (copied.kind !== 'regular') throw imageProblem(context, copied, sourcePath, 'rootfsSourcePath');
  const sizeBytes = copied.sizeBytes;
  await ledger.commit({ rootfs: { path: destination, sourcePath, sizeBytes } });
  failpoint('agent.apply.after-rootfs');
  return { result: { rootfsPath: destination, sizeBytes }, hasRun: true };
}
