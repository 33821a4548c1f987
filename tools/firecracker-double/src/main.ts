/**
 * The `firecracker-double` executable: behaves like `firecracker` v1.16.1 (behaviour.md#cli).
 * Startup is kept lean: only CLI, logging and the HTTP transport load before the API socket
 * listens; the VMM loads while the socket is already accepting (requests queue meanwhile).
 */
import { readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileTrace } from './backends/qemu-trace.js';
import type { CliArgs } from './cli.js';
import { CliError, HELP_TEXT, instanceIdError, parseCli } from './cli.js';
import { loadDoubleConfig } from './config.js';
import type { HttpRequest } from './http/parser.js';
import type { ApiResponse } from './http/response.js';
import { ApiHttpServer } from './http/server.js';
import type { Level } from './logger.js';
import { API, Logger, MAIN, parseLevel } from './logger.js';
import type { Sink } from './sink.js';
import { openSink } from './sink.js';
import { DEFAULT_PAYLOAD_LIMIT, FC_VERSION, SNAPSHOT_VERSION } from './version.js';
import { resolveNow, workingDirectoryNow } from './working-directory.js';

type App = import('./app.js').DoubleInstance;

const EXIT_GENERIC = 1;
const EXIT_BAD_CONFIGURATION = 152;
const EXIT_ARG_PARSING = 153;

const logger = new Logger('anonymous-instance');

function exitWith(code: number): never {
  if (code === 0) logger.info(MAIN, 'Firecracker exiting successfully. exit_code=0');
  else logger.error(MAIN, `Firecracker exiting with error. exit_code=${code}`);
  process.exit(code);
}

/** Upstream is built with panic=abort: a panic kills the process with SIGABRT (behaviour.md#exit-codes). */
function panic(message: string): never {
  writeSync(2, `thread 'main' panicked at src/firecracker/src/main.rs:\n${message}\n`);
  process.abort();
}

function parseNumberOrPanic(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text)) panic(`Failed to parse ${what}: invalid digit found in string`);
  return Number(text);
}

function parseArgs(): CliArgs {
  try {
    return parseCli(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    logger.error(MAIN, `Arguments parsing error: ${err.message} \n\nFor more information try --help.`);
    return exitWith(EXIT_ARG_PARSING);
  }
}

function openSinkOrExit(path: string, what: string): Sink {
  try {
    return openSink(path);
  } catch (err) {
    logger.error(MAIN, `Could not initialize ${what}: ${(err as Error).message}`);
    return exitWith(EXIT_GENERIC);
  }
}

function printAndExit(text: string): never {
  process.stdout.write(text);
  process.exit(0);
}

async function describeSnapshot(path: string): Promise<never> {
  const { snapshotVersionOf } = await import('./snapshot-file.js');
  printAndExit(`v${snapshotVersionOf(readFileSync(path))}\n`);
}

function metadataLoader(path: string | undefined, app: App): () => void {
  return () => {
    if (path === undefined) return;
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    } catch (err) {
      panic(`Unable to parse metadata file: ${(err as Error).message}`);
    }
    try {
      app.vmm.ctx.mmds.put(value);
    } catch (err) {
      logger.error(
        MAIN,
        `Populating MMDS from file failed: ${(err as Error).message.replace(/^MMDS limit exceeded error: /, '')}`,
      );
      exitWith(EXIT_GENERIC);
    }
  };
}

function readConfigOrPanic(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    return panic(`Unable to open or read from the configuration file: ${(err as Error).message}`);
  }
}

async function bootOrExit(app: App, text: string, metadata: () => void, prefix: string): Promise<void> {
  const { bootFromConfigFile, ConfigFileError } = await import('./config-file.js');
  const { VmmError } = await import('./vmm/errors.js');
  try {
    await bootFromConfigFile(app.vmm, text, metadata);
  } catch (err) {
    if (!(err instanceof VmmError) && !(err instanceof ConfigFileError)) throw err;
    logger.error(MAIN, `${prefix}${err.message}`);
    exitWith(EXIT_GENERIC);
  }
}

/** Fatal host signals exit with upstream's codes; SIGTERM/SIGINT keep the default (behaviour.md#exit-codes). */
function installSignalHandlers(app: App): void {
  const codes: Array<[NodeJS.Signals, number]> = [
    ['SIGHUP', 156],
    ['SIGXFSZ', 151],
    ['SIGXCPU', 154],
  ];
  for (const [signal, code] of codes) {
    process.on(signal, () => {
      logger.error(MAIN, `Shutting down VM after intercepting signal ${signal}, code ${code}.`);
      app.vmm.ctx.flushMetrics();
      exitWith(code);
    });
  }
  process.on('SIGPIPE', () => app.metrics.inc('signals', 'sigpipe'));
}

function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

async function main(): Promise<void> {
  const args = parseArgs();
  const v = args.values;
  if (args.flags.has('help')) printAndExit(HELP_TEXT);
  if (args.flags.has('version')) printAndExit(`Firecracker v${FC_VERSION}\n\n`);
  if (args.flags.has('snapshot-version')) printAndExit(`v${SNAPSHOT_VERSION}\n`);
  if (v['describe-snapshot'] !== undefined) await describeSnapshot(v['describe-snapshot']);

  const idError = instanceIdError(args.id);
  if (idError !== undefined) panic(idError);
  logger.instanceId = args.id;
  let level: Level | undefined;
  if (v['level'] !== undefined) {
    level = parseLevel(v['level']);
    if (level === undefined) {
      logger.error(MAIN, `Failed to set the log level: Invalid log level: ${v['level']}`);
      exitWith(EXIT_BAD_CONFIGURATION);
    }
  }
  const logSink = v['log-path'] !== undefined ? openSinkOrExit(v['log-path'], 'the logger') : undefined;
  logger.configure(
    {
      ...(level !== undefined ? { level } : {}),
      showLevel: args.flags.has('show-level'),
      showOrigin: args.flags.has('show-log-origin'),
      module: v['module'],
    },
    logSink,
  );
  const metricsSink = v['metrics-path'] !== undefined ? openSinkOrExit(v['metrics-path'], 'the metrics') : undefined;
  const payloadLimit = parseNumberOrPanic(v['http-api-max-payload-size'], DEFAULT_PAYLOAD_LIMIT, 'payload size');
  const mmdsSizeLimit = parseNumberOrPanic(v['mmds-size-limit'], payloadLimit, 'mmds size limit');
  const configText = v['config-file'] !== undefined ? readConfigOrPanic(v['config-file']) : undefined;
  logger.info(MAIN, `Running Firecracker v${FC_VERSION}`);

  const config = loadDoubleConfig(process.env);
  // Backends keep private runtime files next to the API socket. Where that is the working
  // directory, they follow it: it may be renamed while the process runs (a warm VMM's directory
  // becoming its VM's), and the socket with it.
  const socketDirectory = dirname(resolveNow(args.apiSock));
  const runDir = args.flags.has('no-api')
    ? undefined
    : socketDirectory === workingDirectoryNow()
      ? workingDirectoryNow
      : socketDirectory;
  const traceDir = config.traceDir;
  const backendPromise = import('./backends/select.js').then(({ loadBackend }) =>
    loadBackend(config.backend, {
      qemuBinary: config.qemuBinary,
      searchPath: config.searchPath,
      ...(runDir === undefined ? {} : { runDir }),
      ...(traceDir === undefined ? {} : { trace: fileTrace(join(resolve(traceDir), `${args.id}.jsonl`)) }),
    }),
  );
  const appPromise = Promise.all([import('./app.js'), backendPromise]).then(([{ createDouble }, backend]) => {
    const app = createDouble({
      backend,
      instanceId: args.id,
      payloadLimit,
      mmdsSizeLimit,
      enablePci: args.flags.has('enable-pci'),
      bootTimer: args.flags.has('boot-timer'),
      isTapCheckSkipped: config.isTapCheckSkipped,
      loggerInstance: logger,
      ...(args.flags.has('no-api') ? {} : { apiSock: args.apiSock }),
      ...(metricsSink ? { metricsSink } : {}),
      onExit: (code) => exitWith(code),
    });
    installSignalHandlers(app);
    return app;
  });

  if (args.flags.has('no-api')) {
    const app = await appPromise;
    await bootOrExit(
      app,
      configText as string,
      metadataLoader(v['metadata'], app),
      'Configuration for VMM from one single json failed: ',
    );
    logger.info(MAIN, 'Successfully started microvm that was configured from one single json');
    return;
  }

  const server = new ApiHttpServer(
    async (req: HttpRequest): Promise<ApiResponse> => (await appPromise).handler(req),
    payloadLimit,
  );
  try {
    await server.listen(args.apiSock);
  } catch {
    logger.error(MAIN, `Failed to open the API socket at: ${args.apiSock}. Check that it is not already used.`);
    exitWith(EXIT_GENERIC);
  }
  logger.info(API, `Listening on API socket ("${args.apiSock}").`);
  logger.info(API, 'API server started.');
  const startedUs = nowUs();
  // --metadata and --config-file go first on the API queue, so no request overtakes them.
  const setup = server.enqueue(async () => {
    const app = await appPromise;
    const metadata = metadataLoader(v['metadata'], app);
    if (configText === undefined) metadata();
    else await bootOrExit(app, configText, metadata, 'Building VMM configured from cmdline json failed: ');
  });
  const app = await appPromise;
  const reportedStart = v['start-time-us'] !== undefined ? Number(v['start-time-us']) : Math.round(performance.timeOrigin * 1000);
  app.metrics.store('api_server', 'process_startup_time_us', Math.max(0, startedUs - reportedStart));
  const cpu = process.cpuUsage();
  app.metrics.store('api_server', 'process_startup_time_cpu_us', cpu.user + cpu.system);
  await setup;
}

main().catch((error: unknown) => {
  // An error main() does not turn into an exit code itself is a bug in the double.
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  exitWith(EXIT_GENERIC);
});
