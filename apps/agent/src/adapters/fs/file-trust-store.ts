import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { writeJsonDurably } from './durable-file.js';
import type { AgentTrust, TrustStore } from '../../application/ports/trust-store.js';

/**
 * What the Agent got when it joined, as `${runDir}/agent-trust.json` (mode 0600: it holds the
 * private key and the host credential), written to a temporary file, synced and renamed.
 */
export class FileTrustStore implements TrustStore {
  readonly path: string;

  constructor(runDir: string) {
    this.path = posix.join(runDir, 'agent-trust.json');
  }

  async load(): Promise<AgentTrust | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as Partial<Record<keyof AgentTrust, unknown>>;
    const fields = ['clusterId', 'caCertificatePem', 'certificatePem', 'privateKeyPem', 'credential'] as const;
    if (!fields.every((field) => typeof parsed[field] === 'string')) {
      throw new Error(`${this.path} does not hold what this Agent got when it joined; move it away to join again`);
    }
    return parsed as AgentTrust;
  }

  async save(trust: AgentTrust): Promise<void> {
    await writeJsonDurably(this.path, trust);
  }
}
