import { useEffect, useRef } from 'preact/hooks';
import { ErrorNotice } from '../components.js';
import type { Session } from '../session.js';
import { useListing } from '../use-listing.js';

/** The end of the console log shown, and how often it is read again while the tab is open. */
const logBytes = 64 * 1024;
const refreshMs = 3000;

/**
 * The end of what the guest printed on its serial console, as text (`GET /v1/vms/{id}/console`, as
 * `hearth vm logs`), read again every few seconds; kept scrolled to the end unless the user scrolled up.
 */
export function VmLogs({ session, vmId }: { readonly session: Session; readonly vmId: string }) {
  const log = useListing(() => oneOf(session.hearth.vms.consoleLog(vmId, { bytes: logBytes })), [session, vmId], refreshMs);
  const element = useRef<HTMLPreElement>(null);
  /** Whether the view follows the end: until the user scrolls up, and again once back at the end. */
  const isFollowing = useRef(true);
  const text = log.items?.[0];

  useEffect(() => {
    const pre = element.current;
    if (pre !== null && isFollowing.current) pre.scrollTop = pre.scrollHeight;
  }, [text]);

  const onScroll = (): void => {
    const pre = element.current;
    if (pre !== null) isFollowing.current = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  };

  return (
    <div>
      <p class="hint">
        The last {logBytes / 1024} KiB of the serial console, read again every {refreshMs / 1000} s.{' '}
        <button type="button" onClick={log.reload}>
          Refresh
        </button>
      </p>
      <ErrorNotice error={log.error} />
      <pre class="console-log" data-testid="vm-log" ref={element} onScroll={onScroll}>
        {text ?? (log.error === undefined ? 'Loading the console log…' : '')}
        {text === '' && <span class="muted">The guest has printed nothing yet.</span>}
      </pre>
    </div>
  );
}

async function* oneOf<T>(value: Promise<T>): AsyncGenerator<T> {
  yield await value;
}
