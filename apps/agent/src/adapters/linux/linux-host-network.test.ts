import { describe, expect, it } from 'vitest';
import type { CommandOutput, CommandRunner } from '../../application/ports/command-runner.js';
import { LinuxHostNetwork, markedLinksMaxAgeMs } from './linux-host-network.js';

/** `ip` as a list of links in memory: `-j link show` lists them, `tuntap add` / `link set … alias` / `link del` change them. */
class LinksInMemory implements CommandRunner {
  readonly links = new Map<string, string | undefined>([['lo', undefined]]);
  lists = 0;
  /** Called as a change starts, before it is applied. */
  onChange: () => Promise<void> = async () => undefined;

  async run(argv: readonly string[]): Promise<CommandOutput> {
    const args = argv.slice(1).join(' ');
    if (args === '-j link show') {
      this.lists += 1;
      const links = [...this.links].map(([ifname, ifalias]) => ({ ifname, ...(ifalias === undefined ? {} : { ifalias }) }));
      return { stdout: JSON.stringify(links), stderr: '' };
    }
    await this.onChange();
    const tap = /^tuntap add dev (\S+) mode tap$/.exec(args);
    const alias = /^link set dev (\S+) alias (\S+) master \S+ up$/.exec(args);
    const deleted = /^link del dev (\S+)$/.exec(args);
    if (tap !== null) this.links.set(tap[1]!, undefined);
    else if (alias !== null) this.links.set(alias[1]!, alias[2]);
    else if (deleted !== null) this.links.delete(deleted[1]!);
    else throw new Error(`unexpected ip ${args}`);
    return { stdout: '', stderr: '' };
  }
}

function networkOver(links: LinksInMemory): { network: LinuxHostNetwork; clock: { ms: number } } {
  const clock = { ms: 0 };
  return { network: new LinuxHostNetwork(links, { monotonicMs: () => clock.ms }), clock };
}

describe('LinuxHostNetwork.markedLinks', () => {
  it('answers its last list again while no link was changed through it, without asking ip', async () => {
    const links = new LinksInMemory();
    links.links.set('fc1', 'hearth:a:vm_1');
    const { network, clock } = networkOver(links);

    expect(await network.markedLinks('hearth:a:')).toEqual([{ name: 'fc1', alias: 'hearth:a:vm_1' }]);
    clock.ms += markedLinksMaxAgeMs - 1;
    expect(await network.markedLinks('hearth:a:')).toEqual([{ name: 'fc1', alias: 'hearth:a:vm_1' }]);
    expect(links.lists).toBe(1);
  });

  it('reads the links again after a TAP is created or deleted through it', async () => {
    const links = new LinksInMemory();
    const { network } = networkOver(links);
    expect(await network.markedLinks('hearth:a:')).toEqual([]);

    await network.createTap('fc2', 'br0', 'hearth:a:vm_2');
    expect(await network.markedLinks('hearth:a:')).toEqual([{ name: 'fc2', alias: 'hearth:a:vm_2' }]);
    await network.deleteLink('fc2');
    expect(await network.markedLinks('hearth:a:')).toEqual([]);
    expect(links.lists).toBe(3);
  });

  it('sees a change by another program once its last list is as old as the bound', async () => {
    const links = new LinksInMemory();
    links.links.set('fc3', 'hearth:a:vm_3');
    const { network, clock } = networkOver(links);
    expect(await network.markedLinks('hearth:a:')).toHaveLength(1);

    links.links.delete('fc3');
    clock.ms += markedLinksMaxAgeMs;
    expect(await network.markedLinks('hearth:a:')).toEqual([]);
    expect(links.lists).toBe(2);
  });

  it('keeps no list read while a change was under way', async () => {
    const links = new LinksInMemory();
    const { network } = networkOver(links);
    let listDuringChange: Promise<unknown> | undefined;
    links.onChange = async () => {
      listDuringChange ??= network.markedLinks('hearth:a:');
      await listDuringChange;
    };
    await network.createTap('fc4', 'br0', 'hearth:a:vm_4');
    // The list read while the TAP was being made had it unmarked; the next one reads again.
    expect(await listDuringChange).toEqual([]);
    expect(await network.markedLinks('hearth:a:')).toEqual([{ name: 'fc4', alias: 'hearth:a:vm_4' }]);
    expect(links.lists).toBe(2);
  });

  it('reads again for another mark prefix', async () => {
    const links = new LinksInMemory();
    links.links.set('fc5', 'hearth:b:vm_5');
    const { network } = networkOver(links);
    expect(await network.markedLinks('hearth:a:')).toEqual([]);
    expect(await network.markedLinks('hearth:b:')).toEqual([{ name: 'fc5', alias: 'hearth:b:vm_5' }]);
    expect(links.lists).toBe(2);
  });
});
