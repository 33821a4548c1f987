import { describe, expect, it } from 'vitest';
import { agentStepsWallMs } from './manager-vms.js';

const step = (name: string, durationMs: number) => ({ name, durationMs });

describe('agentStepsWallMs', () => {
  it("counts a fresh VM's configured spawn after its tap and rootfs, which run side by side", () => {
    expect(agentStepsWallMs([step('tap', 3), step('rootfs', 10), step('spawn', 100), step('start', 20)])).toBe(130);
  });

  it("counts a restore's spawn beside its tap and rootfs", () => {
    const steps = [step('tap', 3), step('rootfs', 10), step('spawn', 100), step('load', 400), step('resume', 5)];
    expect(agentStepsWallMs(steps)).toBe(505);
  });
});
