import { AppError } from '@hearth/errors';
import {
  carriesHostReferences,
  hostReferencesOf,
  isAgentKeptFile,
  mayUseInVmDirectory,
  pointerText,
  withValueAt,
  type HostPathField,
} from '../../domain/proxy-request.js';
import { vmPaths } from '../../domain/vm-paths.js';
import type { VmRecord } from '../../domain/vm-record.js';
import type { AgentContext } from '../agent-context.js';
import type { ForwardRequest } from '../ports/firecracker-api.js';

export interface ConfinedRequest {
  /** The body to forward: every host path replaced by its real path, so Firecracker opens what was checked. */
  readonly body: Buffer | undefined;
  /** Files in the VM's directory the request may create, to record before it is forwarded. */
  readonly createdFiles: readonly string[];
}

function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

function parseBody(body: Buffer | undefined): unknown {
  if (body === undefined || body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new AppError('MALFORMED_JSON', 'The body of a Firecracker request naming host paths must be valid JSON', {
      cause: error,
    });
  }
}

/** The real path of a directory of ours, or undefined when it does not exist (nothing can be inside it). */
async function realDirectory(context: AgentContext, path: string): Promise<string | undefined> {
  const resolved = await context.files.resolvePath(path);
  return resolved.kind === 'existing' ? resolved.realPath : undefined;
}

/**
 * Checks every host path and device in a proxied request against what the VM may use, and answers
 * the body to forward. A path must resolve (symlinks and `..` included; a file still to be created
 * through its parent directory) into the VM's own directory, or, for read-only inputs, into the
 * image root; anything else is PROXY_PATH_FORBIDDEN. A TAP must be the VM's own
 * (PROXY_HOST_DEVICE_FORBIDDEN). Problems quote only what the caller sent.
 */
export async function confineProxyRequest(
  context: AgentContext,
  record: VmRecord,
  request: ForwardRequest,
): Promise<ConfinedRequest> {
  if (!carriesHostReferences(request.method, request.path)) return { body: request.body, createdFiles: [] };
  const parsed = parseBody(request.body);
  const references = hostReferencesOf(request.method, request.path, parsed);
  if (references.paths.length === 0 && references.devices.length === 0) return { body: request.body, createdFiles: [] };

  for (const device of references.devices) {
    if (record.tap === null || device.name !== record.tap.name) {
      const field = pointerText(device.pointer);
      throw new AppError('PROXY_HOST_DEVICE_FORBIDDEN', `${field} ${JSON.stringify(device.name)} is not this VM's TAP device`, {
        details: { field, hostDevName: device.name },
      });
    }
  }

  const paths = vmPaths(context.settings.runDir, record.vmId);
  const [vmDirectory, imageRoot] = await Promise.all([
    realDirectory(context, paths.directory),
    realDirectory(context, context.settings.imageRoot),
  ]);
  const forbidden = (field: HostPathField, reason: string): AppError => {
    const pointer = pointerText(field.pointer);
    return new AppError('PROXY_PATH_FORBIDDEN', `${pointer} ${JSON.stringify(field.path)} ${reason}`, {
      details: { field: pointer, path: field.path },
    });
  };
  const where = (field: HostPathField): string =>
    field.isImageRootAllowed ? "inside this VM's directory or the image root" : "inside this VM's directory";

  let body = parsed;
  const createdFiles: string[] = [];
  for (const field of references.paths) {
    const resolved = await context.files.resolvePath(field.path);
    if (resolved.kind === 'unresolvable') {
      throw forbidden(field, `must be an absolute path to a file ${where(field)} whose directory exists`);
    }
    const { realPath } = resolved;
    const isInVmDirectory = vmDirectory !== undefined && isInside(vmDirectory, realPath);
    const isInImageRoot = field.isImageRootAllowed && imageRoot !== undefined && isInside(imageRoot, realPath);
    if (isInVmDirectory) {
      // The Agent's own files are named as vmPaths names them; the directory's real path may differ.
      const asNamed = paths.directory + realPath.slice(vmDirectory.length);
      if (!mayUseInVmDirectory(asNamed, field.access, request.path, paths, record)) {
        throw forbidden(field, 'names a file the Agent keeps for this VM, which a proxied request may not use this way');
      }
      // The Agent's own log and metrics FIFO are recorded already.
      if (field.access === 'write' && !isAgentKeptFile(asNamed, paths, record)) createdFiles.push(asNamed);
      body = withValueAt(body, field.pointer, asNamed);
    } else if (isInImageRoot) {
      body = withValueAt(body, field.pointer, realPath);
    } else {
      throw forbidden(field, `must lie ${where(field)}`);
    }
  }
  return { body: Buffer.from(JSON.stringify(body)), createdFiles };
}
