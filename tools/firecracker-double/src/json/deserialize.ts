/**
 * A small serde-like deserializer over a positioned JSON tree. It reproduces serde_json's
 * error texts (`unknown field`, `missing field`, `invalid type`, `unknown variant`,
 * behaviour.md#request-errors) including their positions, and returns plain JS values.
 */
import type { JNode, Pos } from './positioned-json.js';
import { at, SerdeError, toPlain } from './positioned-json.js';
import { expectedList, rustDebugString } from './rust-debug.js';

export type IntKind = 'u8' | 'u16' | 'u32' | 'u64' | 'usize' | 'i32';
export interface Field {
  s: Schema;
  req?: boolean;
}
export type Schema =
  | { t: IntKind }
  | { t: 'bool' }
  | { t: 'string'; check?: (v: string) => string | undefined }
  | { t: 'enum'; name: string; variants: readonly string[] }
  | { t: 'vec'; of: Schema }
  | {
      t: 'struct';
      name: string;
      fields: Record<string, Field>;
      /** serde(deny_unknown_fields); default true. */
      deny?: boolean;
      /** A whole-object check run after all fields (custom Deserialize impls). */
      post?: (value: Record<string, unknown>) => string | undefined;
    }
  | { t: 'any' };

const RANGES: Record<IntKind, [bigint, bigint]> = {
  u8: [0n, 255n],
  u16: [0n, 65535n],
  u32: [0n, 4294967295n],
  u64: [0n, 18446744073709551615n],
  usize: [0n, 18446744073709551615n],
  i32: [-2147483648n, 2147483647n],
};

function floatText(raw: string): string {
  const s = String(Number(raw));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** serde's `Unexpected` rendering of a JSON node. */
function unexpected(node: JNode): string {
  switch (node.kind) {
    case 'object':
      return 'map';
    case 'array':
      return 'sequence';
    case 'null':
      return 'null';
    case 'bool':
      return `boolean \`${node.value}\``;
    case 'string':
      return `string ${rustDebugString(node.value)}`;
    case 'number': {
      if (/[.eE]/.test(node.raw)) return `floating point \`${floatText(node.raw)}\``;
      const v = BigInt(node.raw);
      if (v > RANGES.u64[1] || v < -(2n ** 63n)) return `floating point \`${floatText(node.raw)}\``;
      return `integer \`${node.raw}\``;
    }
  }
}

function typeErrorPos(node: JNode): Pos {
  return node.kind === 'object' || node.kind === 'array' ? node.start : node.end;
}

function invalidType(node: JNode, expected: string): SerdeError {
  return at(`invalid type: ${unexpected(node)}, expected ${expected}`, typeErrorPos(node));
}

export function deserialize(node: JNode, schema: Schema): unknown {
  switch (schema.t) {
    case 'any':
      return toPlain(node);
    case 'bool':
      if (node.kind !== 'bool') throw invalidType(node, 'a boolean');
      return node.value;
    case 'string': {
      if (node.kind !== 'string') throw invalidType(node, 'a string');
      const problem = schema.check?.(node.value);
      if (problem !== undefined) throw at(problem, node.end);
      return node.value;
    }
    case 'enum': {
      if (node.kind !== 'string') throw invalidType(node, 'variant identifier');
      if (!schema.variants.includes(node.value)) {
        throw at(`unknown variant \`${node.value}\`, ${expectedList(schema.variants, 'variants')}`, node.end);
      }
      return node.value;
    }
    case 'vec':
      if (node.kind !== 'array') throw invalidType(node, 'a sequence');
      return node.items.map((item) => deserialize(item, schema.of));
    case 'struct':
      return deserializeStruct(node, schema);
    default: {
      const kind = schema.t;
      if (node.kind !== 'number' || /[.eE]/.test(node.raw)) throw invalidType(node, kind);
      const v = BigInt(node.raw);
      if (v > RANGES.u64[1] || v < -(2n ** 63n)) throw invalidType(node, kind);
      const [lo, hi] = RANGES[kind];
      if (v < lo || v > hi) throw at(`invalid value: integer \`${node.raw}\`, expected ${kind}`, node.end);
      return Number(v);
    }
  }
}

function deserializeStruct(node: JNode, schema: Extract<Schema, { t: 'struct' }>): Record<string, unknown> {
  if (node.kind !== 'object') throw invalidType(node, `struct ${schema.name}`);
  const names = Object.keys(schema.fields);
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const entry of node.entries) {
    const field = schema.fields[entry.key];
    if (!field) {
      if (schema.deny !== false) {
        throw at(`unknown field \`${entry.key}\`, ${expectedList(names, 'fields')}`, entry.keyEnd);
      }
      continue;
    }
    if (seen.has(entry.key)) throw at(`duplicate field \`${entry.key}\``, entry.keyEnd);
    seen.add(entry.key);
    // Option<T> fields treat `null` as absent.
    if (entry.value.kind === 'null' && !field.req) continue;
    out[entry.key] = deserialize(entry.value, field.s);
  }
  for (const name of names) {
    if (schema.fields[name]?.req && !seen.has(name)) throw at(`missing field \`${name}\``, node.end);
  }
  const problem = schema.post?.(out);
  if (problem !== undefined) throw at(problem, node.end);
  return out;
}
