/** `--config-file` boot (behaviour.md#config-file): apply the sections in upstream order, then boot. */
import { readFileSync } from 'node:fs';
import type { Body, VmmAction } from './api/actions.js';
import { RequestError } from './api/request-error.js';
import { parseBody } from './api/router.js';
import * as S from './api/schemas.js';
import type { Schema } from './json/deserialize.js';
import type { Vmm } from './vmm/vmm.js';

const vec = (of: Schema): Schema => ({ t: 'vec', of });

/** The top level ignores unknown keys; `boot-source` and `drives` are required. */
const CONFIG_FILE: Schema = {
  t: 'struct',
  name: 'VmmConfig',
  deny: false,
  fields: {
    balloon: { s: S.balloon },
    drives: { s: vec(S.drive), req: true },
    'boot-source': { s: S.bootSource, req: true },
    'cpu-config': { s: { t: 'any' } },
    logger: { s: S.logger },
    'machine-config': { s: S.machineConfig },
    metrics: { s: S.metrics },
    'mmds-config': { s: S.mmdsConfig },
    'network-interfaces': { s: vec(S.netIface) },
    vsock: { s: S.vsock },
    entropy: { s: S.entropy },
    pmem: { s: vec(S.pmem) },
    'memory-hotplug': { s: S.memoryHotplug },
  },
};

export class ConfigFileError extends Error {}

function parse(text: string, schema: Schema): Body {
  try {
    return parseBody(Buffer.from(text), schema);
  } catch (err) {
    if (err instanceof RequestError) {
      throw new ConfigFileError(
        `Invalid JSON: ${err.message.replace(/^An error occurred when deserializing the json body of a request: /, '').replace(/\.$/, '')}`,
      );
    }
    throw err;
  }
}

/**
 * Applies a config file to a fresh VMM and boots it. `applyMetadata` runs between balloon and
 * mmds-config, where upstream loads `--metadata`.
 */
export async function bootFromConfigFile(vmm: Vmm, text: string, applyMetadata: () => void): Promise<void> {
  const cfg = parse(text, CONFIG_FILE);
  const steps: VmmAction[] = [];
  const add = (kind: string, body: unknown): void => {
    if (body !== undefined) steps.push({ kind, body } as VmmAction);
  };
  add('PutLogger', cfg['logger']);
  add('PutMetrics', cfg['metrics']);
  add('PutMachineConfig', cfg['machine-config']);
  const cpu = cfg['cpu-config'];
  if (cpu !== undefined) {
    const text = typeof cpu === 'string' ? readFileSync(cpu, 'utf8') : JSON.stringify(cpu);
    add('PutCpuConfig', parse(text, S.cpuConfig));
  }
  add('PutBootSource', cfg['boot-source']);
  for (const d of cfg['drives'] as Body[]) add('PutDrive', d);
  for (const n of (cfg['network-interfaces'] as Body[] | undefined) ?? []) add('PutNet', n);
  add('PutVsock', cfg['vsock']);
  add('PutBalloon', cfg['balloon']);
  for (const step of steps) await vmm.dispatch(step);
  applyMetadata();
  const rest: VmmAction[] = [];
  const addRest = (kind: string, body: unknown): void => {
    if (body !== undefined) rest.push({ kind, body } as VmmAction);
  };
  addRest('PutMmdsConfig', cfg['mmds-config']);
  addRest('PutEntropy', cfg['entropy']);
  for (const p of (cfg['pmem'] as Body[] | undefined) ?? []) addRest('PutPmem', p);
  addRest('PutMemoryHotplug', cfg['memory-hotplug']);
  for (const step of rest) await vmm.dispatch(step);
  await vmm.dispatch({ kind: 'InstanceStart' });
}
