import { describeRepositoryContracts } from '../../testing/repository-contracts.js';
import { vmJson } from '../../http/views.js';
import { createInMemoryRepositories } from './in-memory-repositories.js';

describeRepositoryContracts('in-memory', async () => ({
  ...createInMemoryRepositories(undefined, vmJson),
  close: async () => undefined,
}));
