import { AppError } from '@hearth/errors';
import { canSeeProject, projectNamesOf, type Principal } from '../../domain/access.js';
import { unlimitedQuota, type Project, type ProjectQuota } from '../../domain/project.js';
import type { UseCaseDependencies } from '../dependencies.js';

type Deps = Pick<UseCaseDependencies, 'projects' | 'clock'>;

/** The projects `viewer` is bound to, by name. */
export async function listProjects(deps: Pick<Deps, 'projects'>, viewer: Principal): Promise<readonly Project[]> {
  return deps.projects.list(viewer.projects.kind === 'all' ? undefined : projectNamesOf(viewer.projects));
}

/** PROJECT_NOT_FOUND for a project `viewer` is not bound to, whether or not it exists. */
export async function getProject(deps: Pick<Deps, 'projects'>, viewer: Principal, name: string): Promise<Project> {
  const project = canSeeProject(viewer.projects, name) ? await deps.projects.findByName(name) : undefined;
  if (project === undefined) throw projectNotFound(name);
  return project;
}

export async function createProject(
  deps: Deps,
  admin: Principal,
  input: { readonly name: string; readonly quota?: Partial<ProjectQuota> | undefined },
): Promise<Project> {
  assertManagesProjects(admin);
  const project: Project = { name: input.name, quota: { ...unlimitedQuota, ...input.quota }, createdAt: deps.clock.now() };
  await deps.projects.insert(project);
  return project;
}

/** Sets the limits (checked for new VMs; VMs already there stay, even above a lowered limit). */
export async function setProjectQuota(deps: Deps, admin: Principal, name: string, quota: ProjectQuota): Promise<Project> {
  assertManagesProjects(admin);
  const project = await deps.projects.setQuota(name, quota);
  if (project === undefined) throw projectNotFound(name);
  return project;
}

/** Refused while it owns images or VMs; its tokens lose it (and are revoked when it was their only one). */
export async function deleteProject(deps: Deps, admin: Principal, name: string): Promise<void> {
  assertManagesProjects(admin);
  await deps.projects.delete(name, deps.clock.now());
}

/**
 * Projects are made, limited and removed by a token bound to every project: a tenant's own
 * `projects:admin` token must not raise its own quota.
 */
function assertManagesProjects(principal: Principal): void {
  if (principal.projects.kind !== 'all') {
    throw new AppError('PROJECT_NOT_ALLOWED', 'Only a token bound to every project (`*`) can create, limit or delete projects', {
      details: { projects: ['*'] },
    });
  }
}

function projectNotFound(name: string): AppError {
  return new AppError('PROJECT_NOT_FOUND', `No project named ${name}`, { details: { project: name } });
}
