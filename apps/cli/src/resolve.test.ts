import { describe, expect, it } from 'vitest';
import { CliError, exitCodes } from './exit-codes.js';
import { resolveReference } from './resolve.js';

const vms = [
  { id: 'vm_01JAAAAAAAAAAAAAAAAAAAAAAA', name: 'web' },
  { id: 'vm_01JAAAAAAAAAAAAAAAAAAAAAAB', name: 'db' },
  { id: 'vm_01JBBBBBBBBBBBBBBBBBBBBBBB', name: '01jb' },
];

function resolve(reference: string) {
  return resolveReference('VM', reference, {
    idPrefix: 'vm_',
    byId: async (id) => vms.find((vm) => vm.id === id),
    byName: async (name) => vms.filter((vm) => vm.name === name),
    all: async function* () {
      yield* vms;
    },
  });
}

async function exitCodeOf(promise: Promise<unknown>): Promise<number | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof CliError ? error.exitCode : undefined),
  );
}

describe('resolveReference', () => {
  it('finds an object by whole id, by name, or by a unique start of its id with or without the prefix', async () => {
    expect((await resolve('vm_01JAAAAAAAAAAAAAAAAAAAAAAB')).name).toBe('db');
    expect((await resolve('web')).id).toBe(vms[0]!.id);
    expect((await resolve('vm_01JAAAAAAAAAAAAAAAAAAAAAAA')).name).toBe('web');
    expect((await resolve('01jaaaaaaaaaaaaaaaaaaaaaab')).name).toBe('db');
  });

  it('takes a name before an id prefix', async () => {
    expect((await resolve('01jb')).name).toBe('01jb');
  });

  it('refuses an ambiguous prefix with exit code 4 and an unknown reference with 3', async () => {
    expect(await exitCodeOf(resolve('vm_01JA'))).toBe(exitCodes.ambiguous);
    expect(await exitCodeOf(resolve('nothing'))).toBe(exitCodes.notFound);
    expect(await exitCodeOf(resolve('vm_01JCCCCCCCCCCCCCCCCCCCCCCC'))).toBe(exitCodes.notFound);
  });
});
