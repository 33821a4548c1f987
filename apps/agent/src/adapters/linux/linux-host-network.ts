import { isAppError } from '@hearth/errors';
import { failpoint } from '@hearth/failpoints';
import type { CommandRunner } from '../../application/ports/command-runner.js';
import type { BridgeState, HostNetwork, LinkState, MarkedLink } from '../../application/ports/host-network.js';
import type { IpBatch, IpBatchPool } from './ip-batch.js';
import type { IpJsonReader } from './ip-json-reader.js';

interface IpLink {
  readonly ifname: string;
  readonly flags?: readonly string[];
  readonly master?: string;
  readonly ifalias?: string;
}

interface IpAddr {
  readonly addr_info?: readonly { readonly family?: string; readonly local?: string; readonly prefixlen?: number }[];
}

const missingLink = /does not exist|Cannot find device/i;

function isMissingLink(error: unknown): boolean {
  if (!isAppError(error) || error.code !== 'HOST_COMMAND_FAILED') return false;
  return missingLink.test(String(error.diagnostics?.['stderr'] ?? ''));
}

/** A JSON answer of the reader, or [] when it is none (then checked against what was asked). */
function parsedOrEmpty(stdout: string): unknown[] {
  try {
    const parsed: unknown = JSON.parse(stdout);
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** The links of a `link show` answer, or null when the answer cannot be one: it always holds `lo`. */
function everyLinkIn(stdout: string): IpLink[] | null {
  const links = parsedOrEmpty(stdout) as Partial<IpLink>[];
  return links.some((link) => link.ifname === 'lo') ? (links as IpLink[]) : null;
}

function linkStateOf(link: IpLink & IpAddr): LinkState {
  return {
    name: link.ifname,
    isUp: (link.flags ?? []).includes('UP'),
    master: link.master ?? null,
    alias: link.ifalias ?? null,
    addresses: (link.addr_info ?? []).flatMap((info) =>
      info.family !== 'inet' || info.local === undefined ? [] : [`${info.local}/${info.prefixlen ?? 32}`],
    ),
  };
}

/**
 * How long the marked links read are answered again while no link was changed through the adapter:
 * what bounds how late a change by another program (a TAP an operator deleted) is seen.
 */
export const markedLinksMaxAgeMs = 60_000;

/**
 * Which reads go to the `IpJsonReader`: every read, or only the list of every link (`markedLinks`,
 * which looks no name up, so the reader's answer is as fresh as a fork's), reads of one link by its
 * name forking an `ip -j` each.
 */
export type IpReaderUse = 'every-read' | 'link-list';

/**
 * Links through iproute2 (`ip`), always with argument arrays. With an `IpBatch`, the commands that
 * change links go to its long-lived process instead of a fork each; with an `IpJsonReader`, reads go
 * to another long-lived process (all of them, or the list of every link alone: `readerUse`), and
 * fork an `ip -j` only when it cannot answer or its answer may be stale.
 */
export class LinuxHostNetwork implements HostNetwork {
  /** Bridges already ensured by this process, so an apply costs no extra `ip` call. */
  private readonly ensuredBridges = new Set<string>();

  /** `ip` with `-n <netns>` when the links live in a named namespace. */
  private readonly ip: readonly string[];

  /** Where changes go instead of a fork of `ip` each, when set. */
  private readonly batch: Pick<IpBatch | IpBatchPool, 'run'> | null;

  /** Where reads go instead of a fork of `ip -j` each, when set. */
  private readonly reader: IpJsonReader | null;

  /** Where reads of one link by its name go, when set: null when they fork. */
  private readonly readerByName: IpJsonReader | null;

  /** The reader's last list of every link and the marked links found in it. */
  private lastMarked: { readonly stdout: string; readonly markPrefix: string; readonly links: readonly MarkedLink[] } | null =
    null;

  /** Changes through this adapter that have ended. */
  private linkChanges = 0;

  /** The last marked links read, with the count of changes and the time when their read started. */
  private keptMarked: {
    readonly markPrefix: string;
    readonly links: readonly MarkedLink[];
    readonly linkChanges: number;
    readonly readAtMs: number;
  } | null = null;

  /** How long the marked links read are answered again while no link was changed through this adapter. */
  private readonly markedLinksMaxAgeMs: number;

  private readonly monotonicMs: () => number;

  constructor(
    private readonly runner: CommandRunner,
    options: {
      readonly netns?: string | null;
      readonly batch?: Pick<IpBatch | IpBatchPool, 'run'>;
      readonly reader?: IpJsonReader;
      /** Default `every-read`. */
      readonly readerUse?: IpReaderUse;
      /**
       * How long `markedLinks` answers its last list again while no link was changed through this
       * adapter (default `markedLinksMaxAgeMs`; 0 reads every time).
       */
      readonly markedLinksMaxAgeMs?: number;
      /** Monotonic time, for that age (default `performance.now`). */
      readonly monotonicMs?: () => number;
    } = {},
  ) {
    this.ip = options.netns ? ['ip', '-n', options.netns] : ['ip'];
    this.batch = options.batch ?? null;
    this.reader = options.reader ?? null;
    this.readerByName = options.readerUse === 'link-list' ? null : this.reader;
    this.markedLinksMaxAgeMs = options.markedLinksMaxAgeMs ?? markedLinksMaxAgeMs;
    this.monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  /** `ip <args>` for a change: through the batch process when there is one. */
  private async change(args: readonly string[]): Promise<void> {
    try {
      if (this.batch !== null) await this.batch.run(args);
      else await this.runner.run([...this.ip, ...args]);
    } finally {
      // Counted as it ends: a list whose read began before is not answered again after it.
      this.linkChanges += 1;
    }
  }

  async ensureBridge(bridge: string, addressCidr: string | null): Promise<void> {
    const key = `${bridge} ${addressCidr ?? ''}`;
    if (this.ensuredBridges.has(key)) return;
    let state = await this.linkState(bridge);
    if (state === null) {
      try {
        await this.change(['link', 'add', 'name', bridge, 'type', 'bridge']);
      } catch (error) {
        if ((await this.linkState(bridge)) === null) throw error;
      }
      state = await this.linkState(bridge);
    }
    if (state === null || !state.isUp) await this.change(['link', 'set', 'dev', bridge, 'up']);
    if (addressCidr !== null && !(state?.addresses ?? []).includes(addressCidr)) {
      try {
        await this.change(['addr', 'add', addressCidr, 'dev', bridge]);
      } catch (error) {
        if (!(await this.linkState(bridge))?.addresses.includes(addressCidr)) throw error;
      }
    }
    this.ensuredBridges.add(key);
  }

  async linkExists(name: string): Promise<boolean> {
    return (await this.linkState(name)) !== null;
  }

  async linkState(name: string): Promise<LinkState | null> {
    const args = ['addr', 'show', 'dev', name];
    const read = await this.readerByName?.read(args);
    if (read?.kind === 'failed' && missingLink.test(read.stderr)) return null;
    if (read?.kind === 'output') {
      const [link] = parsedOrEmpty(read.stdout) as (IpLink & IpAddr)[];
      // A name the long-lived `ip` looked up before may be a deleted link's (its answer is then
      // `[{}]`): a new process looks every name up afresh.
      if (link?.ifname === name) return linkStateOf(link);
      this.readerByName?.restart();
    }
    let stdout: string;
    try {
      ({ stdout } = await this.runner.run([...this.ip, '-j', '-d', ...args]));
    } catch (error) {
      if (isMissingLink(error)) return null;
      throw error;
    }
    const [link] = JSON.parse(stdout) as (IpLink & IpAddr)[];
    return link === undefined ? null : linkStateOf(link);
  }

  async bridgeState(bridge: string): Promise<BridgeState | null> {
    // The list of bridges, filtered by kind: no name looked up, so the reader answers every time
    // (the heartbeat's facts ask it every 15 s), and a fork only when the reader cannot.
    const args = ['addr', 'show', 'type', 'bridge'];
    const read = await this.reader?.read(args);
    let stdout: string;
    if (read?.kind === 'output') ({ stdout } = read);
    else ({ stdout } = await this.runner.run([...this.ip, '-j', ...args]));
    const links = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as (IpLink & IpAddr)[];
    const link = links.find((candidate) => candidate.ifname === bridge);
    if (link === undefined) return null;
    const { name, isUp, addresses } = linkStateOf(link);
    return { name, isUp, addresses };
  }

  async createTap(name: string, bridge: string, mark: string): Promise<'created' | 'name_taken'> {
    try {
      await this.change(['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    } catch (error) {
      if (await this.linkExists(name)) return 'name_taken';
      throw error;
    }
    failpoint('agent.apply.tap-unmarked');
    try {
      // One netlink request, in which the kernel sets the alias before the master: a TAP left
      // behind from here on (the bridge gone, a crash) carries the mark and is found by it.
      await this.attach(name, bridge, mark);
    } catch (error) {
      // Not recorded yet: do not leave an unowned TAP behind.
      await this.deleteLink(name).catch(() => undefined);
      throw error;
    }
    return 'created';
  }

  async markedLinks(markPrefix: string): Promise<MarkedLink[]> {
    // The Agent marks and unmarks its links through this adapter alone, and every inventory (each
    // heartbeat) asks for them: with hundreds of TAPs a list is about 300 bytes a link for `ip` to
    // write and the Agent to read. The last one is answered again until a change or its age.
    const kept = this.keptMarked;
    const nowMs = this.monotonicMs();
    if (
      kept !== null &&
      kept.markPrefix === markPrefix &&
      kept.linkChanges === this.linkChanges &&
      nowMs - kept.readAtMs < this.markedLinksMaxAgeMs
    ) {
      return [...kept.links];
    }
    const linkChanges = this.linkChanges;
    const links = await this.readMarkedLinks(markPrefix);
    this.keptMarked = { markPrefix, links, linkChanges, readAtMs: nowMs };
    return [...links];
  }

  private async readMarkedLinks(markPrefix: string): Promise<readonly MarkedLink[]> {
    // Every link, no name looked up: the long-lived reader's answer is as fresh as a fork's.
    const read = await this.reader?.read(['link', 'show']);
    // The list is read at every inventory (every few seconds, hundreds of TAPs): an answer the same
    // as the last one, byte for byte, is not parsed again.
    const last = this.lastMarked;
    if (read?.kind === 'output' && last !== null && last.stdout === read.stdout && last.markPrefix === markPrefix) {
      return last.links;
    }
    const answered = read?.kind === 'output' ? everyLinkIn(read.stdout) : null;
    let links = answered;
    if (links === null) {
      // Not an answer to this read (every namespace has `lo`): a new reader starts afresh.
      if (read !== undefined) this.reader?.restart();
      const { stdout } = await this.runner.run([...this.ip, '-j', 'link', 'show']);
      links = JSON.parse(stdout.trim() === '' ? '[]' : stdout) as IpLink[];
    }
    const marked = links.flatMap((link) =>
      typeof link.ifalias === 'string' && link.ifalias.startsWith(markPrefix) ? [{ name: link.ifname, alias: link.ifalias }] : [],
    );
    this.lastMarked = read?.kind === 'output' && answered !== null ? { stdout: read.stdout, markPrefix, links: marked } : null;
    return marked;
  }

  private async attach(name: string, bridge: string, mark: string): Promise<void> {
    try {
      await this.change(['link', 'set', 'dev', name, 'alias', mark, 'master', bridge, 'up']);
    } catch (error) {
      // Perhaps the bridge vanished since we ensured it: the next ensureBridge checks again.
      for (const key of this.ensuredBridges) if (key.startsWith(`${bridge} `)) this.ensuredBridges.delete(key);
      throw error;
    }
  }

  async deleteLink(name: string): Promise<void> {
    try {
      await this.change(['link', 'del', 'dev', name]);
    } catch (error) {
      if (isMissingLink(error) || !(await this.linkExists(name))) return;
      throw error;
    }
  }
}
