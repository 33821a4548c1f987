import { describeRepositoryContracts } from '../../testing/repository-contracts.js';
import { createInMemoryRepositories } from './in-memory-repositories.js';

describeRepositoryContracts('in-memory', async () => ({ ...createInMemoryRepositories(), close: async () => undefined }));
