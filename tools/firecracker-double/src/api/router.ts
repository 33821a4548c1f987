/**
 * Maps an HTTP request to a VMM action the way upstream's API thread does (behaviour.md#routing
 * quirks): only the first path segment selects the endpoint, bodies are deserialized here,
 * and parse failures never reach the VMM.
 */
import type { HttpRequest } from '../http/parser.js';
import type { Schema } from '../json/deserialize.js';
import { deserialize } from '../json/deserialize.js';
import { parsePositioned, SerdeError, toPlain } from '../json/positioned-json.js';
import type { Body, ParsedRequest, VmmAction } from './actions.js';
import { RequestError } from './request-error.js';
import * as S from './schemas.js';

/** Parses a JSON body against a schema, converting serde failures to request errors. */
export function parseBody(body: Buffer, schema: Schema): Body {
  return parseJson(body, (node) => deserialize(node, schema)) as Body;
}

function parseAnyJson(body: Buffer): unknown {
  return parseJson(body, toPlain);
}

function parseJson(body: Buffer, convert: (node: ReturnType<typeof parsePositioned>) => unknown): unknown {
  try {
    return convert(parsePositioned(body.toString('utf8')));
  } catch (err) {
    if (err instanceof SerdeError) throw RequestError.serde(err.message);
    throw err;
  }
}

/** Resource ids in paths: Unicode alphanumerics and `_` only (behaviour.md#routing). */
export function checkedId(token: string | undefined): string {
  if (token === undefined || token === '') throw RequestError.emptyId();
  if (!/^[\p{L}\p{N}_]+$/u.test(token)) throw RequestError.invalidId();
  return token;
}

const sync = (action: VmmAction, deprecation?: string): ParsedRequest =>
  deprecation === undefined ? { action } : { action, deprecation };

function emptyBodyError(method: string): RequestError {
  switch (method) {
    case 'GET':
      return RequestError.generic('GET request cannot have a body.');
    case 'PUT':
      return RequestError.generic('Empty PUT request.');
    case 'PATCH':
      return RequestError.generic('Empty PATCH request.');
    default:
      return RequestError.generic('Empty Delete request.');
  }
}

export function route(req: HttpRequest): ParsedRequest {
  // Rust's trim_start_matches('/') + split_terminator('/').
  const trimmed = req.path.replace(/^\/+/, '');
  const tokens = trimmed === '' ? [] : trimmed.split('/');
  if (tokens.length > 0 && tokens[tokens.length - 1] === '') tokens.pop();
  const path = tokens[0] ?? '';
  const next = tokens[1];
  const body = req.body;
  const invalid = (): RequestError => RequestError.invalidPathMethod(req.method, path);

  switch (req.method) {
    case 'GET':
      if (body !== null) {
        // Known GET paths with a body, and unknown ones, give the same error.
        throw emptyBodyError('GET');
      }
      return routeGet(path, next, tokens[2], invalid);
    case 'PUT':
      if (body === null) throw emptyBodyError('PUT');
      return routePut(path, next, body, invalid);
    case 'PATCH':
      if (path === 'balloon') return routePatchBalloon(next, tokens[2], body);
      if (body === null) throw emptyBodyError('PATCH');
      return routePatch(path, next, body, invalid);
    case 'DELETE':
      if (path === 'drives') return sync({ kind: 'DeleteDrive', id: checkedId(next) });
      if (path === 'network-interfaces') return sync({ kind: 'DeleteNet', id: checkedId(next) });
      if (path === 'pmem') return sync({ kind: 'DeletePmem', id: checkedId(next) });
      if (body === null) throw emptyBodyError('DELETE');
      throw invalid();
  }
}

function routeGet(path: string, next: string | undefined, third: string | undefined, invalid: () => RequestError): ParsedRequest {
  switch (path) {
    case '':
      return sync({ kind: 'GetInstanceInfo' });
    case 'version':
      return sync({ kind: 'GetVersion' });
    case 'machine-config':
      return sync({ kind: 'GetMachineConfig' });
    case 'mmds':
      return sync({ kind: 'GetMmds' });
    case 'vm':
      if (next === 'config') return sync({ kind: 'GetFullVmConfig' });
      throw invalid();
    case 'hotplug':
      if (next === 'memory') return sync({ kind: 'GetMemoryHotplug' });
      throw invalid();
    case 'balloon':
      if (next === undefined) return sync({ kind: 'GetBalloon' });
      if (next === 'statistics') return sync({ kind: 'GetBalloonStats' });
      if (next === 'hinting' && third === 'status') return sync({ kind: 'GetHintingStatus' });
      throw RequestError.generic(`Unrecognized GET request path \`${next}\`.`);
    default:
      throw invalid();
  }
}

function idMismatch(kind: 'drive' | 'net', pathId: string, bodyId: unknown): RequestError {
  return RequestError.generic(
    kind === 'net'
      ? `The id from the path [${pathId}] does not match the id from the body [${String(bodyId)}]!`
      : 'The id from the path does not match the id from the body!',
  );
}

function withId(token: string | undefined, body: Buffer, schema: Schema, idField: string, style: 'drive' | 'net'): Body {
  const id = checkedId(token);
  const parsed = parseBody(body, schema);
  if (parsed[idField] !== id) throw idMismatch(style, id, parsed[idField]);
  return parsed;
}

function routePut(path: string, next: string | undefined, body: Buffer, invalid: () => RequestError): ParsedRequest {
  switch (path) {
    case 'actions': {
      const b = parseBody(body, S.actionBody);
      return sync({ kind: b['action_type'] as 'InstanceStart' | 'FlushMetrics' | 'SendCtrlAltDel' });
    }
    case 'balloon':
      return sync({ kind: 'PutBalloon', body: parseBody(body, S.balloon) });
    case 'boot-source':
      return sync({ kind: 'PutBootSource', body: parseBody(body, S.bootSource) });
    case 'cpu-config':
      return sync({ kind: 'PutCpuConfig', body: parseBody(body, S.cpuConfig) });
    case 'drives':
      return sync({ kind: 'PutDrive', body: withId(next, body, S.drive, 'drive_id', 'drive') });
    case 'pmem':
      return sync({ kind: 'PutPmem', body: withId(next, body, S.pmem, 'id', 'drive') });
    case 'network-interfaces':
      return sync({ kind: 'PutNet', body: withId(next, body, S.netIface, 'iface_id', 'net') });
    case 'logger':
      return sync({ kind: 'PutLogger', body: parseBody(body, S.logger) });
    case 'serial':
      return sync({ kind: 'PutSerial', body: parseBody(body, S.serial) });
    case 'metrics':
      return sync({ kind: 'PutMetrics', body: parseBody(body, S.metrics) });
    case 'machine-config': {
      const b = parseBody(body, S.machineConfig);
      const dep = b['cpu_template'] !== undefined ? 'PUT /machine-config: cpu_template field is deprecated.' : undefined;
      return sync({ kind: 'PutMachineConfig', body: b }, dep);
    }
    case 'mmds': {
      if (next === undefined) return sync({ kind: 'PutMmds', value: parseAnyJson(body) });
      if (next !== 'config') throw RequestError.generic(`Unrecognized PUT request path \`${next}\`.`);
      const b = parseBody(body, S.mmdsConfig);
      // V1 is the default, so an omitted version is deprecated too (behaviour.md#deprecation).
      const dep = b['version'] === 'V2' ? undefined : 'PUT /mmds/config: V1 is deprecated. Use V2 instead.';
      return sync({ kind: 'PutMmdsConfig', body: b }, dep);
    }
    case 'snapshot':
      if (next === undefined) throw RequestError.generic('Missing snapshot operation type.');
      if (next === 'create') return sync({ kind: 'CreateSnapshot', body: parseBody(body, S.snapshotCreate) });
      if (next === 'load') {
        const b = parseBody(body, S.snapshotLoad);
        const notes: string[] = [];
        if (b['mem_file_path'] !== undefined) notes.push('PUT /snapshot/load: mem_file_path field is deprecated.');
        if (b['enable_diff_snapshots'] !== undefined) {
          notes.push('PUT /snapshot/load: enable_diff_snapshots field is deprecated.');
        }
        return sync({ kind: 'LoadSnapshot', body: b }, notes.length > 0 ? notes.join('') : undefined);
      }
      throw RequestError.generic(`Unrecognized PUT request path \`${next}\`.`);
    case 'vsock': {
      const b = parseBody(body, S.vsock);
      const dep = b['vsock_id'] !== undefined ? 'PUT /vsock: vsock_id field is deprecated.' : undefined;
      return sync({ kind: 'PutVsock', body: b }, dep);
    }
    case 'entropy':
      return sync({ kind: 'PutEntropy', body: parseBody(body, S.entropy) });
    case 'hotplug':
      if (next === 'memory') return sync({ kind: 'PutMemoryHotplug', body: parseBody(body, S.memoryHotplug) });
      throw invalid();
    default:
      throw invalid();
  }
}

function routePatch(path: string, next: string | undefined, body: Buffer, invalid: () => RequestError): ParsedRequest {
  switch (path) {
    case 'drives':
      return sync({ kind: 'PatchDrive', body: withId(next, body, S.driveUpdate, 'drive_id', 'drive') });
    case 'network-interfaces':
      return sync({ kind: 'PatchNet', body: withId(next, body, S.netIfaceUpdate, 'iface_id', 'net') });
    case 'pmem':
      return sync({ kind: 'PatchPmem', body: withId(next, body, S.pmemUpdate, 'id', 'drive') });
    case 'machine-config': {
      const b = parseBody(body, S.machineConfigUpdate);
      if (Object.keys(b).length === 0) throw RequestError.generic('Empty PATCH request.');
      const dep = b['cpu_template'] !== undefined ? 'PATCH /machine-config: cpu_template field is deprecated.' : undefined;
      return sync({ kind: 'PatchMachineConfig', body: b }, dep);
    }
    case 'mmds':
      return sync({ kind: 'PatchMmds', value: parseAnyJson(body) });
    case 'vm':
      return sync({ kind: 'PatchVm', body: parseBody(body, S.vmState) });
    case 'hotplug':
      if (next === 'memory') return sync({ kind: 'PatchMemoryHotplug', body: parseBody(body, S.memoryHotplugUpdate) });
      throw invalid();
    default:
      throw invalid();
  }
}

function routePatchBalloon(next: string | undefined, third: string | undefined, body: Buffer | null): ParsedRequest {
  if (next === undefined) {
    if (body === null) throw emptyBodyError('PATCH');
    return sync({ kind: 'PatchBalloon', body: parseBody(body, S.balloonUpdate) });
  }
  if (next === 'statistics') {
    if (body === null) throw emptyBodyError('PATCH');
    return sync({ kind: 'PatchBalloonStats', body: parseBody(body, S.balloonStatsUpdate) });
  }
  if (next === 'hinting' && third === 'start') {
    return sync({ kind: 'StartHinting', body: body === null ? {} : parseBody(body, S.hintingStart) });
  }
  if (next === 'hinting' && third === 'stop') return sync({ kind: 'StopHinting' });
  throw RequestError.generic(`Unrecognized PATCH request path \`${next}\`.`);
}
