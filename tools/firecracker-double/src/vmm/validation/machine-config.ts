import type { Body } from '../../api/actions.js';
import { fail } from '../errors.js';
import type { MachineConfig } from '../types.js';

const VCPU_ERR =
  'Machine config error: The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even number if SMT is enabled.';
const MEM_ERR = 'Machine config error: The memory size (MiB) is either 0, or not a multiple of the configured page size.';
const BALLOON_ERR = 'Machine config error: The memory size (MiB) is smaller than the previously set balloon device target size.';

/**
 * PUT resets smt/track_dirty_pages/huge_pages but keeps a previous static cpu_template when it
 * is omitted; PATCH touches only given fields (behaviour.md#endpoint-machine-config).
 */
export function applyMachineConfig(
  current: MachineConfig,
  body: Body,
  isPut: boolean,
  balloonMib: number | undefined,
): MachineConfig {
  const base: MachineConfig = isPut ? { ...current, smt: false, track_dirty_pages: false, huge_pages: 'None' } : { ...current };
  const next: MachineConfig = {
    vcpu_count: (body['vcpu_count'] as number | undefined) ?? base.vcpu_count,
    mem_size_mib: (body['mem_size_mib'] as number | undefined) ?? base.mem_size_mib,
    smt: (body['smt'] as boolean | undefined) ?? base.smt,
    track_dirty_pages: (body['track_dirty_pages'] as boolean | undefined) ?? base.track_dirty_pages,
    huge_pages: (body['huge_pages'] as string | undefined) ?? base.huge_pages,
  };
  const template = body['cpu_template'] as string | undefined;
  const keptTemplate = template === undefined ? base.cpu_template : template === 'None' ? undefined : template;
  if (next.vcpu_count < 1 || next.vcpu_count > 32 || (next.smt && next.vcpu_count > 1 && next.vcpu_count % 2 !== 0)) {
    fail(VCPU_ERR);
  }
  if (next.mem_size_mib === 0 || (next.huge_pages === '2M' && next.mem_size_mib % 2 !== 0)) fail(MEM_ERR);
  if (balloonMib !== undefined && next.mem_size_mib < balloonMib) fail(BALLOON_ERR);
  return renderOrder(next, keptTemplate);
}

/** Key order of GET /machine-config: cpu_template sits between smt and track_dirty_pages. */
function renderOrder(m: MachineConfig, template: string | undefined): MachineConfig {
  const out: MachineConfig = { vcpu_count: m.vcpu_count, mem_size_mib: m.mem_size_mib, smt: m.smt } as MachineConfig;
  if (template !== undefined) out.cpu_template = template;
  out.track_dirty_pages = m.track_dirty_pages;
  out.huge_pages = m.huge_pages;
  return out;
}
