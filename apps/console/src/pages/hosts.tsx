import { useEffect, useState } from 'preact/hooks';
import type { Host } from '@hearth/sdk';
import { CapacityBar, ErrorNotice, Page } from '../components.js';
import { formatAge, formatMib } from '../format.js';
import type { Session } from '../session.js';
import { useNow } from '../use-now.js';

/** How often the page reads the hosts again (their heartbeats and capacity change on their own). */
const refreshMs = 5000;

/** The hosts (a token with `hosts:admin`): health, what each offers and what its VMs take. */
export function Hosts({ session }: { readonly session: Session }) {
  const [hosts, setHosts] = useState<readonly Host[] | undefined>();
  const [error, setError] = useState<unknown>();
  const now = useNow();

  useEffect(() => {
    let isCurrent = true;
    const load = async (): Promise<void> => {
      const found: Host[] = [];
      for await (const host of session.hearth.hosts.list({ pageSize: 100 })) found.push(host);
      if (isCurrent) {
        setHosts(found);
        setError(undefined);
      }
    };
    const refresh = (): void => void load().catch((failure: unknown) => isCurrent && setError(failure));
    refresh();
    const timer = setInterval(refresh, refreshMs);
    return () => {
      isCurrent = false;
      clearInterval(timer);
    };
  }, [session]);

  return (
    <Page title="Hosts">
      <ErrorNotice error={error} />
      {hosts === undefined ? (
        error === undefined && <p class="muted">Loading…</p>
      ) : hosts.length === 0 ? (
        <p class="muted">No host has registered.</p>
      ) : (
        <div class="cards" data-testid="host-list">
          {hosts.map((host) => (
            <article key={host.id} class="card">
              <header>
                <h2>{host.name}</h2>
                <span class={`health health-${host.status}`}>{host.status}</span>
                {host.isCordoned && <span class="health health-cordoned">cordoned</span>}
              </header>
              <CapacityBar
                label="vCPUs"
                used={host.allocated.vcpuCount}
                total={host.capacity.cpuCount}
                text={`${host.allocated.vcpuCount} allocated of ${host.capacity.cpuCount}`}
              />
              <CapacityBar
                label="Memory"
                used={host.allocated.memoryMib}
                total={host.capacity.memoryMibTotal}
                text={`${formatMib(host.allocated.memoryMib)} allocated of ${formatMib(host.capacity.memoryMibTotal)}`}
              />
              <dl class="facts small">
                <dt>VMs</dt>
                <dd>{host.capacity.vmCount}</dd>
                <dt>Heartbeat</dt>
                <dd title={host.lastHeartbeatAt}>{formatAge(host.lastHeartbeatAt, now)} ago</dd>
                <dt>VMM</dt>
                <dd>
                  {host.facts.firecrackerKind ?? 'unknown'} {host.facts.firecrackerVersion ?? ''}
                  {host.facts.isKvmUsable ? ', KVM' : ', no KVM'}
                </dd>
                <dt>Bridge</dt>
                <dd>
                  {host.facts.bridge} {host.facts.isBridgeUp ? 'up' : 'down'}
                </dd>
                <dt>Agent</dt>
                <dd class="mono">
                  {host.addr} · {host.facts.agentVersion}
                </dd>
              </dl>
            </article>
          ))}
        </div>
      )}
    </Page>
  );
}
