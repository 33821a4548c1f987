/** The parts of an OpenAPI 3 document that describe what clients send. */
export interface OpenApiDocument {
  readonly paths: Readonly<
    Record<
      string,
      Readonly<
        Record<
          string,
          {
            readonly parameters?: ReadonlyArray<{ readonly in: string; readonly name: string; readonly schema: unknown }>;
            readonly requestBody?: { readonly content: Readonly<Record<string, { readonly schema: unknown }>> };
          }
        >
      >
    >
  >;
}

/** One schema a request is checked against, named `METHOD /path in/name` (or `METHOD /path body`). */
export interface RequestSchema {
  readonly where: string;
  readonly schema: unknown;
}

/** Every schema of every request the document describes: path, query and header parameters and bodies. */
export function requestSchemasOf(spec: OpenApiDocument): RequestSchema[] {
  const schemas: RequestSchema[] = [];
  for (const [path, operations] of Object.entries(spec.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const parameter of operation.parameters ?? []) {
        schemas.push({ where: `${where} ${parameter.in}/${parameter.name}`, schema: parameter.schema });
      }
      for (const media of Object.values(operation.requestBody?.content ?? {})) {
        schemas.push({ where: `${where} body`, schema: media.schema });
      }
    }
  }
  return schemas;
}

/** Calls `visit` on `schema` and each schema nested in it, each named by its path below `where`. */
export function eachSubschema(
  schema: unknown,
  where: string,
  visit: (node: Readonly<Record<string, unknown>>, where: string) => void,
): void {
  if (schema === null || typeof schema !== 'object') return;
  const node = schema as Record<string, unknown>;
  visit(node, where);
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && value !== null && typeof value === 'object') {
      for (const [name, property] of Object.entries(value)) eachSubschema(property, `${where}/${name}`, visit);
    } else if (key === 'items' || key === 'anyOf' || key === 'oneOf' || key === 'allOf' || key === 'additionalProperties') {
      for (const item of Array.isArray(value) ? value : [value]) eachSubschema(item, where, visit);
    }
  }
}

/** The JSON types a schema node admits (`type` may be a string or a list). */
export function typesOf(node: Readonly<Record<string, unknown>>): unknown[] {
  return Array.isArray(node['type']) ? node['type'] : [node['type']];
}
