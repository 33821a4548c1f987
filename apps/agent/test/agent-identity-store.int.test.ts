import { rm } from 'node:fs/promises';
import { FileAgentIdentityStore } from '../src/adapters/fs/file-agent-identity-store.js';
import { InMemoryAgentIdentityStore } from '../src/adapters/fake/in-memory-agent-identity-store.js';
import { describeAgentIdentityStoreContract } from './agent-identity-store.contract.js';
import { makeTempDir } from './support.js';

describeAgentIdentityStoreContract('FileAgentIdentityStore', async () => {
  const runDir = await makeTempDir();
  return {
    store: new FileAgentIdentityStore(runDir),
    reopen: () => new FileAgentIdentityStore(runDir),
    cleanup: () => rm(runDir, { recursive: true, force: true }),
  };
});

describeAgentIdentityStoreContract('InMemoryAgentIdentityStore', async () => {
  const store = new InMemoryAgentIdentityStore();
  return {
    store,
    // A restarted Agent reads what was stored.
    reopen: () => new InMemoryAgentIdentityStore(store.stored),
    cleanup: async () => undefined,
  };
});
