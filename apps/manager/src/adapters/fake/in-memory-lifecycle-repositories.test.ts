import { describeEventRepositoryContract } from '../../testing/event-repository-contract.js';
import { describeIdempotencyRepositoryContract } from '../../testing/idempotency-repository-contract.js';
import { createInMemoryRepositories } from './in-memory-repositories.js';

describeEventRepositoryContract('in-memory', async () => ({
  events: createInMemoryRepositories().events,
  close: async () => undefined,
}));

describeIdempotencyRepositoryContract('in-memory', async () => ({
  idempotency: createInMemoryRepositories().idempotency,
  close: async () => undefined,
}));
