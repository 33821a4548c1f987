import { CompiledQuery, type Compilable } from 'kysely';

/**
 * Where a value goes among a compiled statement's parameters: the path of a leaf of the values
 * the statement was built from, or a constant the build put there itself.
 */
type Slot = { readonly path: readonly (string | number)[] } | { readonly constant: unknown };

interface Compiled {
  readonly sql: string;
  readonly slots: readonly Slot[];
}

/** What a statement's values are: objects and arrays of leaves (a `Date` is a leaf). */
export type StatementValues = Readonly<Record<string, unknown>>;

/**
 * Statements Kysely builds and compiles once per shape, then runs with new values: each run of a
 * hot statement otherwise builds its query tree and compiles it to the same text again.
 *
 * `compiled(name, values, build)` calls `build` the first time a shape is seen, with `values`
 * replaced by placeholders of the same structure, and keeps the text Kysely compiles and where
 * each parameter came from; every later run of that shape only puts the new values in their places.
 * The shape is the statement's name and the structure of `values`: which keys hold a value other
 * than `undefined` (a key holding `undefined` is left out of the placeholders), and the length of
 * each array. So a build may branch on a value being
 * `undefined` or on an array's length, and must do nothing else with a value than hand it to
 * Kysely: compare it, format it or serialize it first, in the caller. A placeholder refuses to be
 * turned into a string or a number, and a build that leaves a value out of the statement is
 * refused, since that is how a branch on a value, or one serialized, would show. What is not caught
 * is a build reading a variable of its caller: it reads its values and the database handle only.
 * A Kysely plugin's `transformQuery` sees the statement once per shape (the Manager's database has
 * no plugin).
 */
export class StatementShapes {
  private readonly byShape = new Map<string, Compiled>();

  /** How many shapes are kept: a statement whose structure varies freely must not grow this. */
  constructor(private readonly maxShapes = 200) {}

  compiled<Values extends StatementValues, Row>(
    name: string,
    values: Values,
    build: (values: Values) => Compilable<Row>,
  ): CompiledQuery<Row> {
    const shape = `${name}|${shapeOf(values)}`;
    let compiled = this.byShape.get(shape);
    if (compiled === undefined) {
      compiled = compile(values, build);
      if (this.byShape.size < this.maxShapes) this.byShape.set(shape, compiled);
    }
    return CompiledQuery.raw(
      compiled.sql,
      compiled.slots.map((slot) => valueOf(slot, values)),
    ) as CompiledQuery<Row>;
  }
}

class Placeholder {
  constructor(readonly path: readonly (string | number)[]) {}

  /** What a plugin or a log that serializes the query tree shows; a value serialized into the statement is left out of it, and refused. */
  toJSON(): string {
    return `(the value ${this.path.join('.')})`;
  }

  [Symbol.toPrimitive](): never {
    throw misuse(this.path, 'converted to a string or a number');
  }
}

function misuse(path: readonly (string | number)[], what: string): Error {
  return new Error(`the value ${path.join('.')} of a statement built once per shape was ${what} while it was built`);
}

function compile<Values extends StatementValues, Row>(values: Values, build: (values: Values) => Compilable<Row>): Compiled {
  const leaves: string[] = [];
  const placeholders = placeholdersOf(values, [], leaves) as Values;
  const { sql, parameters } = build(placeholders).compile();
  const used = new Set<string>();
  const slots = parameters.map((parameter): Slot => {
    if (!(parameter instanceof Placeholder)) return { constant: parameter };
    used.add(parameter.path.join('.'));
    return { path: parameter.path };
  });
  const unused = leaves.filter((leaf) => !used.has(leaf));
  if (unused.length > 0) throw new Error(`a statement built once per shape left out the values ${unused.join(', ')}`);
  return { sql, slots };
}

function isStructure(value: unknown): value is Readonly<Record<string, unknown>> | readonly unknown[] {
  return typeof value === 'object' && value !== null && !(value instanceof Date) && !Buffer.isBuffer(value);
}

function placeholdersOf(value: unknown, path: (string | number)[], leaves: string[]): unknown {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value.map((item, index) => placeholdersOf(item, [...path, index], leaves));
  if (isStructure(value)) {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    return Object.fromEntries(entries.map(([key, item]) => [key, placeholdersOf(item, [...path, key], leaves)]));
  }
  leaves.push(path.join('.'));
  return new Placeholder(path);
}

function shapeOf(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(shapeOf).join(',')}]`;
  if (!isStructure(value)) return '';
  let shape = '{';
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (item !== undefined) shape += `${key}:${shapeOf(item)};`;
  }
  return `${shape}}`;
}

function valueOf(slot: Slot, values: StatementValues): unknown {
  if ('constant' in slot) return slot.constant;
  let value: unknown = values;
  for (const step of slot.path) value = (value as Record<string | number, unknown>)[step];
  return value;
}
