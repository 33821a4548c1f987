import { readdir, readlink } from 'node:fs/promises';
import type { FoundVmm, HostScanner } from '../../application/ports/host-scanner.js';
import { readProcStat } from '../firecracker/proc-stat.js';
import { readProcFile } from './proc-file.js';

const pollIntervalMs = 20;

/** Scans processes through /proc and directories on disk (TAPs are found by their mark: `HostNetwork.markedLinks`). */
export class LinuxHostScanner implements HostScanner {
  async vmmsWithSocketUnder(directory: string): Promise<FoundVmm[]> {
    const prefix = directory.endsWith('/') ? directory : `${directory}/`;
    const found: FoundVmm[] = [];
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const pid = Number(entry);
      if (pid === process.pid) continue;
      let args: string[];
      try {
        args = readProcFile(`/proc/${entry}/cmdline`).split('\0');
      } catch {
        continue; // exited meanwhile
      }
      const at = args.indexOf('--api-sock');
      const socketPath = at >= 0 ? args[at + 1] : undefined;
      if (socketPath === undefined || !socketPath.startsWith(prefix)) continue;
      let workingDirectory: string | null;
      try {
        workingDirectory = await readlink(`/proc/${entry}/cwd`);
      } catch {
        workingDirectory = null; // exited meanwhile, or not readable
      }
      found.push({ pid, socketPath, workingDirectory });
    }
    return found;
  }

  async directoryEntries(directory: string): Promise<string[]> {
    try {
      return (await readdir(directory, { withFileTypes: true }))
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async kill(pid: number, timeoutMs: number): Promise<boolean> {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return true;
      throw error;
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const stat = await readProcStat(pid);
      if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
    }
  }
}
