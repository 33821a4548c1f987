import { AppError, isAppError, type ErrorCode } from '@hearth/errors';
import { databaseBusy } from './connection-queue.js';

/** Unique constraints whose violation (SQLSTATE 23505) is a caller's conflict, by constraint name. */
const uniqueConstraintCodes: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  vms_project_name_key: { code: 'VM_NAME_TAKEN', message: 'A VM with this name already exists in the project' },
  hosts_name_key: { code: 'HOST_NAME_TAKEN', message: 'Another Agent holds this host name' },
  // Two registrations of one Agent identity under different new names, written at once.
  hosts_agent_id_key: { code: 'HOST_NAME_TAKEN', message: 'This Agent registered another name at the same time' },
  // Two joins of one Agent identity at once: the second is told the identity has joined.
  agent_credentials_agent_id_key: { code: 'AGENT_ALREADY_JOINED', message: 'An Agent with this identity has joined already' },
  images_project_kind_name_key: {
    code: 'IMAGE_NAME_TAKEN',
    message: 'An image of this kind with this name already exists in the project',
  },
  // The lease lock makes this unreachable between Managers of one database; kept as the last word.
  address_leases_pkey: { code: 'ADDRESS_TAKEN', message: 'The address is held by another VM' },
  // Two Managers admitting VMs with one host port on one host at once: the second is refused.
  published_ports_pkey: {
    code: 'HOST_PORT_TAKEN',
    message: 'A host port asked for is already published by another VM on the host',
  },
  templates_project_name_key: { code: 'TEMPLATE_NAME_TAKEN', message: 'A template with this name already exists in the project' },
  projects_pkey: { code: 'PROJECT_NAME_TAKEN', message: 'A project with this name already exists' },
};

/** Foreign keys whose violation (SQLSTATE 23503) on an insert names something that is gone, by constraint name. */
const foreignKeyCodes: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  // The project was deleted between the use case's check and the insert.
  images_project_fkey: { code: 'PROJECT_NOT_FOUND', message: 'The project does not exist' },
  vms_project_fkey: { code: 'PROJECT_NOT_FOUND', message: 'The project does not exist' },
  templates_project_fkey: { code: 'PROJECT_NOT_FOUND', message: 'The project does not exist' },
};

/** Per-query meaning of SQLSTATEs that depend on the statement (e.g. 23503 on a delete: still referenced). */
export type SqlStateOverrides = Readonly<Record<string, (error: unknown) => AppError>>;

const connectionErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  // A Unix-socket URL whose socket does not exist.
  'ENOENT',
]);

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

/**
 * Turns a `pg` or PGlite error into an AppError: 23505 on a known unique constraint → its conflict
 * code; 23503 on a project's foreign key → PROJECT_NOT_FOUND; a wait for a busy pool's connection that timed out → DATABASE_BUSY;
 * connection failures, SQLSTATE class 08 and 57P0x → DATABASE_UNAVAILABLE;
 * anything else → INTERNAL with the driver error as cause. Raw driver errors never leave the adapter.
 */
export function translateDatabaseError(error: unknown, overrides: SqlStateOverrides = {}): AppError {
  if (isAppError(error)) return error;
  const driverError = (error ?? {}) as DriverError;
  const code = typeof driverError.code === 'string' ? driverError.code : undefined;
  const constraint = typeof driverError.constraint === 'string' ? driverError.constraint : undefined;
  const override = code === undefined ? undefined : overrides[code];
  if (override !== undefined) return override(error);
  if (code === '23505' && constraint !== undefined) {
    const known = uniqueConstraintCodes[constraint];
    if (known !== undefined) return new AppError(known.code, known.message, { cause: error });
  }
  if (code === '23503' && constraint !== undefined) {
    const known = foreignKeyCodes[constraint];
    if (known !== undefined) return new AppError(known.code, known.message, { cause: error });
  }
  if (isPoolWaitTimeout(driverError.message)) return databaseBusy(error);
  if (isConnectionError(code, driverError.message)) {
    return new AppError('DATABASE_UNAVAILABLE', 'The database cannot be reached', { cause: error });
  }
  return new AppError('INTERNAL', 'A database query failed', { cause: error });
}

function isConnectionError(code: string | undefined, message: unknown): boolean {
  if (code !== undefined && (connectionErrorCodes.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code))) return true;
  const text = typeof message === 'string' ? message : '';
  return /Connection terminated|connect ECONNREFUSED|PGlite is closed|connection error/i.test(text);
}

/**
 * The driver's pool's refusal of a caller that waited its connect timeout for one of its connections,
 * all busy: a connect that timed out says `Connection terminated due to connection timeout` instead.
 */
function isPoolWaitTimeout(message: unknown): boolean {
  return typeof message === 'string' && message.includes('timeout exceeded when trying to connect');
}

/** Runs a query, translating whatever the driver throws. */
export async function translated<T>(query: () => Promise<T>, overrides?: SqlStateOverrides): Promise<T> {
  try {
    return await query();
  } catch (error) {
    throw translateDatabaseError(error, overrides);
  }
}
