import type { ConsoleClosed, ConsoleSession } from '@hearth/sdk';

/** Ctrl-] detaches, as in telnet and `docker attach`. */
export const detachByte = 0x1d;

/** The terminal side of `hearth vm console`: stdin, stdout, and a line for notices (stderr). */
export interface ConsoleTerminal {
  readonly input: NodeJS.ReadableStream & { readonly isTTY?: boolean; setRawMode?(isRaw: boolean): unknown };
  readonly output: { write(bytes: Uint8Array): unknown };
  notice(line: string): void;
  /** Called (once) with a function that ends the session, for the signals that should end it. */
  onInterrupt(end: () => void): () => void;
}

export interface ConsoleRunOptions {
  /** Detach once the output holds this text (scripts). */
  readonly until?: string;
  /** After piped input ends, how long the output may stay quiet before detaching. */
  readonly lingerMs: number;
}

/** How the session ended: the user or script detached, or the server closed it. */
export type ConsoleOutcome = { readonly kind: 'detached' } | { readonly kind: 'closed'; readonly closed: ConsoleClosed };

/**
 * Joins the terminal to the session until Ctrl-] (on a terminal), `until` seen, piped input ended
 * and the output fell quiet, a signal, or the server closing. A terminal is put in raw mode and
 * restored on every one of those paths.
 */
export async function runConsole(
  session: ConsoleSession,
  terminal: ConsoleTerminal,
  options: ConsoleRunOptions,
): Promise<ConsoleOutcome> {
  const { input } = terminal;
  const isTty = input.isTTY === true && input.setRawMode !== undefined;
  let finish: (outcome: ConsoleOutcome) => void = () => undefined;
  const done = new Promise<ConsoleOutcome>((resolve) => (finish = resolve));
  const detach = (): void => finish({ kind: 'detached' });
  let seen = '';
  let lingerTimer: NodeJS.Timeout | undefined;
  let isInputEnded = false;
  const armLinger = (): void => {
    if (!isInputEnded) return;
    if (lingerTimer !== undefined) clearTimeout(lingerTimer);
    lingerTimer = setTimeout(detach, options.lingerMs);
  };
  const stopOutput = session.onData((bytes) => {
    terminal.output.write(bytes);
    if (options.until !== undefined) {
      seen = (seen + Buffer.from(bytes).toString('latin1')).slice(-(options.until.length + 64 * 1024));
      if (seen.includes(options.until)) detach();
    }
    armLinger();
  });
  const onInput = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const escape = isTty ? bytes.indexOf(detachByte) : -1;
    if (escape >= 0) {
      if (escape > 0) session.write(bytes.subarray(0, escape));
      detach();
      return;
    }
    session.write(bytes);
  };
  const onEnd = (): void => {
    isInputEnded = true;
    armLinger();
  };
  input.on('data', onInput);
  input.on('end', onEnd);
  const stopInterrupts = terminal.onInterrupt(detach);
  // `closed` never rejects: it resolves however the session ends.
  session.closed.then((closed) => finish({ kind: 'closed', closed })).catch(() => undefined);
  if (isTty) {
    input.setRawMode?.(true);
    terminal.notice('Connected to the serial console. Ctrl-] detaches.');
  }
  input.resume();
  try {
    return await done;
  } finally {
    if (isTty) input.setRawMode?.(false);
    if (lingerTimer !== undefined) clearTimeout(lingerTimer);
    input.off('data', onInput);
    input.off('end', onEnd);
    input.pause();
    stopInterrupts();
    stopOutput();
    session.close();
  }
}
