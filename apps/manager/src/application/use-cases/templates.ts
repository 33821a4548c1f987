import { bootArgsMaxLength } from '@hearth/contracts';
import { AppError, type FieldError } from '@hearth/errors';
import { canSeeProject, type ProjectSet } from '../../domain/access.js';
import { egressPolicyErrors } from '../../domain/egress.js';
import type { SnapshotId, TemplateId } from '../../domain/ids.js';
import { defaultRestartPolicy, type RestartPolicy } from '../../domain/restart-policy.js';
import {
  invalidBody,
  presetFromSnapshotVm,
  presetImageErrors,
  presetOf,
  templateDescriptionMaxLength,
  templateNotFound,
  templatePreconditionFailed,
  type Template,
  type TemplateChanges,
  type VmPreset,
} from '../../domain/template.js';
import { isValidVmName } from '../../domain/vm.js';
import type { UseCaseDependencies } from '../dependencies.js';
import type { TemplateFilter, TemplatePage } from '../ports/template-repository.js';
import { matchedVersion, type IfMatch } from './if-match.js';
import { insertNaming, presetImages } from './preset-images.js';
import { readySnapshotAndVm } from './ready-snapshot.js';

type Deps = Pick<UseCaseDependencies, 'templates' | 'images' | 'projects' | 'snapshots' | 'vms' | 'clock' | 'ids'>;

export const templatePageSize = { default: 50, maximum: 500 } as const;

export interface NewTemplate extends Partial<VmPreset> {
  readonly name: string;
  /** The project that will own it (already checked against the caller's token); its images must be its own. */
  readonly project: string;
  readonly description?: string | undefined;
  /** A ready snapshot of its project to restore VMs from: its VM's images, size and boot arguments are the preset. */
  readonly snapshotId?: SnapshotId | undefined;
}

/**
 * Creates a template: a valid name, images of its own project and of the right kind (a kernel is
 * an ELF vmlinux and a rootfs an ext4 image: their registration checked that), a size, and network
 * settings a VM could be created with. With a snapshot, the images, size and boot arguments are its
 * VM's: the fields given must agree with it.
 */
export async function createTemplate(deps: Deps, input: NewTemplate): Promise<Template> {
  const { name, project, description, snapshotId, ...given } = input;
  const preset =
    snapshotId === undefined
      ? presetOf(undefined, given)
      : await presetOfSnapshot(deps, snapshotId, project, given, given.restartPolicy ?? defaultRestartPolicy);
  await checkTemplate(deps, project, { name, description, ...preset });
  // A token bound to every project may name one that does not exist (the insert would refuse it too).
  if (!(await deps.projects.exists(project))) {
    throw new AppError('PROJECT_NOT_FOUND', `No project named ${project}`, { details: { project } });
  }
  const now = deps.clock.now();
  const template: Template = {
    id: deps.ids.templateId(),
    name,
    project,
    description: description ?? '',
    ...preset,
    snapshotId: snapshotId ?? null,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };
  await insertNaming(deps, [template.kernelImageId, template.rootfsImageId], () => deps.templates.insert(template));
  return template;
}

/** The templates matching `filter`, a page at a time, ordered by id. */
export async function listTemplates(
  deps: Pick<Deps, 'templates'>,
  filter: TemplateFilter,
  options: { limit?: number | undefined; cursor?: TemplateId | undefined } = {},
): Promise<TemplatePage> {
  const limit = Math.min(Math.max(options.limit ?? templatePageSize.default, 1), templatePageSize.maximum);
  return deps.templates.list(filter, { limit, afterId: options.cursor });
}

/** The template, when it is one of `projects`' (another project's template is not there for the caller). */
export async function getTemplate(deps: Pick<Deps, 'templates'>, id: TemplateId, projects: ProjectSet): Promise<Template> {
  const template = await deps.templates.findById(id);
  if (template === undefined || !canSeeProject(projects, template.project)) throw templateNotFound(id);
  return template;
}

export interface TemplateMutationOptions {
  readonly projects: ProjectSet;
  readonly ifMatch?: IfMatch | undefined;
}

/** Changes a template; VMs made from it keep what they copied. */
export async function updateTemplate(
  deps: Deps,
  id: TemplateId,
  changes: TemplateChanges,
  options: TemplateMutationOptions,
): Promise<Template> {
  const current = await getTemplate(deps, id, options.projects);
  const ifVersion = versionToMatch(current, options.ifMatch);
  const defined = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as TemplateChanges;
  const { snapshotId, ...given } = defined;
  // A snapshot (a new one, or the one it keeps) fixes the preset; dropping it (null) frees it.
  const carried = snapshotId === undefined ? current.snapshotId : snapshotId;
  let preset: TemplateChanges = given;
  if (carried !== null && snapshotId !== undefined) {
    preset = await presetOfSnapshot(deps, carried, current.project, given, given.restartPolicy ?? current.restartPolicy);
  } else if (carried !== null) {
    preset = presetFromSnapshotVm(current, given, given.restartPolicy ?? current.restartPolicy);
  }
  const applied: TemplateChanges = { ...preset, ...(snapshotId === undefined ? {} : { snapshotId }) };
  const checked = { ...current, ...applied };
  await checkTemplate(deps, current.project, checked);
  return insertNaming(deps, [checked.kernelImageId, checked.rootfsImageId], () =>
    deps.templates.update(id, applied, { at: deps.clock.now(), ifVersion }),
  );
}

/**
 * The preset of a template carrying `snapshotId`: the snapshot must be a ready one of `project`
 * (another project's is, to it, no snapshot at all); its VM's images, size and boot arguments are
 * taken, and each of them given must be the same.
 */
async function presetOfSnapshot(
  deps: Pick<Deps, 'snapshots' | 'vms'>,
  snapshotId: SnapshotId,
  project: string,
  given: Partial<VmPreset>,
  restartPolicy: RestartPolicy,
): Promise<VmPreset> {
  const { source } = await readySnapshotAndVm(deps, snapshotId, project, 'only a ready snapshot can be carried by a template');
  return presetFromSnapshotVm(source, given, restartPolicy);
}

/** Deletes a template; VMs made from it keep running as they are. */
export async function deleteTemplate(
  deps: Pick<Deps, 'templates' | 'clock'>,
  id: TemplateId,
  options: TemplateMutationOptions,
): Promise<Template> {
  const current = await getTemplate(deps, id, options.projects);
  return deps.templates.delete(id, { at: deps.clock.now(), ifVersion: versionToMatch(current, options.ifMatch) });
}

/** The version a change must find the template at, or undefined for none (`*` or no `If-Match`). */
function versionToMatch(template: Template, ifMatch: IfMatch | undefined): number | undefined {
  return matchedVersion(template.version, ifMatch, (expected) =>
    templatePreconditionFailed(template.id, expected, template.version),
  );
}

/** Every rule a template's fields must follow, each broken one named (VALIDATION_FAILED). */
async function checkTemplate(
  deps: Pick<Deps, 'images'>,
  project: string,
  template: Pick<Template, 'name' | 'kernelImageId' | 'rootfsImageId' | 'bootArgs' | 'egress'> & {
    readonly description?: string | undefined;
  },
): Promise<void> {
  const errors: FieldError[] = [];
  if (!isValidVmName(template.name)) {
    errors.push({ field: 'body/name', message: 'must be 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit' });
  }
  if ((template.description ?? '').length > templateDescriptionMaxLength) {
    errors.push({ field: 'body/description', message: `must NOT have more than ${templateDescriptionMaxLength} characters` });
  }
  if (template.bootArgs.length > bootArgsMaxLength) {
    errors.push({ field: 'body/bootArgs', message: `must NOT have more than ${bootArgsMaxLength} characters` });
  }
  // What the schema cannot check (octets, prefix lengths, ports without a protocol), as for a VM.
  errors.push(...egressPolicyErrors(template.egress, 'body/egress'));
  const { kernel, rootfs } = await presetImages(deps, template);
  errors.push(...presetImageErrors(template, { kernel, rootfs }, project));
  if (errors.length > 0) throw invalidBody(errors);
}
