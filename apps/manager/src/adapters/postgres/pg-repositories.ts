import type { Database } from './database.js';
import { PgAuditLog } from './pg-audit-log.js';
import { PgEventRepository } from './pg-event-repository.js';
import { PgHostRepository } from './pg-host-repository.js';
import { PgIdempotencyRepository } from './pg-idempotency-repository.js';
import { PgImageRepository } from './pg-image-repository.js';
import { PgProjectRepository } from './pg-project-repository.js';
import { PgReconcileStateRepository } from './pg-reconcile-state-repository.js';
import { PgSnapshotRepository } from './pg-snapshot-repository.js';
import { PgTemplateRepository } from './pg-template-repository.js';
import { PgTokenRepository } from './pg-token-repository.js';
import { PgVmRepository } from './pg-vm-repository.js';
import { PgTrustRepository } from './pg-trust-repository.js';
import { PgCertificateAuthorityRepository } from './pg-certificate-authority-repository.js';

export interface PgRepositories {
  readonly vms: PgVmRepository;
  readonly images: PgImageRepository;
  readonly templates: PgTemplateRepository;
  readonly snapshots: PgSnapshotRepository;
  readonly hosts: PgHostRepository;
  readonly events: PgEventRepository;
  readonly idempotency: PgIdempotencyRepository;
  readonly reconcileStates: PgReconcileStateRepository;
  readonly trust: PgTrustRepository;
  readonly certificateAuthorities: PgCertificateAuthorityRepository;
  readonly tokens: PgTokenRepository;
  readonly projects: PgProjectRepository;
  readonly audit: PgAuditLog;
}

export function createPgRepositories(db: Database): PgRepositories {
  return {
    vms: new PgVmRepository(db),
    images: new PgImageRepository(db),
    templates: new PgTemplateRepository(db),
    snapshots: new PgSnapshotRepository(db),
    hosts: new PgHostRepository(db),
    events: new PgEventRepository(db),
    idempotency: new PgIdempotencyRepository(db),
    reconcileStates: new PgReconcileStateRepository(db),
    trust: new PgTrustRepository(db),
    certificateAuthorities: new PgCertificateAuthorityRepository(db),
    tokens: new PgTokenRepository(db),
    projects: new PgProjectRepository(db),
    audit: new PgAuditLog(db),
  };
}
