export interface LinkState {
  readonly name: string;
  /** Administratively up (IFF_UP). */
  readonly isUp: boolean;
  /** The bridge the link is attached to. */
  readonly master: string | null;
  /** IPv4 addresses as CIDRs (`172.30.0.1/24`); the kernel's IPv6 link-local ones are left out. */
  readonly addresses: readonly string[];
  /** The interface alias (`ifalias`): the mark an Agent puts on the TAPs it creates; null when unset. */
  readonly alias: string | null;
}

/** What the list of bridges says of one: see `HostNetwork.bridgeState`. */
export type BridgeState = Pick<LinkState, 'name' | 'isUp' | 'addresses'>;

export interface MarkedLink {
  readonly name: string;
  readonly alias: string;
}

/** The host's links: one bridge and one TAP per VM. All operations are idempotent. */
export interface HostNetwork {
  /** Creates the bridge if missing, sets it up and adds `addressCidr` when given and not present. */
  ensureBridge(bridge: string, addressCidr: string | null): Promise<void>;
  linkExists(name: string): Promise<boolean>;
  /** Null when there is no such link. */
  linkState(name: string): Promise<LinkState | null>;
  /**
   * A bridge's state, read from the list of the host's bridges: no link is looked up by its name,
   * so a long-lived reader answers it as freshly as a new process. Null when no bridge has the name.
   */
  bridgeState(bridge: string): Promise<BridgeState | null>;
  /**
   * Creates a TAP, marks it (its alias becomes `mark`) before anything else, then attaches it to
   * the bridge and sets it up. Answers `name_taken` (and changes nothing) when a link with that
   * name already exists.
   */
  createTap(name: string, bridge: string, mark: string): Promise<'created' | 'name_taken'>;
  /**
   * Every link whose alias starts with `markPrefix`, attached to a bridge or not. A change made
   * through this port is seen by the next call; one made by another program may be seen up to the
   * adapter's bound later (`LinuxHostNetwork`: a minute).
   */
  markedLinks(markPrefix: string): Promise<MarkedLink[]>;
  /** Deletes a link, and resolves only once it is gone; a missing link is not an error. */
  deleteLink(name: string): Promise<void>;
}
