import { useState } from 'preact/hooks';
import type { DrainReport, Host } from '@hearth/sdk';
import { CapacityBar, ErrorNotice, Page } from '../components.js';
import { formatAge, formatMib } from '../format.js';
import type { Session } from '../session.js';
import { useAction } from '../use-action.js';
import { useListing } from '../use-listing.js';
import { useNow } from '../use-now.js';

/** How often the page reads the hosts again (their heartbeats and capacity change on their own). */
const refreshMs = 5000;

type HostAction = 'cordon' | 'uncordon' | 'drain';

/**
 * The hosts (a token with `hosts:admin`): health, what each offers and what its VMs take; cordon
 * (no new VMs), uncordon, and drain (cordon and stop its VMs, after a confirmation).
 */
export function Hosts({ session }: { readonly session: Session }) {
  const hosts = useListing(() => session.hearth.hosts.list({ pageSize: 100 }), [session], refreshMs);
  const action = useAction<`${HostAction}:${string}`>();
  const [drained, setDrained] = useState<DrainReport | undefined>();
  const now = useNow();

  const act = (host: Host, kind: HostAction): void =>
    action.run(`${kind}:${host.id}`, async () => {
      if (kind === 'drain') {
        const question = `Drain ${host.name}? It takes no new VMs, and its ${host.capacity.vmCount} VMs are stopped.`;
        if (!confirm(question)) return;
        setDrained(await session.hearth.hosts.drain(host.id));
      } else {
        await session.hearth.hosts[kind](host.id);
      }
      hosts.reload();
    });

  return (
    <Page title="Hosts">
      <ErrorNotice error={action.error} />
      <ErrorNotice error={hosts.error} />
      {drained !== undefined && <DrainSummary report={drained} />}
      {hosts.items === undefined ? (
        hosts.error === undefined && <p class="muted">Loading…</p>
      ) : hosts.items.length === 0 ? (
        <p class="muted">No host has registered.</p>
      ) : (
        <div class="cards" data-testid="host-list">
          {hosts.items.map((host) => (
            <article key={host.id} class="card" data-host-name={host.name}>
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
              <div class="actions card-actions">
                {(host.isCordoned ? (['uncordon', 'drain'] as const) : (['cordon', 'drain'] as const)).map((kind) => (
                  <button
                    key={kind}
                    type="button"
                    class={kind === 'drain' ? 'danger' : ''}
                    disabled={action.busy !== undefined}
                    onClick={() => act(host, kind)}
                  >
                    {action.busy === `${kind}:${host.id}` ? `${kind}…` : kind}
                  </button>
                ))}
              </div>
            </article>
          ))}
        </div>
      )}
    </Page>
  );
}

/** What a drain did: the VMs it stopped, those it could not, and those it left as they were. */
function DrainSummary({ report }: { readonly report: DrainReport }) {
  return (
    <div class="notice" role="status" data-testid="drain-report">
      Drained {report.host.name}: {report.stopped.length} stopped, {report.failed.length} failed, {report.skipped.length} left as
      they were.
      {report.failed.length > 0 && (
        <ul>
          {report.failed.map((failure) => (
            <li key={failure.vmId}>
              <span class="mono">{failure.vmId}</span>: <code>{failure.code}</code> {failure.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
