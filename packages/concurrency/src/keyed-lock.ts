/** Runs operations on the same key one after another (per-VM serialisation); other keys run freely. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** `onChange` is told when an operation on a key starts and when it ends, whatever its outcome. */
  constructor(private readonly onChange: (key: string) => void = () => undefined) {}

  run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    return this.serialised(key, async () => {
      this.onChange(key);
      try {
        return await operation();
      } finally {
        this.onChange(key);
      }
    });
  }

  /**
   * Like `run`, for an operation that changes nothing `onChange` is told about (the VM's console
   * log rotated, its record's own bookkeeping): it waits for the key and holds it like any other,
   * but neither its start nor its end is reported.
   */
  runUnreported<T>(key: string, operation: () => Promise<T>): Promise<T> {
    return this.serialised(key, operation);
  }

  private async serialised<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(
      () => operation(),
      () => operation(),
    );
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
