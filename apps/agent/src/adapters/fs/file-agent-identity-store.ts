import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { writeJsonDurably } from './durable-file.js';
import type { AgentIdentityStore } from '../../application/ports/agent-identity-store.js';
import { isAgentId, newAgentId, type AgentIdentity } from '../../domain/agent-identity.js';

/**
 * The identity as `${runDir}/agent-identity.json` (mode 0600), written to a temporary file, synced
 * and renamed over the old one, so a crash leaves either the old or the new identity, never none.
 * An unreadable file is an error, not a reason to become someone else.
 */
export class FileAgentIdentityStore implements AgentIdentityStore {
  private readonly path: string;

  constructor(runDir: string) {
    this.path = posix.join(runDir, 'agent-identity.json');
  }

  async loadOrCreate(): Promise<AgentIdentity> {
    const stored = await this.read();
    if (stored !== undefined) return stored;
    const created: AgentIdentity = { agentId: newAgentId(Date.now(), randomBytes(16)), clusterId: null };
    await this.write(created);
    return created;
  }

  async recordCluster(clusterId: string): Promise<AgentIdentity> {
    const current = await this.loadOrCreate();
    if (current.clusterId === clusterId) return current;
    const updated: AgentIdentity = { ...current, clusterId };
    await this.write(updated);
    return updated;
  }

  private async read(): Promise<AgentIdentity | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const parsed = JSON.parse(text) as { agentId?: unknown; clusterId?: unknown };
    if (!isAgentId(parsed.agentId) || (parsed.clusterId !== null && typeof parsed.clusterId !== 'string')) {
      throw new Error(`${this.path} does not hold an Agent identity; move it away only if this host is new`);
    }
    return { agentId: parsed.agentId, clusterId: parsed.clusterId };
  }

  private async write(identity: AgentIdentity): Promise<void> {
    await writeJsonDurably(this.path, identity);
  }
}
