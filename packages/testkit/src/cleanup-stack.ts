/**
 * What a test harness must undo, in reverse order of doing it: push a step right after each side
 * effect (a directory, a database, a namespace, a process), then run them all on stop or when the
 * start fails half-way.
 */
export interface CleanupStack {
  /** Adds a step; the last one pushed runs first. */
  push(step: () => unknown): void;
  /**
   * Runs every step, last pushed first, each once. A failing step is logged and the rest still run,
   * so one leak does not cause others. Calls while a run is under way wait for it; a later call runs
   * the steps pushed since (a stack emptied after each test serves the next one too).
   */
  run(): Promise<void>;
  /** Returns what `start` returns; when it throws, runs the steps pushed so far, then rethrows. */
  unwindOnError<T>(start: () => Promise<T>): Promise<T>;
}

/** An empty cleanup stack; `label` names it in the log line of a failing step ("stack cleanup step failed"). */
export function createCleanupStack(label: string): CleanupStack {
  const steps: Array<() => unknown> = [];
  let running: Promise<void> | undefined;
  const cleanups: CleanupStack = {
    push(step) {
      steps.push(step);
    },
    run() {
      // Cleared once this run has settled (a callback, so never before `running` is assigned, even
      // when there was nothing to run).
      running ??= (async () => {
        for (let step = steps.pop(); step !== undefined; step = steps.pop()) {
          try {
            await step();
          } catch (error) {
            console.error(`${label} cleanup step failed:`, error);
          }
        }
      })().finally(() => {
        running = undefined;
      });
      return running;
    },
    async unwindOnError(start) {
      try {
        return await start();
      } catch (error) {
        await cleanups.run();
        throw error;
      }
    },
  };
  return cleanups;
}
