import { useState } from 'preact/hooks';

export interface Action<A> {
  /** The action under way, if any: its button says so and the others wait. */
  readonly busy: A | undefined;
  /** The last action's problem, until the next one starts. */
  readonly error: unknown;
  /** Starts `work` as `action`; its problem, if any, is kept for the page to show (never thrown). */
  run(action: A, work: () => Promise<unknown>): void;
}

/** One action at a time on a page, and the problem it ran into. */
export function useAction<A>(): Action<A> {
  const [busy, setBusy] = useState<A | undefined>();
  const [error, setError] = useState<unknown>();
  return {
    busy,
    error,
    run(action, work) {
      setBusy(action);
      setError(undefined);
      work()
        .catch((failure: unknown) => setError(failure))
        .finally(() => setBusy(undefined))
        .catch(() => undefined);
    },
  };
}
