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
}

interface OpenApiOperation {
  readonly parameters?: ReadonlyArray<{ in: string; name: string; required?: boolean; schema: JsonSchema }>;
  readonly requestBody?: { content: Readonly<Record<string, { schema: JsonSchema }>> };
}

/** Every operation of an OpenAPI 3 document. */
export function operationsOf(document: { paths: Record<string, Record<string, OpenApiOperation>> }): Operation[] {
  const operations: Operation[] = [];
  for (const [pathTemplate, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = (where: string): Parameter[] =>
        (operation.parameters ?? [])
          .filter((parameter) => parameter.in === where)
          .map((parameter) => ({ name: parameter.name, isRequired: parameter.required === true, schema: parameter.schema }));
      operations.push({
        name: `${method.toUpperCase()} ${pathTemplate}`,
        method: method.toUpperCase(),
        pathTemplate,
        path: parameters('path'),
        query: parameters('query'),
        headers: parameters('header'),
        body: operation.requestBody?.content['application/json']?.schema,
      });
    }
  }
  return operations;
}
