import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import { describe, expect, it } from 'vitest';
import { serializationSchemaOf } from './serialization-schema.js';

const nullable = (schema: object): object => ({ anyOf: [schema, { type: 'null' }] });
const literal = (value: string): object => ({ type: 'string', const: value });
const object = (properties: Record<string, object>, extra: object = {}): object => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  ...extra,
});

// Shaped like a VM's view: literal unions, nullable scalars and objects, a union of objects by
// `mode`, and a batch beside a single view.
const policy = {
  anyOf: [
    object({ mode: literal('allow_all') }, { additionalProperties: false }),
    object({ mode: literal('deny_list'), rules: { type: 'array', items: object({ port: { type: 'integer' } }) } }),
  ],
};
const view = object({
  id: { type: 'string' },
  state: { anyOf: [literal('pending'), literal('running'), literal('failed')] },
  network: nullable(object({ ipAddress: { type: 'string' }, dnsServers: { type: 'array', items: { type: 'string' } } })),
  observedAt: nullable({ type: 'string', format: 'date-time' }),
  observedState: { anyOf: [literal('running'), literal('exited'), { type: 'null' }] },
  totalMs: nullable({ type: 'number' }),
  egress: policy,
});
const singleOrBatch = { anyOf: [view, object({ items: { type: 'array', items: view } })] };

const running = {
  id: 'vm_1',
  state: 'running',
  network: { ipAddress: '172.30.0.2', dnsServers: ['172.30.0.1'], internal: 'not in the schema' },
  observedAt: '2026-12-06T00:00:00.000Z',
  observedState: 'running',
  totalMs: 812.5,
  egress: { mode: 'deny_list', rules: [{ port: 25, note: 'dropped' }] },
  secret: 'not in the schema',
};
const pending = {
  id: 'vm_2',
  state: 'pending',
  network: null,
  observedAt: null,
  observedState: null,
  totalMs: null,
  egress: { mode: 'allow_all' },
};

/** Written as Fastify's own serializer factory (fast-json-stringify) writes it. */
function serialized(schema: object, value: unknown): string {
  const compile = SerializerSelector()(undefined, {});
  return (compile({ schema, method: 'GET', url: '/', httpStatus: '200' }) as (data: unknown) => string)(value);
}

describe('serializationSchemaOf', () => {
  it('writes every value as the schema with its unions writes it', () => {
    const rewritten = serializationSchemaOf(singleOrBatch) as object;
    for (const value of [running, pending, { items: [running, pending] }, { items: [] }]) {
      expect(serialized(rewritten, value)).toBe(serialized(singleOrBatch, value));
    }
    expect(JSON.parse(serialized(rewritten, running))).not.toHaveProperty('secret');
    expect(JSON.parse(serialized(rewritten, running)).network).toEqual({ ipAddress: '172.30.0.2', dnsServers: ['172.30.0.1'] });
  });

  it('leaves no union that needs no choice, so nothing is validated to write a value', () => {
    expect(JSON.stringify(serializationSchemaOf(singleOrBatch))).not.toMatch(/anyOf|oneOf/);
    expect(serializationSchemaOf({ anyOf: [literal('a'), literal('b')] })).toEqual({ type: 'string' });
    expect(serializationSchemaOf(nullable({ type: 'string', format: 'date-time' }))).toEqual({
      type: ['string', 'null'],
      format: 'date-time',
    });
    expect(serializationSchemaOf(nullable(object({ a: { type: 'string' } })))).toMatchObject({ type: ['object', 'null'] });
  });

  it('keeps a union it cannot write without a choice, and the schemas around it rewritten', () => {
    const kept = {
      anyOf: [{ type: 'array', items: { type: 'string' } }, object({ a: { type: 'string' } })],
    };
    expect(serializationSchemaOf(kept)).toEqual(kept);
    const open = { anyOf: [object({ a: { type: 'string' } }, { additionalProperties: true }), { type: 'null' }] };
    expect(serializationSchemaOf(open)).toEqual(open);
    const inside = object({ list: { type: 'array', items: { anyOf: [literal('x'), literal('y')] } } });
    expect(serializationSchemaOf(inside)).toMatchObject({ properties: { list: { items: { type: 'string' } } } });
  });

  it('leaves the schema it is given unchanged (the route keeps it for validation and the API document)', () => {
    const before = JSON.stringify(singleOrBatch);
    serializationSchemaOf(singleOrBatch);
    expect(JSON.stringify(singleOrBatch)).toBe(before);
  });
});
