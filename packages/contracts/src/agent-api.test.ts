import { describe, expect, it } from 'vitest';
import { applyPlan } from './agent-api.js';

describe('applyPlan', () => {
  it('configures logger and metrics first and starts last', () => {
    expect(applyPlan({ isMetricsEnabled: true })).toEqual([
      'tap',
      'rootfs',
      'spawn',
      'logger',
      'metrics',
      'machine-config',
      'boot-source',
      'drives',
      'network',
      'start',
    ]);
  });

  it('has no metrics step when metrics are disabled', () => {
    expect(applyPlan({ isMetricsEnabled: false })).toEqual(
      applyPlan({ isMetricsEnabled: true }).filter((step) => step !== 'metrics'),
    );
  });
});
