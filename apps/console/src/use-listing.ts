import { useEffect, useRef, useState } from 'preact/hooks';

export interface Listing<T> {
  /** Undefined until the first read answered. */
  readonly items: readonly T[] | undefined;
  /** Why the last read failed (cleared by the next one that succeeds). */
  readonly error: unknown;
  /** Reads the list again (after an action changed it). */
  reload(): void;
}

/**
 * Every item `list` yields, page after page, read again whenever `keys` change, on `reload()`, and
 * every `refreshMs` when given. An older read that answers after a newer one is dropped.
 */
export function useListing<T>(list: () => AsyncGenerator<T>, keys: readonly unknown[], refreshMs?: number): Listing<T> {
  const [items, setItems] = useState<readonly T[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);

  useEffect(() => {
    let isCurrent = true;
    const read = async (): Promise<void> => {
      latest.current += 1;
      const started = latest.current;
      try {
        const found: T[] = [];
        for await (const item of list()) found.push(item);
        if (isCurrent && started === latest.current) {
          setItems(found);
          setError(undefined);
        }
      } catch (failure) {
        if (isCurrent && started === latest.current) setError(failure);
      }
    };
    const start = (): void => void read().catch(() => undefined);
    start();
    const timer = refreshMs === undefined ? undefined : setInterval(start, refreshMs);
    return () => {
      isCurrent = false;
      if (timer !== undefined) clearInterval(timer);
    };
    // `list` is a new function at each render; `keys` say when it lists something else.
  }, [...keys, generation, refreshMs]);

  return { items, error, reload: () => setGeneration((n) => n + 1) };
}
