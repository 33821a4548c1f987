/** Runs operations on the same key one after another (per-VM serialisation); other keys run freely. */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** `onChange` is told when an operation on a key starts and when it ends, whatever its outcome. */
  constructor(private readonly onChange: (key: string) => void = () => undefined) {}

  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const guarded = async (): Promise<T> => {
      this.onChange(key);
      try {
        return await operation();
      } finally {
        this.onChange(key);
      }
    };
    const result = previous.then(guarded, guarded);
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
