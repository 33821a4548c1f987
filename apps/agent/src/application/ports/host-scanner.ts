/** A Firecracker process found on the host by its command line (`--api-sock <path>`). */
export interface FoundVmm {
  readonly pid: number;
  /** As its command line names it: a warm VMM's names the pool's directory after the VM took it. */
  readonly socketPath: string;
  /** Its working directory now (it follows a rename), or null when it could not be read. */
  readonly workingDirectory: string | null;
}

/**
 * Finds what is on the host regardless of the Agent's records, to catch what a crash left between
 * a side effect and its record (a VMM spawned but not yet recorded, a VM directory without its
 * record; TAPs are found by their mark, see `HostNetwork.markedLinks`).
 */
export interface HostScanner {
  /** Firecracker processes whose API socket lies under `directory`. */
  vmmsWithSocketUnder(directory: string): Promise<FoundVmm[]>;
  /** Entries (directories) of `directory`; none when it does not exist. */
  directoryEntries(directory: string): Promise<string[]>;
  /** SIGKILLs the process and waits (up to `timeoutMs`) until it is gone; false when it is still there. */
  kill(pid: number, timeoutMs: number): Promise<boolean>;
}
