#!/usr/bin/env node
import { runCli } from './cli.js';

// A reader that stops early (`hearth vm ls | head -1`, `hearth vm logs --follow | grep -m1 login`)
// closes the pipe: end quietly, as a command killed by SIGPIPE does, never with a stack trace. What
// was asked has been read; the command's own exit code is not known yet, so it is 0.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: (text) => process.stdout.write(`${text}\n`),
  write: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(`${text}\n`),
});
