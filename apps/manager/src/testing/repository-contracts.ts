import { describeAuditLogContract } from './audit-log-contract.js';
import {
  describeCertificateAuthorityRepositoryContract,
  type CertificateAuthorityRepositoryHarness,
} from './certificate-authority-repository-contract.js';
import { describeEventRepositoryContract } from './event-repository-contract.js';
import { describeHostRepositoryContract } from './host-repository-contract.js';
import { describeIdempotencyRepositoryContract, type IdempotencyRepositoryHarness } from './idempotency-repository-contract.js';
import { describeImageRepositoryContract } from './image-repository-contract.js';
import { describeProjectRepositoryContract } from './project-repository-contract.js';
import { describeReconcileStateRepositoryContract } from './reconcile-state-repository-contract.js';
import type { RepositoryHarness } from './repository-test-bed.js';
import { describeSnapshotRepositoryContract, type SnapshotRepositoryHarness } from './snapshot-repository-contract.js';
import { describeTemplateRepositoryContract, type TemplateRepositoryHarness } from './template-repository-contract.js';
import { describeTokenRepositoryContract } from './token-repository-contract.js';
import { describeTrustRepositoryContract, type TrustRepositoryHarness } from './trust-repository-contract.js';
import { describeVmRepositoryContract } from './vm-repository-contract.js';

/** Every repository port of one implementation, and how to empty them after a test. */
export type AllRepositoriesHarness = RepositoryHarness &
  TemplateRepositoryHarness &
  SnapshotRepositoryHarness &
  IdempotencyRepositoryHarness &
  TrustRepositoryHarness &
  CertificateAuthorityRepositoryHarness;

/**
 * Runs the contract suite of every repository port (one suite, in its own file, per port) against one
 * implementation, so that the fakes, PGlite and PostgreSQL run the same list.
 */
export function describeRepositoryContracts(name: string, open: () => Promise<AllRepositoriesHarness>): void {
  describeHostRepositoryContract(name, open);
  describeImageRepositoryContract(name, open);
  describeVmRepositoryContract(name, open);
  describeReconcileStateRepositoryContract(name, open);
  describeProjectRepositoryContract(name, open);
  describeTokenRepositoryContract(name, open);
  describeAuditLogContract(name, open);
  describeEventRepositoryContract(name, open);
  describeIdempotencyRepositoryContract(name, open);
  describeTemplateRepositoryContract(name, open);
  describeSnapshotRepositoryContract(name, open);
  describeTrustRepositoryContract(name, open);
  describeCertificateAuthorityRepositoryContract(name, open);
}
