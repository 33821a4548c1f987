/**
 * At most `count` tasks at once; the others wait their turn, first come first served. Shared by
 * every event stream so that clients catching up cannot take all database connections at once.
 */
export class Permits {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly count: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.count) this.active += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // The permit passes straight to the next in line, or is given back.
      const next = this.waiting.shift();
      if (next === undefined) this.active -= 1;
      else next();
    }
  }
}
