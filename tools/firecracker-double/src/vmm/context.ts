import type { GuestBackend } from '../backends/types.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { MmdsStore } from './mmds-store.js';
import type { VmResources, VmState } from './types.js';
import { emptyResources } from './types.js';
import { VsockListener } from './vsock-listener.js';

export interface VmmOptions {
  instanceId: string;
  enablePci: boolean;
  bootTimer: boolean;
  mmdsSizeLimit: number;
  /** Accept any TAP name without looking at /sys/class/net (FC_DOUBLE_SKIP_TAP_CHECK=1). */
  isTapCheckSkipped: boolean;
}

/** Mutable VMM state shared by the pre-boot, runtime and snapshot handlers. */
export class VmmContext {
  state: VmState = 'Not started';
  resources: VmResources = emptyResources();
  /** Set by boot-specific pre-boot calls, even failing ones; blocks snapshot load (behaviour.md#boot-path). */
  bootPath = false;
  /** True once InstanceStart or a snapshot load succeeded. */
  started = false;
  /** The command line the guest was booted with (stored in snapshots). */
  effectiveCmdline: string | null = null;
  readonly mmds: MmdsStore;
  readonly vsock = new VsockListener();
  hotplugPluggedMib = 0;
  hotplugRequestedMib = 0;
  hintingHostCmd = 0;
  bootRequestedAt = 0n;

  constructor(
    readonly options: VmmOptions,
    readonly logger: Logger,
    readonly metrics: Metrics,
    readonly backend: GuestBackend,
  ) {
    this.mmds = new MmdsStore(options.mmdsSizeLimit);
  }

  flushMetrics(): void {
    this.metrics.flush(
      this.resources.drives.map((d) => d.drive_id),
      this.resources.net.map((n) => n.iface_id),
      this.logger.missedLogCount,
    );
  }

  /** Called once the guest runs (boot or restore): first flush, then every 60 s (behaviour.md#metrics). */
  markStarted(): void {
    this.started = true;
    this.flushMetrics();
    this.metrics.startPeriodic(
      () => this.flushMetrics(),
      () => this.state === 'Paused',
    );
  }
}
