import type { FoundVmm, HostScanner } from '../../application/ports/host-scanner.js';

/** A host in memory: what `ip` and /proc would show. Tests put untracked things here. */
export class FakeHostScanner implements HostScanner {
  readonly vmms: FoundVmm[] = [];
  readonly directories = new Map<string, string[]>();
  readonly killed: number[] = [];

  async vmmsWithSocketUnder(directory: string): Promise<FoundVmm[]> {
    return this.vmms.filter((vmm) => vmm.socketPath.startsWith(`${directory}/`) && !this.killed.includes(vmm.pid));
  }

  async directoryEntries(directory: string): Promise<string[]> {
    return [...(this.directories.get(directory) ?? [])];
  }

  async kill(pid: number): Promise<boolean> {
    this.killed.push(pid);
    return true;
  }
}
