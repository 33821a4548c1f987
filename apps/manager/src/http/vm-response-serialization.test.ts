import { serializationSchemaOf } from '@hearth/http-server';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { VmBatchView, VmPageView, VmView } from './schemas/vm-schemas.js';

// fast-json-stringify writes an `anyOf` by validating the value against its branches (Ajv compiled on
// the first response, a dozen validations per VM after it); the HTTP server rewrites the unions that
// need no choice (ADR 0065). These are the schemas of every answer that carries VMs in bulk.
describe("the VM responses' serializers", () => {
  it.each([
    ['a VM', VmView],
    ['a page of VMs (GET /v1/vms)', VmPageView],
    ['a batch of clones', VmBatchView],
    ['a create or clone answer (POST /v1/vms)', Type.Union([VmView, VmBatchView])],
  ])('write %s without choosing a branch', (_what, schema) => {
    expect(JSON.stringify(serializationSchemaOf(schema))).not.toMatch(/"(anyOf|oneOf)"/);
  });
});
