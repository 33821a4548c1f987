import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { agentMain, managerMain, managerNodeFlags, waitFor } from '@hearth/testkit';

/**
 * An entry point that runs `main` under the inspector's CPU profiler (`--cpu-prof` is refused in
 * NODE_OPTIONS, and the testkit starts `node <main>`). Each SIGUSR2 writes the profile since the
 * previous one (or since the start) as `<dir>/<name>-<pid>-<n>.cpuprofile`, n = 1, 2, …, and
 * starts the next: two signals bracket a phase.
 */
export function writeProfiledMain(file: string, main: string, dir: string, name: string): string {
  mkdirSync(dir, { recursive: true });
  mkdirSync(path.dirname(file), { recursive: true });
  const prefix = `${path.resolve(dir)}/${name}-`;
  writeFileSync(
    file,
    [
      "import { renameSync, writeFileSync } from 'node:fs';",
      "import { Session } from 'node:inspector';",
      'const session = new Session();',
      'session.connect();',
      'let written = 0;',
      "session.post('Profiler.enable', () => session.post('Profiler.start'));",
      "process.on('SIGUSR2', () => {",
      "  session.post('Profiler.stop', (error, result) => {",
      '    written += 1;',
      // Renamed once whole: a reader that sees the file sees all of it.
      `    const file = ${JSON.stringify(prefix)} + process.pid + '-' + written + '.cpuprofile';`,
      "    if (error === null) { writeFileSync(file + '.tmp', JSON.stringify(result.profile)); renameSync(file + '.tmp', file); }",
      "    session.post('Profiler.start');",
      '  });',
      '});',
      `await import(${JSON.stringify(main)});`,
      '',
    ].join('\n'),
  );
  return file;
}

/**
 * The Agent's entry point: `main` (default this checkout's build), under the profiler when `dir` is
 * set (written into `dir`).
 */
export function agentEntryPoint(options: {
  readonly agentMain: string | null;
  readonly agentCpuProfDir: string | null;
}): string | null {
  const main = options.agentMain === null ? agentMain : path.resolve(options.agentMain);
  if (options.agentCpuProfDir === null) return options.agentMain === null ? null : main;
  return writeProfiledMain(path.join(options.agentCpuProfDir, 'profiled-agent.mjs'), main, options.agentCpuProfDir, 'agent');
}

/**
 * The Manager's entry point and the node flags it is started with: `main` (default this checkout's
 * build) and that build's own flags, under the profiler when `dir` is set (written into `dir`).
 */
export function managerEntryPoint(options: { readonly managerMain: string | null; readonly managerCpuProfDir: string | null }): {
  readonly main: string | null;
  readonly nodeFlags: readonly string[] | null;
} {
  const main = options.managerMain === null ? managerMain : path.resolve(options.managerMain);
  if (options.managerCpuProfDir === null) return { main: options.managerMain === null ? null : main, nodeFlags: null };
  return {
    main: writeProfiledMain(
      path.join(options.managerCpuProfDir, 'profiled-manager.mjs'),
      main,
      options.managerCpuProfDir,
      'manager',
    ),
    // The wrapper is not a build: the flags are the wrapped build's (ADR 0011).
    nodeFlags: managerNodeFlags(main),
  };
}

/**
 * Brackets phases of a process started with {@link writeProfiledMain}: `mark(label)` ends the
 * profile so far, which is kept as `<dir>/<name>-<label>.cpuprofile` (a label of null discards the
 * stretch before a phase's start by keeping it under its number).
 */
export class ProfileMarks implements PhaseMarks {
  private signals = 0;

  constructor(
    private readonly pid: number | undefined,
    private readonly dir: string,
    private readonly name: string,
  ) {}

  async mark(label: string | null): Promise<void> {
    if (this.pid === undefined) return;
    process.kill(this.pid, 'SIGUSR2');
    this.signals += 1;
    const written = path.join(this.dir, `${this.name}-${this.pid}-${this.signals}.cpuprofile`);
    await waitFor(() => existsSync(written), { timeoutMs: 30_000, intervalMs: 50, description: `${written} is written` });
    if (label !== null) renameSync(written, path.join(this.dir, `${this.name}-${label}.cpuprofile`));
  }
}

/** What brackets a phase in one or more profiles: `mark(label)` ends the stretch so far (kept under `label`, discarded when null). */
export interface PhaseMarks {
  mark(label: string | null): Promise<void>;
}

/** Brackets phases of every one of `marks` at once; null when there is none. */
export function phaseMarksOf(marks: readonly PhaseMarks[]): PhaseMarks | null {
  if (marks.length === 0) return null;
  return {
    mark: async (label) => {
      await Promise.all(marks.map((each) => each.mark(label)));
    },
  };
}
