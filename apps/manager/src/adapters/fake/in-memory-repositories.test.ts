import { describeRepositoryContract } from '../../testing/repository-contract.js';
import { describeSnapshotRepositoryContract } from '../../testing/snapshot-repository-contract.js';
import { describeTemplateRepositoryContract } from '../../testing/template-repository-contract.js';
import { createInMemoryRepositories } from './in-memory-repositories.js';

describeRepositoryContract('in-memory', async () => ({ repos: createInMemoryRepositories(), close: async () => undefined }));

describeTemplateRepositoryContract('in-memory', async () => ({ ...createInMemoryRepositories(), close: async () => undefined }));

describeSnapshotRepositoryContract('in-memory', async () => ({ ...createInMemoryRepositories(), close: async () => undefined }));
