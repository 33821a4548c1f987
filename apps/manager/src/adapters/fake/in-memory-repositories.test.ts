import { describeRepositoryContract } from '../../testing/repository-contract.js';
import { createInMemoryRepositories } from './in-memory-repositories.js';

describeRepositoryContract('in-memory', async () => ({ repos: createInMemoryRepositories(), close: async () => undefined }));
