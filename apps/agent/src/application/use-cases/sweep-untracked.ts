import type { HostResource } from '@hearth/contracts';
import { isVmId } from '../../domain/vm-id.js';
import { vmmPoolDirectory, vmsDirectory } from '../../domain/vm-paths.js';
import type { AgentContext } from '../agent-context.js';
import type { HostScanner } from '../ports/host-scanner.js';
import { unrecordedTaps } from '../steps/unrecorded-taps.js';
import { sweepEgress } from '../steps/vm-egress.js';

export interface SweepOutcome {
  readonly removed: readonly HostResource[];
  readonly leftovers: readonly HostResource[];
}

/**
 * At start, before serving requests: removes what a crash left on the host outside any record,
 * i.e. side effects made just before the Agent died and could write them down: TAPs carrying this
 * Agent's mark (attached to the bridge or not) that no record names, chains and elements of
 * Hearth's nftables table that no record names, Firecracker processes serving a socket under
 * the run directory that no record names, VM directories with no record, and the directories of
 * warm VMMs (`VmmPool`) with their processes unless a VM's record took one. Recorded resources are
 * left alone (re-adopted, or removed by stop and delete); so is every interface without this
 * Agent's mark (another Agent's TAPs, other tools' interfaces) and everything outside its run
 * directory. So is everything that may belong to a VM whose record is unreadable: its directory, a
 * VMM serving a socket in it and the TAPs marked with its id.
 */
export async function sweepUntracked(context: AgentContext, scanner: HostScanner): Promise<SweepOutcome> {
  const records = await context.records.list();
  const unreadable = await context.records.unreadable();
  const unreadableDirectories = unreadable.map((entry) => `${entry.directory}/`);
  const unreadableVmIds = new Set(unreadable.map((entry) => entry.vmId));
  const removed: HostResource[] = [];
  const leftovers: HostResource[] = [];
  const note = (isGone: boolean, resource: HostResource): void => {
    (isGone ? removed : leftovers).push(resource);
    const fields = { resource };
    if (isGone) context.log.warn(fields, 'untracked host resource removed');
    else context.log.error(fields, 'untracked host resource could not be removed');
  };
  const vmIdOfPath = (path: string): string => {
    const match = /\/vms\/(vm_[0-9A-Z]+)\//.exec(path);
    return match?.[1] ?? '';
  };

  const recordedPids = new Set(records.flatMap((record) => (record.process === null ? [] : [record.process.pid])));
  // A warm VMM's command line names the pool's directory even once a VM took it: its working
  // directory, which moved with the VM's, tells whose it is.
  const poolDirectory = vmmPoolDirectory(context.settings.runDir);
  const found = [
    ...(await scanner.vmmsWithSocketUnder(vmsDirectory(context.settings.runDir))),
    ...(await scanner.vmmsWithSocketUnder(poolDirectory)),
  ];
  for (const vmm of found) {
    if (recordedPids.has(vmm.pid)) continue;
    const where = [vmm.socketPath, ...(vmm.workingDirectory === null ? [] : [`${vmm.workingDirectory}/`])];
    if (unreadableDirectories.some((directory) => where.some((path) => path.startsWith(directory)))) continue;
    const isGone = await scanner.kill(vmm.pid, context.settings.stopTimeoutMs);
    note(isGone, { kind: 'process', ref: String(vmm.pid), vmId: vmIdOfPath(where.at(-1) ?? vmm.socketPath) });
  }

  for (const { name, vmId } of await unrecordedTaps(context, records, unreadableVmIds)) {
    let isGone = false;
    try {
      await context.network.deleteLink(name);
      isGone = !(await context.network.linkExists(name));
    } catch (error) {
      context.log.warn({ tap: name, err: error }, 'untracked tap could not be deleted');
    }
    note(isGone, { kind: 'tap', ref: name, vmId });
  }

  const egress = await sweepEgress(context, records, new Set<string>(unreadableVmIds));
  for (const resource of egress.removed) note(true, resource);
  for (const resource of egress.leftovers) note(false, resource);

  const recordedVmIds = new Set<string>([...records, ...unreadable].map((record) => record.vmId));
  const directory = vmsDirectory(context.settings.runDir);
  for (const entry of await scanner.directoryEntries(directory)) {
    if (!isVmId(entry) || recordedVmIds.has(entry)) continue;
    const path = `${directory}/${entry}`;
    await context.files.removeDirectory(path);
    note(!(await context.files.exists(path)), { kind: 'directory', ref: path, vmId: entry });
  }
  // Warm VMMs are started afresh after the sweep: every directory left in the pool's is untracked.
  for (const entry of await scanner.directoryEntries(poolDirectory)) {
    const path = `${poolDirectory}/${entry}`;
    await context.files.removeDirectory(path);
    note(!(await context.files.exists(path)), { kind: 'directory', ref: path, vmId: '' });
  }
  return { removed, leftovers };
}
