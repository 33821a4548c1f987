import type { FastifyReply } from 'fastify';
import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import {
  createTemplate,
  deleteTemplate,
  getTemplate,
  listTemplates,
  updateTemplate,
} from '../../application/use-cases/templates.js';
import { projectForNewObject, projectsToList } from '../../domain/access.js';
import {
  parseImageId,
  parseSnapshotId,
  parseTemplateId,
  type ImageId,
  type SnapshotId,
  type TemplateId,
} from '../../domain/ids.js';
import type { Template, TemplateChanges } from '../../domain/template.js';
import { principalOf } from '../authentication.js';
import { bodyLimitBytes } from '../body-limits.js';
import { parseIfMatch, setEtag } from '../preconditions.js';
import { PostHeaders, problemResponses, TemplateIdParams, TemplateMutationHeaders } from '../schemas/common.js';
import {
  CreateTemplateBody,
  ListTemplatesQuery,
  TemplateList,
  TemplateView,
  UpdateTemplateBody,
} from '../schemas/template-schemas.js';
import { templateView } from '../views.js';
import { templateIdParam } from './parse-ids.js';

function sendTemplate(reply: FastifyReply, status: number, template: Template): FastifyReply {
  setEtag(reply, template);
  return reply.status(status).send(templateView(template));
}

/** Image ids of a body, checked by its schema, as branded ids. */
function withImageIds<T extends { kernelImageId?: string | undefined; rootfsImageId?: string | undefined }>(
  body: T,
): Omit<T, 'kernelImageId' | 'rootfsImageId'> & { kernelImageId?: ImageId; rootfsImageId?: ImageId } {
  const { kernelImageId, rootfsImageId, ...rest } = body;
  return {
    ...rest,
    ...(kernelImageId === undefined ? {} : { kernelImageId: parseImageId(kernelImageId) as ImageId }),
    ...(rootfsImageId === undefined ? {} : { rootfsImageId: parseImageId(rootfsImageId) as ImageId }),
  };
}

export function registerTemplateRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/templates',
    {
      config: { auth: { scope: 'templates:write' } },
      bodyLimit: bodyLimitBytes.template,
      schema: {
        operationId: 'createTemplate',
        summary: 'Create a template: a named VM preset of a project',
        description:
          'Its kernel and rootfs must be images of its project, of those kinds. `POST /v1/vms` with `templateId` copies ' +
          'its values; changing or deleting it later changes no VM. With `snapshotId` (a ready snapshot of its project) ' +
          "VMs created from it are restored from that snapshot instead of booted, and its preset is the snapshot VM's. " +
          'Honours `Idempotency-Key`.',
        tags: ['templates'],
        headers: PostHeaders,
        body: CreateTemplateBody,
        response: { 201: TemplateView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { project, snapshotId, ...body } = request.body;
      const template = await createTemplate(deps, {
        ...withImageIds(body),
        project: projectForNewObject(principalOf(request).projects, project),
        snapshotId: snapshotId === undefined ? undefined : (parseSnapshotId(snapshotId) as SnapshotId),
      });
      reply.header('location', `/v1/templates/${template.id}`);
      return sendTemplate(reply, 201, template);
    },
  );

  app.get(
    '/v1/templates',
    {
      config: { auth: { scope: 'templates:read' } },
      schema: {
        operationId: 'listTemplates',
        summary: 'List templates by id (keyset pagination; filter by project, name and image)',
        tags: ['templates'],
        querystring: ListTemplatesQuery,
        response: { 200: TemplateList, ...problemResponses },
      },
    },
    async (request) => {
      const { project, name, imageId, limit, cursor } = request.query;
      const page = await listTemplates(
        deps,
        {
          projects: projectsToList(principalOf(request).projects, project),
          nameContains: name,
          imageId: imageId === undefined ? undefined : (parseImageId(imageId) as ImageId),
        },
        { limit, cursor: cursor === undefined ? undefined : (parseTemplateId(cursor) as TemplateId) },
      );
      return { items: page.items.map(templateView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/templates/:id',
    {
      config: { auth: { scope: 'templates:read' } },
      schema: {
        operationId: 'getTemplate',
        summary: 'Get a template (its ETag is its version)',
        tags: ['templates'],
        params: TemplateIdParams,
        response: { 200: TemplateView, ...problemResponses },
      },
    },
    async (request, reply) =>
      sendTemplate(reply, 200, await getTemplate(deps, templateIdParam(request.params.id), principalOf(request).projects)),
  );

  app.patch(
    '/v1/templates/:id',
    {
      config: { auth: { scope: 'templates:write' } },
      bodyLimit: bodyLimitBytes.template,
      schema: {
        operationId: 'updateTemplate',
        summary: 'Change a template; VMs created from it keep what they copied',
        description: 'Each field given replaces the template\'s. Honours `If-Match: "<version>"` (412 PRECONDITION_FAILED).',
        tags: ['templates'],
        params: TemplateIdParams,
        headers: TemplateMutationHeaders,
        body: UpdateTemplateBody,
        response: { 200: TemplateView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { snapshotId, ...body } = request.body;
      const changes: TemplateChanges = {
        ...withImageIds(body),
        ...(snapshotId === undefined
          ? {}
          : { snapshotId: snapshotId === null ? null : (parseSnapshotId(snapshotId) as SnapshotId) }),
      };
      const template = await updateTemplate(deps, templateIdParam(request.params.id), changes, {
        projects: principalOf(request).projects,
        ifMatch: parseIfMatch(request.headers['if-match']),
      });
      return sendTemplate(reply, 200, template);
    },
  );

  app.delete(
    '/v1/templates/:id',
    {
      config: { auth: { scope: 'templates:write' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'deleteTemplate',
        summary: 'Delete a template; VMs created from it are not changed',
        description: 'Honours `If-Match: "<version>"` (412 PRECONDITION_FAILED).',
        tags: ['templates'],
        params: TemplateIdParams,
        headers: TemplateMutationHeaders,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      const deleted = await deleteTemplate(deps, templateIdParam(request.params.id), {
        projects: principalOf(request).projects,
        ifMatch: parseIfMatch(request.headers['if-match']),
      });
      request.auditProject = deleted.project;
      return reply.status(204).send(null);
    },
  );
}
