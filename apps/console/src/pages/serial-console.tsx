import { useEffect, useRef, useState } from 'preact/hooks';
import { attachConsole } from '../console-socket.js';
import { ErrorNotice } from '../components.js';
import type { Session } from '../session.js';

/** Recent output the live console starts with, and the size of the log shown without it. */
const backlogBytes = 65_536;

type ConsoleStatus =
  | { readonly kind: 'connecting' }
  | { readonly kind: 'live' }
  | { readonly kind: 'closed'; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly reason: string };

/**
 * The guest's serial console in a terminal, input included, over the Manager's WebSocket. When the
 * attach fails (a Manager without it, a refused upgrade) it shows the end of the console log from
 * `GET /v1/vms/{id}/console` instead, and says that live attach is unavailable.
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
    let isCurrent = true;
    let release = (): void => undefined;
    setStatus({ kind: 'connecting' });
    setLog(undefined);
    import('../terminal.js')
      .then(({ Terminal }) => {
        if (!isCurrent) return;
        const terminal = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000 });
        terminal.open(element);
        const connection = attachConsole(
          { baseUrl: session.baseUrl, vmId, token: session.token, backlogBytes },
          {
            onOpen: () => {
              setStatus({ kind: 'live' });
              terminal.focus();
            },
            onOutput: (bytes) => terminal.write(bytes),
            onClosed: ({ reason, wasOpen }) => {
              if (!isCurrent) return;
              if (wasOpen) {
                terminal.write(`\r\n\x1b[2m[console closed: ${reason}]\x1b[0m\r\n`);
                setStatus({ kind: 'closed', reason });
                return;
              }
              setStatus({ kind: 'unavailable', reason });
              session.hearth.vms.consoleLog(vmId, { bytes: backlogBytes }).then(setLog, setError);
            },
          },
        );
        const input = terminal.onData((data) => connection.send(data));
        release = () => {
          input.dispose();
          connection.close();
          terminal.dispose();
        };
      })
      .catch(setError);
    return () => {
      isCurrent = false;
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
        {isUnavailable && `Live attach is unavailable (${status.reason}); showing the console log instead.`}
        {(status.kind === 'closed' || isUnavailable) && (
          <button type="button" onClick={() => setAttempt((n) => n + 1)}>
            {isUnavailable ? 'Try again' : 'Reattach'}
          </button>
        )}
      </p>
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
