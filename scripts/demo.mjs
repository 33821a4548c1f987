#!/usr/bin/env node
// `npm run demo` (after `tsc -b`): boot a REAL Linux guest through Hearth on a machine without
// Firecracker or KVM. The Agent runs the Firecracker double with its QEMU backend (software
// emulation, TCG): an emulator for trying Hearth out. Production hosts run real Firecracker with KVM.
//
// Needs root on Linux (a network namespace, a bridge and a TAP device). Everything it creates on the
// host lives in the network namespace `hearth-demo` (bridge hdemo0 172.30.0.1/16, the VM's TAP, the
// VMM and QEMU processes) and under ./data/demo; the Manager and the Agent listen on 127.0.0.1 only.
// Ctrl-C (or SIGTERM) deletes the VM through the API, stops both apps and deletes the namespace.
// ./data/demo/manager (the embedded PGlite database) and ./data/demo/images are kept for the next run.
//
// Reads (optional): MANAGER_LOG_LEVEL, AGENT_LOG_LEVEL (default warn), HEARTH_IMAGE_CACHE (images/build.sh).
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createSupervisor,
  findOnPath,
  joinTokenFor,
  managerNodeFlags,
  listenablePort,
  pollUntil,
  sayer,
  shownPath,
  sleep,
  waitUntilHealthy,
} from './lib/processes.mjs';
import { adminTokenFile, findToken, managerApi, problemText } from './lib/manager-api.mjs';

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const say = sayer('demo');
const shown = (file) => shownPath(repoRoot, file);

const NETNS = 'hearth-demo';
const BRIDGE = 'hdemo0';
const GATEWAY = '172.30.0.1';
const AGENT_NAME = 'hearth-demo';
const VM_NAME = 'demo';
const KERNEL_IMAGE_NAME = 'hearth-demo-kernel';
const ROOTFS_IMAGE_NAME = 'hearth-demo-rootfs';
// No ip= argument: the Manager leases the guest an address of its pool (172.30.0.0/16, gateway
// 172.30.0.1, the bridge), and the Agent appends the kernel's ip= argument for it.
const BOOT_ARGS = 'console=ttyS0 reboot=k panic=1';
const GUEST_ANSWER_TIMEOUT_MS = 120_000;

const demoDir = path.join(repoRoot, 'data/demo');
const managerDataDir = path.join(demoDir, 'manager');
const imageRoot = path.join(demoDir, 'images');
const runDir = path.join(demoDir, 'fc');
const managerMain = path.join(repoRoot, 'apps/manager/dist/hearth-manager.mjs');
const agentMain = path.join(repoRoot, 'apps/agent/dist/hearth-agent.mjs');
const doubleBin = path.join(repoRoot, 'node_modules/.bin/firecracker-double');
const doubleMain = path.join(repoRoot, 'tools/firecracker-double/dist/firecracker-double.cjs');

const rule = '='.repeat(100);
function banner(lines) {
  process.stdout.write(`${rule}\n${lines.map((line) => `  ${line}`).join('\n')}\n${rule}\n`);
}

function fail(message, ...hints) {
  say(`ERROR: ${message}`);
  for (const hint of hints) say(`  ${hint}`);
  process.exit(1);
}

// --- 1. What this is --------------------------------------------------------------------------------
banner([
  'Hearth demo: this boots a REAL Linux guest under QEMU software emulation (TCG), driven through the',
  'Firecracker double (tools/firecracker-double). It is an emulator for trying Hearth out on a machine',
  'without Firecracker or KVM: it is slow and not isolated like a microVM.',
  'Production hosts run real Firecracker with KVM.',
]);

// --- 2. Requirements ---------------------------------------------------------------------------------
if (process.platform !== 'linux') {
  fail(`this demo needs Linux (network namespaces, bridges, TAP devices); this is ${process.platform}.`);
}
if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  fail(
    'this demo needs root: it creates a network namespace, a bridge and a TAP device for the guest',
    '(all inside the namespace `hearth-demo`, removed again on Ctrl-C). Run: sudo npm run demo',
  );
}
for (const [file, hint] of [
  [managerMain, 'npm run build'],
  [agentMain, 'npm run build'],
  [doubleMain, 'npm run build'],
  [doubleBin, 'npm ci'],
]) {
  if (!existsSync(file)) fail(`${shown(file)} does not exist: run \`${hint}\` (\`npm run demo\` builds first).`);
}

/** Runs a command with inherited stdio (for apt and the image build); rejects on failure. */
let setupChild;
function runVisible(command, args, { captureStdout = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', captureStdout ? 'pipe' : 'inherit', 'inherit'] });
    setupChild = child;
    let stdout = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      setupChild = undefined;
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`));
    });
  });
}

// Until the namespace exists there is nothing to clean up: Ctrl-C just stops what runs.
function earlyExit(signal) {
  say(`${signal} before anything was created: exiting.`);
  setupChild?.kill('SIGTERM');
  process.exit(130);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, earlyExit);

const needed = [
  ['ip', 'iproute2'],
  ['qemu-system-x86_64', 'qemu-system-x86'],
];
const missingPackages = needed.filter(([command]) => findOnPath(command) === undefined).map(([, pkg]) => pkg);
if (missingPackages.length > 0) {
  say(`installing ${missingPackages.join(', ')} with apt (QEMU emulates the guest; ip makes the namespace)...`);
  try {
    await runVisible('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update', '-q']);
    await runVisible('env', [
      'DEBIAN_FRONTEND=noninteractive',
      'apt-get',
      '-o',
      'DPkg::Lock::Timeout=600',
      'install',
      '-y',
      '-q',
      '--no-install-recommends',
      ...missingPackages,
    ]);
  } catch (error) {
    fail(error.message, `install them yourself: apt-get install --no-install-recommends ${missingPackages.join(' ')}`);
  }
}

async function run(command, args, timeoutMs = 10_000) {
  return (await execFileAsync(command, args, { encoding: 'utf8', timeout: timeoutMs })).stdout;
}

async function netnsExists() {
  const out = await run('ip', ['netns', 'list']);
  return out.split('\n').some((line) => line.split(/\s+/)[0] === NETNS);
}

if (await netnsExists()) {
  let pids = '';
  try {
    pids = (await run('ip', ['netns', 'pids', NETNS])).split(/\s+/).filter(Boolean).join(' ');
  } catch {
    // unknown
  }
  fail(
    `the network namespace ${NETNS} already exists: is another demo running?`,
    pids === ''
      ? 'No process runs in it. If no demo is running, remove it with: sudo ip netns delete hearth-demo'
      : `Processes ${pids} run in it (see: sudo ip netns pids hearth-demo). Stop that demo with Ctrl-C, or end them, then: sudo ip netns delete hearth-demo`,
  );
}

say('building the guest images (images/build.sh: a Linux 6.1 kernel and a busybox rootfs from Debian packages).');
say('  The first build takes about 5 minutes; later runs reuse the cache in well under a second.');
let imagesDir;
try {
  imagesDir = (await runVisible('bash', [path.join(repoRoot, 'images/build.sh'), '--print-dir'], { captureStdout: true })).trim();
} catch (error) {
  fail(error.message, 'see the output of images/build.sh above.');
}
for (const file of ['vmlinux', 'rootfs.ext4']) {
  if (!existsSync(path.join(imagesDir, file))) fail(`images/build.sh printed ${imagesDir}, which has no ${file}.`);
}

const curlBin = findOnPath('curl');
const busyboxBin = findOnPath('busybox');
if (curlBin === undefined && busyboxBin === undefined) {
  fail('neither curl nor busybox is installed: one is needed to fetch the guest page inside the namespace.');
}

// --- 3. Namespace, Manager, Agent ----------------------------------------------------------------------
const managerPort = (await listenablePort('127.0.0.1', 8080)) ?? (await listenablePort('127.0.0.1', 0));
const agentPort = await listenablePort('127.0.0.1', 0);
const managerUrl = `http://127.0.0.1:${managerPort}`;
const agentUrl = `https://127.0.0.1:${agentPort}`;

let namespaceCreated = false;
let vmId;
let createInFlight;
let createAttempted = false;

/** The Manager's public API, with the admin token the demo's Manager made at its first start. */
const api = managerApi(managerUrl, () => findToken({}, managerDataDir));

async function deleteVm(id) {
  // A VM in a transition (e.g. `starting`: the reconciler restarting a leftover) cannot be deleted yet: 409.
  const deadline = Date.now() + 60_000;
  let response = await api('DELETE', `/v1/vms/${id}`, undefined, 60_000);
  while (response.status === 409 && Date.now() < deadline) {
    await sleep(500);
    response = await api('DELETE', `/v1/vms/${id}`, undefined, 60_000);
  }
  if (response.status === 200) {
    const vmDir = path.join(runDir, 'vms', id);
    const inVmDir = response.body.removed.filter((r) => r.ref === vmDir || r.ref.startsWith(`${vmDir}/`));
    const removed = response.body.removed.filter((r) => !inVmDir.includes(r)).map((r) => `${r.kind} ${r.ref}`);
    if (inVmDir.length > 0) removed.push(`${inVmDir.map((r) => r.kind).join(', ')} in ${shown(vmDir)}`);
    say(`deleted VM ${id} through the API${removed.length > 0 ? `; the Agent removed: ${removed.join('; ')}` : ''}.`);
  } else if (response.status !== 404) {
    throw new Error(`DELETE /v1/vms/${id}: ${problemText(response)}`);
  }
}

/** Ctrl-C, step 1 (Manager and Agent still up): delete the VM through the public API. */
async function beforeStop() {
  say('');
  say('cleaning up...');
  if (createInFlight !== undefined) {
    say('waiting for the VM create in progress to answer...');
    const answer = await Promise.race([createInFlight.catch(() => undefined), sleep(60_000)]);
    vmId ??= answer?.body?.id;
  }
  if (vmId !== undefined) {
    await deleteVm(vmId);
  } else if (createAttempted) {
    // The create failed or timed out: delete whatever VM it may still have left.
    const vms = await api('GET', '/v1/vms?limit=100', undefined, 10_000);
    for (const vm of vms.body.items ?? []) if (vm.name === VM_NAME) await deleteVm(vm.id);
  }
}

/** Ctrl-C, step 2 (Manager and Agent stopped): anything left in the namespace, the namespace, the run dir. */
async function afterStop() {
  if (!namespaceCreated) return;
  // Only processes we started can be in the namespace (it was created by this run): VMMs and their QEMU.
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    let pids = [];
    try {
      pids = (await run('ip', ['netns', 'pids', NETNS])).split(/\s+/).filter(Boolean).map(Number);
    } catch {
      break;
    }
    if (pids.length === 0) break;
    say(`${signal} to processes left in the namespace: ${pids.join(' ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    await pollUntil(async () => (await run('ip', ['netns', 'pids', NETNS])).trim() === '', { timeoutMs: 5_000 });
  }
  await run('ip', ['netns', 'delete', NETNS]);
  say(`deleted the network namespace ${NETNS} (and with it the bridge ${BRIDGE} and any TAP device).`);
  rmSync(path.join(runDir, 'vms'), { recursive: true, force: true });
  say(
    `removed ${shown(runDir)}/vms; kept the Agent's identity in ${shown(runDir)}, ${shown(managerDataDir)} (database) and ${shown(imageRoot)} (images).`,
  );
}

const supervisor = createSupervisor({ say, ownProcessGroup: true, beforeStop, afterStop });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.off(signal, earlyExit);
// SIGHUP too: closing the terminal must not leave the Manager and the Agent (own process group) running.
supervisor.handleSignals(['SIGINT', 'SIGTERM', 'SIGHUP']);
process.stdout.on('error', () => {}); // the terminal may be gone while cleaning up
process.stderr.on('error', () => {});
const stopping = () => supervisor.isStopping;
const forever = () => new Promise(() => {});
/** Stops everything (cleanup included) after an error; never returns. During a shutdown, just waits for it. */
async function abort(message, ...hints) {
  if (!stopping()) {
    say(`ERROR: ${message}`);
    for (const hint of hints) say(`  ${hint}`);
    await supervisor.shutdown(1);
  }
  return forever();
}
/** Between steps: when Ctrl-C came, let the cleanup finish (it exits the process). */
async function checkpoint() {
  if (stopping()) await forever();
}

try {
  await run('ip', ['netns', 'add', NETNS]);
  namespaceCreated = true;
  await run('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
} catch (error) {
  await abort(`could not create the network namespace ${NETNS}: ${error.message}`);
}
say(`network namespace ${NETNS} created; the Agent puts the bridge ${BRIDGE} (${GATEWAY}/16), the TAP and the VMM in it.`);

// No VM records: the namespace is new, so nothing recorded there from an earlier run can be alive.
// The Agent's identity stays: the database keeps its host, whose name only that identity may register.
rmSync(path.join(runDir, 'vms'), { recursive: true, force: true });
for (const dir of [managerDataDir, imageRoot, runDir]) mkdirSync(dir, { recursive: true });
for (const file of ['vmlinux', 'rootfs.ext4']) copyFileSync(path.join(imagesDir, file), path.join(imageRoot, file));
say(`guest images copied from ${imagesDir} to ${shown(imageRoot)}.`);

const inherited = { ...process.env };
delete inherited.DATABASE_URL; // the demo always uses its own embedded PGlite database
supervisor.start(
  'manager',
  managerMain,
  {
    ...inherited,
    MANAGER_BIND: `127.0.0.1:${managerPort}`,
    MANAGER_DATA_DIR: managerDataDir,
    MANAGER_IMAGE_ROOT: imageRoot,
    MANAGER_REQUIRE_KVM: 'off', // QEMU/TCG needs no /dev/kvm
    MANAGER_HEARTBEAT_MS: '1000',
    MANAGER_LOG_LEVEL: process.env.MANAGER_LOG_LEVEL ?? 'warn',
  },
  managerNodeFlags(repoRoot),
);
say(`Manager starting on ${managerUrl} (embedded PGlite in ${shown(managerDataDir)}; its first start takes ~10 s)...`);
if (!(await waitUntilHealthy('the Manager', `${managerUrl}/readyz`, { say, timeoutMs: 90_000, isCancelled: stopping }))) {
  await abort('the Manager did not become ready (see its output above).');
}

await checkpoint();
// The Agent joins the cluster at its first start with a one-time token (docs/adr/0014-cluster-trust.md).
let joinToken;
try {
  const adminToken = findToken({}, managerDataDir);
  joinToken = await joinTokenFor(managerUrl, runDir, adminToken === undefined ? {} : { authorization: `Bearer ${adminToken}` });
} catch (error) {
  await abort(`could not get a join token for the Agent: ${error.message}`);
}
supervisor.start('agent', agentMain, {
  ...inherited,
  ...(joinToken === undefined ? {} : { AGENT_JOIN_TOKEN: joinToken }),
  AGENT_BIND: `127.0.0.1:${agentPort}`,
  AGENT_NAME,
  MANAGER_BASE: managerUrl,
  FC_NETNS: NETNS,
  FC_BRIDGE: BRIDGE,
  FC_BRIDGE_ADDR: `${GATEWAY}/16`,
  FC_RUN_DIR: runDir,
  AGENT_IMAGE_ROOT: imageRoot,
  FIRECRACKER_BIN: doubleBin,
  FC_DOUBLE_BACKEND: 'qemu', // inherited by each VMM: real guests under QEMU
  AGENT_SPAWN_MODE: 'direct',
  AGENT_LOG_LEVEL: process.env.AGENT_LOG_LEVEL ?? 'warn',
});
say(`Agent starting on ${agentUrl} (FIRECRACKER_BIN=${shown(doubleBin)}, FC_DOUBLE_BACKEND=qemu)...`);
const host = await pollUntil(
  async () => {
    const response = await api('GET', '/v1/hosts', undefined, 3_000);
    return response.body.items.find((h) => h.name === AGENT_NAME && h.addr === agentUrl && h.status === 'healthy');
  },
  { timeoutMs: 60_000, intervalMs: 300, isCancelled: stopping },
);
if (host === undefined)
  await abort('the Agent did not register with the Manager as a healthy host within 60 s (see its output above).');
say(
  `host ${host.id} (${host.name}) is healthy: ${host.capacity?.cpuCount ?? '?'} CPUs, ${host.capacity?.memoryMibTotal ?? '?'} MiB of memory.`,
);

// --- 4. Through the public API only ----------------------------------------------------------------------
try {
  // Leftovers of an earlier run that did not finish its cleanup (the database is kept between runs).
  const vms = await api('GET', '/v1/vms?limit=100');
  for (const vm of vms.body.items ?? []) {
    say(`deleting VM ${vm.id} (${vm.name}, ${vm.state}) left by an earlier run...`);
    await deleteVm(vm.id);
  }
  const images = await api('GET', '/v1/images');
  for (const image of images.body.items ?? []) {
    if (image.name !== KERNEL_IMAGE_NAME && image.name !== ROOTFS_IMAGE_NAME) continue;
    const response = await api('DELETE', `/v1/images/${image.id}`);
    if (response.status !== 204) throw new Error(`DELETE /v1/images/${image.id}: ${problemText(response)}`);
  }
} catch (error) {
  await abort(`could not clear what an earlier run left in ${shown(managerDataDir)}: ${error.message}`);
}

async function registerImage(kind, name, file) {
  const response = await api('POST', '/v1/images', { kind, name, hostPath: path.join(imageRoot, file) });
  if (response.status !== 201) await abort(`POST /v1/images (${kind}): ${problemText(response)}`);
  say(
    `registered ${kind} ${response.body.id} (${name}, ${response.body.sizeBytes ?? '?'} bytes, sha256 ${String(response.body.sha256 ?? '?').slice(0, 12)}…)`,
  );
  return response.body.id;
}
const kernelImageId = await registerImage('kernel', KERNEL_IMAGE_NAME, 'vmlinux');
const rootfsImageId = await registerImage('rootfs', ROOTFS_IMAGE_NAME, 'rootfs.ext4');

const createBody = { name: VM_NAME, vcpuCount: 1, memoryMib: 256, kernelImageId, rootfsImageId, bootArgs: BOOT_ARGS };
say('');
say(`POST /v1/vms ${JSON.stringify(createBody)}`);
const createdAt = performance.now();
createAttempted = true;
createInFlight = api('POST', '/v1/vms', createBody);
let created;
try {
  created = await createInFlight;
} catch (error) {
  created = { status: 0, body: error.message };
}
createInFlight = undefined;
const createMs = performance.now() - createdAt;
if (created.status === 201 || created.status === 202) vmId = created.body.id;
await checkpoint(); // Ctrl-C during the create: the cleanup deletes the VM
if (created.status !== 201) await abort(`POST /v1/vms: ${problemText(created)}`);

const vm = created.body;
const GUEST_IP = vm.network.ipAddress;
say(`→ 201 in ${createMs.toFixed(0)} ms: VM ${vm.id} "${vm.name}" is ${vm.state} on host ${vm.hostId}`);
say(`  ${vm.vcpuCount} vCPU, ${vm.memoryMib} MiB, MAC ${vm.guestMac}, kernel ${vm.kernelPath}, rootfs ${vm.rootfsPath}`);
say(`  boot args: ${vm.bootArgs}`);
say(`  address ${GUEST_IP}/${vm.network.prefixLength}, gateway ${vm.network.gateway}, DNS ${vm.network.dnsServers.join(', ')}`);
say(
  `  steps on the host (the Agent's own timings; total as the Manager saw it: ${vm.totalMs === null ? '?' : `${vm.totalMs.toFixed(0)} ms`}):`,
);
for (const step of vm.steps ?? []) say(`    ${step.name.padEnd(28)} ${step.durationMs.toFixed(1).padStart(8)} ms`);

const fetchCommand = (url) =>
  curlBin !== undefined
    ? ['ip', 'netns', 'exec', NETNS, curlBin, '-s', '-f', '-m', '3', url]
    : ['ip', 'netns', 'exec', NETNS, 'timeout', '3', busyboxBin, 'wget', '-q', '-O', '-', url]; // busybox wget -T crashes
say('');
say(
  `waiting for the guest to answer HTTP on http://${GUEST_IP}/ (from inside the namespace; QEMU emulates every instruction, so give it a few seconds)...`,
);
const page = await pollUntil(
  async () => {
    const [command, ...args] = fetchCommand(`http://${GUEST_IP}/`);
    const out = await run(command, args, 5_000);
    return out.includes('HEARTH-GUEST-OK') ? out : undefined;
  },
  { timeoutMs: GUEST_ANSWER_TIMEOUT_MS, intervalMs: 250, isCancelled: stopping },
);
await checkpoint();
if (page === undefined) {
  await abort(
    `the guest did not answer on http://${GUEST_IP}/ within ${GUEST_ANSWER_TIMEOUT_MS / 1000} s.`,
    `its console is in ${shown(runDir)}/vms/${vm.id}/ (removed on exit).`,
  );
}
const answeringMs = performance.now() - createdAt;
say(
  `the guest answered: create → answering HTTP took ${(answeringMs / 1000).toFixed(2)} s (API create ${(createMs / 1000).toFixed(2)} s). Its page:`,
);
for (const line of page.trimEnd().split('\n')) say(`  | ${line}`);

// --- 5. What to try next ----------------------------------------------------------------------------------
const M = managerUrl;
const V = `${M}/v1/vms/${vm.id}`;
const curl = 'curl -s -H "Authorization: Bearer $HEARTH_TOKEN"';
const tryNext = [
  [`export HEARTH_TOKEN=$(cat ${shown(adminTokenFile(managerDataDir))})`, 'the admin API token (every request needs one)'],
  [`${curl} ${M}/v1/vms`, 'list VMs'],
  [`${curl} ${V}`, 'this VM: state, host, steps'],
  [`${curl} ${V}/events`, 'its history'],
  [`${curl} -X POST ${V}/stop`, 'stop it (its QEMU process and TAP go, its disk stays)'],
  [`${curl} -X POST ${V}/start`, 'boot it again on the same disk'],
  [`${curl} -X DELETE ${V}`, 'delete it (Ctrl-C here does that too)'],
  [`${curl} ${M}/v1/hosts`, 'the local Agent'],
  [`sudo ip netns exec ${NETNS} ping -c 3 ${GUEST_IP}`, 'the guest, from inside the namespace'],
  [
    `sudo ip netns exec ${NETNS} ${curlBin !== undefined ? 'curl -s' : 'busybox wget -q -O -'} http://${GUEST_IP}/`,
    'its web page',
  ],
  [`sudo tail -f ${shown(runDir)}/vms/${vm.id}/stdout.log`, "the guest's serial console"],
];
const width = Math.max(...tryNext.map(([command]) => command.length));
say('');
banner([
  `A real Linux guest is running under QEMU emulation, managed by Hearth. The Manager API is ${M}.`,
  'Try, in another terminal:',
  '',
  ...tryNext.map(([command, what]) => `  ${command.padEnd(width)}  # ${what}`),
  '',
  `The guest is reachable only inside the network namespace ${NETNS}: nothing is routed to or from it.`,
  'Remember: this is an emulator for trying Hearth out; production hosts run real Firecracker with KVM.',
  'Ctrl-C deletes the VM, stops the Manager and the Agent, and removes the namespace.',
]);
// Keep running until Ctrl-C / SIGTERM (the supervisor's signal handlers do the cleanup).
setInterval(() => {}, 1 << 30);
