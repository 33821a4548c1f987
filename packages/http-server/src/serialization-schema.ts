/**
 * A response schema as fast-json-stringify should compile it: the same JSON, written without the
 * `anyOf`s that need no choice.
 *
 * fast-json-stringify writes an `anyOf` by validating the value against each branch with Ajv, at
 * every response, and compiles an Ajv validator for every branch the first time one is written. A
 * VM's view has a dozen such unions (its state, and each nullable field), so the first response
 * with a schema of VMs paid 0.4-0.9 s of CPU compiling them, and every VM written after that a
 * dozen validations. But a response is the server's own value, already shaped by its view: the
 * serializer has to write it, not to check it, and these unions can be written without a choice:
 *
 * - scalars and literals, with or without null (a state, `string | null`): one `type` list;
 * - one object or null: that object, whose `type` admits null;
 * - objects only (a policy by `mode`, a VM or a batch of VMs): one object with every branch's
 *   properties, none required. A property several branches declare differently becomes their union,
 *   written the same way.
 *
 * What a value holds beyond its schema's properties is dropped as before. Any other union (arrays
 * among the branches, branches with additional or pattern properties) is kept as it is.
 */
export function serializationSchemaOf(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(serializationSchemaOf);
  if (typeof schema !== 'object' || schema === null) return schema;
  const node = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' || key === 'patternProperties' || key === '$defs' || key === 'definitions') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([name, sub]) => [name, serializationSchemaOf(sub)]),
      );
    } else if (key === 'items' || key === 'additionalProperties' || key === 'anyOf' || key === 'oneOf' || key === 'allOf') {
      out[key] = serializationSchemaOf(value);
    } else {
      out[key] = value;
    }
  }
  const branches = out['anyOf'] ?? out['oneOf'];
  if (!Array.isArray(branches) || Object.keys(out).some((key) => !unionKeywords.has(key))) return out;
  const { anyOf: _anyOf, oneOf: _oneOf, ...annotations } = out;
  const merged = unionWithoutChoice(branches as Record<string, unknown>[]);
  return merged === undefined ? out : { ...annotations, ...merged };
}

/** Keywords a union node may carry beside its branches and still be rewritten (annotations only). */
const unionKeywords = new Set(['anyOf', 'oneOf', 'description', 'title', 'examples', 'default', '$comment']);
const scalarTypes = new Set(['string', 'number', 'integer', 'boolean', 'null']);

function typesOf(branch: Record<string, unknown>): string[] | undefined {
  if (Array.isArray(branch['type'])) return branch['type'] as string[];
  if (typeof branch['type'] === 'string') return [branch['type']];
  if ('const' in branch) {
    const value = branch['const'];
    return value === null
      ? ['null']
      : typeof value === 'string' || typeof value === 'boolean'
        ? [typeof value]
        : typeof value === 'number'
          ? ['number']
          : undefined;
  }
  return undefined;
}

function isPlainObjectSchema(branch: Record<string, unknown>): boolean {
  const types = typesOf(branch);
  return (
    types !== undefined &&
    types.every((type) => type === 'object' || type === 'null') &&
    types.includes('object') &&
    !('anyOf' in branch || 'oneOf' in branch || 'allOf' in branch || 'patternProperties' in branch || '$ref' in branch) &&
    (branch['additionalProperties'] === undefined || branch['additionalProperties'] === false)
  );
}

function unionWithoutChoice(branches: readonly Record<string, unknown>[]): Record<string, unknown> | undefined {
  if (branches.length === 0) return undefined;
  const types = branches.map(typesOf);
  if (types.some((list) => list === undefined)) return undefined;
  const all = [...new Set(types.flat() as string[])];
  if (all.every((type) => scalarTypes.has(type))) {
    // One scalar branch keeps its own keywords (a date-time's format); several are only their types.
    const nonNull = branches.filter((branch) => !(typesOf(branch)!.length === 1 && typesOf(branch)![0] === 'null'));
    const { const: _const, ...only } = nonNull.length === 1 ? (nonNull[0] as Record<string, unknown>) : {};
    return { ...only, type: all.length === 1 ? all[0] : all };
  }
  if (!all.every((type) => type === 'object' || type === 'null')) return undefined;
  const objects = branches.filter((branch) => !(typesOf(branch)!.length === 1 && typesOf(branch)![0] === 'null'));
  if (!objects.every(isPlainObjectSchema)) return undefined;
  const type = all.includes('null') ? ['object', 'null'] : 'object';
  if (objects.length === 1) return { ...(objects[0] as Record<string, unknown>), type };
  const declared = new Map<string, unknown[]>();
  for (const object of objects) {
    for (const [name, sub] of Object.entries((object['properties'] ?? {}) as Record<string, unknown>)) {
      const list = declared.get(name) ?? [];
      if (!list.some((seen) => JSON.stringify(seen) === JSON.stringify(sub))) list.push(sub);
      declared.set(name, list);
    }
  }
  const properties = Object.fromEntries(
    [...declared].map(([name, list]) => [name, list.length === 1 ? list[0] : serializationSchemaOf({ anyOf: list })]),
  );
  return { type, properties };
}
