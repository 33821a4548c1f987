import { bodyOf, ifMatch, type ApiClient } from './api-client.js';
import { attachConsole, type AttachConsoleOptions, type ConsoleSession, type ConsoleTarget } from './console.js';
import { paginate } from './paginate.js';
import type {
  CreateVmRequest,
  DeleteVmResult,
  EgressPolicy,
  HearthEvent,
  ListVmsFilter,
  RateLimitsChange,
  Vm,
  VmState,
} from './types.js';

/** True when a delete was accepted but not finished: its answer is the VM, `deleting`. */
export function isDeleteUnderWay(result: DeleteVmResult): result is Extract<DeleteVmResult, { state: string }> {
  return 'state' in result;
}

/** Longest long poll the Manager allows (`timeout_s` of GET /v1/vms/{id}/wait). */
const longestPollSeconds = 60;

export interface CreateVmOptions {
  /** true (default): answer once the VM runs; false: answer at once with the VM `pending`. */
  readonly wait?: boolean;
  /** Sent as `Idempotency-Key` (default: a new random key, kept across the SDK's retries). */
  readonly idempotencyKey?: string;
  readonly signal?: AbortSignal;
}

export interface MutationOptions {
  /** Only if the VM still has this version (412 PRECONDITION_FAILED otherwise). */
  readonly ifVersion?: number;
  readonly signal?: AbortSignal;
}

export interface RestoreVmOptions extends MutationOptions {
  /** `running` (default): the restored guest runs; `paused`: it stays paused. */
  readonly afterwards?: 'running' | 'paused';
  /** true (default): answer once the restore is done; false: as soon as it is recorded. */
  readonly wait?: boolean;
  /** Sent as `Idempotency-Key`. */
  readonly idempotencyKey?: string;
}

export interface WaitOptions {
  /** Give up after this long (default 5 minutes). */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A wait that ended without the VM reaching its state: it failed, or time ran out. */
export class VmWaitError extends Error {
  override readonly name = 'VmWaitError';
  constructor(
    readonly outcome: 'failed' | 'timed_out',
    /** The VM as it was when the wait ended. */
    readonly vm: Vm,
    readonly state: VmState,
  ) {
    super(
      outcome === 'failed'
        ? `VM ${vm.id} failed before reaching ${state}: ${vm.failureReason?.code ?? 'unknown'} ${vm.failureReason?.message ?? ''}`.trim()
        : `VM ${vm.id} is ${vm.state}, not ${state}, after the time allowed`,
    );
  }
}

/** The VMs the token's projects hold. */
export class Vms {
  constructor(
    private readonly api: ApiClient,
    private readonly consoleTarget: Omit<ConsoleTarget, 'api'> = { baseUrl: '', token: undefined },
  ) {}

  /**
   * Attaches to the VM's serial console (a WebSocket; Node 20+ and browsers): the end of its log,
   * then live output, and what `write` sends is typed into the guest; `closed` says why it ended
   * (`describeConsoleEnd` words it). Refused as a `HearthError` (VM_NOT_FOUND, VMM_NOT_RUNNING,
   * CONSOLE_LIMIT_REACHED, …).
   */
  attachConsole(id: string, options: AttachConsoleOptions = {}): Promise<ConsoleSession> {
    return attachConsole({ ...this.consoleTarget, api: this.api }, id, options);
  }

  /**
   * Creates a VM (from images, a template, or a snapshot with `snapshotId`: a template that carries a
   * snapshot starts it by restore too); by default resolves once it runs (see `wait`). Idempotent
   * across the SDK's own retries.
   */
  async create(request: Omit<CreateVmRequest, 'count'>, options: CreateVmOptions = {}): Promise<Vm> {
    const created = await this.post(request, options);
    if ('items' in created) throw new Error('the Manager answered several VMs to a create of one');
    return created;
  }

  /**
   * Starts `count` clones at once of a ready snapshot (`snapshotId`), or of the snapshot a template
   * carries (`templateId`), named `<name>-1` … `<name>-<count>`, admitted all or none; by default
   * resolves once all of them run.
   */
  async clone(
    request: Omit<CreateVmRequest, 'count'> & { readonly count: number },
    options: CreateVmOptions = {},
  ): Promise<Vm[]> {
    const created = await this.post(request, options);
    return 'items' in created ? created.items : [created];
  }

  private async post(request: CreateVmRequest, options: CreateVmOptions): Promise<Vm | { items: Vm[] }> {
    return bodyOf(
      this.api.POST('/v1/vms', {
        body: request,
        params: {
          query: options.wait === false ? { wait: false } : {},
          header: options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey },
        },
        signal: options.signal,
      }),
    );
  }

  /** Every VM, page after page (`for await (const vm of hearth.vms.list())`). */
  list(filter: ListVmsFilter & { readonly pageSize?: number } = {}): AsyncGenerator<Vm> {
    const { pageSize, ...query } = filter;
    return paginate((cursor: string | undefined) =>
      bodyOf(this.api.GET('/v1/vms', { params: { query: { ...query, limit: pageSize, cursor } } })),
    );
  }

  async get(id: string, options: { readonly signal?: AbortSignal } = {}): Promise<Vm> {
    return bodyOf(this.api.GET('/v1/vms/{id}', { params: { path: { id } }, signal: options.signal }));
  }

  /** The VMs named `name` (one per project at most). */
  async findByName(name: string, filter: Omit<ListVmsFilter, 'name'> = {}): Promise<Vm[]> {
    const found: Vm[] = [];
    for await (const vm of this.list({ ...filter, name })) found.push(vm);
    return found;
  }

  /**
   * Resolves with the VM once it is in `state`; rejects with a `VmWaitError` when it fails on the way
   * or `timeoutMs` passes. Long-polls the Manager, which answers as soon as the VM's events say so.
   */
  async waitFor(id: string, state: VmState, options: WaitOptions = {}): Promise<Vm> {
    const deadline = Date.now() + (options.timeoutMs ?? 300_000);
    for (;;) {
      const remainingSeconds = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      const result = await bodyOf(
        this.api.GET('/v1/vms/{id}/wait', {
          params: { path: { id }, query: { state, timeout_s: Math.min(remainingSeconds, longestPollSeconds) } },
          signal: options.signal,
        }),
      );
      if (result.outcome === 'reached') return result.vm;
      if (result.outcome === 'failed') throw new VmWaitError('failed', result.vm, state);
      if (Date.now() >= deadline) throw new VmWaitError('timed_out', result.vm, state);
    }
  }

  start(id: string, options: MutationOptions = {}): Promise<Vm> {
    return this.mutate('start', id, options);
  }

  /**
   * Stops the VM. Resolves to it `stopped`, or still `stopping` when its host did not confirm in
   * time: the stop is accepted and the Manager finishes it (`waitFor(id, 'stopped')`).
   */
  stop(id: string, options: MutationOptions = {}): Promise<Vm> {
    return this.mutate('stop', id, options);
  }

  /**
   * Pauses the VM. Resolves to it `paused`, or still `pausing` when its host did not confirm in
   * time: the pause is accepted and the Manager finishes it (`waitFor(id, 'paused')`).
   */
  pause(id: string, options: MutationOptions = {}): Promise<Vm> {
    return this.mutate('pause', id, options);
  }

  resume(id: string, options: MutationOptions = {}): Promise<Vm> {
    return this.mutate('resume', id, options);
  }

  /**
   * Restores the VM in place to one of its own ready snapshots: its VMM is stopped, its disk
   * replaced by the snapshot's, its memory loaded; it keeps its id, address and MAC. By default
   * resolves once the guest runs again (or is paused, with `afterwards: 'paused'`); with
   * `wait: false`, as soon as the restore is recorded (follow it with `waitFor`).
   */
  async restore(id: string, snapshotId: string, options: RestoreVmOptions = {}): Promise<Vm> {
    return bodyOf(
      this.api.POST('/v1/vms/{id}/restore', {
        params: {
          path: { id },
          query: options.wait === false ? { wait: false } : {},
          header: {
            ...ifMatch(options.ifVersion),
            ...(options.idempotencyKey === undefined ? {} : { 'idempotency-key': options.idempotencyKey }),
          },
        },
        body: { snapshotId, ...(options.afterwards === undefined ? {} : { afterwards: options.afterwards }) },
        signal: options.signal,
      }),
    );
  }

  /**
   * Replaces the VM's egress policy. A running VM's host applies it at once; when that fails the
   * call rejects and the policy stays stored (at a new version) for the VM's next start.
   */
  async setEgress(id: string, policy: EgressPolicy, options: MutationOptions = {}): Promise<Vm> {
    return bodyOf(
      this.api.PUT('/v1/vms/{id}/egress', {
        params: { path: { id }, header: ifMatch(options.ifVersion) },
        body: policy,
        signal: options.signal,
      }),
    );
  }

  /**
   * Changes the VM's rate limits: each limiter given replaces its own, `null` removes it, one left
   * out stays. A running VM's host applies them at once, without a restart; when that fails the
   * call rejects and the limits stay stored (at a new version) for the VM's next start.
   */
  async updateRateLimits(id: string, change: RateLimitsChange, options: MutationOptions = {}): Promise<Vm> {
    return bodyOf(
      this.api.PATCH('/v1/vms/{id}/rate-limits', {
        params: { path: { id }, header: ifMatch(options.ifVersion) },
        body: change,
        signal: options.signal,
      }),
    );
  }

  /**
   * Deletes the VM and everything its host holds for it. Resolves to what its host removed once the
   * VM is gone, or, when its host did not confirm in time, to the VM `deleting` (`isDeleteUnderWay`):
   * the delete is accepted and the Manager finishes it (`get` rejects with VM_NOT_FOUND once it has).
   */
  async delete(id: string, options: MutationOptions = {}): Promise<DeleteVmResult> {
    return bodyOf(
      this.api.DELETE('/v1/vms/{id}', {
        params: { path: { id }, header: ifMatch(options.ifVersion) },
        signal: options.signal,
      }),
    );
  }

  /**
   * The end of what the VM's guest printed on its serial console: the last `bytes` bytes (the
   * Manager's default is 64 KiB, its limit 1 MiB).
   */
  async consoleLog(id: string, options: { readonly bytes?: number; readonly signal?: AbortSignal } = {}): Promise<string> {
    return bodyOf(
      this.api.GET('/v1/vms/{id}/console', {
        params: { path: { id }, query: options.bytes === undefined ? {} : { bytes: options.bytes } },
        parseAs: 'text',
        signal: options.signal,
      }),
    );
  }

  /** The VM's events, oldest first (kept after it is deleted). */
  events(id: string): AsyncGenerator<HearthEvent> {
    return paginate((cursor: number | undefined) =>
      bodyOf(this.api.GET('/v1/vms/{id}/events', { params: { path: { id }, query: { cursor } } })),
    );
  }

  private async mutate(action: 'start' | 'stop' | 'pause' | 'resume', id: string, options: MutationOptions): Promise<Vm> {
    return bodyOf(
      this.api.POST(`/v1/vms/{id}/${action}`, {
        params: { path: { id }, header: ifMatch(options.ifVersion) },
        signal: options.signal,
      }),
    );
  }
}
