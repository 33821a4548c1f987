#!/usr/bin/env node
// `npm run images` (after `tsc -b`): offers the guest images of images/build.sh (a Linux 6.1 kernel and a
// busybox rootfs) as the curated default kernel and rootfs of a Hearth installation.
//
// 1. Runs `images/build.sh --print-dir`: the first build needs root (it apt-installs the build packages)
//    and takes about 5 minutes on 2 cores; later runs reuse the cache in under a second.
// 2. Installs `vmlinux` and `rootfs.ext4` into the Manager's image root as
//    hearth/vmlinux-<linuxVersion> and hearth/rootfs-busybox-<short recipe hash>.ext4 (skipped when the
//    same file, by the manifest's sha256, is already there; a different file there is never overwritten).
// 3. If a Manager answers at MANAGER_URL, registers them through the public API as `hearth-vmlinux-<major.minor>`
//    and `hearth-busybox` (reusing an identical registration), then the curated template `hearth-busybox`
//    (1 vCPU, 256 MiB, the two images; reused when a template of that name has the same values, else named
//    after the rootfs) and prints a `curl` that creates a VM from it; otherwise prints the `curl` commands
//    that register them later.
//
// Reads (optional): MANAGER_IMAGE_ROOT (default ./data/images, as `npm start`), MANAGER_URL (default
// http://127.0.0.1:8080, as `npm start`), HEARTH_TOKEN (default: the admin token `npm start`'s Manager keeps
// in MANAGER_DATA_DIR, ./data/manager/admin-token), HEARTH_IMAGE_CACHE (images/build.sh).
// Exit codes: 0 done (also when no Manager answers), 1 the images could not be built or installed,
// 2 bad arguments or environment, 3 a Manager answered but registering failed, 130 interrupted.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { access, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sayer, shownPath } from './lib/processes.mjs';
import { adminTokenFile, findToken, managerApi, problemText } from './lib/manager-api.mjs';

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = sayer('images');
const shown = (file) => shownPath(repoRoot, file);
const env = process.env;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const KERNEL_NAME_PREFIX = 'hearth-vmlinux';
const ROOTFS_NAME = 'hearth-busybox';
const TEMPLATE_NAME = 'hearth-busybox';
const BOOT_ARGS = 'console=ttyS0 reboot=k panic=1';
const TEMPLATE_PRESET = { vcpuCount: 1, memoryMib: 256, bootArgs: BOOT_ARGS, restartPolicy: 'on-failure' };
const NETWORK_BOOT_ARG = 'ip=<guest-ip>::<gateway-ip>:<netmask>::eth0:off';
const NETWORK_EXAMPLE = 'ip=172.30.0.2::172.30.0.1:255.255.255.0::eth0:off';

/** An expected failure: printed without a stack trace, then the process exits with `exitCode`. */
class Failure extends Error {
  constructor(message, { exitCode = 1, hints = [] } = {}) {
    super(message);
    this.exitCode = exitCode;
    this.hints = hints;
  }
}

let buildChild;
let pendingTemp;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    buildChild?.kill('SIGTERM');
    if (pendingTemp !== undefined) void rm(pendingTemp, { force: true }).finally(() => process.exit(130));
    else process.exit(130);
  });
}

/** A string as one POSIX shell word. */
const shq = (text) => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`);
const print = (lines) => process.stdout.write(lines.map((line) => `    ${line}\n`).join(''));

// --- Settings ---------------------------------------------------------------------------------------
function settings() {
  const args = process.argv.slice(2);
  if (args.includes('-h') || args.includes('--help')) return { help: true };
  if (args.length > 0) throw new Failure(`unknown argument ${args[0]} (usage: npm run images)`, { exitCode: 2 });

  // Same default as scripts/start.mjs (`npm start`).
  const imageRoot = env.MANAGER_IMAGE_ROOT ?? path.join(repoRoot, 'data', 'images');
  if (!path.isAbsolute(imageRoot)) {
    throw new Failure(`MANAGER_IMAGE_ROOT must be an absolute path (the Manager refuses others), got "${imageRoot}".`, {
      exitCode: 2,
    });
  }
  const managerUrlText = env.MANAGER_URL ?? 'http://127.0.0.1:8080';
  let managerUrl;
  try {
    managerUrl = new URL(managerUrlText);
  } catch {
    throw new Failure(`MANAGER_URL is not a URL: "${managerUrlText}" (e.g. http://127.0.0.1:8080).`, { exitCode: 2 });
  }
  if (managerUrl.protocol !== 'http:' && managerUrl.protocol !== 'https:') {
    throw new Failure(`MANAGER_URL must be an http:// or https:// URL, got "${managerUrlText}".`, { exitCode: 2 });
  }
  return { imageRoot: path.resolve(imageRoot), managerUrl: managerUrl.href.replace(/\/+$/, '') };
}

// --- 1. Build (or reuse) ----------------------------------------------------------------------------
async function buildImages() {
  say('images/build.sh: reusing the cached guest images, or building them (a Linux 6.1 kernel and a busybox');
  say('  rootfs from Debian packages). The FIRST build needs root (it apt-installs the build packages) and');
  say('  takes about 5 minutes on 2 cores; later runs reuse the cache in under a second.');
  const script = path.join(repoRoot, 'images/build.sh');
  const { code, signal, stdout } = await new Promise((resolve, reject) => {
    let out = '';
    buildChild = spawn('bash', [script, '--print-dir'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    buildChild.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    buildChild.once('error', reject);
    buildChild.once('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal, stdout: out }));
  }).catch((error) => {
    throw new Failure(`could not run images/build.sh: ${error.message}`);
  });
  buildChild = undefined;
  if (code === 130 || signal === 'SIGINT' || signal === 'SIGTERM') throw new Failure('interrupted.', { exitCode: 130 });
  if (code !== 0) {
    const hints = ['see the output of images/build.sh above.'];
    if (!isRoot) hints.push('A first build needs root to install the build packages: `sudo npm run images`.');
    throw new Failure(`images/build.sh failed (${signal ?? `exit code ${code}`}).`, { hints });
  }
  const dir = stdout.trim();
  let manifest;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  } catch (error) {
    throw new Failure(`images/build.sh printed "${dir}", which has no readable manifest.json (${error.message}).`, {
      hints: ['rebuild the entry: bash images/build.sh --force'],
    });
  }
  const { kernel, rootfs, recipeHash } = manifest;
  const isSha = (value) => typeof value === 'string' && /^[0-9a-f]{64}$/.test(value);
  if (!isSha(recipeHash) || !isSha(kernel?.sha256) || !isSha(rootfs?.sha256) || !/^\d+\.\d+/.test(kernel?.linuxVersion ?? '')) {
    throw new Failure(`${dir}/manifest.json lacks recipeHash, kernel.sha256, kernel.linuxVersion or rootfs.sha256.`, {
      hints: ['rebuild the entry: bash images/build.sh --force'],
    });
  }
  return { dir, manifest };
}

// --- 2. Install into the image root -------------------------------------------------------------------
async function sha256Of(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

async function exists(file) {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (error.code === 'ENOENT') return false;
    throw error;
  }
}

/** `name.ext` → `name-<tag>.ext` (`.ext4` only; a kernel has no extension). */
const withTag = (fileName, tag) =>
  fileName.endsWith('.ext4') ? `${fileName.slice(0, -'.ext4'.length)}-${tag}.ext4` : `${fileName}-${tag}`;

/**
 * Copies `source` (whose sha256 the manifest gives) to `<dir>/<fileName>`; if a different file is there
 * (e.g. a rebuild of the same kernel version, perhaps registered already), to `<fileName>-<sha256 prefix>`
 * instead. Never overwrites. Resolves to { target, copied }.
 */
async function installFile(source, sha256, dir, fileName) {
  for (const candidate of [fileName, withTag(fileName, sha256.slice(0, 12))]) {
    const target = path.join(dir, candidate);
    if (await exists(target)) {
      if ((await sha256Of(target)) === sha256) return { target, copied: false };
      say(`${shown(target)} exists with other content (not overwritten).`);
      continue;
    }
    const temp = path.join(dir, `.${candidate}.tmp-${process.pid}`);
    pendingTemp = temp;
    try {
      await execFileAsync('cp', ['--reflink=auto', '--sparse=always', source, temp]);
      const copied = await sha256Of(temp);
      if (copied !== sha256) {
        throw new Failure(`the copy of ${source} has sha256 ${copied}, not ${sha256} as its manifest says.`, {
          hints: ['the cache entry looks damaged: rebuild it with `bash images/build.sh --force`.'],
        });
      }
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      if (error instanceof Failure) throw error;
      const detail = (error.stderr ?? '').trim() || error.message;
      throw new Failure(`could not copy ${source} to ${target}: ${detail}`);
    } finally {
      pendingTemp = undefined;
    }
    return { target, copied: true };
  }
  throw new Failure(`${path.join(dir, fileName)} and its alternative name both hold other files; not overwriting them.`, {
    hints: [`move them away, or set MANAGER_IMAGE_ROOT to another directory.`],
  });
}

async function installImages(imageRoot, { dir, manifest }) {
  const targetDir = path.join(imageRoot, 'hearth');
  try {
    await mkdir(targetDir, { recursive: true });
    await access(targetDir, constants.W_OK);
  } catch (error) {
    const who = isRoot ? '' : 'run as a user who can write it (e.g. `sudo npm run images`), or ';
    throw new Failure(`the image root ${imageRoot} is not writable: ${error.code ?? error.message} on ${targetDir}.`, {
      hints: [`${who}set MANAGER_IMAGE_ROOT to the image root of your Manager.`],
    });
  }
  const shortHash = manifest.recipeHash.slice(0, 12);
  const files = {
    kernel: await installFile(
      path.join(dir, manifest.kernel.path ?? 'vmlinux'),
      manifest.kernel.sha256,
      targetDir,
      `vmlinux-${manifest.kernel.linuxVersion}`,
    ),
    rootfs: await installFile(
      path.join(dir, manifest.rootfs.path ?? 'rootfs.ext4'),
      manifest.rootfs.sha256,
      targetDir,
      `rootfs-busybox-${shortHash}.ext4`,
    ),
  };
  for (const [kind, { target, copied }] of Object.entries(files)) {
    say(`${kind.padEnd(6)} ${shown(target)} ${copied ? '(installed)' : '(already there, same sha256)'}`);
  }
  return files;
}

// --- 3. Register with the Manager ---------------------------------------------------------------------
/** The token `npm start`'s Manager made (or HEARTH_TOKEN). */
const tokenFile = adminTokenFile(env.MANAGER_DATA_DIR ?? path.join(repoRoot, 'data', 'manager'));

async function api(managerUrl, method, route, body) {
  let response;
  try {
    response = await managerApi(managerUrl, () => findToken(env, path.dirname(tokenFile)))(method, route, body, 60_000);
  } catch (error) {
    throw new Failure(`${method} ${managerUrl}${route} failed: ${error.cause?.message ?? error.message}`, { exitCode: 3 });
  }
  if (response.status === 401) {
    throw new Failure(`the Manager at ${managerUrl} wants an API token: set HEARTH_TOKEN (none found in ${shown(tokenFile)}).`, {
      exitCode: 3,
    });
  }
  return response;
}

/** True when something answers HTTP at the Manager's /healthz (any status). */
async function managerAnswers(managerUrl) {
  try {
    await fetch(`${managerUrl}/healthz`, { signal: AbortSignal.timeout(3_000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Registers `hostPath` under the first of `names` that is free or already names an image with the same
 * sha256. Resolves to { image, name, isNew }.
 */
async function register(managerUrl, imageRoot, { kind, names, hostPath, sha256 }) {
  for (const name of names) {
    const response = await api(managerUrl, 'POST', '/v1/images', { kind, name, hostPath });
    if (response.status === 201) {
      if (response.body.sha256 !== sha256) {
        throw new Failure(`the Manager registered ${name} with sha256 ${response.body.sha256}, not ${sha256}.`, {
          exitCode: 3,
          hints: [`the file changed while it was registered; delete image ${response.body.id} and run again.`],
        });
      }
      return { image: response.body, name, isNew: true };
    }
    const code = response.body?.code;
    if (response.status === 409 && code === 'IMAGE_NAME_TAKEN') {
      const query = `/v1/images?kind=${kind}&name=${encodeURIComponent(name)}`;
      const listed = await api(managerUrl, 'GET', query);
      const existing = listed.status === 200 ? listed.body.items?.find((image) => image.name === name) : undefined;
      if (existing === undefined) {
        throw new Failure(`${name} is taken, but GET ${query} does not list it: ${problemText(listed)}`, { exitCode: 3 });
      }
      if (existing.sha256 === sha256) return { image: existing, name, isNew: false };
      say(
        `${kind} image ${name} (${existing.id}) is another file (${existing.hostPath}, sha256 ${existing.sha256.slice(0, 12)}…);`,
      );
      say(`  this build gets its own name.`);
      continue;
    }
    const hints = [];
    if (code === 'IMAGE_PATH_FORBIDDEN' || code === 'IMAGE_FILE_NOT_FOUND') {
      hints.push(`the Manager at ${managerUrl} does not see ${hostPath} in its image root: run again with`);
      hints.push(`MANAGER_IMAGE_ROOT set to that Manager's image root (this run used ${imageRoot}).`);
    }
    throw new Failure(`registering ${kind} image ${name} failed: ${problemText(response)}`, { exitCode: 3, hints });
  }
  throw new Failure(`the names ${names.join(' and ')} are taken by other ${kind} images.`, {
    exitCode: 3,
    hints: ['register the file under a name of your choice with the curl command below.'],
  });
}

function registerCurls(managerUrl, items) {
  return items.flatMap(({ kind, names, hostPath }) => [
    `curl -s -X POST ${shq(`${managerUrl}/v1/images`)} -H "Authorization: Bearer $HEARTH_TOKEN" -H 'content-type: application/json' \\`,
    `  -d ${shq(JSON.stringify({ kind, name: names[0], hostPath }))}`,
  ]);
}

/**
 * Registers the curated template of the two images under the first of `names` that is free or
 * already names a template with the same values. Resolves to { template, name, isNew }.
 */
async function registerTemplate(managerUrl, { names, kernelImageId, rootfsImageId }) {
  const wanted = { ...TEMPLATE_PRESET, kernelImageId, rootfsImageId };
  const isSame = (template) => Object.entries(wanted).every(([field, value]) => template[field] === value);
  for (const name of names) {
    const response = await api(managerUrl, 'POST', '/v1/templates', {
      name,
      description: 'The curated busybox guest of `npm run images`',
      ...wanted,
    });
    if (response.status === 201) return { template: response.body, name, isNew: true };
    if (response.status === 409 && response.body?.code === 'TEMPLATE_NAME_TAKEN') {
      const query = `/v1/templates?name=${encodeURIComponent(name)}`;
      const listed = await api(managerUrl, 'GET', query);
      const existing = listed.status === 200 ? listed.body.items?.find((template) => template.name === name) : undefined;
      if (existing === undefined) {
        throw new Failure(`${name} is taken, but GET ${query} does not list it: ${problemText(listed)}`, { exitCode: 3 });
      }
      if (isSame(existing)) return { template: existing, name, isNew: false };
      say(`template ${name} (${existing.id}) has other values; this build gets its own template.`);
      continue;
    }
    throw new Failure(`registering template ${name} failed: ${problemText(response)}`, { exitCode: 3 });
  }
  throw new Failure(`the template names ${names.join(' and ')} are taken by other templates.`, { exitCode: 3 });
}

function registerTemplateCurl(managerUrl) {
  const body = { name: TEMPLATE_NAME, ...TEMPLATE_PRESET, kernelImageId: 'img_…', rootfsImageId: 'img_…' };
  return [
    `curl -s -X POST ${shq(`${managerUrl}/v1/templates`)} -H "Authorization: Bearer $HEARTH_TOKEN" -H 'content-type: application/json' \\`,
    `  -d ${shq(JSON.stringify(body))}`,
  ];
}

function createVmFromTemplateCurl(managerUrl, templateId) {
  return [
    `curl -s -X POST ${shq(`${managerUrl}/v1/vms`)} -H "Authorization: Bearer $HEARTH_TOKEN" -H 'content-type: application/json' \\`,
    `  -d ${shq(JSON.stringify({ name: 'hearth-guest', templateId }))}`,
  ];
}

function createVmCurl(managerUrl, kernelImageId, rootfsImageId) {
  const body = { name: 'hearth-guest', vcpuCount: 1, memoryMib: 256, kernelImageId, rootfsImageId, bootArgs: BOOT_ARGS };
  return [
    `curl -s -X POST ${shq(`${managerUrl}/v1/vms`)} -H "Authorization: Bearer $HEARTH_TOKEN" -H 'content-type: application/json' \\`,
    `  -d ${shq(JSON.stringify(body))}`,
  ];
}

function printGuestNotes() {
  say('');
  say(`For networking, append to bootArgs the address the guest should take (the kernel applies it):`);
  say(`  ${NETWORK_BOOT_ARG}   e.g. ${NETWORK_EXAMPLE}`);
  say('  (the gateway is the Agent bridge address, FC_BRIDGE_ADDR; see images/README.md, "Boot arguments").');
  say('Under `npm start` the Agent runs the Firecracker double, which SIMULATES the guest unless the VMM runs with');
  say('FC_DOUBLE_BACKEND=qemu (as `npm run demo` does); hosts with real Firecracker and KVM boot it for real.');
}

// --- Main -------------------------------------------------------------------------------------------------
async function main() {
  const config = settings();
  if (config.help) {
    const lines = (await readFile(fileURLToPath(import.meta.url), 'utf8')).split('\n');
    const header = lines.slice(
      1,
      lines.findIndex((line) => line.startsWith('import ')),
    );
    process.stdout.write(header.map((line) => line.replace(/^\/\/ ?/, '')).join('\n') + '\n');
    return 0;
  }
  const { imageRoot, managerUrl } = config;
  const built = await buildImages();
  const { manifest } = built;
  say(
    `build ${manifest.recipeHash.slice(0, 12)}: Linux ${manifest.kernel.linuxVersion}, ${manifest.rootfs.busyboxPackage ?? 'busybox'}`,
  );
  say(
    `installing into the image root ${shown(imageRoot)} (MANAGER_IMAGE_ROOT${env.MANAGER_IMAGE_ROOT === undefined ? " unset: `npm start`'s default" : ''}):`,
  );
  const files = await installImages(imageRoot, built);

  const majorMinor = manifest.kernel.linuxVersion.match(/^\d+\.\d+/)[0];
  const items = [
    {
      kind: 'kernel',
      names: [
        `${KERNEL_NAME_PREFIX}-${majorMinor}`,
        `${KERNEL_NAME_PREFIX}-${majorMinor}-${manifest.kernel.sha256.slice(0, 12)}`,
      ],
      hostPath: files.kernel.target,
      sha256: manifest.kernel.sha256,
    },
    {
      kind: 'rootfs',
      names: [ROOTFS_NAME, `${ROOTFS_NAME}-${manifest.rootfs.sha256.slice(0, 12)}`],
      hostPath: files.rootfs.target,
      sha256: manifest.rootfs.sha256,
    },
  ];

  say('');
  if (!(await managerAnswers(managerUrl))) {
    say(`no Manager answers at ${managerUrl} (set MANAGER_URL, or start one: \`npm start\`). Register the images later with:`);
    print(registerCurls(managerUrl, items));
    say('then create a VM from the two ids ("id" in the answers):');
    print(createVmCurl(managerUrl, 'img_…', 'img_…'));
    say('or register the curated template of the two, and create VMs from it (`{"name":…,"templateId":"tpl_…"}`):');
    print(registerTemplateCurl(managerUrl));
    printGuestNotes();
    return 0;
  }

  say(`registering with the Manager at ${managerUrl}:`);
  const ids = {};
  for (const item of items) {
    const { image, name, isNew } = await register(managerUrl, imageRoot, item);
    ids[item.kind] = image.id;
    const note = isNew ? 'registered' : `already registered${image.hostPath === item.hostPath ? '' : ` (at ${image.hostPath})`}`;
    say(`${item.kind.padEnd(8)} ${name.padEnd(22)} ${image.id}  ${note}`);
  }
  const { template, name, isNew } = await registerTemplate(managerUrl, {
    names: [TEMPLATE_NAME, `${TEMPLATE_NAME}-${manifest.rootfs.sha256.slice(0, 12)}`],
    kernelImageId: ids.kernel,
    rootfsImageId: ids.rootfs,
  });
  say(`${'template'.padEnd(8)} ${name.padEnd(22)} ${template.id}  ${isNew ? 'registered' : 'already registered'}`);
  say('');
  say('create a VM from the template (what is given replaces its value, e.g. --memory 512), with HEARTH_URL and');
  say('HEARTH_TOKEN set as `npm start` prints them:');
  print([`npx hearth vm create hearth-guest --template ${name} --wait`]);
  say('or with curl:');
  print(createVmFromTemplateCurl(managerUrl, template.id));
  say('a warm template (its VMs start by restore instead of boot, each with its own identity) from a');
  say('snapshot of that guest once it runs:');
  print([
    'npx hearth snapshot create hearth-guest',
    `npx hearth template create ${name}-warm --snapshot <snapshot id>`,
    `npx hearth vm create pool --template ${name}-warm --count 4 --wait`,
  ]);
  printGuestNotes();
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof Failure) {
    say(`ERROR: ${error.message}`);
    for (const hint of error.hints) say(`  ${hint}`);
    process.exitCode = error.exitCode;
  } else if (typeof error?.code === 'string' && typeof error?.syscall === 'string') {
    // a file-system error (EACCES, ENOSPC, EROFS, ...): expected enough to need no stack trace
    say(`ERROR: ${error.message}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
