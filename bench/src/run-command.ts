import { execFile } from 'node:child_process';

/** Runs `argv` without a shell; its stdout, or an error naming the command with its stderr. */
export function runCommand(argv: readonly string[], timeoutMs = 60_000): Promise<string> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(file as string, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${argv.join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}
