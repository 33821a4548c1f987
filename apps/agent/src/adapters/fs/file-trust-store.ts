import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { posix } from 'node:path';
import type { AgentTrust, TrustStore } from '../../application/ports/trust-store.js';

/**
 * What the Agent got when it joined, as `${runDir}/agent-trust.json` (mode 0600: it holds the
 * private key and the host credential), written to a temporary file, synced and renamed.
 */
export class FileTrustStore implements TrustStore {
  readonly path: string;

  constructor(private readonly runDir: string) {
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
    await mkdir(this.runDir, { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${process.pid}.tmp`;
    const file = await open(temporary, 'w', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(trust, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, this.path);
    const directory = await open(this.runDir, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }
}
