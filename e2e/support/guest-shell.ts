import type { Hearth } from '@hearth/sdk';
import { waitFor } from '@hearth/testkit';

/** What one command typed on a guest's serial console printed, and its exit status. */
export interface ShellResult {
  readonly status: number;
  readonly output: string;
}

/**
 * A root shell on a guest's serial console, attached through the Manager (the SDK's
 * `attachConsole`). `run` types a command and waits for the line the shell prints after it: a
 * marker the shell computes (`$((n))`), so the console's echo of the typed line never matches it.
 */
export interface GuestShell {
  /** Runs `command` (one line, its output on one line) and answers its status and output. */
  run(command: string, timeoutMs?: number): Promise<ShellResult>;
  close(): void;
}

let counter = 0;

/** Attaches to `vmId`'s console and waits until its shell answers. */
export async function attachGuestShell(hearth: Hearth, vmId: string, readyTimeoutMs = 60_000): Promise<GuestShell> {
  const session = await hearth.vms.attachConsole(vmId, { backlogBytes: 1 });
  let output = '';
  session.onData((bytes) => (output += Buffer.from(bytes).toString('latin1')));

  /** Types `command` and waits for its marker line; undefined when it did not come within `timeoutMs`. */
  async function attempt(command: string, timeoutMs: number): Promise<ShellResult | undefined> {
    const n = ++counter;
    const from = output.length;
    session.write(`o=$(${command} 2>&1); r=$?; echo "@$((${n}))@$r@$(echo $o)@end"\r`);
    const pattern = new RegExp(`@${n}@(\\d+)@(.*)@end`);
    try {
      return await waitFor(
        () => {
          const match = pattern.exec(output.slice(from));
          return match === null ? undefined : { status: Number(match[1]), output: match[2]!.trim() };
        },
        { timeoutMs, intervalMs: 50, description: `${vmId} runs ${command}` },
      );
    } catch {
      return undefined;
    }
  }

  try {
    // The console's shell may still be starting (init respawns it after the boot script): ask until it answers.
    await waitFor(() => attempt('echo ready', 2_000), {
      timeoutMs: readyTimeoutMs,
      description: `the shell on ${vmId}'s console (so far: ${JSON.stringify(output.slice(-300))})`,
    });
  } catch (error) {
    session.close();
    throw error;
  }
  return {
    async run(command, timeoutMs = 20_000) {
      const result = await attempt(command, timeoutMs);
      if (result === undefined) {
        throw new Error(
          `${vmId} did not finish ${command} within ${timeoutMs} ms; console: ${JSON.stringify(output.slice(-600))}`,
        );
      }
      return result;
    },
    close: () => session.close(),
  };
}
