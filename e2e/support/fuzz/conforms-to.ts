import type { JsonSchema } from './openapi-operations.js';

/**
 * True when `value` satisfies `schema`, for the JSON Schema keywords the Manager's request
 * schemas use. The fuzzer uses it to know whether a mutated body must be refused; it is not a
 * general validator (formats are not checked, so a value with a format is taken as conforming).
 */
export function conformsTo(schema: JsonSchema, value: unknown): boolean {
  const variants = (schema['anyOf'] ?? schema['oneOf']) as JsonSchema[] | undefined;
  if (variants !== undefined) return variants.some((variant) => conformsTo(variant, value));
  if (value === null) return schema['nullable'] === true || schema['type'] === 'null';
  if (Array.isArray(schema['enum']) && !(schema['enum'] as unknown[]).includes(value)) return false;
  if ('const' in schema && schema['const'] !== value) return false;
  switch (schema['type']) {
    case 'string':
      return typeof value === 'string' && stringConforms(schema, value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value) && numberConforms(schema, value);
    case 'number':
      return typeof value === 'number' && numberConforms(schema, value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return (
        Array.isArray(value) &&
        value.length >= ((schema['minItems'] as number | undefined) ?? 0) &&
        value.length <= ((schema['maxItems'] as number | undefined) ?? Infinity) &&
        (schema['uniqueItems'] !== true || new Set(value.map((item) => JSON.stringify(item))).size === value.length) &&
        value.every((item) => conformsTo((schema['items'] ?? {}) as JsonSchema, item))
      );
    case 'object':
      return typeof value === 'object' && !Array.isArray(value) && objectConforms(schema, value as Record<string, unknown>);
    default:
      return true;
  }
}

function stringConforms(schema: JsonSchema, value: string): boolean {
  // The Manager refuses U+0000 and lone surrogates in every string, whatever the schema says.
  if (value.includes('\u0000') || /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value))
    return false;
  const length = [...value].length;
  if (length < ((schema['minLength'] as number | undefined) ?? 0)) return false;
  if (length > ((schema['maxLength'] as number | undefined) ?? Infinity)) return false;
  const pattern = schema['pattern'];
  return typeof pattern !== 'string' || new RegExp(pattern, 'u').test(value);
}

function numberConforms(schema: JsonSchema, value: number): boolean {
  return (
    value >= ((schema['minimum'] as number | undefined) ?? -Infinity) &&
    value <= ((schema['maximum'] as number | undefined) ?? Infinity)
  );
}

function objectConforms(schema: JsonSchema, value: Record<string, unknown>): boolean {
  const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
  for (const name of (schema['required'] ?? []) as string[]) if (!Object.hasOwn(value, name)) return false;
  for (const [name, item] of Object.entries(value)) {
    const property = properties[name];
    if (property === undefined) {
      if (schema['additionalProperties'] === false) return false;
    } else if (!conformsTo(property, item)) {
      return false;
    }
  }
  return true;
}
