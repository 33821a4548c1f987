import type { HostResource } from '@hearth/contracts';
import { tapMark } from '../../domain/agent-identity.js';
import { egressResources, proxyFilesOf, snapshotsOf, withoutSnapshot } from '../../domain/vm-record.js';
import { isUnderDirectory } from '../../domain/vm-paths.js';
import type { AgentContext } from '../agent-context.js';
import { removeEgress } from './vm-egress.js';
import type { VmLedger } from '../vm-ledger.js';
import { failpoint } from '@hearth/failpoints';

export interface ReleaseOutcome {
  readonly removed: HostResource[];
  readonly leftovers: HostResource[];
}

type Removal = {
  readonly resource: HostResource;
  /** Resources the same removal takes away with it (each rule of a VM's egress entry). */
  readonly alongside?: readonly HostResource[];
  readonly remove: () => Promise<boolean>;
  readonly forget: () => Promise<unknown>;
};

/**
 * What a release removes: `stop`, what a running VM holds; `stop_keeping_network`, the same but its
 * TAP and its entry in Hearth's tables (a stop on the way to a restore in place); `delete`, all of
 * it and the VM's files.
 */
export type ReleaseScope = 'stop' | 'stop_keeping_network' | 'delete';

/**
 * Removes what a running VM holds: the process (killed and waited for), its TAP, its egress
 * chain and NAT elements, API socket and metrics FIFO (the TAP and the egress entry stay with
 * `stop_keeping_network`); with `delete`, also the rootfs copy, the logs, the files proxied
 * requests made and the directory. Each removal is written to the record as it happens; what could
 * not be removed is reported, never hidden.
 */
export async function releaseVmResources(context: AgentContext, ledger: VmLedger, scope: ReleaseScope): Promise<ReleaseOutcome> {
  const { files, network, vmm, firecracker, settings } = context;
  const vmId = ledger.record.vmId;
  const mark = tapMark(settings.agentId, vmId);
  const isMarkedByAnother = (alias: string | null): boolean => alias !== null && alias !== '' && alias !== mark;
  const removed: HostResource[] = [];
  const leftovers: HostResource[] = [];

  const attempt = async (removal: Removal): Promise<void> => {
    let isGone = false;
    try {
      isGone = await removal.remove();
    } catch (error) {
      context.log.warn({ vmId, resource: removal.resource, err: error }, 'host resource could not be removed');
    }
    const resources = [removal.resource, ...(removal.alongside ?? [])];
    if (isGone) {
      await removal.forget();
      removed.push(...resources);
    } else {
      leftovers.push(...resources);
    }
  };

  const socketPath = ledger.record.socketPath;
  if (socketPath !== null) await firecracker.release(socketPath);

  const process = ledger.record.process;
  if (process !== null) {
    await attempt({
      resource: { kind: 'process', ref: String(process.pid), vmId },
      remove: () => vmm.stop(process, settings.stopTimeoutMs),
      forget: () => ledger.commit({ process: null }),
    });
    failpoint('agent.release.after-process');
  }
  const isNetworkKept = scope === 'stop_keeping_network';
  const tap = ledger.record.tap;
  if (tap !== null && !isNetworkKept) {
    await attempt({
      resource: { kind: 'tap', ref: tap.name, vmId },
      remove: async () => {
        // A recorded name whose link carries another mark is someone else's (the name was taken
        // between recording it and creating the TAP): it is not removed, only forgotten.
        const link = await network.linkState(tap.name);
        if (link === null || isMarkedByAnother(link.alias)) return true;
        // Resolves only once the link is gone: no second look by its name (a fork of `ip` each).
        await network.deleteLink(tap.name);
        return true;
      },
      forget: () => ledger.commit({ tap: null }),
    });
    failpoint('agent.release.after-tap');
  }
  const egress = ledger.record.egress ?? null;
  if (egress !== null && !isNetworkKept) {
    const [chain, ...rules] = egressResources(vmId, egress);
    await attempt({
      resource: chain!,
      alongside: rules,
      remove: () => removeEgress(context, ledger.record),
      forget: () => ledger.commit({ egress: null }),
    });
  }
  // A path read from the record is removed only when it lies under the run directory; any other
  // one is reported as left over, never removed.
  const fileRemoval = (kind: HostResource['kind'], path: string, forget: () => Promise<unknown>): Removal => ({
    resource: { kind, ref: path, vmId },
    remove: async () => {
      if (!isUnderDirectory(settings.runDir, path)) {
        context.log.error({ vmId, kind, path, runDir: settings.runDir }, 'recorded path outside the run directory not removed');
        return false;
      }
      await files.remove(path);
      return !(await files.exists(path));
    },
    forget,
  });
  if (socketPath !== null) await attempt(fileRemoval('socket', socketPath, () => ledger.commit({ socketPath: null })));
  const fifoPath = ledger.record.fifoPath;
  if (fifoPath !== null) await attempt(fileRemoval('fifo', fifoPath, () => ledger.commit({ fifoPath: null })));
  const consoleFifoPath = ledger.record.consoleFifoPath ?? null;
  if (consoleFifoPath !== null) {
    await attempt(fileRemoval('fifo', consoleFifoPath, () => ledger.commit({ consoleFifoPath: null })));
  }
  if (scope !== 'delete') return { removed, leftovers };

  const rootfs = ledger.record.rootfs;
  if (rootfs !== null) await attempt(fileRemoval('rootfs', rootfs.path, () => ledger.commit({ rootfs: null })));
  for (const path of ledger.record.logPaths) {
    await attempt(fileRemoval('log', path, () => ledger.commit({ logPaths: ledger.record.logPaths.filter((p) => p !== path) })));
  }
  for (const path of proxyFilesOf(ledger.record)) {
    await attempt(
      fileRemoval('file', path, () => ledger.commit({ proxyFiles: proxyFilesOf(ledger.record).filter((p) => p !== path) })),
    );
  }
  for (const snapshot of snapshotsOf(ledger.record)) {
    await attempt({
      resource: { kind: 'snapshot', ref: snapshot.id, vmId },
      remove: async () => {
        const paths = [snapshot.statePath, snapshot.memoryPath, snapshot.rootfsPath].filter((p) =>
          isUnderDirectory(settings.runDir, p),
        );
        for (const path of paths) await files.remove(path);
        for (const path of paths) if (await files.exists(path)) return false;
        return paths.length === 3;
      },
      forget: () => ledger.commit({ snapshots: withoutSnapshot(ledger.record, snapshot.id) }),
    });
  }
  if (leftovers.length === 0) {
    failpoint('agent.delete.before-directory');
    const directory = ledger.record.directory;
    await attempt({
      resource: { kind: 'directory', ref: directory, vmId },
      remove: async () => {
        await context.records.remove(vmId);
        return !(await files.exists(directory));
      },
      forget: async () => undefined,
    });
  }
  return { removed, leftovers };
}
