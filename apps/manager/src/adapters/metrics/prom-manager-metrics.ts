import type { StepName } from '@hearth/contracts';
import { createMetricsRegistry, durationBucketsSeconds, type ProcessMetricsOptions, type Registry } from '@hearth/http-server';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { HostHeartbeatView, HostRepository } from '../../application/ports/host-repository.js';
import type { Clock } from '../../application/ports/clock.js';
import type { VmRepository } from '../../application/ports/vm-repository.js';
import type { ResyncMetrics, ResyncTiming } from '../../application/ports/resync-metrics.js';
import type { VmStartMetrics } from '../../application/ports/vm-start-metrics.js';
import type { ReconcileQueueStats } from '../../application/reconciler/reconciler.js';
import { effectiveHostStatus, hostStatuses } from '../../domain/host.js';
import { vmStates } from '../../domain/vm-state.js';

/** What the metrics read of the turns at the database's connections. */
export interface DatabaseConnectionTurns {
  readonly inUse: number;
  readonly waiting: number;
  readonly refused: number;
}

/**
 * The Manager's Prometheus metrics (the catalog is docs/metrics.md). Counters and histograms are
 * updated as things happen; gauges of what the database or another component holds are read when
 * scraped, so that an idle Manager does nothing for them.
 */
export class PromManagerMetrics implements VmStartMetrics, ResyncMetrics {
  readonly registry: Registry;
  private readonly createDuration: Histogram;
  private readonly applyDuration: Histogram;
  private readonly stepDuration: Histogram<'step'>;
  private readonly applyFailures: Counter<'code'>;
  private readonly resyncDuration: Histogram;
  private readonly resyncCpu: Histogram;
  private readonly resyncInventories: Counter<'source'>;

  constructor(options: ProcessMetricsOptions = { isProcessCollected: true }) {
    this.registry = createMetricsRegistry(options);
    this.createDuration = new Histogram({
      name: 'hearth_vm_create_duration_seconds',
      help: 'Time from a VM accepted to it running for the first time',
      buckets: [...durationBucketsSeconds],
      registers: [this.registry],
    });
    this.applyDuration = new Histogram({
      name: 'hearth_vm_apply_duration_seconds',
      help: 'Time an Agent took to apply a VM (create or start) that reached running',
      buckets: [...durationBucketsSeconds],
      registers: [this.registry],
    });
    this.stepDuration = new Histogram({
      name: 'hearth_vm_apply_step_duration_seconds',
      help: 'Time each host step of an apply took, as the Agent reported it',
      labelNames: ['step'] as const,
      buckets: [...durationBucketsSeconds],
      registers: [this.registry],
    });
    this.applyFailures = new Counter({
      name: 'hearth_vm_apply_failures_total',
      help: 'Applies (create or start) that failed their VM, by error code',
      labelNames: ['code'] as const,
      registers: [this.registry],
    });
    this.resyncDuration = new Histogram({
      name: 'hearth_reconciler_resync_duration_seconds',
      help: "Time the leader's full resyncs took (every host's inventory read, every VM compared and queued)",
      buckets: [...durationBucketsSeconds],
      registers: [this.registry],
    });
    this.resyncCpu = new Histogram({
      name: 'hearth_reconciler_resync_cpu_seconds',
      help: 'CPU time this Manager process used while each full resync ran (with whatever else it served meanwhile)',
      buckets: [...durationBucketsSeconds],
      registers: [this.registry],
    });
    this.resyncInventories = new Counter({
      name: 'hearth_reconciler_resync_inventories_total',
      help: "Hosts' inventories the leader's resyncs had: read from the Agent (a 304 included), or held, its heartbeat having reported its tag",
      labelNames: ['source'] as const,
      registers: [this.registry],
    });
  }

  startResync(): ResyncTiming {
    const startedAt = performance.now();
    const cpuBefore = process.cpuUsage();
    return {
      done: (inventories) => {
        const cpu = process.cpuUsage(cpuBefore);
        this.resyncDuration.observe((performance.now() - startedAt) / 1000);
        this.resyncCpu.observe((cpu.user + cpu.system) / 1e6);
        if (inventories !== undefined) {
          this.resyncInventories.inc({ source: 'read' }, inventories.inventoriesRead);
          this.resyncInventories.inc({ source: 'held' }, inventories.inventoriesHeld);
        }
      },
    };
  }

  created(durationMs: number): void {
    this.createDuration.observe(durationMs / 1000);
  }

  applied(steps: readonly { readonly name: StepName; readonly durationMs: number }[], totalMs: number): void {
    this.applyDuration.observe(totalMs / 1000);
    for (const step of steps) this.stepDuration.observe({ step: step.name }, step.durationMs / 1000);
  }

  failed(code: string): void {
    this.applyFailures.inc({ code });
  }

  /** `hearth_vms{state}`: every state, 0 when no VM is in it. */
  watchVms(vms: Pick<VmRepository, 'countByState'>): void {
    new Gauge({
      name: 'hearth_vms',
      help: 'VMs in each lifecycle state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await vms.countByState();
        for (const state of vmStates) this.set({ state }, counts.get(state) ?? 0);
      },
    });
  }

  /**
   * Per host, the age of its last heartbeat; and hosts by status (a removed host's series goes with
   * it). One listing of the hosts' heartbeat views serves both gauges of a scrape (their collects
   * start together), and scrapes under way at once.
   */
  watchHosts(hosts: Pick<HostRepository, 'listHeartbeats'>, clock: Clock, heartbeatIntervalMs: number): void {
    let listing: Promise<readonly HostHeartbeatView[]> | undefined;
    const listOnce = (): Promise<readonly HostHeartbeatView[]> => {
      listing ??= hosts.listHeartbeats().finally(() => {
        listing = undefined;
      });
      return listing;
    };
    new Gauge({
      name: 'hearth_host_heartbeat_age_seconds',
      help: "Time since each host's last heartbeat",
      labelNames: ['host_id', 'host'] as const,
      registers: [this.registry],
      async collect() {
        const listed = await listOnce();
        const now = clock.now().getTime();
        this.reset();
        for (const host of listed) {
          this.set({ host_id: host.id, host: host.name }, Math.max(0, now - host.lastHeartbeatAt.getTime()) / 1000);
        }
      },
    });
    new Gauge({
      name: 'hearth_hosts',
      help: 'Hosts by health (healthy while heartbeats arrive)',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const listed = await listOnce();
        const now = clock.now();
        const counts = new Map<string, number>();
        for (const host of listed) {
          const status = effectiveHostStatus(host, now, heartbeatIntervalMs);
          counts.set(status, (counts.get(status) ?? 0) + 1);
        }
        for (const status of hostStatuses) this.set({ status }, counts.get(status) ?? 0);
      },
    });
  }

  /** The reconciler's backlog, and whether this replica runs it. */
  watchReconciler(stats: () => ReconcileQueueStats, isLeading: () => boolean): void {
    new Gauge({
      name: 'hearth_reconciler_queue_depth',
      help: 'VMs waiting for or under reconciliation',
      registers: [this.registry],
      collect() {
        this.set(stats().depth);
      },
    });
    new Gauge({
      name: 'hearth_reconciler_queue_lag_seconds',
      help: 'How long the VM waiting longest for reconciliation has waited (0 when none waits)',
      registers: [this.registry],
      collect() {
        this.set(stats().oldestWaitMs / 1000);
      },
    });
    new Gauge({
      name: 'hearth_reconciler_leader',
      help: '1 when this Manager replica runs the reconciler, else 0',
      registers: [this.registry],
      collect() {
        this.set(isLeading() ? 1 : 0);
      },
    });
  }

  /** The turns at the database's connections: held, waited for, and waits refused as DATABASE_BUSY. */
  watchDatabaseConnections(queue: DatabaseConnectionTurns): void {
    new Gauge({
      name: 'hearth_database_connections_in_use',
      help: "Database connections this replica's requests and reconciler hold now",
      registers: [this.registry],
      collect() {
        this.set(queue.inUse);
      },
    });
    new Gauge({
      name: 'hearth_database_connection_waiters',
      help: 'Statements waiting for a database connection of this replica now',
      registers: [this.registry],
      collect() {
        this.set(queue.waiting);
      },
    });
    new Counter({
      name: 'hearth_database_connection_waits_refused_total',
      help: 'Waits for a database connection that ran out of time (answered DATABASE_BUSY)',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(queue.refused);
      },
    });
  }

  /** Open `GET /v1/events/stream` connections of this replica. */
  watchEventStreams(held: () => number): void {
    new Gauge({
      name: 'hearth_event_stream_clients',
      help: 'Event stream connections open on this Manager replica',
      registers: [this.registry],
      collect() {
        this.set(held());
      },
    });
  }
}
