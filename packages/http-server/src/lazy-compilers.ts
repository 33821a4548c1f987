import SerializerSelector from '@fastify/fast-json-stringify-compiler';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import { serializationSchemaOf } from './serialization-schema.js';

/**
 * Fastify compiles every route's request validators and response serializers when the server
 * starts. The Manager declares about a hundred routes with several schemas each, and compiling them
 * all took about 40% of a start's CPU (profiled: 4.3 s of validators and 3.9 s of serializers out of
 * 19.6 s, under load) — paid by every start, restart and failover, while most of those schemas are
 * used by few requests. These wrappers compile a schema the first time a request needs it; that
 * request pays a few milliseconds once. A schema that cannot compile would fail that first request as
 * an internal error, so tests build their servers with `compileSchemas: 'at-start'`, which keeps
 * Fastify's own behaviour.
 */
export function lazyValidatorCompiler(compile: FastifySchemaCompiler<unknown>): FastifySchemaCompiler<unknown> {
  return (route) => {
    let compiled: ReturnType<typeof compile> | undefined;
    // Fastify reads `errors` from the function it was given after a `false`, as Ajv sets it.
    const validate = ((data: unknown) => {
      compiled ??= compile(route);
      const result = compiled(data);
      validate.errors = (compiled as { errors?: typeof validate.errors }).errors;
      return result;
    }) as ReturnType<typeof compile> & { errors?: FastifySchemaValidationError[] | null };
    return validate;
  };
}

type Serialize = (data: unknown) => string;

/**
 * Serializers compiled in this process, by response schema object, for servers without shared
 * schemas (`addSchema`) and with the same serializer options: a serializer depends on nothing else,
 * so many servers of one process (the scale harness runs hundreds of Agent apps in one) compile each
 * route's response schema once instead of once per server.
 */
const compiledSerializers = new Map<string, WeakMap<object, Serialize>>();

/**
 * Fastify's own serializer factory (fast-json-stringify), given each response schema as
 * {@link serializationSchemaOf} writes it (the same JSON, without the unions that need no choice).
 */
export const serializerFactory: SerializerSelector.SerializerFactory = (externalSchemas, options) => {
  const compile = SerializerSelector()(externalSchemas, options);
  return (route) => compile({ ...route, schema: serializationSchemaOf(route.schema) as typeof route.schema });
};

/** {@link serializerFactory}, compiling each response schema on first use. */
export const lazySerializerFactory: SerializerSelector.SerializerFactory = (externalSchemas, options) => {
  const compile = serializerFactory(externalSchemas, options);
  const isShareable = externalSchemas === undefined || externalSchemas === null || Object.keys(externalSchemas).length === 0;
  const optionsKey = JSON.stringify(options ?? {});
  let shared = compiledSerializers.get(optionsKey);
  if (isShareable && shared === undefined) {
    shared = new WeakMap();
    compiledSerializers.set(optionsKey, shared);
  }
  return (route) => {
    let serialize: Serialize | undefined;
    return (data: unknown) => {
      if (serialize === undefined) {
        const schema = route.schema as object;
        serialize = isShareable ? shared?.get(schema) : undefined;
        if (serialize === undefined) {
          serialize = compile(route) as Serialize;
          if (isShareable) shared?.set(schema, serialize);
        }
      }
      return serialize(data);
    };
  };
};

/** Serializers of {@link responseSerializerOf}, by schema object, compiled once per process. */
const standaloneSerializers = new WeakMap<object, Serialize>();

/**
 * The serializer a route would use for a response of `schema` (Fastify's own compiler, as
 * {@link serializerFactory} gives it, with Fastify's default options), for bytes that must be those
 * of a route's answer but are also needed outside a request. Compiled on first use, once per process.
 */
export function responseSerializerOf(schema: object): Serialize {
  let serialize = standaloneSerializers.get(schema);
  if (serialize === undefined) {
    serialize = serializerFactory(undefined, undefined)({ schema, method: 'GET', url: '/', httpStatus: '200' }) as Serialize;
    standaloneSerializers.set(schema, serialize);
  }
  return serialize;
}
