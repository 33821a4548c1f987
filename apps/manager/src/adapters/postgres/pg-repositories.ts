import type { Database } from './database.js';
import { PgHostRepository } from './pg-host-repository.js';
import { PgImageRepository } from './pg-image-repository.js';
import { PgVmRepository } from './pg-vm-repository.js';

export interface PgRepositories {
  readonly vms: PgVmRepository;
  readonly images: PgImageRepository;
  readonly hosts: PgHostRepository;
}

export function createPgRepositories(db: Database): PgRepositories {
  return { vms: new PgVmRepository(db), images: new PgImageRepository(db), hosts: new PgHostRepository(db) };
}
