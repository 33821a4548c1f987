/**
 * A minimal QMP client: JSON objects, one per line, over a Unix stream socket. Handles the
 * greeting and `qmp_capabilities`; commands carry an `id` so replies are matched even when
 * asynchronous events are interleaved.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';

export class QmpError extends Error {
  constructor(
    message: string,
    readonly qmpClass?: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export type QmpEvent = { event: string; data?: unknown; timestamp?: unknown };

export class QmpClient {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private greeted: Pending | undefined;
  private closedError: Error | undefined;
  private eventListener: ((ev: QmpEvent) => void) | undefined;
  private readonly eventWaiters = new Set<{ match: (ev: QmpEvent) => boolean } & Pending>();

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (err) => this.failAll(err));
    sock.on('close', () => this.failAll(new QmpError('QMP connection closed')));
  }

  /** Connects, waits for the greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', reject);
    });
    const client = new QmpClient(sock);
    const timer = setTimeout(() => client.failAll(new QmpError('QMP greeting timed out')), timeoutMs);
    try {
      await new Promise<unknown>((resolve, reject) => {
        client.greeted = { resolve, reject };
        // The greeting may already be buffered.
        client.onData('');
      });
      await client.execute('qmp_capabilities');
    } catch (err) {
      client.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  onEvent(listener: (ev: QmpEvent) => void): void {
    this.eventListener = listener;
  }

  /**
   * The next event `match` accepts, from now on; rejects once the connection closes (QEMU gone) or
   * after `timeoutMs`.
   */
  nextEvent(match: (ev: QmpEvent) => boolean, timeoutMs: number): Promise<QmpEvent> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise<QmpEvent>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (value: unknown) => {
          clearTimeout(timer);
          resolve(value as QmpEvent);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.eventWaiters.delete(waiter);
        reject(new QmpError(`no QMP event awaited within ${timeoutMs} ms`));
      }, timeoutMs);
      // A waiter no one awaits any more (its event came before it was asked for) keeps no process alive.
      timer.unref();
      this.eventWaiters.add(waiter);
    });
  }

  /** Runs a command; resolves with `return`, rejects with QmpError on `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = `fcd-${this.nextId++}`;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg['arguments'] = args;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify(msg)}\n`);
    });
  }

  close(): void {
    this.failAll(new QmpError('QMP connection closed'));
    this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) return;
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line === '') continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Record<string, unknown>): void {
    if ('QMP' in msg) {
      const g = this.greeted;
      this.greeted = undefined;
      g?.resolve(msg['QMP']);
      return;
    }
    if ('event' in msg) {
      const event = msg as QmpEvent;
      for (const waiter of this.eventWaiters) {
        if (!waiter.match(event)) continue;
        this.eventWaiters.delete(waiter);
        waiter.resolve(event);
      }
      this.eventListener?.(event);
      return;
    }
    const id = typeof msg['id'] === 'string' ? msg['id'] : undefined;
    const p = id !== undefined ? this.pending.get(id) : undefined;
    if (!p || id === undefined) return;
    this.pending.delete(id);
    if ('error' in msg) {
      const e = msg['error'] as { class?: string; desc?: string };
      p.reject(new QmpError(e.desc ?? 'QMP error', e.class));
    } else {
      p.resolve(msg['return']);
    }
  }

  private failAll(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.greeted?.reject(err);
    this.greeted = undefined;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const waiter of this.eventWaiters) waiter.reject(err);
    this.eventWaiters.clear();
  }
}
