import { describe, expect, it } from 'vitest';
import { parseOptions } from '../src/options.js';
import { headlineKeys, renderText, toJson, type BenchResults } from '../src/report.js';
import { emptySnapshotSamples, snapshotFigures } from '../src/snapshot-figures.js';
import { summarize } from '../src/stats.js';

const options = parseOptions(['--quick']);
if (options === null) throw new Error('--quick parses to options');

/** A run on a machine without /dev/kvm where the Manager refused every create. */
function everyCreateRefused(): BenchResults {
  const refused = 'HTTP 503: {"code":"HOST_NO_CAPACITY","detail":"no host can take the VM: kvm_unusable"}';
  return {
    machine: {
      cpuCount: 2,
      cpuModel: 'test',
      memoryMibTotal: 4096,
      memoryMibAvailable: 2048,
      kernel: 'Linux test',
      nodeVersion: 'v24.0.0',
      loadAverage1m: 0,
      hasKvm: false,
    },
    options: options as NonNullable<typeof options>,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationS: 1,
    doubleRss: { rssMib: 40, pssMib: 30 },
    memoryAtZero: { agentRssMib: 60, managerRssMib: 90 },
    latency: {
      count: 2,
      failures: 2,
      client: summarize([]),
      managerTotal: summarize([]),
      managerOverhead: summarize([]),
      agentOverhead: summarize([]),
      steps: {},
      floor: summarize([5, 6]),
      floorSteps: {},
      floorDescription: 'floor',
      errors: [refused, refused],
    },
    waves: [
      {
        concurrency: 1,
        requested: 3,
        created: 0,
        failures: 3,
        createSeconds: 0.1,
        createsPerSecond: 0,
        createLatency: summarize([]),
        deleted: 0,
        deleteFailures: 0,
        deletesPerSecond: Number.NaN,
        stoppedEarly: null,
        agentRssMib: 61,
        managerRssMib: 91,
        memAvailableMibAtPeak: 2000,
        cpuMsPerCreate: null,
        agentChildrenMsPerCreate: null,
        backgroundCpuMsPerSecond: { manager: 0, agent: 0, 'agent-children': 0, postgres: 0, vmms: 0, bench: 0, other: 0 },
        marginalControlPlaneMsPerCreate: null,
        liveBackgroundCpuMsPerSecond: null,
        agentReadsPerCreate: null,
        errors: [refused],
      },
    ],
    list: {
      rows: 10,
      requests: 5,
      pageSize: 100,
      latency: summarize([]),
      failures: 5,
      cpuMsPerPage: { manager: 0, postgres: 0 },
      slowest: [],
      resyncWaitMs: null,
      managerGc: null,
    },
    events: { latency: null, note: 'the stream delivered no "running" event for 5 creates' },
    network: { latency: null, egressChange: null, note: 'skipped (--network 0)' },
    qemu: { count: 0, viaHearth: null, qemuAlone: null, ratio: null, note: 'skipped (--quick or --qemu 0)' },
    snapshots: snapshotFigures(emptySnapshotSamples, { memoryMib: 256, cloneCount: 10 }, 'skipped (--quick or --snapshots 0)'),
  };
}

describe('bench report', () => {
  it('prints the snapshot medians and their ratios against QEMU restoring alone', () => {
    const results: BenchResults = {
      ...everyCreateRefused(),
      snapshots: snapshotFigures(
        {
          createMs: [800],
          pauseMs: [500],
          restoreMs: [1_200],
          restoreFloorMs: [1_000],
          clonesMs: [6_000],
          clonesFloorMs: [4_000],
          restoreTimelines: [
            {
              requestedAtMs: 0,
              acceptedAtMs: 900,
              applyStartedAtMs: 200,
              applyMs: 700,
              steps: [{ name: 'load', durationMs: 400 }],
              answeredAtMs: 1_200,
            },
          ],
          cloneTimelines: [
            {
              requestedAtMs: 0,
              acceptedAtMs: 100,
              applyStartedAtMs: 150,
              applyMs: 3_000,
              steps: [{ name: 'spawn', durationMs: 900 }],
              firstAnswerAtMs: 4_000,
              answeredAtMs: 5_000,
            },
          ],
          cloneCpuMs: [{ manager: 9, agent: 30, 'agent-children': 2, postgres: 3, vmms: 700, bench: 1, other: 50 }],
          cloneFloorTimelines: [
            {
              startedAtMs: 0,
              tapMs: 10,
              copyMs: 30,
              spawnMs: 31,
              qmpMs: 2_000,
              incomingMs: 2_100,
              contMs: 2_110,
              firstAnswerMs: 2_200,
              answeredMs: 2_200,
            },
          ],
          doublesAtRestMsPerS: [90],
        },
        { memoryMib: 256, cloneCount: 10 },
        'measured',
      ),
    };
    const json = toJson(results);
    expect(json).toMatchObject({
      snapshot_create_p50_ms: 800,
      snapshot_pause_p50_ms: 500,
      snapshot_restore_p50_ms: 1_200,
      snapshot_restore_floor_p50_ms: 1_000,
      snapshot_restore_ratio: 1.2,
      clones_all_answering_p50_ms: 6_000,
      clones_floor_p50_ms: 4_000,
      clones_ratio: 1.5,
      restore_before_apply_p50_ms: 200,
      restore_apply_p50_ms: 700,
      restore_guest_p50_ms: 300,
      restore_steps_p50_ms: { load: 400 },
      clone_accept_p50_ms: 100,
      clone_before_apply_p50_ms: 150,
      clone_apply_p50_ms: 3_000,
      clone_guest_p50_ms: 1_850,
      clone_steps_p50_ms: { spawn: 900 },
      clone_cpu_ms_per_clone_p50: { agent: 30, 'agent-children': 2, manager: 9, postgres: 3 },
      clone_marks_p50_ms: { accepted: 100, applyBegan: 150, resumed: 3_150, firstAnswer: 4_000, answered: 5_000 },
      clone_floor_marks_p50_ms: { tap: 10, qmp: 2_000, cont: 2_110, answered: 2_200 },
      clone_doubles_at_rest_ms_per_s: 90,
      clone_phases_p50_ms: { load: { clone: 0, alone: 2_069 }, afterResume: { clone: 1_850, alone: 90 } },
    });
    const text = renderText(results, json);
    expect(text).toMatch(/restore → answering p50 1200\.0 ms, QEMU alone 1000\.0 ms, ratio 1\.200 \(target ≤ 1\.2\)/);
    expect(text).toMatch(
      /a restore in place, p50 of 1: its apply began 200\.0 ms after the request \(.*\), apply 700\.0 ms \(load 400\.0\), then its guest until answering 300\.0 ms/,
    );
    expect(text).toMatch(/a clone, p50 of 1: accepted 100\.0 ms, its apply began 150\.0 ms, apply 3000\.0 ms \(spawn 900\.0\)/);
    expect(text).toMatch(
      /CPU per clone, p50 of 1 rounds: Agent 30\.0 ms, its children 2\.0 ms, Manager 9\.0 ms, PostgreSQL 3\.0 ms/,
    );
    expect(text).toMatch(/a clone's marks, p50, ms from the request: accepted 100\.0, applyBegan 150\.0, /);
    expect(text).toMatch(/phases, clone vs QEMU alone \(p50\): before the load 3150\.0 vs 31\.0 ms, the load 0\.0 vs 2069\.0 ms/);
    expect(text).toMatch(/QEMU alone's marks, p50, ms from its start: tap 10\.0, copy 30\.0, spawn 31\.0, qmp 2000\.0/);
  });

  it('prints the creates with networking on against their floor, with both ratios', () => {
    const floor = summarize([100, 110, 200]);
    const results: BenchResults = {
      ...everyCreateRefused(),
      network: {
        latency: {
          count: 3,
          failures: 0,
          client: summarize([120, 121, 220]),
          managerTotal: summarize([90, 91, 180]),
          managerOverhead: summarize([30, 30, 40]),
          agentOverhead: summarize([5, 5, 6]),
          steps: { egress: summarize([20, 21, 40]) },
          floor,
          floorSteps: { egress: summarize([10, 11, 30]) },
          floorDescription: 'floor with egress',
          errors: [],
        },
        egressChange: summarize([30, 35, 90]),
        note: 'measured',
      },
    };
    const json = toJson(results);
    expect(json).toMatchObject({
      network_create_p50_ms: 121,
      network_create_p99_ms: 220,
      network_ratio_p50: 1.1,
      network_ratio_p99: 1.1,
      network_floor_p50_ms: 110,
      network_steps_p50_ms: { egress: 21 },
      network_floor_steps_p50_ms: { egress: 11 },
      network_egress_change_p50_ms: 35,
      network_egress_change_p99_ms: 90,
    });
    expect(json['notes']).not.toHaveProperty('network_ratio_p50');
    const text = renderText(results, json);
    expect(text).toMatch(/^8\. create latency with networking on \(ms\), n=3/m);
    expect(text).toMatch(/^ {3}ratio to floor: p50 1\.100, p99 1\.100 \(target ≤ 1\.25\)$/m);
    expect(text).toMatch(/^ {2}step egress +21\.0 +40\.0 +11\.0 +30\.0$/m);
    expect(text).toMatch(/^ {3}egress change on a running VM, .*: p50 35\.0, p99 90\.0 ms \(target ≤ 1,000\)$/m);
  });

  it("prints what each of the Agent's children cost per create, largest first, those that ended last", () => {
    const everyRefused = everyCreateRefused();
    const [wave] = everyRefused.waves;
    if (wave === undefined) throw new Error('the fixture has a wave');
    const results: BenchResults = {
      ...everyRefused,
      waves: [{ ...wave, concurrency: 10, agentChildrenMsPerCreate: { ip: 0.94, ended: 0.3, 'nft -j': 2.42, 'ip -j': 0.5 } }],
    };
    expect(renderText(results, toJson(results))).toContain(
      'agent-children at concurrency 10, ms per create: nft -j 2.4, ip 0.9, ip -j 0.5, ended 0.3',
    );
    expect(toJson(results)).toMatchObject({
      waves: [{ agent_children_cpu_ms_per_create: { 'nft -j': 2.42, ip: 0.94, 'ip -j': 0.5, ended: 0.3 } }],
    });
    expect(renderText(everyRefused, toJson(everyRefused))).not.toContain('agent-children at concurrency');
  });

  it("prints the Manager's garbage collections over the list's walk", () => {
    const everyRefused = everyCreateRefused();
    const results: BenchResults = {
      ...everyRefused,
      list: { ...everyRefused.list, managerGc: { minor: { count: 169, ms: 401.25 }, major: { count: 9, ms: 152.5 } } },
    };
    expect(renderText(results, toJson(results))).toContain(
      "the Manager's GC over the walk and its warm-up: 169 scavenges (401.3 ms), 9 mark-compacts (152.5 ms)",
    );
    expect(toJson(results)).toMatchObject({ list_manager_scavenges: 169, list_manager_mark_compacts: 9 });
    expect(toJson(everyRefused)).toMatchObject({ list_manager_scavenges: null, list_manager_mark_compacts: null });
  });

  it('says why the networking figures are missing', () => {
    const text = renderText(everyCreateRefused(), toJson(everyCreateRefused()));
    expect(text).toMatch(/^network_ratio_p50: null, because skipped \(--network 0\)$/m);
  });

  it('explains every null headline value with a note', () => {
    const json = toJson(everyCreateRefused());
    const notes = json['notes'] as Record<string, string>;
    const nullKeys = headlineKeys.filter((key) => json[key] === null);
    expect(nullKeys).toContain('create_p50_ms');
    expect(nullKeys).toContain('creates_per_s');
    expect(nullKeys.filter((key) => !/\S/.test(notes[key] ?? ''))).toEqual([]);
  });

  it('says that the machine has no KVM and what the creates failed on', () => {
    const notes = toJson(everyCreateRefused())['notes'] as Record<string, string>;
    expect(notes['create_p50_ms']).toMatch(/no usable \/dev\/kvm and 2 of 2 creates failed, the first with: .*HOST_NO_CAPACITY/);
    expect(notes['creates_per_s']).toMatch(/no usable \/dev\/kvm and 3 of 3 creates failed/);
  });

  it('prints the reason next to each null value', () => {
    const results = everyCreateRefused();
    const text = renderText(results, toJson(results));
    expect(text).toMatch(/^create_p50_ms: null, because this machine has no usable \/dev\/kvm/m);
    expect(text).toMatch(/^qemu_boot_ratio: null, because skipped/m);
    expect(text).toMatch(/^snapshot_restore_ratio: null, because skipped \(--quick or --snapshots 0\)/m);
  });
});
