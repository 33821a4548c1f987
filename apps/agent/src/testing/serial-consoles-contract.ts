import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConsoleLogFiles, SerialConsoles } from '../application/ports/serial-consoles.js';

/** A world for one test: the adapter, a console log a VMM appends to, and a stdin FIFO a VMM reads. */
export interface SerialConsolesHarness {
  readonly consoles: SerialConsoles;
  /** A new console log (and where its rotated part goes), empty. */
  makeLog(): Promise<ConsoleLogFiles>;
  /** Appends to the log as the VMM's stdout does. */
  print(files: ConsoleLogFiles, text: string): Promise<void>;
  /** Copy-truncate rotation of the log. */
  rotate(files: ConsoleLogFiles): Promise<void>;
  /** A new stdin FIFO held by a reading VMM; `read` answers what reached it so far. */
  makeReadFifo(): Promise<{ readonly path: string; read(): Promise<string> }>;
  /** A FIFO path nobody reads. */
  makeUnreadFifo(): Promise<string>;
  cleanup(): Promise<void>;
}

/** Collects output; `until(text)` resolves once it holds `text`, or fails after 5 s. */
function collector(): { onData: (bytes: Uint8Array) => void; text: () => string; until(text: string): Promise<string> } {
  let received = '';
  let wake: (() => void) | undefined;
  return {
    onData: (bytes) => {
      received += Buffer.from(bytes).toString('latin1');
      wake?.();
    },
    text: () => received,
    until: (text) =>
      new Promise((resolve, reject) => {
        const timeout = setTimeout(() => reject(new Error(`only ${JSON.stringify(received)} came`)), 5_000);
        const check = (): boolean => {
          if (!received.includes(text)) return false;
          clearTimeout(timeout);
          resolve(received);
          return true;
        };
        if (!check()) wake = () => void check();
      }),
  };
}

/** The behaviour every `SerialConsoles` adapter shares. */
export function describeSerialConsoles(name: string, makeHarness: () => Promise<SerialConsolesHarness>): void {
  describe(`SerialConsoles: ${name}`, () => {
    let harness: SerialConsolesHarness;
    beforeEach(async () => {
      harness = await makeHarness();
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('delivers the end of the log first, then what is appended', async () => {
      const files = await harness.makeLog();
      await harness.print(files, 'early line\nlogin: ');
      const output = collector();
      const follow = await harness.consoles.follow(files, 7, output.onData);
      try {
        await harness.print(files, 'root\n');
        expect(await output.until('root\n')).toBe('login: root\n');
      } finally {
        follow.close();
      }
    });

    it('takes the backlog from the rotated part too, and follows a rotation without losing output', async () => {
      const files = await harness.makeLog();
      await harness.print(files, 'old part|');
      await harness.rotate(files);
      await harness.print(files, 'new part|');
      const output = collector();
      const follow = await harness.consoles.follow(files, 18, output.onData);
      try {
        expect(await output.until('new part|')).toBe('old part|new part|');
        await harness.print(files, 'after|');
        await output.until('after|');
        await harness.rotate(files);
        await harness.print(files, 'rotated|');
        expect(await output.until('rotated|')).toBe('old part|new part|after|rotated|');
      } finally {
        follow.close();
      }
    });

    it('writes input into the FIFO a VMM reads', async () => {
      const fifo = await harness.makeReadFifo();
      const input = await harness.consoles.openInput(fifo.path);
      try {
        expect(input?.write(Buffer.from('echo hi\r'))).toBe(true);
        await expect.poll(() => fifo.read()).toBe('echo hi\r');
      } finally {
        input?.close();
      }
    });

    it('opens no input on a FIFO nobody reads, nor on a missing one', async () => {
      expect(await harness.consoles.openInput(await harness.makeUnreadFifo())).toBeUndefined();
      expect(await harness.consoles.openInput('/nonexistent/console.fifo')).toBeUndefined();
    });
  });
}
