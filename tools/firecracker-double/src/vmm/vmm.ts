/**
 * The VMM: routes actions to the pre-boot or runtime controller and enforces the state
 * machine of behaviour.md#state-machine. Returns the response data, or throws VmmError.
 */
import type { ActionKind, VmmAction } from '../api/actions.js';
import type { GuestBackend } from '../backends/types.js';
import type { Logger } from '../logger.js';
import { VMM } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { APP_NAME, FC_VERSION } from '../version.js';
import { instanceStart } from './boot.js';
import * as C from './configure.js';
import type { VmmOptions } from './context.js';
import { VmmContext } from './context.js';
import { fail, POST_BOOT, PRE_BOOT } from './errors.js';
import { MMDS_NOT_INITIALIZED } from './mmds-store.js';
import * as R from './runtime.js';
import { createSnapshot, loadSnapshot } from './snapshot.js';
import { renderVmConfig } from './vm-config.js';

/** 204 is `undefined`; anything else is a 200 body. */
export type VmmData = unknown;

const BOOT_PATH = new Set<ActionKind>([
  'PutBootSource',
  'PutDrive',
  'PutNet',
  'PutPmem',
  'PutMachineConfig',
  'PatchMachineConfig',
  'PutVsock',
  'PutEntropy',
  'PutBalloon',
  'PutMmdsConfig',
  'PutMemoryHotplug',
]);

const PRE_BOOT_ONLY = new Set<ActionKind>([
  ...BOOT_PATH,
  'PutCpuConfig',
  'PutLogger',
  'PutMetrics',
  'PutSerial',
  'LoadSnapshot',
  'InstanceStart',
]);

const RUNTIME_ONLY = new Set<ActionKind>([
  'FlushMetrics',
  'SendCtrlAltDel',
  'PatchVm',
  'CreateSnapshot',
  'GetBalloonStats',
  'GetHintingStatus',
  'GetMemoryHotplug',
  'PatchBalloon',
  'PatchBalloonStats',
  'StartHinting',
  'StopHinting',
  'PatchDrive',
  'PatchNet',
  'PatchPmem',
  'PatchMemoryHotplug',
  'DeleteDrive',
  'DeleteNet',
  'DeletePmem',
]);

/** Device PUTs are valid in both phases: configuration before boot, hotplug after. */
const HOTPLUG = new Set<ActionKind>(['PutDrive', 'PutNet', 'PutPmem']);

export class Vmm {
  readonly ctx: VmmContext;
  private exitHandler: (code: number) => void = () => undefined;

  constructor(options: VmmOptions, logger: Logger, metrics: Metrics, backend: GuestBackend) {
    this.ctx = new VmmContext(options, logger, metrics, backend);
    backend.onExit((code) => this.guestExited(code));
    backend.onBootMarker(() => this.logBootTime());
  }

  /** Sets what happens when the guest ends (the binary exits the process). */
  onExit(handler: (code: number) => void): void {
    this.exitHandler = handler;
  }

  get state(): string {
    return this.ctx.state;
  }

  async dispatch(action: VmmAction): Promise<VmmData> {
    const ctx = this.ctx;
    if (!ctx.started) {
      if (RUNTIME_ONLY.has(action.kind)) fail(PRE_BOOT);
      // Boot-specific calls set the flag even when they fail (behaviour.md#boot-path).
      if (BOOT_PATH.has(action.kind)) ctx.bootPath = true;
    } else if (PRE_BOOT_ONLY.has(action.kind) && !HOTPLUG.has(action.kind)) {
      fail(POST_BOOT);
    }
    return this.run(action);
  }

  private async run(action: VmmAction): Promise<VmmData> {
    const ctx = this.ctx;
    switch (action.kind) {
      case 'GetInstanceInfo':
        return { id: ctx.options.instanceId, state: ctx.state, vmm_version: FC_VERSION, app_name: APP_NAME };
      case 'GetVersion':
        return { firecracker_version: FC_VERSION };
      case 'GetMachineConfig':
        return ctx.resources.machine;
      case 'GetFullVmConfig':
        return renderVmConfig(ctx.resources);
      case 'GetMmds':
        this.requireMmdsAfterBoot();
        return ctx.mmds.get() ?? {};
      case 'PutMmds':
        this.requireMmdsAfterBoot();
        return void ctx.mmds.put(action.value);
      case 'PatchMmds':
        this.requireMmdsAfterBoot();
        return void ctx.mmds.patch(action.value);
      case 'GetBalloon':
        return R.getBalloon(ctx);
      case 'GetBalloonStats':
        return R.balloonStats(ctx);
      case 'GetHintingStatus':
        return R.hintingStatus(ctx);
      case 'GetMemoryHotplug':
        return R.memoryHotplugStatus(ctx);
      case 'InstanceStart':
        return instanceStart(ctx);
      case 'FlushMetrics':
        return void ctx.flushMetrics();
      case 'SendCtrlAltDel':
        return ctx.backend.sendCtrlAltDel();
      case 'PutBootSource':
        return C.putBootSource(ctx, action.body);
      case 'PutDrive':
        return ctx.started ? R.hotplug(ctx, 'drive', action.body) : C.putDrive(ctx, action.body);
      case 'PutNet':
        return ctx.started ? R.hotplug(ctx, 'net', action.body) : C.putNet(ctx, action.body);
      case 'PutPmem':
        return ctx.started ? R.hotplug(ctx, 'pmem', action.body) : C.putPmem(ctx, action.body);
      case 'DeleteDrive':
        return R.unplug(ctx, 'drive', action.id);
      case 'DeleteNet':
        return R.unplug(ctx, 'net', action.id);
      case 'DeletePmem':
        return R.unplug(ctx, 'pmem', action.id);
      case 'PatchDrive':
        return R.patchDriveRuntime(ctx, action.body);
      case 'PatchNet':
        return R.patchNetRuntime(ctx, action.body);
      case 'PatchPmem':
        return R.patchPmemRuntime(ctx, action.body);
      case 'PutMachineConfig':
        return C.putMachineConfig(ctx, action.body, true);
      case 'PatchMachineConfig':
        return C.putMachineConfig(ctx, action.body, false);
      case 'PutCpuConfig':
        return C.putCpuConfig(ctx, action.body);
      case 'PutVsock':
        return C.putVsock(ctx, action.body);
      case 'PutEntropy':
        return C.putEntropy(ctx, action.body);
      case 'PutBalloon':
        return C.putBalloon(ctx, action.body);
      case 'PatchBalloon':
        return R.patchBalloon(ctx, action.body);
      case 'PatchBalloonStats':
        return R.patchBalloonStats(ctx, action.body);
      case 'StartHinting':
        return R.startHinting(ctx);
      case 'StopHinting':
        return R.stopHinting(ctx);
      case 'PutMmdsConfig':
        return C.putMmdsConfig(ctx, action.body);
      case 'PutLogger':
        return C.putLogger(ctx, action.body);
      case 'PutMetrics':
        return C.putMetrics(ctx, action.body);
      case 'PutSerial':
        return C.putSerial(ctx, action.body);
      case 'PutMemoryHotplug':
        return C.putMemoryHotplug(ctx, action.body);
      case 'PatchMemoryHotplug':
        return R.patchMemoryHotplug(ctx, action.body);
      case 'CreateSnapshot':
        return createSnapshot(ctx, action.body);
      case 'LoadSnapshot':
        return loadSnapshot(ctx, action.body);
      case 'PatchVm':
        return this.setVmState(action.body['state'] as 'Paused' | 'Resumed');
    }
  }

  /** Post-boot MMDS access needs MMDS attached to a net device (behaviour.md#endpoint-mmds). */
  private requireMmdsAfterBoot(): void {
    if (this.ctx.started && this.ctx.resources.mmdsConfig === null) fail(MMDS_NOT_INITIALIZED);
  }

  /** PATCH /vm is idempotent in both directions (behaviour.md#pause). */
  private async setVmState(target: 'Paused' | 'Resumed'): Promise<void> {
    const ctx = this.ctx;
    if (target === 'Paused' && ctx.state === 'Running') {
      await ctx.backend.pause();
      ctx.state = 'Paused';
    } else if (target === 'Resumed' && ctx.state === 'Paused') {
      await ctx.backend.resume();
      ctx.state = 'Running';
    }
  }

  private guestExited(code: number): void {
    this.ctx.logger.info(VMM, 'Vmm is stopping.');
    this.ctx.flushMetrics();
    this.exitHandler(code);
  }

  /** `--boot-timer` log line (behaviour.md#boot-timer); the simulated guest writes the marker right away. */
  private logBootTime(): void {
    if (!this.ctx.options.bootTimer) return;
    const us = Number((process.hrtime.bigint() - this.ctx.bootRequestedAt) / 1000n);
    const cpuUs = Math.min(us, Math.round(process.cpuUsage().user / 10));
    this.ctx.logger.info(
      VMM,
      `Guest-boot-time = ${String(us).padStart(6)} us ${Math.floor(us / 1000)} ms, ${String(cpuUs).padStart(6)} CPU us ${Math.floor(cpuUs / 1000)} CPU ms`,
    );
  }
}
