import type { ErrorKind } from './error-kind.js';

interface ErrorCodeInfo {
  readonly kind: ErrorKind;
  readonly title: string;
}

/**
 * The one registry of stable error codes. Codes are part of the public API: never rename one,
 * add a new one instead.
 */
export const errorCodes = {
  // Generic request problems
  VALIDATION_FAILED: { kind: 'invalid', title: 'The request is not valid' },
  MALFORMED_JSON: { kind: 'invalid', title: 'The request body is not valid JSON' },
  MALFORMED_REQUEST: { kind: 'invalid', title: 'The request is not well-formed HTTP/1.1' },
  MALFORMED_URL: { kind: 'invalid', title: 'The request URL is not well-formed' },
  REQUEST_HEADERS_TOO_LARGE: { kind: 'headers_too_large', title: 'The request headers are too large' },
  REQUEST_TIMEOUT: { kind: 'timed_out', title: 'The request did not arrive in time' },
  PAYLOAD_TOO_LARGE: { kind: 'payload_too_large', title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { kind: 'unsupported_media_type', title: 'The request body has an unsupported media type' },
  ROUTE_NOT_FOUND: { kind: 'not_found', title: 'No such route' },
  METHOD_NOT_ALLOWED: { kind: 'not_found', title: 'No such route' },
  PRECONDITION_FAILED: { kind: 'precondition_failed', title: 'The resource has changed' },
  IDEMPOTENCY_KEY_REUSED: { kind: 'conflict', title: 'This idempotency key was used for a different request' },
  IDEMPOTENCY_KEY_IN_USE: { kind: 'conflict', title: 'A request with this idempotency key is still in progress' },
  IDEMPOTENCY_KEY_LIMIT_REACHED: { kind: 'rate_limited', title: 'Too many idempotency keys are held for this caller' },
  RATE_LIMITED: { kind: 'rate_limited', title: 'Too many requests: retry after the time Retry-After gives' },
  INTERNAL: { kind: 'internal', title: 'Internal error' },
  // Access
  UNAUTHENTICATED: { kind: 'unauthenticated', title: 'A valid API token is required' },
  SCOPE_MISSING: { kind: 'forbidden', title: 'The API token lacks a scope this request needs' },
  PROJECT_NOT_ALLOWED: { kind: 'forbidden', title: 'The API token is not bound to this project' },
  PROJECT_REQUIRED: { kind: 'invalid', title: 'The API token is bound to several projects: name one' },
  TOKEN_GRANT_EXCEEDED: { kind: 'forbidden', title: 'A token can only be given scopes and projects its creator has' },
  TOKEN_NOT_FOUND: { kind: 'not_found', title: 'Token not found' },
  PROJECT_NOT_FOUND: { kind: 'not_found', title: 'Project not found' },
  PROJECT_NAME_TAKEN: { kind: 'conflict', title: 'A project with this name already exists' },
  PROJECT_NOT_EMPTY: { kind: 'conflict', title: 'The project still owns images, templates or VMs' },
  QUOTA_EXCEEDED: { kind: 'forbidden', title: "The project's quota does not allow this" },
  // Long-lived requests (per client and overall caps)
  EVENT_STREAM_LIMIT_REACHED: { kind: 'rate_limited', title: 'Too many event streams are open' },
  VM_WAIT_LIMIT_REACHED: { kind: 'rate_limited', title: 'Too many waits are pending' },
  CONSOLE_LIMIT_REACHED: { kind: 'rate_limited', title: 'Too many console sessions are open' },
  WEBSOCKET_REQUIRED: { kind: 'invalid', title: 'This route is a WebSocket: send a WebSocket upgrade request' },
  // Events
  EVENT_CURSOR_EXPIRED: { kind: 'gone', title: 'The events after this cursor are no longer kept' },
  // VMs
  VM_NOT_FOUND: { kind: 'not_found', title: 'VM not found' },
  VM_NAME_TAKEN: { kind: 'conflict', title: 'A VM with this name already exists' },
  VM_INVALID_TRANSITION: { kind: 'conflict', title: 'The VM cannot make this state change' },
  VM_BUSY: { kind: 'conflict', title: 'Another operation is in progress on this VM' },
  VM_CLEANUP_INCOMPLETE: { kind: 'internal', title: 'Some host resources of the VM could not be removed' },
  VM_START_FAILED: { kind: 'internal', title: 'The VM could not be started' },
  VM_CRASH_LOOP: { kind: 'conflict', title: 'The Firecracker process of this VM keeps dying; it is no longer restarted' },
  VM_RECORD_UNREADABLE: {
    kind: 'conflict',
    title: 'The host cannot read the record of this VM; its files are left in place until an operator repairs it',
  },
  // Addresses
  ADDRESS_TAKEN: {
    kind: 'conflict',
    title: 'The address is held by another VM, or was released too recently to be leased again',
  },
  HOST_PORT_TAKEN: { kind: 'conflict', title: 'A host port asked for is already published by another VM on the host' },
  PORTS_NEED_EGRESS: {
    kind: 'unavailable',
    title: 'Published ports need a host whose Agent writes NAT rules (AGENT_EGRESS=nat), and no such host can take the VM',
  },
  ADDRESS_POOL_EXHAUSTED: { kind: 'unavailable', title: 'No address of the pool is free' },
  // Images
  IMAGE_NOT_FOUND: { kind: 'not_found', title: 'Image not found' },
  IMAGE_PATH_FORBIDDEN: { kind: 'forbidden', title: 'The image path is outside the image root' },
  IMAGE_FILE_NOT_FOUND: { kind: 'invalid', title: 'The image file does not exist' },
  IMAGE_NOT_REGULAR_FILE: { kind: 'invalid', title: 'The image path does not name a regular file' },
  IMAGE_FORMAT_INVALID: { kind: 'invalid', title: 'The image file is not of the declared kind' },
  IMAGE_IN_USE: { kind: 'conflict', title: 'The image is used by a VM or a template' },
  IMAGE_NAME_TAKEN: { kind: 'conflict', title: 'An image with this name already exists' },
  // Templates
  TEMPLATE_NOT_FOUND: { kind: 'not_found', title: 'Template not found' },
  TEMPLATE_NAME_TAKEN: { kind: 'conflict', title: 'A template with this name already exists' },
  // Snapshots
  SNAPSHOT_NOT_FOUND: { kind: 'not_found', title: 'Snapshot not found' },
  SNAPSHOT_NOT_READY: { kind: 'conflict', title: 'The snapshot is still being taken' },
  SNAPSHOT_INTERRUPTED: { kind: 'unavailable', title: 'Taking the snapshot was interrupted' },
  SNAPSHOT_INCOMPATIBLE: { kind: 'conflict', title: 'No host can restore this snapshot' },
  SNAPSHOT_IN_USE: { kind: 'conflict', title: 'A VM is still being restored from this snapshot' },
  SNAPSHOT_IN_TEMPLATE: { kind: 'conflict', title: 'A template carries this snapshot' },
  SNAPSHOT_DIGEST_MISMATCH: { kind: 'conflict', title: "A copy of the snapshot's files did not match their SHA-256" },
  SNAPSHOT_CHAIN_TOO_LONG: { kind: 'conflict', title: 'A diff snapshot here would make its chain longer than allowed' },
  SNAPSHOT_HAS_DIFFS: { kind: 'conflict', title: 'Diff snapshots are taken on top of this snapshot' },
  SNAPSHOT_DIFF_BASE_MISMATCH: {
    kind: 'conflict',
    title: "The VM's memory has not been tracked since the parent snapshot: take a full snapshot",
  },
  // Hosts and agents
  HOST_NOT_FOUND: { kind: 'not_found', title: 'Host not found' },
  HOST_NO_CAPACITY: { kind: 'unavailable', title: 'No host can take this VM' },
  HOST_NAME_TAKEN: { kind: 'conflict', title: 'Another Agent holds this host name' },
  HOST_IDENTITY_IN_USE: { kind: 'conflict', title: 'Another live Agent process has this identity' },
  HOST_CLUSTER_MISMATCH: { kind: 'conflict', title: 'The Agent and the Manager belong to different clusters' },
  HOST_HAS_VMS: { kind: 'conflict', title: 'VM records still refer to this host' },
  HOST_STILL_ACTIVE: { kind: 'conflict', title: "The host's Agent is still sending heartbeats" },
  JOIN_TOKEN_INVALID: { kind: 'unauthenticated', title: 'The join token is missing, malformed or unknown' },
  JOIN_TOKEN_USED: { kind: 'unauthenticated', title: 'The join token has been used already' },
  JOIN_TOKEN_EXPIRED: { kind: 'unauthenticated', title: 'The join token has expired' },
  AGENT_ALREADY_JOINED: { kind: 'conflict', title: 'An Agent with this identity has joined already' },
  HOST_CREDENTIAL_INVALID: {
    kind: 'unauthenticated',
    title: 'The host credential is missing or not valid (unknown, or revoked when its host was removed)',
  },
  HOST_CREDENTIAL_MISMATCH: { kind: 'forbidden', title: 'The host credential belongs to another Agent' },
  AGENT_CALLER_FORBIDDEN: { kind: 'forbidden', title: "Only a Manager's client certificate may call an Agent" },
  AGENT_UNAVAILABLE: { kind: 'unavailable', title: 'The host agent cannot be reached' },
  AGENT_REJECTED: { kind: 'bad_gateway', title: 'The host agent answered outside its contract' },
  // Host side (Agent)
  FIRECRACKER_REJECTED: { kind: 'invalid', title: 'Firecracker rejected the request' },
  FIRECRACKER_UNAVAILABLE: { kind: 'unavailable', title: 'The Firecracker process is not answering' },
  VMM_SPAWN_FAILED: { kind: 'internal', title: 'The Firecracker process could not be started' },
  VMM_NOT_RUNNING: { kind: 'conflict', title: 'The Firecracker process of this VM is not running' },
  HOST_COMMAND_FAILED: { kind: 'internal', title: 'A host command failed' },
  HOST_EGRESS_UNAVAILABLE: { kind: 'unavailable', title: 'This host cannot forward guest traffic to its uplink' },
  HOST_LIMIT_EXCEEDED: { kind: 'invalid', title: 'A host limit would be exceeded' },
  PROXY_PATH_NOT_ALLOWED: { kind: 'forbidden', title: 'This Firecracker API path is not allowed through the proxy' },
  PROXY_PATH_FORBIDDEN: {
    kind: 'forbidden',
    title: 'A host path in the proxied request lies outside what this VM may use (its own directory, or the image root to read)',
  },
  PROXY_HOST_DEVICE_FORBIDDEN: { kind: 'forbidden', title: "A host device in the proxied request is not this VM's own" },
  PROXY_OVERRIDES_AGENT_CONFIG: {
    kind: 'conflict',
    title: 'The Agent configured this itself; it cannot be changed through the proxy',
  },
  // Database
  DATABASE_UNAVAILABLE: { kind: 'unavailable', title: 'The database cannot be reached' },
  DATABASE_BUSY: { kind: 'unavailable', title: 'Every database connection is busy: retry after the time Retry-After gives' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof errorCodes;
