import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { deleteImage, getImage, listImages } from '../../application/use-cases/image-queries.js';
import { registerImage } from '../../application/use-cases/register-image.js';
import { bodyLimitBytes } from '../body-limits.js';
import { ImageIdParams, PostHeaders, problemResponses } from '../schemas/common.js';
import { ImageList, ImageView, ListImagesQuery, RegisterImageBody } from '../schemas/image-schemas.js';
import { parseImageId, type ImageId } from '../../domain/ids.js';
import { imageView } from '../views.js';
import { principalOf } from '../authentication.js';
import { projectForNewObject, projectsToList } from '../../domain/access.js';
import { imageIdParam } from './parse-ids.js';

export function registerImageRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.post(
    '/v1/images',
    {
      config: { auth: { scope: 'images:write' } },
      bodyLimit: bodyLimitBytes.registerImage,
      schema: {
        operationId: 'registerImage',
        summary: 'Register a kernel or rootfs file of the image root',
        tags: ['images'],
        headers: PostHeaders,
        body: RegisterImageBody,
        response: { 201: ImageView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { project, ...body } = request.body;
      const image = await registerImage(deps, { ...body, project: projectForNewObject(principalOf(request).projects, project) });
      return reply.status(201).send(imageView(image));
    },
  );

  app.get(
    '/v1/images',
    {
      config: { auth: { scope: 'images:read' } },
      schema: {
        operationId: 'listImages',
        summary: 'List images by id (keyset pagination; filter by kind and name)',
        tags: ['images'],
        querystring: ListImagesQuery,
        response: { 200: ImageList, ...problemResponses },
      },
    },
    async (request) => {
      const { kind, name, project, limit, cursor } = request.query;
      const page = await listImages(
        deps,
        { projects: projectsToList(principalOf(request).projects, project), kind, nameContains: name },
        { limit, cursor: cursor === undefined ? undefined : (parseImageId(cursor) as ImageId) },
      );
      return { items: page.items.map(imageView), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/v1/images/:id',
    {
      config: { auth: { scope: 'images:read' } },
      schema: {
        operationId: 'getImage',
        summary: 'Get an image',
        tags: ['images'],
        params: ImageIdParams,
        response: { 200: ImageView, ...problemResponses },
      },
    },
    async (request) => imageView(await getImage(deps, imageIdParam(request.params.id), principalOf(request).projects)),
  );

  app.delete(
    '/v1/images/:id',
    {
      config: { auth: { scope: 'images:write' } },
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'deleteImage',
        summary: 'Forget an image (the file stays); refused while a VM uses it',
        tags: ['images'],
        params: ImageIdParams,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      const deleted = await deleteImage(deps, imageIdParam(request.params.id), principalOf(request).projects);
      request.auditProject = deleted.project;
      return reply.status(204).send(null);
    },
  );
}
