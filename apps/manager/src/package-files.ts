import { fileURLToPath } from 'node:url';

/**
 * The files the Manager reads beside its code, found from this module's own location. Every form
 * the Manager runs in keeps this module one level below the package directory: `src/` (tests),
 * `dist/` (tsc) and the bundle `dist/hearth-manager.mjs` (scripts/bundle.mjs), so the paths are
 * written once, here, and hold for all three.
 */

/** `apps/manager/migrations/`: the schema's SQL migrations. */
export const migrationsDir: string = fileURLToPath(new URL('../migrations/', import.meta.url));

/** The web console the build puts beside the compiled Manager (`dist/console`; scripts/bundle.mjs). */
export const consoleDir: string = fileURLToPath(new URL('./console/', import.meta.url));

/**
 * `apps/manager/node-flags.json`: the V8 flags every launcher gives `node` before the Manager's entry
 * point (ADR 0011). They size the heap, which V8 configures before any of the Manager's code runs.
 */
export const nodeFlagsFile: string = fileURLToPath(new URL('../node-flags.json', import.meta.url));
