import { describe, expect, it } from 'vitest';
import { AppError } from '@hearth/errors';
import { translateDatabaseError } from './database-errors.js';

describe('translateDatabaseError', () => {
  it('turns a unique violation of the VM name into VM_NAME_TAKEN', () => {
    expect(translateDatabaseError({ code: '23505', constraint: 'vms_project_name_key' }).code).toBe('VM_NAME_TAKEN');
  });

  it('turns a unique violation of an image name into IMAGE_NAME_TAKEN', () => {
    expect(translateDatabaseError({ code: '23505', constraint: 'images_project_kind_name_key' }).code).toBe('IMAGE_NAME_TAKEN');
  });

  it.each(['hosts_name_key', 'hosts_agent_id_key'])(
    'turns a unique violation of %s (two registrations written at once) into HOST_NAME_TAKEN, not a 500',
    (constraint) => {
      expect(translateDatabaseError({ code: '23505', constraint }).code).toBe('HOST_NAME_TAKEN');
    },
  );

  it.each(['images_project_fkey', 'vms_project_fkey'])(
    'turns a foreign key violation of %s (the project deleted meanwhile) into PROJECT_NOT_FOUND, not a 500',
    (constraint) => {
      expect(translateDatabaseError({ code: '23503', constraint }).code).toBe('PROJECT_NOT_FOUND');
    },
  );

  it('lets the query say what a SQLSTATE means for it', () => {
    const error = translateDatabaseError({ code: '23503' }, { '23503': () => new AppError('IMAGE_IN_USE', 'in use') });
    expect(error.code).toBe('IMAGE_IN_USE');
  });

  it.each([
    ['a refused connection', { code: 'ECONNREFUSED' }],
    ['a missing socket', { code: 'ENOENT' }],
    ['a connection exception class', { code: '08006' }],
    ['an administrator shutdown', { code: '57P01' }],
    ['a terminated connection', new Error('Connection terminated unexpectedly')],
    ['a connect that timed out', new Error('Connection terminated due to connection timeout')],
  ])('turns %s into DATABASE_UNAVAILABLE', (_, error) => {
    expect(translateDatabaseError(error).code).toBe('DATABASE_UNAVAILABLE');
  });

  it("turns the pool's refusal of a wait for one of its busy connections into DATABASE_BUSY with a Retry-After", () => {
    const error = translateDatabaseError(new Error('timeout exceeded when trying to connect'));
    expect(error.code).toBe('DATABASE_BUSY');
    expect(error.kind).toBe('unavailable');
    expect(error.details).toEqual({ retryAfterSeconds: 1 });
  });

  it('turns anything else into INTERNAL and keeps the driver error as the cause', () => {
    const driverError = { code: '42P01', message: 'relation does not exist' };
    const error = translateDatabaseError(driverError);
    expect(error.code).toBe('INTERNAL');
    expect(error.cause).toBe(driverError);
  });

  it('passes an AppError through unchanged', () => {
    const error = new AppError('VM_BUSY', 'busy');
    expect(translateDatabaseError(error)).toBe(error);
  });
});
