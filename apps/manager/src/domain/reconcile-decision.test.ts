import { describe, expect, it } from 'vitest';
import {
  decideReconcileAction,
  needsReconcile,
  observedStateOf,
  reconsiderAt,
  type ReconcileInput,
  type VmObservation,
} from './reconcile-decision.js';
import { defaultRetryPolicy, emptyCrashWindow } from './restart-policy.js';
import { vmStates } from './vm-state.js';

const now = new Date('2025-01-01T00:01:00Z');
const longAgo = new Date('2025-01-01T00:00:00Z');

function input(overrides: Partial<ReconcileInput> = {}): ReconcileInput {
  return {
    state: 'running',
    updatedAt: longAgo,
    hostStatus: 'healthy',
    observed: { vmmState: 'running', holdsRuntimeResources: true },
    retry: { restartPolicy: 'on-failure', attempt: 0, nextAttemptAt: null, crashWindow: emptyCrashWindow },
    now,
    graceMs: 10_000,
    retryPolicy: defaultRetryPolicy,
    ...overrides,
  };
}

describe('decideReconcileAction', () => {
  it('does nothing when a running VM runs on its host', () => {
    expect(decideReconcileAction(input())).toEqual({ kind: 'none' });
  });

  it('does nothing on a host before reading its inventory', () => {
    expect(decideReconcileAction(input({ observed: undefined }))).toEqual({ kind: 'wait', why: 'no_inventory' });
  });

  it('leaves a transient state to its request within the grace window', () => {
    expect(decideReconcileAction(input({ state: 'starting', updatedAt: new Date(now.getTime() - 5_000) }))).toEqual({
      kind: 'wait',
      why: 'grace',
    });
  });

  it.each([
    ['exited', 'on-failure', 0, true],
    ['absent', 'always', 50, true],
    ['no_record', 'on-failure', 5, false],
    ['exited', 'never', 0, false],
  ] as const)(
    'handles a running VM whose VMM is %s under %s after %i restarts',
    (vmmState, restartPolicy, attempt, isRestarting) => {
      expect(
        decideReconcileAction(
          input({
            observed: { vmmState, holdsRuntimeResources: false },
            retry: { restartPolicy, attempt, nextAttemptAt: null, crashWindow: emptyCrashWindow },
          }),
        ),
      ).toEqual({
        kind: 'vmm_gone',
        restart: isRestarting ? { kind: 'restart', delayMs: 0, window: { restarts: 1, startedAt: now } } : { kind: 'give_up' },
      });
    },
  );

  it.each(['running', 'starting', 'stopped', 'deleting'] as const)(
    'quarantines a %s VM whose Agent cannot read its record instead of restarting or deleting it',
    (state) => {
      expect(decideReconcileAction(input({ state, observed: { vmmState: 'unreadable', holdsRuntimeResources: false } }))).toEqual(
        {
          kind: 'quarantine',
        },
      );
    },
  );

  it.each(['unknown', 'failed'] as const)('leaves a %s VM whose Agent cannot read its record alone', (state) => {
    expect(decideReconcileAction(input({ state, observed: { vmmState: 'unreadable', holdsRuntimeResources: false } }))).toEqual({
      kind: 'wait',
      why: 'record_unreadable',
    });
  });

  it('marks a running VM unknown when its host is unhealthy, and never deletes it', () => {
    expect(decideReconcileAction(input({ hostStatus: 'unhealthy', observed: undefined }))).toEqual({ kind: 'mark_unknown' });
    expect(decideReconcileAction(input({ state: 'stopped', hostStatus: 'unhealthy' }))).toEqual({
      kind: 'wait',
      why: 'host_unhealthy',
    });
  });

  it('re-adopts an unknown VM seen running again', () => {
    expect(decideReconcileAction(input({ state: 'unknown' }))).toEqual({ kind: 'adopt', to: 'running' });
  });

  it('continues a create, finishes a stop and a delete left by a crash', () => {
    expect(decideReconcileAction(input({ state: 'scheduled' })).kind).toBe('continue_create');
    expect(decideReconcileAction(input({ state: 'stopping' })).kind).toBe('finish_stop');
    expect(decideReconcileAction(input({ state: 'deleting' })).kind).toBe('finish_delete');
  });

  it('finishes a pause left pausing once its grace is over, and fails over to a restart when the VMM is gone', () => {
    expect(decideReconcileAction(input({ state: 'pausing' }))).toEqual({ kind: 'finish_pause' });
    expect(
      decideReconcileAction(input({ state: 'pausing', observed: { vmmState: 'paused', holdsRuntimeResources: true } })),
    ).toEqual({ kind: 'finish_pause' });
    expect(decideReconcileAction(input({ state: 'pausing', updatedAt: now }))).toEqual({ kind: 'wait', why: 'grace' });
    expect(
      decideReconcileAction(input({ state: 'pausing', observed: { vmmState: 'exited', holdsRuntimeResources: false } })).kind,
    ).toBe('vmm_gone');
  });

  it('records a paused VM whose VMM runs as running once its grace is over, and never pauses it again', () => {
    const paused = { state: 'paused', observed: { vmmState: 'running', holdsRuntimeResources: true } } as const;
    expect(decideReconcileAction(input(paused))).toEqual({ kind: 'record_resumed' });
    // Just paused: the inventory may have been read before the pause reached the host.
    expect(decideReconcileAction(input({ ...paused, updatedAt: now }))).toEqual({ kind: 'wait', why: 'grace' });
    expect(decideReconcileAction(input({ ...paused, observed: { vmmState: 'paused', holdsRuntimeResources: true } }))).toEqual({
      kind: 'none',
    });
  });

  it('bounds the attempts at an interrupted create: the last one may fail the VM', () => {
    const attempt = (n: number) =>
      decideReconcileAction(
        input({
          state: 'starting',
          retry: { restartPolicy: 'on-failure', attempt: n, nextAttemptAt: null, crashWindow: emptyCrashWindow },
        }),
      );
    expect(attempt(0)).toEqual({ kind: 'continue_create', isLastAttempt: false });
    expect(attempt(defaultRetryPolicy.maxRestartAttempts - 2)).toEqual({ kind: 'continue_create', isLastAttempt: false });
    expect(attempt(defaultRetryPolicy.maxRestartAttempts - 1)).toEqual({ kind: 'continue_create', isLastAttempt: true });
  });

  it('waits for the next attempt time kept in the row', () => {
    const retry = {
      restartPolicy: 'on-failure' as const,
      attempt: 2,
      nextAttemptAt: new Date(now.getTime() + 1_000),
      crashWindow: emptyCrashWindow,
    };
    expect(decideReconcileAction(input({ state: 'failed', retry }))).toEqual({ kind: 'wait', why: 'backoff' });
    expect(decideReconcileAction(input({ state: 'failed', retry, now: new Date(now.getTime() + 1_000) }))).toEqual({
      kind: 'retry_start',
    });
  });

  it('releases the process and TAP a stopped VM still holds', () => {
    expect(decideReconcileAction(input({ state: 'stopped' }))).toEqual({ kind: 'release_runtime_resources' });
    expect(
      decideReconcileAction(input({ state: 'stopped', observed: { vmmState: 'absent', holdsRuntimeResources: false } })),
    ).toEqual({ kind: 'none' });
  });

  describe('crash-loop guard', () => {
    const exited = { vmmState: 'exited', holdsRuntimeResources: true } as const;
    const windowStartedAt = new Date(now.getTime() - 30_000);

    function afterRestarts(
      restarts: number,
      restartPolicy: 'on-failure' | 'always' = 'on-failure',
      startedAt: Date | null = windowStartedAt,
    ): ReconcileInput {
      return input({
        observed: exited,
        retry: { restartPolicy, attempt: 0, nextAttemptAt: null, crashWindow: { restarts, startedAt } },
      });
    }

    it('restarts the first death at once and opens a window', () => {
      expect(decideReconcileAction(afterRestarts(0, 'on-failure', null))).toEqual({
        kind: 'vmm_gone',
        restart: { kind: 'restart', delayMs: 0, window: { restarts: 1, startedAt: now } },
      });
    });

    it('backs off exponentially between restarts within the window', () => {
      const delays = [1, 2, 3, 4].map((restarts) => {
        const action = decideReconcileAction(afterRestarts(restarts));
        return action.kind === 'vmm_gone' && action.restart.kind === 'restart' ? action.restart.delayMs : undefined;
      });
      expect(delays).toEqual([1_000, 2_000, 4_000, 8_000]);
    });

    it('keeps counting in the window it opened', () => {
      expect(decideReconcileAction(afterRestarts(2))).toMatchObject({
        restart: { kind: 'restart', window: { restarts: 3, startedAt: windowStartedAt } },
      });
    });

    it.each(['on-failure', 'always'] as const)(
      'gives up with a crash loop after the last restart the window allows, under %s',
      (policy) => {
        expect(decideReconcileAction(afterRestarts(defaultRetryPolicy.crashLoopMaxRestarts, policy))).toEqual({
          kind: 'vmm_gone',
          restart: {
            kind: 'crash_loop',
            restarts: defaultRetryPolicy.crashLoopMaxRestarts,
            windowMs: defaultRetryPolicy.crashLoopWindowMs,
          },
        });
      },
    );

    it('starts a new window, restarting at once, when the last one is over', () => {
      const oldWindow = new Date(now.getTime() - defaultRetryPolicy.crashLoopWindowMs);
      expect(decideReconcileAction(afterRestarts(defaultRetryPolicy.crashLoopMaxRestarts, 'always', oldWindow))).toEqual({
        kind: 'vmm_gone',
        restart: { kind: 'restart', delayMs: 0, window: { restarts: 1, startedAt: now } },
      });
    });

    it('also counts a death seen when an unknown VM comes back without its VMM', () => {
      expect(
        decideReconcileAction({ ...afterRestarts(defaultRetryPolicy.crashLoopMaxRestarts), state: 'unknown' }),
      ).toMatchObject({
        restart: { kind: 'crash_loop' },
      });
    });

    it('leaves a VM under the never policy to give_up, whatever its window', () => {
      const never = input({
        observed: exited,
        retry: { restartPolicy: 'never', attempt: 0, nextAttemptAt: null, crashWindow: emptyCrashWindow },
      });
      expect(decideReconcileAction(never)).toEqual({ kind: 'vmm_gone', restart: { kind: 'give_up' } });
    });
  });
});

describe('needsReconcile', () => {
  const retried = { restartPolicy: 'on-failure', attempt: 2, nextAttemptAt: null, crashWindow: emptyCrashWindow } as const;

  it('leaves alone a running VM whose host agrees and whose record says so', () => {
    expect(needsReconcile({ ...input(), observedState: 'running' })).toBe(false);
  });

  it('wants a reconcile when what the host holds differs from the observed state recorded', () => {
    expect(needsReconcile({ ...input(), observedState: 'paused' })).toBe(true);
    expect(needsReconcile({ ...input(), observedState: null })).toBe(true);
  });

  it("wants a reconcile to clear the attempts of a VM that runs again, but keeps a failed VM's", () => {
    expect(needsReconcile({ ...input({ retry: retried }), observedState: 'running' })).toBe(true);
    const failed = input({ state: 'failed', observed: { vmmState: 'exited', holdsRuntimeResources: false }, retry: retried });
    expect(needsReconcile({ ...failed, observedState: 'exited' })).toBe(false);
  });

  it('wants nothing while it would only wait, and an action whenever one is decided', () => {
    const starting = input({ state: 'starting', updatedAt: new Date(now.getTime() - 5_000) });
    expect(needsReconcile({ ...starting, observedState: 'running' })).toBe(false);
    const gone = input({ observed: { vmmState: 'no_record', holdsRuntimeResources: false } });
    expect(needsReconcile({ ...gone, observedState: observedStateOf('no_record') })).toBe(true);
  });

  it('leaves a VM a request is moving to that request, whatever its host holds, until the grace ends', () => {
    const running = { vmmState: 'running', holdsRuntimeResources: true } as const;
    const none = { vmmState: 'no_record', holdsRuntimeResources: false } as const;
    for (const state of ['pending', 'starting', 'stopping', 'deleting'] as const) {
      for (const observed of [running, none]) {
        const young = input({ state, observed, updatedAt: new Date(now.getTime() - 5_000) });
        expect(needsReconcile({ ...young, observedState: null }), `${state} ${observed.vmmState}`).toBe(false);
        // Compared again when the grace ends, the difference is recorded then.
        const due = reconsiderAt(young);
        expect(due).toEqual(new Date(young.updatedAt.getTime() + young.graceMs));
        expect(needsReconcile({ ...young, now: due!, observedState: null }), `${state} ${observed.vmmState} later`).toBe(true);
      }
    }
  });
});

/** An action without the times it carries (a restart's window starts `now`): what it decides. */
function kindOf(action: ReturnType<typeof decideReconcileAction>): string {
  if (action.kind === 'wait') return `wait:${action.why}`;
  if (action.kind === 'vmm_gone') return `vmm_gone:${action.restart.kind}`;
  if (action.kind === 'repair_drift') return `repair_drift:${action.egress}:${action.rateLimits}`;
  if (action.kind === 'continue_create') return `continue_create:${action.isLastAttempt}`;
  if (action.kind === 'adopt') return `adopt:${action.to}`;
  return action.kind;
}

describe('reconsiderAt', () => {
  const observations: (VmObservation | undefined)[] = [
    undefined,
    { vmmState: 'running', holdsRuntimeResources: true },
    { vmmState: 'paused', holdsRuntimeResources: true },
    { vmmState: 'exited', holdsRuntimeResources: true, vmmExit: { code: 0, signal: null } },
    { vmmState: 'exited', holdsRuntimeResources: true, vmmExit: { code: 1, signal: null } },
    { vmmState: 'absent', holdsRuntimeResources: false },
    { vmmState: 'no_record', holdsRuntimeResources: false },
    { vmmState: 'unreadable', holdsRuntimeResources: false },
    { vmmState: 'running', holdsRuntimeResources: true, egress: { policy: { mode: 'deny_all' }, isInPlace: true } },
  ];
  const second = 1_000;
  const retries = [
    { restartPolicy: 'on-failure' as const, attempt: 0, nextAttemptAt: null, crashWindow: emptyCrashWindow },
    {
      restartPolicy: 'always' as const,
      attempt: 2,
      nextAttemptAt: new Date(now.getTime() + 7 * second),
      crashWindow: emptyCrashWindow,
    },
    {
      restartPolicy: 'always' as const,
      attempt: 1,
      nextAttemptAt: null,
      crashWindow: { restarts: 5, startedAt: new Date(now.getTime() - defaultRetryPolicy.crashLoopWindowMs + 3 * second) },
    },
  ];
  const updates = [new Date(now.getTime() - 4 * second), new Date(now.getTime() - 25 * second), longAgo];

  it('answers a moment before which the decision cannot change, for every state, observation, host status and retry', () => {
    let checked = 0;
    for (const state of vmStates)
      for (const observed of observations)
        for (const hostStatus of ['healthy', 'unhealthy'] as const)
          for (const retry of retries)
            for (const updatedAt of updates) {
              const at = input({
                state,
                observed,
                hostStatus,
                retry,
                updatedAt,
                desired: { egress: { mode: 'allow_all' }, rateLimits: {} },
              });
              const until = reconsiderAt(at)?.getTime() ?? now.getTime() + 3_600 * second;
              expect(until).toBeGreaterThan(now.getTime());
              const decision = kindOf(decideReconcileAction(at));
              const needs = needsReconcile({ ...at, observedState: null });
              // Every second up to the moment (at most two minutes on), and the last millisecond before it.
              const times = [until - 1];
              for (let t = now.getTime(); t < until && t < now.getTime() + 120 * second; t += second) times.push(t);
              for (const t of times) {
                const later = { ...at, now: new Date(t) };
                expect(kindOf(decideReconcileAction(later)), `${state} ${observed?.vmmState} at +${t - now.getTime()} ms`).toBe(
                  decision,
                );
                expect(needsReconcile({ ...later, observedState: null })).toBe(needs);
              }
              checked += 1;
            }
    expect(checked).toBe(vmStates.length * observations.length * 2 * retries.length * updates.length);
  });

  it('answers the first of a grace ending, a retry coming due, a reboot uptime reached and a crash window closing', () => {
    const updatedAt = new Date(now.getTime() - 4 * second);
    const base = input({ state: 'starting', updatedAt });
    expect(reconsiderAt(base)).toEqual(new Date(updatedAt.getTime() + base.graceMs));
    const retry = { ...base.retry, nextAttemptAt: new Date(now.getTime() + 2 * second) };
    expect(reconsiderAt({ ...base, retry })).toEqual(retry.nextAttemptAt);
    expect(reconsiderAt(input({ updatedAt: new Date(now.getTime() - 20 * second) }))).toEqual(
      new Date(now.getTime() - 20 * second + defaultRetryPolicy.guestRebootMinUptimeMs),
    );
    expect(reconsiderAt(input())).toBeUndefined();
  });
});
