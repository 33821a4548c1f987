import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import type { ManagerDatabase } from './schema.js';
import { StatementShapes } from './statement-shapes.js';

/** A Kysely that compiles PostgreSQL and runs nothing. */
const db = new Kysely<ManagerDatabase>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (kysely) => new PostgresIntrospector(kysely),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

interface Rename {
  readonly [key: string]: unknown;
  readonly id: string;
  readonly name: string;
  readonly at: Date;
  readonly ifVersion?: number | undefined;
}

function rename(values: Rename) {
  let update = db
    .updateTable('vms')
    .set({ name: values.name, updated_at: values.at, state: 'stopped' })
    .where('id', '=', values.id);
  if (values.ifVersion !== undefined) update = update.where('version', '=', values.ifVersion);
  return update;
}

describe('StatementShapes', () => {
  it('answers what building the statement anew would, for each shape and new values', () => {
    const shapes = new StatementShapes();
    const cases: Rename[] = [
      { id: 'vm_1', name: 'a', at: new Date(1_000) },
      { id: 'vm_2', name: 'b', at: new Date(2_000) },
      { id: 'vm_3', name: 'c', at: new Date(3_000), ifVersion: 4 },
      { id: 'vm_4', name: 'd', at: new Date(4_000), ifVersion: 7 },
      { id: 'vm_5', name: 'e', at: new Date(5_000), ifVersion: undefined },
    ];
    for (const values of cases) {
      const compiled = shapes.compiled('rename', values, rename);
      const fresh = rename(values).compile();
      expect({ sql: compiled.sql, parameters: compiled.parameters }).toEqual({ sql: fresh.sql, parameters: fresh.parameters });
    }
  });

  it('builds each shape once', () => {
    const shapes = new StatementShapes();
    let builds = 0;
    const counted = (values: Rename) => {
      builds += 1;
      return rename(values);
    };
    for (let i = 0; i < 5; i++) shapes.compiled('rename', { id: `vm_${i}`, name: 'a', at: new Date(i) }, counted);
    for (let i = 0; i < 5; i++) shapes.compiled('rename', { id: `vm_${i}`, name: 'a', at: new Date(i), ifVersion: i }, counted);
    expect(builds).toBe(2);
  });

  it('puts the values of an array in their places, one shape per length', () => {
    const shapes = new StatementShapes();
    const names = (values: { readonly names: readonly string[] }) =>
      db.selectFrom('vms').select('id').where('name', 'in', values.names);
    expect(shapes.compiled('names', { names: ['a', 'b'] }, names).parameters).toEqual(['a', 'b']);
    expect(shapes.compiled('names', { names: ['c', 'd', 'e'] }, names).parameters).toEqual(['c', 'd', 'e']);
    expect(shapes.compiled('names', { names: ['f', 'g'] }, names).parameters).toEqual(['f', 'g']);
  });

  it('refuses a build that formats a value or leaves one out, so that it cannot keep one run’s value', () => {
    const shapes = new StatementShapes();
    expect(() =>
      shapes.compiled('formatted', { name: 'a' }, (values) => db.selectNoFrom(sql<string>`${`vm-${values.name}`}`.as('name'))),
    ).toThrow(/name .* converted to a string/);
    expect(() =>
      shapes.compiled('serialized', { steps: 1 }, (values) =>
        db.selectNoFrom(sql<string>`${JSON.stringify({ steps: values.steps })}`.as('steps')),
      ),
    ).toThrow(/left out the values steps/);
    expect(() =>
      shapes.compiled('branched', { isPaused: false }, (values) =>
        db.selectNoFrom(sql<number>`${values.isPaused ? 1 : 0}`.as('paused')),
      ),
    ).toThrow(/left out the values isPaused/);
  });
});
