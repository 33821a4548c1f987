import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findCommand, freePort, isRoot } from '@hearth/testkit';

/** A PostgreSQL server owned by one test, so that the test may stop and start it. */
export interface ThrowawayPostgres {
  /** URL of the `postgres` database as the superuser. */
  readonly url: string;
  stop(): void;
  start(): void;
  /** Stops it (if running) and removes its files. Idempotent. */
  destroy(): void;
}

function pgBin(): string | undefined {
  const versions = existsSync('/usr/lib/postgresql')
    ? readdirSync('/usr/lib/postgresql').sort((a, b) => Number(a) - Number(b))
    : [];
  for (const version of versions.reverse()) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(`${dir}/initdb`) && existsSync(`${dir}/pg_ctl`)) return dir;
  }
  const initdb = findCommand('initdb');
  return initdb === undefined ? undefined : path.dirname(initdb);
}

/** Why a throwaway server cannot be made here, or undefined. */
export function throwawayPostgresProblem(): string | undefined {
  if (pgBin() === undefined) return 'no initdb/pg_ctl';
  if (isRoot && findCommand('runuser') === undefined) return 'no runuser (initdb refuses to run as root)';
  return undefined;
}

/** initdb + pg_ctl start on a free port, as `scripts/test.sh` does (as the postgres user when root). */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const bin = pgBin();
  if (bin === undefined) throw new Error('no PostgreSQL server binaries');
  const user = isRoot ? 'postgres' : os.userInfo().username;
  const asUser = (argv: string[]): void => {
    const command = isRoot ? ['runuser', '-u', user, '--', ...argv] : argv;
    execFileSync(command[0]!, command.slice(1), { stdio: 'pipe' });
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hearth-pg-'));
  const data = path.join(dir, 'data');
  if (isRoot) {
    // The server runs as the postgres user: it owns the directory (data, socket and log).
    chmodSync(dir, 0o700);
    chownSync(
      dir,
      Number(execFileSync('id', ['-u', user]).toString().trim()),
      Number(execFileSync('id', ['-g', user]).toString().trim()),
    );
  }
  const port = await freePort();
  asUser([`${bin}/initdb`, '-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=100`;
  let isRunning = false;
  const server: ThrowawayPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start() {
      asUser([`${bin}/pg_ctl`, '-D', data, '-l', path.join(dir, 'postgres.log'), '-w', '-t', '60', '-o', options, 'start']);
      isRunning = true;
    },
    stop() {
      asUser([`${bin}/pg_ctl`, '-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      isRunning = false;
    },
    destroy() {
      if (isRunning) {
        try {
          asUser([`${bin}/pg_ctl`, '-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']);
        } catch {
          // already down
        }
        isRunning = false;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  server.start();
  return server;
}
