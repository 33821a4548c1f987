import { hasCommand } from '@hearth/testkit';
import type { EgressPolicy } from '@hearth/contracts';
import { startBenchStack, type BenchStack, type StackOptions } from './bench-stack.js';
import { floorDescription, networkFloorDescription } from './floor.js';
import { createVm, deleteVm, floorBeside, registerSimulatedImages, type ImageIds } from './manager-vms.js';
import type { BenchOptions } from './options.js';
import { measureCreateLatency, type LatencyResult, type Log } from './phases.js';
import { summarize, type Summary } from './stats.js';

/** The uplink the guests are masqueraded to: one end of a veth pair in the Agent's namespace. */
const uplink = 'bup0';

/**
 * What a stack needs for its Agent to write egress through NAT: the setting, an uplink (one end of
 * a veth pair in the Agent's namespace) and IPv4 forwarding there.
 */
export function natStackOptions(): Pick<StackOptions, 'agentEnv' | 'prepareNetns'> {
  return {
    agentEnv: { AGENT_EGRESS: 'nat', AGENT_UPLINK: uplink },
    prepareNetns: async (netns) => {
      await netns.exec(['ip', 'link', 'add', uplink, 'type', 'veth', 'peer', 'name', `${uplink}p`]);
      await netns.exec(['ip', 'link', 'set', uplink, 'up']);
      await netns.exec(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    },
  };
}

/** Every VM of the run has rules of its own: an allow list of two entries, then a drop. */
export const benchEgressPolicy: EgressPolicy = {
  mode: 'allow_list',
  rules: [
    { cidr: '203.0.113.0/24', protocol: 'tcp', ports: [80, 443] },
    { cidr: '0.0.0.0/0', protocol: 'udp', ports: [53] },
  ],
};

/** Manager VM `i` publishes TCP `managerPortBase + i`, floor run `i` `floorPortBase + i` (distinct tables, distinct ports). */
const managerPortBase = 20_000;
const floorPortBase = 40_000;

/** The networking run's latency, or null with the reason it is missing. */
export interface NetworkResult {
  readonly latency: LatencyResult | null;
  /**
   * `PUT /v1/vms/{id}/egress` on one running VM, alternating between denying all and the bench's
   * allow list: the request is answered once the VM's chain holds the new policy.
   */
  readonly egressChange: Summary | null;
  readonly note: string;
}

/** `measureNetworkLatency` unless it is skipped or cannot run; its failure becomes the note. */
export async function networkResult(options: BenchOptions, log: Log): Promise<NetworkResult> {
  if (options.networkCount === 0) return { latency: null, egressChange: null, note: 'skipped (--network 0)' };
  if (!hasCommand('nft')) return { latency: null, egressChange: null, note: 'skipped: no nft (nftables) on this machine' };
  try {
    return { ...(await measureNetworkLatency(options, log)), note: 'measured' };
  } catch (error) {
    return { latency: null, egressChange: null, note: `failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * Create latency with networking on: an Agent with egress through NAT (`AGENT_EGRESS=nat`), each
 * VM leased an address, given an egress policy of its own and a published port, so that its create
 * writes its chain, elements, port and guard (the Agent's `egress` step) besides everything a
 * create does. Against the floor doing the same by hand: the same TAP, copy, spawn and API calls,
 * plus the nft script the Agent writes for that VM, in the same namespace. Each Manager VM is
 * deleted after its create and each floor VM after its run, so neither table grows.
 */
export async function measureNetworkLatency(
  options: BenchOptions,
  log: Log,
): Promise<{ readonly latency: LatencyResult; readonly egressChange: Summary }> {
  const stack = await startBenchStack({
    doubleNodeFlags: options.doubleNodeFlags,
    managerMain: options.managerMain,
    agentMain: options.agentMain,
    ...natStackOptions(),
  });
  const floor = floorBeside(stack, { table: 'floor', uplink, policy: benchEgressPolicy, portBase: floorPortBase });
  try {
    const images = await registerSimulatedImages(stack, 'net');
    await floor.prepare();
    const latency = await measureCreateLatency(stack, images, floor, options.networkCount, log, {
      namePrefix: 'net',
      isDeletedEach: true,
      body: (i) => ({
        egress: benchEgressPolicy,
        ports: [{ hostPort: managerPortBase + i, guestPort: 80, protocol: 'tcp' }],
      }),
      floorDescription: `${floorDescription} ${networkFloorDescription}`,
    });
    return { latency, egressChange: await measureEgressChanges(stack, images, options.networkCount, log) };
  } finally {
    await floor.destroyAll().catch(() => undefined);
    await stack.stop();
  }
}

/** `count` egress changes on one running VM, each timed from the request to its answer. */
async function measureEgressChanges(stack: BenchStack, images: ImageIds, count: number, log: Log): Promise<Summary> {
  const created = await createVm(stack, images, 'net-egress', { egress: benchEgressPolicy });
  if (created.vm === null) throw new Error(`the VM for egress changes was not created: ${created.error}`);
  try {
    const samples: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const policy: EgressPolicy = i % 2 === 0 ? { mode: 'deny_all' } : benchEgressPolicy;
      const startedAt = performance.now();
      const response = await stack.api('PUT', `/v1/vms/${created.vm.id}/egress`, policy);
      if (response.status !== 200)
        throw new Error(`egress change ${i}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
      samples.push(performance.now() - startedAt);
    }
    const summary = summarize(samples);
    log(`  egress change on a running VM: p50 ${summary.p50?.toFixed(1)} ms, p99 ${summary.p99?.toFixed(1)} ms (n=${count})`);
    return summary;
  } finally {
    const deleted = await deleteVm(stack, created.vm.id);
    if (deleted.error !== null) log(`  egress VM delete: ${deleted.error}`);
  }
}
