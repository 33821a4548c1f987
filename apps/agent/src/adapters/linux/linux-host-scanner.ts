import { readdir } from 'node:fs/promises';
import { isAppError } from '@hearth/errors';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import type { FoundVmm, HostScanner } from '../../application/ports/host-scanner.js';
import { readProcStat } from '../firecracker/proc-stat.js';
import { readProcFile } from './proc-file.js';

const pollIntervalMs = 20;

/** Scans links through `ip -j` (inside the Agent's namespace, if any) and processes through /proc. */
export class LinuxHostScanner implements HostScanner {
  private readonly ip: readonly string[];

  constructor(
    private readonly runner: CommandRunner,
    options: { readonly netns?: string | null } = {},
  ) {
    this.ip = options.netns ? ['ip', '-n', options.netns] : ['ip'];
  }

  async bridgePorts(bridge: string): Promise<string[]> {
    try {
      const { stdout } = await this.runner.run([...this.ip, '-j', 'link', 'show', 'master', bridge]);
      const links = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as Array<{ ifname?: unknown }>;
      return links.flatMap((link) => (typeof link.ifname === 'string' ? [link.ifname] : []));
    } catch (error) {
      // No bridge yet: nothing is attached to it.
      if (isAppError(error) && /does not exist|Cannot find device/i.test(String(error.diagnostics?.['stderr'] ?? ''))) return [];
      throw error;
    }
  }

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
      if (socketPath !== undefined && socketPath.startsWith(prefix)) found.push({ pid, socketPath });
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
