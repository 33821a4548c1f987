import type { ColumnType, Generated } from 'kysely';

/** Row types of the tables created by `migrations/`. */
export interface HostsTable {
  id: string;
  name: string;
  agent_id: string | null;
  agent_instance_id: Generated<string | null>;
  credential_id: Generated<string | null>;
  addr: string;
  capacity: ColumnType<unknown, string, string>;
  facts: ColumnType<unknown, string, string>;
  registered_at: Date;
  last_heartbeat_at: Date;
  status: Generated<string>;
  status_changed_at: Date | null;
  is_cordoned: Generated<boolean>;
  inventory_tag: Generated<string | null>;
  inventory_tag_taken_after: Generated<Date | null>;
}

export interface ImagesTable {
  id: string;
  kind: string;
  name: string;
  project: string;
  host_path: string;
  sha256: string;
  /** `pg` returns bigint as a string, PGlite as a number. */
  size_bytes: ColumnType<string | number, number, number>;
  created_at: Date;
}

export interface VmsTable {
  id: string;
  name: string;
  project: string;
  state: string;
  host_id: string;
  vcpu_count: number;
  memory_mib: number;
  kernel_image_id: string;
  rootfs_image_id: string;
  kernel_path: string;
  rootfs_path: string;
  boot_args: string;
  guest_mac: string;
  is_metrics_enabled: boolean;
  failure_reason: ColumnType<unknown, string | null, string | null>;
  steps: ColumnType<unknown, string, string>;
  total_ms: number | null;
  created_at: Date;
  updated_at: Date;
  version: Generated<number>;
  observed_state: string | null;
  observed_at: Date | null;
  restart_policy: Generated<string>;
  reconcile_attempt: Generated<number>;
  next_attempt_at: Date | null;
  crash_restarts: Generated<number>;
  crash_window_started_at: Date | null;
  network: ColumnType<unknown, string | null, string | null>;
  user_data: string | null;
  egress: ColumnType<unknown, string | undefined, string>;
  ports: ColumnType<unknown, string | undefined, string>;
  shared_network: ColumnType<string | null, string | null | undefined, string | null>;
  rate_limits: ColumnType<unknown, string | undefined, string>;
  template_id: string | null;
  template_version: number | null;
  snapshot_id: string | null;
  snapshot_vm_id: string | null;
  restore_snapshot_id: string | null;
  is_restore_paused: Generated<boolean>;
  mapped_snapshot_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The writing transaction's id (set by trigger); read as text (`xid8`), never written by the repositories. */
  written_xid: ColumnType<string, never, never>;
}

/** A deleted VM row's id and the deleting transaction's id (written by trigger). */
export interface VmDeletionsTable {
  vm_id: string;
  deleted_xid: ColumnType<string, never, never>;
}

export interface AddressLeasesTable {
  /** `pg` returns bigint as a string, PGlite as a number. */
  address: ColumnType<string | number, number, number>;
  pool: string;
  vm_id: string | null;
  leased_at: Date;
  released_at: Date | null;
}

/** Per pool: every address of it below `all_leased_below` has been leased at least once (ADR 0078). */
export interface AddressPoolFrontiersTable {
  pool: string;
  /** `pg` returns bigint as a string, PGlite as a number. */
  all_leased_below: ColumnType<string | number, number, number>;
}

export interface PublishedPortsTable {
  host_id: string;
  protocol: string;
  host_port: number;
  vm_id: string;
  guest_port: number;
}

export interface TemplatesTable {
  id: string;
  name: string;
  project: string;
  description: string;
  kernel_image_id: string;
  rootfs_image_id: string;
  vcpu_count: number;
  memory_mib: number;
  boot_args: string;
  restart_policy: string;
  snapshot_id: string | null;
  egress: ColumnType<unknown, string | undefined, string>;
  shared_network: ColumnType<string | null, string | null | undefined, string | null>;
  rate_limits: ColumnType<unknown, string | undefined, string>;
  created_at: Date;
  updated_at: Date;
  version: number;
}

export interface SnapshotsTable {
  id: string;
  vm_id: string;
  project: string;
  host_id: string;
  state: string;
  /** `pg` returns bigint as a string, PGlite as a number. */
  state_bytes: ColumnType<string | number | null, number | null, number | null>;
  memory_bytes: ColumnType<string | number | null, number | null, number | null>;
  rootfs_bytes: ColumnType<string | number | null, number | null, number | null>;
  pause_ms: number | null;
  fingerprint: ColumnType<unknown, string | null, string | null>;
  parent_id: string | null;
  type: ColumnType<string, string | undefined, never>;
  chain_depth: ColumnType<number, number | undefined, never>;
  merged_from: ColumnType<string | null, string | null | undefined, never>;
  expires_at: Date | null;
  failure_reason: ColumnType<unknown, string | null, string | null>;
  digests: ColumnType<unknown, string | null | undefined, string | null>;
  expiry_held_by: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Date;
  updated_at: Date;
}

export interface SnapshotCopiesTable {
  snapshot_id: string;
  host_id: string;
  state: string;
  created_at: Date;
  updated_at: Date;
}

export interface EventsTable {
  /** `pg` returns bigint as a string, PGlite as a number. */
  id: Generated<string | number>;
  type: string;
  vm_id: string | null;
  host_id: string | null;
  /** Null for host events. */
  project: Generated<string | null>;
  at: Date;
  from_state: string | null;
  to_state: string | null;
  message: string;
  object_id: Generated<string | null>;
}

export interface IdempotencyKeysTable {
  caller: string;
  key: string;
  method: string;
  route: string;
  params: string;
  claim_id: string | null;
  fingerprint: string;
  status_code: number | null;
  headers: ColumnType<unknown, string | undefined, string>;
  body: string | null;
  created_at: Date;
  completed_at: Date | null;
  expires_at: Date;
  lease_expires_at: Date | null;
}

export interface ClustersTable {
  id: string;
  created_at: Generated<Date>;
  is_singleton: Generated<boolean>;
}

/** One row: the cluster CA (migration 0023). */
export interface CertificateAuthoritiesTable {
  is_singleton: Generated<boolean>;
  certificate_pem: string;
  encrypted_private_key: string | null;
  key_encryption_key_id: string | null;
  created_at: Date;
}

export interface JoinTokensTable {
  id: string;
  token_hash: string;
  created_at: Date;
  expires_at: Date;
  used_at: Date | null;
  used_by_agent_id: string | null;
  used_by_key_sha256: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface AgentCredentialsTable {
  id: string;
  agent_id: string;
  secret_hash: string;
  join_token_id: string;
  created_at: Date;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: Date;
}

/** One row: how far retention has deleted the event log. */
export interface EventRetentionTable {
  id: Generated<boolean>;
  pruned_through_id: Generated<string>;
  pruned_at: Date | null;
}

export interface ProjectsTable {
  name: string;
  max_vms: number | null;
  max_vcpus: number | null;
  /** `pg` returns bigint as a string, PGlite as a number. */
  max_memory_mib: ColumnType<string | number | null, number | null, number | null>;
  created_at: Date;
}

/** What a host's VMs in a resource-holding state hold; kept by triggers on `vms`. */
export interface HostAllocationsTable {
  host_id: string;
  /** `pg` returns bigint as a string, PGlite as a number. */
  vcpu_count: ColumnType<string | number, never, never>;
  memory_mib: ColumnType<string | number, never, never>;
}

/** What a project's VMs hold, whatever their state, spread over 16 rows; kept by triggers on `vms`. */
export interface ProjectHoldingsTable {
  project: string;
  /** The VM id's hash, 0–15: a project's counts are the sum of its rows. */
  shard: number;
  /** `pg` returns bigint as a string, PGlite as a number. */
  vms: ColumnType<string | number, never, never>;
  vcpu_count: ColumnType<string | number, never, never>;
  memory_mib: ColumnType<string | number, never, never>;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  secret_sha256: string;
  scopes: string[];
  projects: string[];
  created_by: string | null;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

export interface AuditLogTable {
  /** `pg` returns bigint as a string, PGlite as a number. */
  id: Generated<string | number>;
  at: Date;
  token_id: string | null;
  token_name: string | null;
  project: string | null;
  action: string;
  target: string | null;
  outcome: string;
  status_code: number;
  error_code: string | null;
  correlation_id: string;
  client_address: string;
}

export interface ManagerDatabase {
  audit_log: AuditLogTable;
  projects: ProjectsTable;
  api_tokens: ApiTokensTable;
  hosts: HostsTable;
  images: ImagesTable;
  templates: TemplatesTable;
  snapshots: SnapshotsTable;
  snapshot_copies: SnapshotCopiesTable;
  vms: VmsTable;
  vm_deletions: VmDeletionsTable;
  host_allocations: HostAllocationsTable;
  project_holdings: ProjectHoldingsTable;
  address_leases: AddressLeasesTable;
  address_pool_frontiers: AddressPoolFrontiersTable;
  published_ports: PublishedPortsTable;
  events: EventsTable;
  event_retention: EventRetentionTable;
  idempotency_keys: IdempotencyKeysTable;
  clusters: ClustersTable;
  certificate_authorities: CertificateAuthoritiesTable;
  join_tokens: JoinTokensTable;
  agent_credentials: AgentCredentialsTable;
  schema_migrations: SchemaMigrationsTable;
}
