import type { ColumnType, Generated } from 'kysely';

/** Row types of the tables created by `migrations/`. */
export interface HostsTable {
  id: string;
  name: string;
  addr: string;
  capacity: ColumnType<unknown, string, string>;
  facts: ColumnType<unknown, string, string>;
  registered_at: Date;
  last_heartbeat_at: Date;
}

export interface ImagesTable {
  id: string;
  kind: string;
  name: string;
  host_path: string;
  sha256: string;
  /** `pg` returns bigint as a string, PGlite as a number. */
  size_bytes: ColumnType<string | number, number, number>;
  created_at: Date;
}

export interface VmsTable {
  id: string;
  name: string;
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
}

export interface VmEventsTable {
  id: Generated<string | number>;
  vm_id: string;
  at: Date;
  from_state: string | null;
  to_state: string | null;
  message: string;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: Date;
}

export interface ManagerDatabase {
  hosts: HostsTable;
  images: ImagesTable;
  vms: VmsTable;
  vm_events: VmEventsTable;
  schema_migrations: SchemaMigrationsTable;
}
