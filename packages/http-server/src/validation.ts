import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { FieldError } from '@hearth/errors';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext resolution.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv) => Ajv;

const base: Options = {
  allErrors: true,
  removeAdditional: false,
  useDefaults: true,
  strict: false,
};

const bodyAjv = addFormats(new Ajv({ ...base, coerceTypes: false }));
const paramsAjv = addFormats(new Ajv({ ...base, coerceTypes: 'array' }));

/** Bodies are taken as sent (a string is never a number); path and query strings are coerced. */
export const schemaCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : paramsAjv;
  return ajv.compile(schema as object);
};

/** Turns ajv's errors into one entry per offending field, named by JSON pointer. */
export function fieldErrorsFromAjv(errors: readonly ErrorObject[], part: string): FieldError[] {
  const seen = new Set<string>();
  const result: FieldError[] = [];
  for (const error of errors) {
    let field = `${part}${error.instancePath}`;
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'additionalProperties') {
      const extra = String((error.params as { additionalProperty?: unknown }).additionalProperty);
      field = `${field}/${extra}`;
      message = 'is not a known field';
    } else if (error.keyword === 'required') {
      const missing = String((error.params as { missingProperty?: unknown }).missingProperty);
      field = `${field}/${missing}`;
      message = 'is required';
    }
    const key = `${field}\u0000${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      result.push({ field, message });
    }
  }
  return result;
}
