import { spawn, type ChildProcess } from 'node:child_process';
import { isAlive, repoRoot, signalProcessTree, waitForPidsToExit } from '@hearth/testkit';

/** `npm run <script>` as a user starts it: npm is the process a signal goes to. */
export interface NpmRun {
  readonly npm: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function npmRun(script: string, env: NodeJS.ProcessEnv): NpmRun {
  // Its own process group, so that a failing test can still end every process it started.
  const npm = spawn('npm', ['run', script], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  npm.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { npm, output: () => output, exited };
}

/** Ends whatever a failed test left: the npm process group and every descendant. */
export async function endRun(run: NpmRun | undefined): Promise<void> {
  if (run?.npm.pid === undefined || !isAlive(run.npm.pid)) return;
  const pids = signalProcessTree(run.npm.pid, 'SIGKILL');
  await waitForPidsToExit(pids, 5_000).catch(() => undefined);
}
