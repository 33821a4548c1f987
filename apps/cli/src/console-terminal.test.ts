import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ConsoleClosed, ConsoleSession } from '@hearth/sdk';
import { runConsole, type ConsoleTerminal } from './console-terminal.js';

class FakeSession implements ConsoleSession {
  typed = '';
  isClosed = false;
  private listener: ((bytes: Uint8Array) => void) | undefined;
  private resolveClosed: (closed: ConsoleClosed) => void = () => undefined;
  readonly closed = new Promise<ConsoleClosed>((resolve) => (this.resolveClosed = resolve));

  write(data: Uint8Array | string): void {
    this.typed += typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.listener = listener;
    return () => (this.listener = undefined);
  }

  close(): void {
    this.isClosed = true;
  }

  print(text: string): void {
    this.listener?.(Buffer.from(text, 'latin1'));
  }

  end(closed: ConsoleClosed): void {
    this.resolveClosed(closed);
  }
}

function terminal(isTty: boolean): {
  terminal: ConsoleTerminal;
  input: PassThrough;
  output: () => string;
  rawModes: boolean[];
  interrupt: () => void;
} {
  const input = Object.assign(
    new PassThrough(),
    isTty ? { isTTY: true, setRawMode: (isRaw: boolean) => rawModes.push(isRaw) } : {},
  );
  const rawModes: boolean[] = [];
  let written = '';
  let interrupt: () => void = () => undefined;
  return {
    input,
    rawModes,
    output: () => written,
    interrupt: () => interrupt(),
    terminal: {
      input,
      output: { write: (bytes) => (written += Buffer.from(bytes).toString('latin1')) },
      notice: () => undefined,
      onInterrupt: (end) => {
        interrupt = end;
        return () => (interrupt = () => undefined);
      },
    },
  };
}

describe('runConsole', () => {
  it('types what comes before Ctrl-] on a terminal, detaches on it, and restores the terminal', async () => {
    const session = new FakeSession();
    const tty = terminal(true);
    const running = runConsole(session, tty.terminal, { lingerMs: 1_000 });

    tty.input.write(Buffer.from('ls\r\x1dignored'));

    expect(await running).toEqual({ kind: 'detached' });
    expect(session.typed).toBe('ls\r');
    expect(tty.rawModes).toEqual([true, false]);
    expect(session.isClosed).toBe(true);
  });

  it('restores the terminal when the server closes the session, and says why', async () => {
    const session = new FakeSession();
    const tty = terminal(true);
    const running = runConsole(session, tty.terminal, { lingerMs: 1_000 });

    session.end({ reason: 'vm_stopped', code: 1000, closeReason: 'vm_stopped' });

    expect(await running).toEqual({ kind: 'closed', closed: { reason: 'vm_stopped', code: 1000, closeReason: 'vm_stopped' } });
    expect(tty.rawModes).toEqual([true, false]);
  });

  it('restores the terminal on a signal', async () => {
    const session = new FakeSession();
    const tty = terminal(true);
    const running = runConsole(session, tty.terminal, { lingerMs: 1_000 });

    tty.interrupt();

    expect(await running).toEqual({ kind: 'detached' });
    expect(tty.rawModes).toEqual([true, false]);
  });

  it('with piped input, passes Ctrl-] through and detaches once the awaited text is printed', async () => {
    const session = new FakeSession();
    const piped = terminal(false);
    const running = runConsole(session, piped.terminal, { lingerMs: 60_000, until: 'done' });
    piped.input.end(Buffer.from('a\x1db\r'));
    await new Promise((resolve) => piped.input.once('end', resolve));

    session.print('working, done');

    expect(await running).toEqual({ kind: 'detached' });
    expect(session.typed).toBe('a\x1db\r');
    expect(piped.output()).toBe('working, done');
    expect(piped.rawModes).toEqual([]);
  });
});
