import { useEffect, useState } from 'preact/hooks';
import { isHearthError, type HearthEvent, type Vm } from '@hearth/sdk';
import { ErrorNotice, Page, StateBadge } from '../components.js';
import { formatAge, formatDurationMs, formatMib, shareOf } from '../format.js';
import { mergeEvents } from '../event-log.js';
import { followEvents } from '../live-events.js';
import { createRefetchQueue } from '../refetch-queue.js';
import { hrefOf, type VmTab } from '../route.js';
import type { Session } from '../session.js';
import { useAction } from '../use-action.js';
import { useNow } from '../use-now.js';
import { actionsFor, type VmAction } from '../vm-actions.js';
import { SerialConsole } from './serial-console.js';
import { VmLogs } from './vm-logs.js';
import { VmSnapshots } from './vm-snapshots.js';

/** Events kept on the page: the latest ones. */
const shownEvents = 200;

/** One VM: its state and steps, its events (live), its serial console and log, its snapshots, and what can be done to it. */
export function VmDetail({ session, vmId, tab }: { readonly session: Session; readonly vmId: string; readonly tab: VmTab }) {
  const [vm, setVm] = useState<Vm | undefined>();
  const [isGone, setGone] = useState(false);
  const [events, setEvents] = useState<readonly HearthEvent[]>([]);
  const [error, setError] = useState<unknown>();
  const action = useAction<VmAction>();
  const now = useNow();

  useEffect(() => {
    const stop = new AbortController();
    const fail = (failure: unknown): void => {
      if (!stop.signal.aborted) setError(failure);
    };
    const refetch = createRefetchQueue(
      (id) => session.hearth.vms.get(id, { signal: stop.signal }),
      (_id, fetched) => setVm((shown) => (shown === undefined || fetched.version >= shown.version ? fetched : shown)),
      (_id, failure) => (isHearthError(failure, 'VM_NOT_FOUND') ? setGone(true) : fail(failure)),
    );
    const load = async (): Promise<void> => {
      refetch(vmId);
      const history: HearthEvent[] = [];
      for await (const event of session.hearth.vms.events(vmId)) history.push(event);
      setEvents((live) => mergeEvents(history, live, shownEvents));
    };
    followEvents(
      session,
      { vmId },
      {
        onConnected: () => void load().catch(fail),
        onEvent: (event) => {
          setEvents((shown) => mergeEvents(shown, [event], shownEvents));
          if (event.type === 'vm.deleted') setGone(true);
          else refetch(vmId);
        },
      },
      stop.signal,
    ).catch(fail);
    return () => stop.abort();
  }, [session, vmId]);

  const act = (kind: VmAction): void =>
    action.run(kind, async () => {
      if (vm === undefined) return;
      if (kind === 'delete' && !confirm(`Delete ${vm.name}? Everything its host holds for it goes.`)) return;
      const options = { ifVersion: vm.version };
      if (kind === 'delete') {
        await session.hearth.vms.delete(vm.id, options);
        location.hash = hrefOf({ page: 'vms' });
        return;
      }
      const changed = await session.hearth.vms[kind](vm.id, options);
      setVm((shown) => (shown === undefined || changed.version >= shown.version ? changed : shown));
    });

  if (isGone) {
    return (
      <Page title="VM not found">
        <p>
          This VM does not exist (any more). <a href={hrefOf({ page: 'vms' })}>All VMs</a>
        </p>
      </Page>
    );
  }
  if (vm === undefined) {
    return (
      <Page title="VM">
        <ErrorNotice error={error} />
        <p class="muted">Loading…</p>
      </Page>
    );
  }

  const tabLink = (each: VmTab, label: string) => (
    <a class={each === tab ? 'tab active' : 'tab'} href={hrefOf({ page: 'vm', vmId, tab: each })}>
      {label}
    </a>
  );

  return (
    <Page
      title={vm.name}
      actions={actionsFor(vm.state).map((kind) => (
        <button
          key={kind}
          type="button"
          class={kind === 'delete' ? 'danger' : ''}
          disabled={action.busy !== undefined}
          onClick={() => act(kind)}
        >
          {action.busy === kind ? `${kind}…` : kind}
        </button>
      ))}
    >
      <p>
        <StateBadge state={vm.state} /> <span class="mono">{vm.id}</span> · project {vm.project} · created{' '}
        {formatAge(vm.createdAt, now)} ago · version {vm.version}
      </p>
      <ErrorNotice error={action.error} />
      <ErrorNotice error={error} />
      <nav class="tabs">
        {tabLink('overview', 'Overview')}
        {tabLink('events', `Events (${events.length})`)}
        {tabLink('console', 'Console')}
        {tabLink('logs', 'Logs')}
        {tabLink('snapshots', 'Snapshots')}
      </nav>
      {tab === 'overview' && <Overview vm={vm} />}
      {tab === 'events' && <EventList events={events} now={now} />}
      {tab === 'console' && <SerialConsole session={session} vmId={vm.id} />}
      {tab === 'logs' && <VmLogs session={session} vmId={vm.id} />}
      {tab === 'snapshots' && <VmSnapshots session={session} vm={vm} />}
    </Page>
  );
}

function Overview({ vm }: { readonly vm: Vm }) {
  const slowest = Math.max(0, ...vm.steps.map((step) => step.durationMs));
  return (
    <div class="columns">
      <dl class="facts">
        <dt>Host</dt>
        <dd class="mono">{vm.hostId}</dd>
        <dt>Address</dt>
        <dd class="mono">
          {vm.network === null ? '–' : `${vm.network.ipAddress}/${vm.network.prefixLength} via ${vm.network.gateway}`}
        </dd>
        <dt>Size</dt>
        <dd>
          {vm.vcpuCount} vCPU, {formatMib(vm.memoryMib)}
        </dd>
        <dt>Kernel / rootfs</dt>
        <dd class="mono">
          {vm.kernelImageId} / {vm.rootfsImageId}
        </dd>
        <dt>Boot arguments</dt>
        <dd class="mono">{vm.bootArgs}</dd>
        <dt>Restart policy</dt>
        <dd>{vm.restartPolicy}</dd>
        <dt>Egress</dt>
        <dd>{vm.egress.mode}</dd>
        <dt>Observed</dt>
        <dd>{vm.observedState ?? '–'}</dd>
        {vm.failureReason !== null && (
          <>
            <dt>Failure</dt>
            <dd class="error-text">
              <code>{vm.failureReason.code}</code> {vm.failureReason.message}
            </dd>
          </>
        )}
      </dl>
      <div>
        <h2>Last start{vm.totalMs === null ? '' : `: ${formatDurationMs(vm.totalMs)}`}</h2>
        {vm.steps.length === 0 ? (
          <p class="muted">No steps recorded yet.</p>
        ) : (
          <ol class="timeline" data-testid="steps">
            {vm.steps.map((step) => (
              <li key={`${step.name}-${step.at}`}>
                <span class="step-name">{step.name}</span>
                <progress max={1} value={shareOf(step.durationMs, slowest)} aria-label={step.name} />
                <span class="step-time">{formatDurationMs(step.durationMs)}</span>
              </li>
            ))}
          </ol>
        )}
      </div>
    </div>
  );
}

function EventList({ events, now }: { readonly events: readonly HearthEvent[]; readonly now: number }) {
  if (events.length === 0) return <p class="muted">No events.</p>;
  return (
    <table class="list" data-testid="vm-events">
      <thead>
        <tr>
          <th>#</th>
          <th>When</th>
          <th>Type</th>
          <th>Change</th>
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {[...events].reverse().map((event) => (
          <tr key={event.id}>
            <td class="mono">{event.id}</td>
            <td title={event.at}>{formatAge(event.at, now)} ago</td>
            <td class="mono">{event.type}</td>
            <td>{event.toState === null ? '' : `${event.fromState ?? '∅'} → ${event.toState}`}</td>
            <td>{event.message}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
