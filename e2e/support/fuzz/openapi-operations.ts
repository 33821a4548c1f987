/** A JSON Schema node as the OpenAPI document renders it (the subset the Manager's routes use). */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface Parameter {
  readonly name: string;
  readonly isRequired: boolean;
  readonly schema: JsonSchema;
}

/** One route of the API, as a client learns it from `GET /openapi.json`. */
export interface Operation {
  /** `POST /v1/vms/{id}/stop`. */
  readonly name: string;
  readonly method: string;
  /** `/v1/vms/{id}/stop`. */
  readonly pathTemplate: string;
  readonly path: readonly Parameter[];
  readonly query: readonly Parameter[];
  readonly headers: readonly Parameter[];
  /** The JSON body's schema; undefined for routes that take none. */
  readonly body: JsonSchema | undefined;
  /** Who may call it: anyone (no security), Agents (by their own means, no token), or API tokens. */
  readonly auth: OperationAuth;
}

export type OperationAuth = 'public' | 'agent' | 'token';

interface OpenApiOperation {
  readonly parameters?: ReadonlyArray<{ in: string; name: string; required?: boolean; schema: JsonSchema }>;
  readonly requestBody?: { content: Readonly<Record<string, { schema: JsonSchema }>> };
  readonly security?: readonly unknown[];
}

/**
 * Every operation of an OpenAPI 3 document. One with an empty `security` is public; those named in
 * `agentOperations` (`POST /v1/hosts/register`) are the Agents', which the document cannot tell.
 */
export function operationsOf(
  document: { paths: Record<string, Record<string, OpenApiOperation>> },
  agentOperations: readonly string[] = [],
): Operation[] {
  const operations: Operation[] = [];
  for (const [pathTemplate, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = (where: string): Parameter[] =>
        (operation.parameters ?? [])
          .filter((parameter) => parameter.in === where)
          .map((parameter) => ({ name: parameter.name, isRequired: parameter.required === true, schema: parameter.schema }));
      const name = `${method.toUpperCase()} ${pathTemplate}`;
      const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
      operations.push({
        name,
        method: method.toUpperCase(),
        pathTemplate,
        path: parameters('path'),
        query: parameters('query'),
        headers: parameters('header'),
        body: operation.requestBody?.content['application/json']?.schema,
        auth: isPublic ? 'public' : agentOperations.includes(name) ? 'agent' : 'token',
      });
    }
  }
  return operations;
}
