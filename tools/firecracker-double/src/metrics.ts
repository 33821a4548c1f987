import type { Sink } from './sink.js';

type Counters = Record<string, number | Record<string, number>>;

const AGG = (): Record<string, number> => ({ min_us: 0, max_us: 0, sum_us: 0 });

function zeros(names: string, aggs = ''): Counters {
  const out: Counters = {};
  for (const n of names.split(' ')) if (n) out[n] = 0;
  for (const n of aggs.split(' ')) if (n) out[n] = AGG();
  return out;
}

const BLOCK = () =>
  zeros(
    'activate_fails cfg_fails no_avail_buffer event_fails execute_fails invalid_reqs_count flush_count ' +
      'queue_event_count rate_limiter_event_count update_count update_fails read_bytes write_bytes read_count ' +
      'write_count rate_limiter_throttled_events io_engine_throttled_events remaining_reqs_count',
    'read_agg write_agg',
  );
const NET = () =>
  zeros(
    'activate_fails cfg_fails mac_address_updates no_rx_avail_buffer no_tx_avail_buffer event_fails ' +
      'rx_queue_event_count rx_event_rate_limiter_count rx_tap_event_count rx_bytes_count rx_packets_count ' +
      'rx_fails rx_count tap_read_fails tap_write_fails tx_bytes_count tx_malformed_frames tx_fails tx_count ' +
      'tx_packets_count tx_queue_event_count tx_rate_limiter_event_count tx_rate_limiter_throttled ' +
      'tx_spoofed_mac_count tx_remaining_reqs_count',
    'tap_write_agg',
  );

/** Builds the metrics sections (top-level keys in upstream order, behaviour.md#metrics). */
function freshSections(drives: readonly string[], ifaces: readonly string[]): Record<string, Counters> {
  const s: Record<string, Counters> = {
    api_server: zeros('process_startup_time_us process_startup_time_cpu_us'),
    balloon: zeros(
      'activate_fails inflate_count stats_updates_count stats_update_fails deflate_count event_fails ' +
        'free_page_report_count free_page_report_freed free_page_report_fails free_page_hint_count ' +
        'free_page_hint_freed free_page_hint_fails',
    ),
    block: BLOCK(),
  };
  for (const d of drives) s[`block_${d}`] = BLOCK();
  Object.assign(s, {
    deprecated_api: zeros('deprecated_http_api_calls deprecated_cmd_line_api_calls'),
    get_api_requests: zeros('instance_info_count machine_cfg_count mmds_count vmm_version_count hotplug_memory_count'),
    i8042: zeros('error_count missed_read_count missed_write_count read_count reset_count write_count'),
    latencies_us: zeros(
      'full_create_snapshot diff_create_snapshot load_snapshot pause_vm resume_vm vmm_full_create_snapshot ' +
        'vmm_diff_create_snapshot vmm_load_snapshot vmm_pause_vm vmm_resume_vm',
    ),
    logger: zeros('missed_metrics_count metrics_fails missed_log_count rate_limited_log_count'),
    mmds: zeros(
      'rx_accepted rx_accepted_err rx_accepted_unusual rx_bad_eth rx_invalid_token rx_no_token rx_count ' +
        'tx_bytes tx_count tx_errors tx_frames connections_created connections_destroyed',
    ),
    net: NET(),
  });
  for (const i of ifaces) s[`net_${i}`] = NET();
  Object.assign(s, {
    patch_api_requests: zeros(
      'drive_count drive_fails network_count network_fails machine_cfg_count machine_cfg_fails mmds_count ' +
        'mmds_fails hotplug_memory_count hotplug_memory_fails',
    ),
    put_api_requests: zeros(
      'actions_count actions_fails boot_source_count boot_source_fails drive_count drive_fails logger_count ' +
        'logger_fails machine_cfg_count machine_cfg_fails cpu_cfg_count cpu_cfg_fails metrics_count metrics_fails ' +
        'network_count network_fails mmds_count mmds_fails vsock_count vsock_fails pmem_count pmem_fails ' +
        'serial_count serial_fails hotplug_memory_count hotplug_memory_fails',
    ),
    seccomp: zeros('num_faults'),
    vcpu: zeros(
      'exit_io_in exit_io_out exit_mmio_read exit_mmio_write failures',
      'exit_io_in_agg exit_io_out_agg exit_mmio_read_agg exit_mmio_write_agg',
    ),
    vmm: zeros('panic_count'),
    uart: zeros('error_count flush_count missed_read_count missed_write_count read_count write_count rate_limiter_dropped_bytes'),
    signals: zeros('sigbus sigsegv sigxfsz sigxcpu sigpipe sighup sigill'),
    vsock: zeros(
      'activate_fails cfg_fails rx_queue_event_fails tx_queue_event_fails ev_queue_event_fails muxer_event_fails ' +
        'conn_event_fails rx_queue_event_count tx_queue_event_count rx_bytes_count tx_bytes_count rx_packets_count ' +
        'tx_packets_count conns_added conns_killed conns_removed killq_resync tx_flush_fails tx_write_fails rx_read_fails',
    ),
    entropy: zeros(
      'activate_fails entropy_event_fails entropy_event_count entropy_bytes host_rng_fails ' +
        'entropy_rate_limiter_throttled rate_limiter_event_count',
    ),
    interrupts: zeros('triggers config_updates'),
    pmem: zeros('activate_fails cfg_fails event_fails queue_event_count'),
    memory_hotplug: zeros(
      'activate_fails queue_event_fails queue_event_count plug_count plug_bytes plug_fails unplug_count ' +
        'unplug_bytes unplug_fails unplug_discard_fails unplug_all_count unplug_all_fails state_count state_fails',
      'plug_agg unplug_agg unplug_all_agg state_agg',
    ),
  });
  return s;
}

/** "Store" sections persist across flushes; everything else is a delta counter (behaviour.md#metrics). */
const STORE_SECTIONS = new Set(['api_server', 'latencies_us']);

export class Metrics {
  private sink: Sink | undefined;
  private sections: Record<string, Counters> = freshSections([], []);
  private timer: NodeJS.Timeout | undefined;
  missedMetrics = 0;

  get configured(): boolean {
    return this.sink !== undefined;
  }

  init(sink: Sink): void {
    this.sink = sink;
  }

  inc(section: string, key: string, by = 1): void {
    const sec = this.sections[section];
    if (sec && typeof sec[key] === 'number') sec[key] = (sec[key] as number) + by;
  }

  store(section: string, key: string, value: number): void {
    const sec = this.sections[section];
    if (sec) sec[key] = value;
  }

  /** Writes one NDJSON line; `drives`/`ifaces` give the per-device keys. */
  flush(drives: readonly string[], ifaces: readonly string[], missedLogs: number): void {
    const out = freshSections(drives, ifaces);
    for (const [name, sec] of Object.entries(this.sections)) if (out[name]) out[name] = sec;
    const logger = out['logger'];
    if (logger) {
      logger['missed_metrics_count'] = this.missedMetrics;
      logger['missed_log_count'] = missedLogs;
    }
    const line = JSON.stringify({ utc_timestamp_ms: Date.now(), ...out }) + '\n';
    const next = freshSections([], []);
    for (const name of STORE_SECTIONS) next[name] = this.sections[name] ?? {};
    this.sections = next;
    if (!this.sink) return;
    if (this.sink.write(line)) this.missedMetrics = 0;
    else this.missedMetrics++;
  }

  /** Periodic flush every 60 s once the VM runs; `frozen` skips flushes while paused (behaviour.md#pause). */
  startPeriodic(flush: () => void, frozen: () => boolean, periodMs = 60_000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (!frozen()) flush();
    }, periodMs);
    this.timer.unref();
  }
}
