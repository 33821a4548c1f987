import { Type } from 'typebox';
import type { HttpServer } from '@hearth/http-server';
import type { UseCaseDependencies } from '../../application/dependencies.js';
import { createProject, deleteProject, getProject, listProjects, setProjectQuota } from '../../application/use-cases/projects.js';
import type { ProjectQuota } from '../../domain/project.js';
import { principalOf } from '../authentication.js';
import { bodyLimitBytes } from '../body-limits.js';
import { PostHeaders, problemResponses } from '../schemas/common.js';
import { CreateProjectBody, ProjectList, ProjectNameParams, ProjectView, QuotaSchema } from '../schemas/project-schemas.js';
import { projectView } from '../views.js';

const projectsAdmin = { auth: { scope: 'projects:admin' } } as const;

export function registerProjectRoutes(app: HttpServer, deps: UseCaseDependencies): void {
  app.get(
    '/v1/projects',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'listProjects',
        summary: 'The projects the token is bound to, with their quotas',
        tags: ['projects'],
        response: { 200: ProjectList, ...problemResponses },
      },
    },
    async (request) => ({ items: (await listProjects(deps, principalOf(request))).map(projectView) }),
  );

  app.get(
    '/v1/projects/:name',
    {
      config: { auth: 'token' },
      schema: {
        operationId: 'getProject',
        summary: 'A project the token is bound to (404 for any other)',
        tags: ['projects'],
        params: ProjectNameParams,
        response: { 200: ProjectView, ...problemResponses },
      },
    },
    async (request) => projectView(await getProject(deps, principalOf(request), request.params.name)),
  );

  app.post(
    '/v1/projects',
    {
      config: projectsAdmin,
      bodyLimit: bodyLimitBytes.project,
      schema: {
        operationId: 'createProject',
        summary: 'Create a project (a token bound to every project only)',
        tags: ['projects'],
        headers: PostHeaders,
        body: CreateProjectBody,
        response: { 201: ProjectView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { name, quota } = request.body;
      const project = await createProject(deps, principalOf(request), {
        name,
        quota: quota === undefined ? undefined : quotaOf(quota),
      });
      return reply.status(201).send(projectView(project));
    },
  );

  app.put(
    '/v1/projects/:name/quota',
    {
      config: projectsAdmin,
      bodyLimit: bodyLimitBytes.project,
      schema: {
        operationId: 'setProjectQuota',
        summary: "Set a project's quota, checked for every new VM (a token bound to every project only)",
        tags: ['projects'],
        params: ProjectNameParams,
        body: QuotaSchema,
        response: { 200: ProjectView, ...problemResponses },
      },
    },
    async (request) =>
      projectView(await setProjectQuota(deps, principalOf(request), request.params.name, quotaOf(request.body) as ProjectQuota)),
  );

  app.delete(
    '/v1/projects/:name',
    {
      config: projectsAdmin,
      bodyLimit: bodyLimitBytes.none,
      schema: {
        operationId: 'deleteProject',
        summary: 'Delete an empty project; its tokens lose it (a token bound to every project only)',
        tags: ['projects'],
        params: ProjectNameParams,
        response: { 204: Type.Null(), ...problemResponses },
      },
    },
    async (request, reply) => {
      await deleteProject(deps, principalOf(request), request.params.name);
      return reply.status(204).send(null);
    },
  );
}

/** null (no limit) in the API is undefined in the domain. */
function quotaOf(quota: {
  maxVms?: number | null;
  maxVcpus?: number | null;
  maxMemoryMib?: number | null;
}): Partial<ProjectQuota> {
  const limit = (value: number | null | undefined): number | undefined => value ?? undefined;
  return {
    ...(quota.maxVms === undefined ? {} : { maxVms: limit(quota.maxVms) }),
    ...(quota.maxVcpus === undefined ? {} : { maxVcpus: limit(quota.maxVcpus) }),
    ...(quota.maxMemoryMib === undefined ? {} : { maxMemoryMib: limit(quota.maxMemoryMib) }),
  };
}
