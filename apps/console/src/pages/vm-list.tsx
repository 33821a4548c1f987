import { useEffect, useReducer, useState } from 'preact/hooks';
import { isHearthError, type Vm } from '@hearth/sdk';
import { ErrorNotice, Page, StateBadge } from '../components.js';
import { formatAge, formatMib } from '../format.js';
import { followEvents } from '../live-events.js';
import { createRefetchQueue } from '../refetch-queue.js';
import { hrefOf } from '../route.js';
import type { Session } from '../session.js';
import { useNow } from '../use-now.js';
import { emptyVmList, reduceVmList, vmToRefetch } from '../vm-list-state.js';

/** Every VM the token sees, kept current by the event stream: no reload, no polling. */
export function VmList({ session }: { readonly session: Session }) {
  const [list, dispatch] = useReducer(reduceVmList, emptyVmList);
  const [error, setError] = useState<unknown>();
  const [isLive, setLive] = useState(false);
  const now = useNow();

  useEffect(() => {
    const stop = new AbortController();
    const refetch = createRefetchQueue<Vm | undefined>(
      (id) => session.hearth.vms.get(id, { signal: stop.signal }).catch(notFoundAsUndefined),
      (id, vm) => dispatch(vm === undefined ? { type: 'gone', vmId: id } : { type: 'fetched', vm }),
      (_id, failure) => {
        if (!stop.signal.aborted) setError(failure);
      },
    );
    const load = async (): Promise<void> => {
      const vms: Vm[] = [];
      for await (const vm of session.hearth.vms.list({ pageSize: 100 })) vms.push(vm);
      dispatch({ type: 'loaded', vms });
    };
    followEvents(
      session,
      {},
      {
        onConnected: () => {
          setLive(true);
          load().catch((failure: unknown) => setError(failure));
        },
        onEvent: (event) => {
          dispatch({ type: 'event', event });
          const vmId = vmToRefetch(event);
          if (vmId !== undefined) refetch(vmId);
        },
      },
      stop.signal,
    ).then(
      () => setLive(false),
      (failure: unknown) => {
        setLive(false);
        setError(failure);
      },
    );
    return () => stop.abort();
  }, [session]);

  return (
    <Page
      title="Virtual machines"
      actions={
        <>
          <span class={isLive ? 'live' : 'offline'} data-testid="live-indicator">
            {isLive ? 'live' : 'not live'}
          </span>
          <a class="button" href={hrefOf({ page: 'create' })}>
            Create VM
          </a>
        </>
      }
    >
      <ErrorNotice error={error} />
      {!list.isLoaded ? (
        <p class="muted">Loading…</p>
      ) : list.vms.length === 0 ? (
        <p class="muted">No VMs yet.</p>
      ) : (
        <table class="list" data-testid="vm-list">
          <thead>
            <tr>
              <th>Name</th>
              <th>State</th>
              <th>Host</th>
              <th>Address</th>
              <th>Size</th>
              <th>Age</th>
            </tr>
          </thead>
          <tbody>
            {list.vms.map((vm) => (
              <tr key={vm.id} data-vm-id={vm.id} data-vm-name={vm.name}>
                <td>
                  <a href={hrefOf({ page: 'vm', vmId: vm.id, tab: 'overview' })}>{vm.name}</a>
                  <div class="muted small">{vm.project}</div>
                </td>
                <td>
                  <StateBadge state={vm.state} />
                </td>
                <td class="mono">{vm.hostId}</td>
                <td class="mono">{vm.network?.ipAddress ?? '–'}</td>
                <td>
                  {vm.vcpuCount} vCPU, {formatMib(vm.memoryMib)}
                </td>
                <td title={vm.createdAt}>{formatAge(vm.createdAt, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

function notFoundAsUndefined(error: unknown): undefined {
  if (isHearthError(error, 'VM_NOT_FOUND')) return undefined;
  throw error;
}
