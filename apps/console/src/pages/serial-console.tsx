import { useEffect, useRef, useState } from 'preact/hooks';
import { describeConsoleEnd, type ConsoleSession } from '@hearth/sdk';
import { ErrorNotice } from '../components.js';
import type { Session } from '../session.js';

/** Recent output the live console starts with, and the size of the log shown without it. */
const backlogBytes = 65_536;

type ConsoleStatus =
  | { readonly kind: 'connecting' }
  | { readonly kind: 'live' }
  | { readonly kind: 'closed'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly refusal: unknown };

/**
 * The guest's serial console in a terminal, input included, over the Manager's WebSocket (the SDK's
 * `vms.attachConsole`). When the attach is refused it shows why (the Manager's problem) and the end
 * of the console log from `GET /v1/vms/{id}/console` instead.
 */
export function SerialConsole({ session, vmId }: { readonly session: Session; readonly vmId: string }) {
  const terminalElement = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState<ConsoleStatus>({ kind: 'connecting' });
  const [log, setLog] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const element = terminalElement.current;
    if (element === null) return;
    const stop = new AbortController();
    let release = (): void => undefined;
    setStatus({ kind: 'connecting' });
    setLog(undefined);
    setError(undefined);
    const attach = async (): Promise<void> => {
      const { Terminal } = await import('../terminal.js');
      if (stop.signal.aborted) return;
      const terminal = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000 });
      terminal.open(element);
      release = () => terminal.dispose();
      let attached: ConsoleSession;
      try {
        attached = await session.hearth.vms.attachConsole(vmId, { backlogBytes, signal: stop.signal });
      } catch (refusal) {
        if (stop.signal.aborted) return;
        setStatus({ kind: 'unavailable', refusal });
        setLog(await session.hearth.vms.consoleLog(vmId, { bytes: backlogBytes, signal: stop.signal }));
        return;
      }
      setStatus({ kind: 'live' });
      terminal.focus();
      attached.onData((bytes) => terminal.write(bytes));
      const input = terminal.onData((data) => attached.write(data));
      release = () => {
        input.dispose();
        terminal.dispose();
      };
      const closed = await attached.closed;
      if (stop.signal.aborted) return;
      const reason = describeConsoleEnd(closed);
      terminal.write(`\r\n\x1b[2m[console closed: ${reason}]\x1b[0m\r\n`);
      setStatus({ kind: 'closed', reason });
    };
    attach().catch((failure: unknown) => !stop.signal.aborted && setError(failure));
    return () => {
      stop.abort();
      release();
    };
  }, [session, vmId, attempt]);

  const isUnavailable = status.kind === 'unavailable';
  return (
    <div class="serial-console">
      <p class="console-status" data-testid="console-status">
        {status.kind === 'connecting' && 'Attaching to the serial console…'}
        {status.kind === 'live' && 'Live: what you type goes to the guest’s serial port.'}
        {status.kind === 'closed' && `The console closed: ${status.reason}.`}
        {isUnavailable && 'Live attach is unavailable; showing the console log instead.'}
        {(status.kind === 'closed' || isUnavailable) && (
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            {isUnavailable ? 'Try again' : 'Reattach'}
          </button>
        )}
      </p>
      {isUnavailable && <ErrorNotice error={status.refusal} />}
      <div ref={terminalElement} class={isUnavailable ? 'terminal hidden' : 'terminal'} />
      {isUnavailable && (
        <pre class="console-log" data-testid="console-log">
          {log ?? 'Loading the console log…'}
        </pre>
      )}
      <ErrorNotice error={error} />
    </div>
  );
}
