import type { PlacementPolicy } from '../domain/placement.js';
import type { AddressPool } from '../domain/address-pool.js';
import type { AgentClient } from './ports/agent-client.js';
import type { HostContacts } from './host-contacts.js';
import type { AuditLog } from './ports/audit-log.js';
import type { Clock } from './ports/clock.js';
import type { EventFeed } from './ports/event-feed.js';
import type { EventRepository } from './ports/event-repository.js';
import type { HostRepository } from './ports/host-repository.js';
import type { IdempotencyRepository } from './ports/idempotency-repository.js';
import type { IdGenerator } from './ports/id-generator.js';
import type { ImageInspector } from './ports/image-inspector.js';
import type { ImageRepository } from './ports/image-repository.js';
import type { Log } from './ports/log.js';
import type { ProjectRepository } from './ports/project-repository.js';
import type { ReconcileHints } from './ports/reconcile-hints.js';
import type { ReconcileStateRepository } from './ports/reconcile-state-repository.js';
import type { Timers } from './ports/timers.js';
import type { SnapshotRepository } from './ports/snapshot-repository.js';
import type { TemplateRepository } from './ports/template-repository.js';
import type { TokenRepository } from './ports/token-repository.js';
import type { VmRepository } from './ports/vm-repository.js';
import type { VmStateWaits } from './ports/vm-state-waits.js';
import type { CertificateIssuer } from './ports/certificate-issuer.js';
import type { SecretGenerator } from './ports/secret-generator.js';
import type { TrustRepository } from './ports/trust-repository.js';
import type { VmStartMetrics } from './ports/vm-start-metrics.js';
import type { RecentHostListing } from './recent-host-listing.js';

/** Everything the use cases may need; each use case takes only its slice (`Pick<…>`). */
export interface UseCaseDependencies {
  readonly vms: VmRepository;
  readonly images: ImageRepository;
  /** Named VM presets of the projects. */
  readonly templates: TemplateRepository;
  /** Snapshots of VMs (their files are on the VMs' hosts). */
  readonly snapshots: SnapshotRepository;
  readonly hosts: HostRepository;
  readonly events: EventRepository;
  /** Events committed by any Manager on the database, as they come. */
  readonly eventFeed: EventFeed;
  readonly idempotency: IdempotencyRepository;
  /** Join tokens and the credentials of Agents that joined. */
  readonly trust: TrustRepository;
  /** The cluster CA, issuing Agents' certificates. */
  readonly issuer: CertificateIssuer;
  readonly secrets: SecretGenerator;
  /** API tokens (hashes of their secrets, scopes, projects). */
  readonly tokens: TokenRepository;
  readonly projects: ProjectRepository;
  /** Every mutation of the API and every refused attempt. */
  readonly audit: AuditLog;
  readonly agents: AgentClient;
  /** When each host's Agent last answered this Manager: a host still answering is not stale. */
  readonly contacts: HostContacts;
  /** Every host as placements read them, shared by the creates of one moment; absent: each create lists them. */
  readonly recentHosts?: RecentHostListing;
  readonly inspector: ImageInspector;
  readonly clock: Clock;
  readonly timers: Timers;
  /** The pending waits for VM states, woken together by the event feed. */
  readonly vmWaiters: VmStateWaits;
  readonly ids: IdGenerator;
  readonly log: Log;
  readonly settings: UseCaseSettings;
  /** Restart policy and retry state of VMs (the reconciler's columns of the VM rows). */
  readonly reconcileStates: ReconcileStateRepository;
  /** Tells the reconciler (when this Manager runs it) that something changed; absent means nobody listens. */
  readonly hints?: ReconcileHints;
  /** Durations of creates and of host steps, and failed applies; absent means none are kept. */
  readonly metrics?: VmStartMetrics;
}

export interface UseCaseSettings extends PlacementPolicy {
  /** New VMs get a metrics FIFO. */
  readonly isMetricsEnabled: boolean;
  /** The cluster this Manager's database is (created with it); Agents of other clusters are refused. */
  readonly clusterId: string;
  /** How long an Agent's certificate is valid; the Agent renews it after two thirds. */
  readonly agentCertificateTtlMs: number;
  /** Diff snapshots a chain may hold on top of its full snapshot; 0 refuses every diff. */
  readonly snapshotChainMax: number;
  /** The pool every new VM is leased an address from, and how long a released address rests. */
  readonly addressing: { readonly pool: AddressPool; readonly quarantineMs: number };
}
