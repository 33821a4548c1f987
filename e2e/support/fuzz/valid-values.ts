import fc from 'fast-check';
import type { JsonSchema } from './openapi-operations.js';

/**
 * Values a field may take in the world under test, by the field's name or its schema's pattern:
 * ids that exist, files that are in the image root, the address of an Agent that answers. Schema-made values go with them,
 * so that both known and unknown resources are asked for.
 */
export type WorldValues = Readonly<Record<string, readonly string[]>>;

/** Values valid for `schema` (a JSON Schema node of the OpenAPI document); `field` names the property. */
export function validValue(schema: JsonSchema, world: WorldValues, field = ''): fc.Arbitrary<unknown> {
  const known = world[field] ?? (typeof schema['pattern'] === 'string' ? world[schema['pattern']] : undefined);
  if (known !== undefined && known.length > 0 && schema['type'] === 'string') {
    return fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 3 }, { arbitrary: schemaValue(schema, world), weight: 1 });
  }
  return schemaValue(schema, world);
}

function schemaValue(schema: JsonSchema, world: WorldValues): fc.Arbitrary<unknown> {
  const variants = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (variants !== undefined) return fc.oneof(...variants.map((variant) => validValue(variant, world)));
  const value = typedValue(schema, world);
  return schema['nullable'] === true ? fc.option(value, { nil: null }) : value;
}

function typedValue(schema: JsonSchema, world: WorldValues): fc.Arbitrary<unknown> {
  if (Array.isArray(schema['enum'])) return fc.constantFrom(...(schema['enum'] as unknown[]));
  if ('const' in schema) return fc.constant(schema['const']);
  switch (schema['type']) {
    case 'string':
      return stringValue(schema);
    case 'integer':
      return fc.integer({ min: bound(schema['minimum'], -1e6), max: bound(schema['maximum'], 1e6) });
    case 'number':
      return fc.double({ min: bound(schema['minimum'], -1e6), max: bound(schema['maximum'], 1e6), noNaN: true });
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const items = validValue((schema['items'] ?? {}) as JsonSchema, world);
      const minLength = bound(schema['minItems'], 0);
      const maxLength = Math.max(minLength, Math.min(bound(schema['maxItems'], 4), 4));
      return schema['uniqueItems'] === true
        ? fc.uniqueArray(items, { minLength, maxLength, selector: (item) => JSON.stringify(item) })
        : fc.array(items, { minLength, maxLength });
    }
    case 'object':
      return objectValue(schema, world);
    default:
      return fc.constant(null);
  }
}

function stringValue(schema: JsonSchema): fc.Arbitrary<string> {
  const minLength = bound(schema['minLength'], 0);
  const maxLength = Math.min(bound(schema['maxLength'], 64), 256);
  if (typeof schema['pattern'] === 'string') {
    const pattern = new RegExp(schema['pattern']);
    return (
      fc
        .stringMatching(pattern)
        // An unanchored pattern (`^-----BEGIN PUBLIC KEY-----`) says little of the length: pad to minLength.
        .map((text) => text.padEnd(minLength, 'A').slice(0, maxLength))
        .filter((text) => text.length >= minLength && pattern.test(text))
    );
  }
  if (schema['format'] === 'date-time') return fc.date({ noInvalidDate: true }).map((date) => date.toISOString());
  return fc.string({ minLength, maxLength: Math.max(minLength, maxLength) });
}

function objectValue(schema: JsonSchema, world: WorldValues): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema['required'] ?? []) as string[]);
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, property] of Object.entries(properties)) model[name] = validValue(property, world, name);
  return fc.record(model, { requiredKeys: Object.keys(properties).filter((name) => required.has(name)) });
}

function bound(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
