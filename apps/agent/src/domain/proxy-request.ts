import type { VmPaths } from './vm-paths.js';
import type { VmRecord } from './vm-record.js';

/** The drive and network interface the Agent configures for every VM it applies. */
export const agentDriveId = 'rootfs';
export const agentIfaceId = 'eth0';

/**
 * What Firecracker does with a host path: `read` opens an input, `read_write` opens a disk the
 * guest may write, `write` creates or truncates a file (or binds a socket), `connect` connects to
 * a Unix socket.
 */
export type HostPathAccess = 'read' | 'read_write' | 'write' | 'connect';

export type JsonPointer = readonly (string | number)[];

/** One host path in a proxied body. */
export interface HostPathField {
  readonly pointer: JsonPointer;
  readonly path: string;
  readonly access: HostPathAccess;
  /** True for read-only inputs, which may also come from the image root. */
  readonly isImageRootAllowed: boolean;
}

/** One host network device (a TAP) named in a proxied body. */
export interface HostDeviceField {
  readonly pointer: JsonPointer;
  readonly name: string;
}

export interface HostReferences {
  readonly paths: readonly HostPathField[];
  readonly devices: readonly HostDeviceField[];
}

/** `/a/b/0` for a pointer, as problem `field`s name places in a body. */
export function pointerText(pointer: JsonPointer): string {
  return `/${pointer.join('/')}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(body: unknown, pointer: JsonPointer): unknown {
  let value = body;
  for (const key of pointer) {
    if (typeof key === 'number' ? !Array.isArray(value) : !isObject(value)) return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

/**
 * The endpoints of the proxy's allow-list whose bodies name host paths or devices (every such
 * field of firecracker.yaml v1.16.1). Fields that are not strings are left to Firecracker, which
 * rejects them.
 */
export function carriesHostReferences(method: string, apiPath: string): boolean {
  if (method === 'GET') return false;
  return /^(boot-source|logger|metrics|snapshot\/(create|load)|drives\/[^/]+|network-interfaces\/[^/]+)$/.test(apiPath);
}

/** The host paths and devices in a proxied request's (parsed) body, with what Firecracker does with each. */
export function hostReferencesOf(method: string, apiPath: string, body: unknown): HostReferences {
  if (!carriesHostReferences(method, apiPath) || !isObject(body)) return { paths: [], devices: [] };
  const paths: HostPathField[] = [];
  const devices: HostDeviceField[] = [];
  const path = (pointer: JsonPointer, access: HostPathAccess, isImageRootAllowed = false): void => {
    const value = valueAt(body, pointer);
    if (typeof value === 'string') paths.push({ pointer, path: value, access, isImageRootAllowed });
  };
  const device = (pointer: JsonPointer): void => {
    const value = valueAt(body, pointer);
    if (typeof value === 'string') devices.push({ pointer, name: value });
  };

  if (apiPath === 'boot-source') {
    path(['kernel_image_path'], 'read', true);
    path(['initrd_path'], 'read', true);
  } else if (apiPath === 'logger') {
    path(['log_path'], 'write');
  } else if (apiPath === 'metrics') {
    path(['metrics_path'], 'write');
  } else if (apiPath === 'snapshot/create') {
    path(['snapshot_path'], 'write');
    path(['mem_file_path'], 'write');
  } else if (apiPath === 'snapshot/load') {
    path(['snapshot_path'], 'read', true);
    path(['mem_file_path'], 'read', true);
    const backendType = valueAt(body, ['mem_backend', 'backend_type']);
    // A File backend is read; anything else (Uffd) is a socket Firecracker connects to.
    if (backendType === 'File') path(['mem_backend', 'backend_path'], 'read', true);
    else path(['mem_backend', 'backend_path'], 'connect');
    path(['vsock_override', 'uds_path'], 'write');
    const overrides = body['network_overrides'];
    if (Array.isArray(overrides)) overrides.forEach((_override, index) => device(['network_overrides', index, 'host_dev_name']));
  } else if (apiPath.startsWith('drives/')) {
    // A PUT says whether the disk is read-only; a PATCH swaps the file under a drive whose
    // read-only flag it cannot see, so its file must be the VM's own.
    path(['path_on_host'], 'read_write', method !== 'PATCH' && body['is_read_only'] === true);
    path(['socket'], 'connect');
  } else if (apiPath.startsWith('network-interfaces/')) {
    device(['host_dev_name']);
  }
  return { paths, devices };
}

/** A copy of `body` with the value at `pointer` replaced. */
export function withValueAt(body: unknown, pointer: JsonPointer, value: string): unknown {
  if (pointer.length === 0) return value;
  const [key, ...rest] = pointer;
  if (Array.isArray(body) && typeof key === 'number') {
    return body.map((item: unknown, index) => (index === key ? withValueAt(item, rest, value) : item));
  }
  if (isObject(body) && typeof key === 'string') return { ...body, [key]: withValueAt(body[key], rest, value) };
  return body;
}

/**
 * What the Agent configured itself and a proxied change must not override: once it applied a
 * spec, the logger, metrics, machine config, boot source, root drive and network interface (and a
 * snapshot load, which would replace them all); metrics also once the Agent has set them up.
 */
export function isAgentConfigured(method: string, apiPath: string, record: Pick<VmRecord, 'spec' | 'process'>): boolean {
  if (method === 'GET') return false;
  if (apiPath === 'metrics' && record.process?.isMetricsConfigured === true) return true;
  if (record.spec === null) return false;
  return [
    'logger',
    'metrics',
    'machine-config',
    'boot-source',
    `drives/${agentDriveId}`,
    `network-interfaces/${agentIfaceId}`,
    'snapshot/load',
  ].includes(apiPath);
}

type KeptFiles = Pick<VmRecord, 'rootfs' | 'socketPath' | 'fifoPath' | 'logPaths'>;

/** True for the files the Agent keeps in the VM's directory for the VM (rootfs copy, logs, FIFO). */
export function isAgentKeptFile(path: string, paths: VmPaths, record: KeptFiles): boolean {
  return [
    paths.rootfs,
    paths.metricsFifo,
    paths.consoleFifo,
    paths.firecrackerLog,
    paths.stdoutLog,
    paths.stdoutLogRotated,
    paths.stderrLog,
    record.rootfs?.path,
    record.fifoPath,
    ...record.logPaths,
  ].includes(path);
}

/**
 * Whether a proxied request may use `path`, which lies in the VM's directory, this way. The
 * Agent's record, API socket and the VMM's serial input FIFO are never usable. Nothing may create or truncate a file the Agent
 * keeps, except the two it keeps for Firecracker to write: its log through `logger`, its metrics
 * FIFO through `metrics`.
 */
export function mayUseInVmDirectory(
  path: string,
  access: HostPathAccess,
  apiPath: string,
  paths: VmPaths,
  record: KeptFiles,
): boolean {
  if (path === paths.directory || path === paths.socket || path === record.socketPath) return false;
  if (path === paths.consoleFifo) return false;
  if (path === paths.record || path.startsWith(`${paths.record}.`)) return false;
  if (access !== 'write') return true;
  if (apiPath === 'logger' && path === paths.firecrackerLog) return true;
  if (apiPath === 'metrics' && path === (record.fifoPath ?? paths.metricsFifo)) return true;
  return !isAgentKeptFile(path, paths, record);
}
