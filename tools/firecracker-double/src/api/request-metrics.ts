import type { ActionKind } from './actions.js';

/** Which `*_api_requests` counter an action bumps (behaviour.md#metrics). */
const COUNTERS: Partial<Record<ActionKind, [string, string]>> = {
  GetInstanceInfo: ['get_api_requests', 'instance_info'],
  GetMachineConfig: ['get_api_requests', 'machine_cfg'],
  GetMmds: ['get_api_requests', 'mmds'],
  GetVersion: ['get_api_requests', 'vmm_version'],
  GetMemoryHotplug: ['get_api_requests', 'hotplug_memory'],
  InstanceStart: ['put_api_requests', 'actions'],
  FlushMetrics: ['put_api_requests', 'actions'],
  SendCtrlAltDel: ['put_api_requests', 'actions'],
  PutBootSource: ['put_api_requests', 'boot_source'],
  PutDrive: ['put_api_requests', 'drive'],
  PutLogger: ['put_api_requests', 'logger'],
  PutMachineConfig: ['put_api_requests', 'machine_cfg'],
  PutCpuConfig: ['put_api_requests', 'cpu_cfg'],
  PutMetrics: ['put_api_requests', 'metrics'],
  PutNet: ['put_api_requests', 'network'],
  PutMmds: ['put_api_requests', 'mmds'],
  PutVsock: ['put_api_requests', 'vsock'],
  PutPmem: ['put_api_requests', 'pmem'],
  PutSerial: ['put_api_requests', 'serial'],
  PutMemoryHotplug: ['put_api_requests', 'hotplug_memory'],
  PatchDrive: ['patch_api_requests', 'drive'],
  PatchNet: ['patch_api_requests', 'network'],
  PatchMachineConfig: ['patch_api_requests', 'machine_cfg'],
  PatchMmds: ['patch_api_requests', 'mmds'],
  PatchMemoryHotplug: ['patch_api_requests', 'hotplug_memory'],
};

export function requestCounter(kind: ActionKind, failed: boolean): [string, string] | undefined {
  const c = COUNTERS[kind];
  if (!c) return undefined;
  if (c[0] === 'get_api_requests') return failed ? undefined : [c[0], `${c[1]}_count`];
  return [c[0], `${c[1]}_${failed ? 'fails' : 'count'}`];
}

/** Actions whose latency upstream logs as `'<name>' API request took N us.` */
export function latencyName(action: { kind: ActionKind; body?: Record<string, unknown> }): [string, string] | undefined {
  switch (action.kind) {
    case 'CreateSnapshot':
      return action.body?.['snapshot_type'] === 'Diff'
        ? ['diff_create_snapshot', 'create diff snapshot']
        : ['full_create_snapshot', 'create full snapshot'];
    case 'LoadSnapshot':
      return ['load_snapshot', 'load snapshot'];
    case 'PatchVm':
      return action.body?.['state'] === 'Paused' ? ['pause_vm', 'pause vm'] : ['resume_vm', 'resume vm'];
    default:
      return undefined;
  }
}
