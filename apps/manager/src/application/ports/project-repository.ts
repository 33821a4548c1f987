import type { Project, ProjectQuota } from '../../domain/project.js';

export interface ProjectRepository {
  /** Throws PROJECT_NAME_TAKEN when the name is taken. */
  insert(project: Project): Promise<void>;
  exists(name: string): Promise<boolean>;
  findByName(name: string): Promise<Project | undefined>;
  /** The projects named in `names` (all of them when undefined), ordered by name. */
  list(names?: readonly string[]): Promise<readonly Project[]>;
  /** Undefined when absent. */
  setQuota(name: string, quota: ProjectQuota): Promise<Project | undefined>;
  /**
   * Deletes it and takes it from every token bound to it; a token left with no project is revoked
   * at `at`, so that a later project of the same name gives old tokens nothing. Throws
   * PROJECT_NOT_FOUND when absent and PROJECT_NOT_EMPTY while images or VMs belong to it.
   */
  delete(name: string, at: Date): Promise<void>;
}
