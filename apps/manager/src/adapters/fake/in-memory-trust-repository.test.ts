import { describeTrustRepositoryContract } from '../../testing/trust-repository-contract.js';
import { createInMemoryRepositories } from './in-memory-repositories.js';

describeTrustRepositoryContract('in-memory', async () => ({ ...createInMemoryRepositories(), close: async () => undefined }));
