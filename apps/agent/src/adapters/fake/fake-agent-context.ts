import type { AgentContext, AgentSettings } from '../../application/agent-context.js';
import { vmCoordination } from '../../application/vmm-state-cache.js';
import { FakeFirecrackerApi, FakeVmm } from './fake-firecracker.js';
import { FakeHostFiles } from './fake-host-files.js';
import { FakeHostFirewall } from './fake-host-firewall.js';
import { FakeHostNetwork } from './fake-host-network.js';
import { InMemorySnapshotCopyStore } from './in-memory-snapshot-copy-store.js';
import { InMemoryVmRecordStore } from './in-memory-vm-record-store.js';
import { ManualClock } from './manual-clock.js';
import { RecordingLog } from './recording-log.js';
import { FakeTimers } from './fake-timers.js';
import { WarmVmmPool, type WarmVmmPoolSettings } from '../../application/background/warm-vmm-pool.js';

export interface FakeAgent {
  readonly context: AgentContext;
  readonly network: FakeHostNetwork;
  readonly firewall: FakeHostFirewall;
  readonly files: FakeHostFiles;
  readonly vmm: FakeVmm;
  readonly firecracker: FakeFirecrackerApi;
  readonly records: InMemoryVmRecordStore;
  readonly copies: InMemorySnapshotCopyStore;
  readonly clock: ManualClock;
  readonly log: RecordingLog;
}

export const fakeImageRoot = '/srv/images';
export const fakeAgentId = 'agent_01J00000000000000000000000';
export const fakeKernelPath = '/srv/images/vmlinux';
export const fakeRootfsPath = '/srv/images/rootfs.ext4';

/** An AgentContext made only of fakes, with a kernel and a rootfs image in the image root. */
export function createFakeAgent(settings: Partial<AgentSettings> = {}): FakeAgent {
  const files = new FakeHostFiles();
  files.addFile(fakeKernelPath, '\x7fELF', 4096);
  files.addFile(fakeRootfsPath, 'ext4', 64 * 1024 * 1024);
  const network = new FakeHostNetwork();
  const firewall = new FakeHostFirewall();
  const vmm = new FakeVmm(files);
  const firecracker = new FakeFirecrackerApi(vmm);
  const records = new InMemoryVmRecordStore(files);
  const copies = new InMemorySnapshotCopyStore(files);
  const clock = new ManualClock();
  const log = new RecordingLog();
  const context: AgentContext = {
    network,
    firewall,
    vmm,
    firecracker,
    records,
    copies,
    files,
    clock,
    log,
    ...vmCoordination(),
    settings: {
      agentId: fakeAgentId,
      runDir: '/srv/fc',
      bridge: 'fcbr0',
      bridgeAddressCidr: null,
      imageRoot: fakeImageRoot,
      readyTimeoutMs: 5_000,
      stopTimeoutMs: 1_000,
      ...settings,
    },
  };
  return { context, network, firewall, files, vmm, firecracker, records, copies, clock, log };
}

/**
 * A pool of warm VMMs on the fake agent's host (not yet filled), its directories named `<prefix>1`,
 * `<prefix>2`…, its timers driven by hand. Its settings default to 2 VMMs at niceness 19 refilled
 * 2 s after the last take.
 */
export function createFakeWarmVmmPool(
  agent: FakeAgent,
  settings: Partial<WarmVmmPoolSettings> = {},
  prefix = 'slot',
): { pool: WarmVmmPool; timers: FakeTimers } {
  const timers = new FakeTimers();
  let slot = 0;
  const pool = new WarmVmmPool(
    {
      vmm: agent.vmm,
      firecracker: agent.firecracker,
      files: agent.files,
      clock: agent.clock,
      timers,
      log: agent.log,
      newSlotId: () => `${prefix}${(slot += 1)}`,
    },
    {
      runDir: agent.context.settings.runDir,
      size: 2,
      niceness: 19,
      readyTimeoutMs: 1_000,
      retryMs: 1_000,
      maxRetryMs: 4_000,
      refillDelayMs: 2_000,
      ...settings,
    },
  );
  return { pool, timers };
}
