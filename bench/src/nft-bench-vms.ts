import { readFileSync } from 'node:fs';
import type { EgressPolicy } from '@hearth/contracts';
import { vmEgressScript, type EgressTableState } from '../../apps/agent/dist/domain/egress-rules.js';

/** `/proc/PID/stat` counts CPU time in clock ticks of USER_HZ, 100 a second on Linux. */
const msPerTick = 10;

/** CPU time of a process (user + system), in ms, at the clock tick's resolution. */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * msPerTick;
}

/** The table the nft benches write into, in a namespace of their own. */
export const benchTable = { name: 'hearth', uplink: 'bup0' };

/** The made-up VM number `index` of an nft bench: its id, address, TAP and published port. */
export function benchVmOf(index: number): { vmId: string; address: string; tap: string; hostPort: number } {
  return {
    vmId: `vm_01JABCDEFGHJKMNPQRSTV${String(index).padStart(5, '0')}`,
    address: `172.30.${Math.floor(index / 250)}.${(index % 250) + 2}`,
    tap: `tapbench${index}`,
    hostPort: 20_000 + index,
  };
}

/** The script the Agent writes for the bench's VM number `index` under `policy`, into a table holding `state`. */
export function benchVmScript(index: number, policy: EgressPolicy, state: EgressTableState): string {
  const vm = benchVmOf(index);
  return vmEgressScript(
    benchTable,
    {
      vmId: vm.vmId,
      address: vm.address,
      policy,
      ports: [{ protocol: 'tcp', hostPort: vm.hostPort, guestPort: 80 }],
      guard: { tap: vm.tap, mac: '06:00:ac:1e:00:05', sharedSet: null },
    },
    state,
  );
}
