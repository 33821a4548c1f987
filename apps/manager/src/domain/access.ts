import { AppError } from '@hearth/errors';
import type { TokenId } from './ids.js';

/**
 * Who may do what: scopes (`resource:action`) and projects. A request is made by a principal (an
 * API token); every route names the scope it needs, and every project-owned object is visible
 * only to principals bound to its project.
 */
export const scopes = [
  'vms:read',
  'vms:write',
  'images:read',
  'images:write',
  'templates:read',
  'templates:write',
  'snapshots:read',
  'snapshots:write',
  'events:read',
  'hosts:admin',
  'tokens:admin',
  'projects:admin',
  'audit:read',
  'metrics:read',
] as const;

export type Scope = (typeof scopes)[number];

/**
 * `<resource>:write` grants `<resource>:read` too: whoever may change something may look at it.
 * `hosts:admin` grants `metrics:read`: the metrics show every host and the VMs of every project, as
 * `hosts:admin` sees them already (and tokens made before the scope existed keep reading them).
 */
const impliedBy: Readonly<Partial<Record<Scope, Scope>>> = {
  'vms:read': 'vms:write',
  'images:read': 'images:write',
  'metrics:read': 'hosts:admin',
  'templates:read': 'templates:write',
  'snapshots:read': 'snapshots:write',
};

export function isScope(value: string): value is Scope {
  return (scopes as readonly string[]).includes(value);
}

/** The projects a principal is bound to; `all` for administrators of the whole installation. */
export type ProjectSet = { readonly kind: 'all' } | { readonly kind: 'some'; readonly names: readonly string[] };

/** Every project: what the Manager's own callers (the reconciler, a drain) may act on. */
export const everyProject: ProjectSet = Object.freeze({ kind: 'all' });

/** The project every installation has, where objects go when nothing else is said. */
export const defaultProject = 'default';

/** How a project set is stored and shown: the names, or `["*"]` for every project. */
export const allProjectsMarker = '*';

export function projectSetOf(names: readonly string[]): ProjectSet {
  return names.includes(allProjectsMarker) ? { kind: 'all' } : { kind: 'some', names: [...new Set(names)].sort() };
}

export function projectNamesOf(projects: ProjectSet): readonly string[] {
  return projects.kind === 'all' ? [allProjectsMarker] : projects.names;
}

export interface Principal {
  readonly tokenId: TokenId;
  readonly tokenName: string;
  readonly scopes: readonly Scope[];
  readonly projects: ProjectSet;
}

export function hasScope(principal: Pick<Principal, 'scopes'>, scope: Scope): boolean {
  if (principal.scopes.includes(scope)) return true;
  const wider = impliedBy[scope];
  return wider !== undefined && principal.scopes.includes(wider);
}

export function canSeeProject(projects: ProjectSet, project: string): boolean {
  return projects.kind === 'all' || projects.names.includes(project);
}

/** Whether every project of `inner` is one of `outer`'s. */
export function isProjectSubset(inner: ProjectSet, outer: ProjectSet): boolean {
  if (outer.kind === 'all') return true;
  return inner.kind === 'some' && inner.names.every((name) => outer.names.includes(name));
}

/** The scopes of `requested` that `principal` does not hold (so may not hand on). */
export function scopesBeyond(principal: Pick<Principal, 'scopes'>, requested: readonly Scope[]): readonly Scope[] {
  return requested.filter((scope) => !hasScope(principal, scope));
}

/**
 * The project a new object of `projects`' principal goes to: the one asked for (when the principal
 * is bound to it), else its only project, else `default` when it may use that.
 */
export function projectForNewObject(projects: ProjectSet, requested: string | undefined): string {
  if (requested !== undefined) {
    if (!canSeeProject(projects, requested)) {
      throw new AppError('PROJECT_NOT_ALLOWED', `This API token is not bound to project ${requested}`, {
        details: { project: requested },
      });
    }
    return requested;
  }
  if (projects.kind === 'some' && projects.names.length === 1) return projects.names[0]!;
  if (canSeeProject(projects, defaultProject)) return defaultProject;
  throw new AppError('PROJECT_REQUIRED', 'This API token is bound to several projects: say which one in `project`', {
    errors: [{ field: 'body/project', message: 'required for a token bound to several projects' }],
  });
}

/** The projects a list shows: the principal's, or the one it asks for (PROJECT_NOT_ALLOWED when not its own). */
export function projectsToList(projects: ProjectSet, requested: string | undefined): ProjectSet {
  if (requested === undefined) return projects;
  if (!canSeeProject(projects, requested)) {
    throw new AppError('PROJECT_NOT_ALLOWED', `This API token is not bound to project ${requested}`, {
      details: { project: requested },
    });
  }
  return { kind: 'some', names: [requested] };
}
