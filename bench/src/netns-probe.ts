import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Netns } from '@hearth/testkit';

/** The probe's own program, compiled (see netns-probe-child.ts): found from src/ (tests) and dist/ alike. */
const childPath = fileURLToPath(new URL('../dist/netns-probe-child.js', import.meta.url));

/**
 * HTTP probes sent from inside a network namespace by one long-lived process there. Polling a guest
 * with `ip netns exec NS curl` every 20 ms started two processes a poll: with ten guests coming up at
 * once that was hundreds of process starts a second on the machine being measured, charged to
 * whichever side was being probed for longest.
 */
/** What a probe answered, and when (epoch ms, this machine's clock). */
export interface ProbeAnswer {
  readonly body: string;
  /** When the URL first answered at all (any status or body). */
  readonly firstAnswerAtMs: number;
  /** When it answered as expected. */
  readonly answeredAtMs: number;
}

export class NetnsProbe {
  private readonly pending = new Map<number, { resolve: (answer: ProbeAnswer) => void; reject: (error: Error) => void }>();
  private nextId = 0;
  private exitError: Error | undefined;

  private constructor(private readonly child: ChildProcess) {}

  /** Starts the probe process in `netns` and waits until it reads requests. */
  static async start(netns: Netns): Promise<NetnsProbe> {
    const child = netns.spawn([process.execPath, childPath], { stdio: ['pipe', 'pipe', 'inherit'] });
    const probe = new NetnsProbe(child);
    const lines = createInterface({ input: child.stdout! });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) =>
        reject(new Error(`the probe in ${netns.name} ended with ${String(code)} before it was ready`)),
      );
      lines.once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`the probe in ${netns.name} said ${line}`))));
    });
    lines.on('line', (line) => probe.settle(line));
    child.on('exit', (code, signal) => {
      probe.exitError = new Error(`the probe in ${netns.name} ended (${signal ?? String(code)})`);
      for (const { reject } of probe.pending.values()) reject(probe.exitError);
      probe.pending.clear();
    });
    return probe;
  }

  /**
   * Resolves with the body once `url` answers 2xx (with exactly `expected`, when given), polling every
   * `intervalMs`; rejects after `timeoutMs` with what it last answered.
   */
  async answered(url: string, options: { expected?: string; timeoutMs: number; intervalMs?: number }): Promise<string> {
    return (await this.answeredWithTimes(url, options)).body;
  }

  /** As `answered`, with when the URL first answered at all and when it answered as expected. */
  answeredWithTimes(url: string, options: { expected?: string; timeoutMs: number; intervalMs?: number }): Promise<ProbeAnswer> {
    if (this.exitError !== undefined) return Promise.reject(this.exitError);
    const id = this.nextId++;
    const request = {
      id,
      url,
      expected: options.expected ?? null,
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs ?? 20,
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify(request)}\n`);
    });
  }

  /** Ends the probe process (its pending probes reject). */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.end();
    await exited;
  }

  private settle(line: string): void {
    const answer = JSON.parse(line) as {
      id: number;
      body?: string;
      error?: string;
      firstAnswerAtMs?: number;
      answeredAtMs?: number;
    };
    const waiter = this.pending.get(answer.id);
    if (waiter === undefined) return;
    this.pending.delete(answer.id);
    if (answer.body !== undefined) {
      const answeredAtMs = answer.answeredAtMs ?? Date.now();
      waiter.resolve({ body: answer.body, firstAnswerAtMs: answer.firstAnswerAtMs ?? answeredAtMs, answeredAtMs });
    } else waiter.reject(new Error(`no answer from ${answer.error ?? 'the probe'}`));
  }
}
