import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CliError, exitCodes } from './exit-codes.js';

/** A Manager and the token to use with it. */
export interface Context {
  readonly url: string;
  readonly token?: string | undefined;
}

export interface ConfigFile {
  readonly current?: string | undefined;
  readonly contexts: Readonly<Record<string, Context>>;
}

/** Where the CLI keeps its contexts: `$XDG_CONFIG_HOME/hearth/config.json`, else `~/.config/hearth/config.json`. */
export function configPath(env: Readonly<Record<string, string | undefined>>): string {
  const base = env['XDG_CONFIG_HOME'] || path.join(env['HOME'] || '.', '.config');
  return path.join(base, 'hearth', 'config.json');
}

export async function readConfigFile(file: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<ConfigFile>;
  return { current: parsed.current, contexts: parsed.contexts ?? {} };
}

/** Writes the file whole (a rename), readable by its owner only: it holds tokens. */
export async function writeConfigFile(file: string, config: ConfigFile): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

/**
 * The Manager to talk to: HEARTH_URL and HEARTH_TOKEN win over the context (HEARTH_CONTEXT, else
 * the file's current one).
 */
export async function resolveContext(env: Readonly<Record<string, string | undefined>>): Promise<Context> {
  const config = await readConfigFile(configPath(env));
  const name = env['HEARTH_CONTEXT'] || config.current;
  const context = name === undefined ? undefined : config.contexts[name];
  if (name !== undefined && env['HEARTH_CONTEXT'] && context === undefined) {
    throw new CliError(exitCodes.notConfigured, `no context named ${name} (hearth context ls)`);
  }
  const url = env['HEARTH_URL'] || context?.url;
  if (url === undefined) {
    throw new CliError(
      exitCodes.notConfigured,
      'no Manager configured: set HEARTH_URL and HEARTH_TOKEN, or run hearth context set <name> --url <url> --token <token>',
    );
  }
  return { url, token: env['HEARTH_TOKEN'] || context?.token };
}
