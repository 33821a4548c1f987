import { parseEgressRule, parsePublishedPort, parseRateLimits, type EgressPolicy, type RateLimits } from '@hearth/sdk';

/** An egress policy's mode, or '' for the default (everything allowed, or a template's policy). */
export type EgressChoice = '' | EgressPolicy['mode'];

/**
 * The network fields of the new-template and create forms as typed, each list in the notation the
 * CLI's flags take (`@hearth/sdk`'s network notation), its entries apart by spaces or lines.
 */
export interface NetworkForm {
  readonly egressMode: EgressChoice;
  /** The list of an `allow_list` or `deny_list`: `CIDR[:tcp|udp[:port,port…]]` entries. */
  readonly egressRules: string;
  /** A network of the project to join; empty: the default. */
  readonly sharedNetwork: string;
  /** `DEVICE.BUCKET=SIZE/REFILL_MS[+BURST]` entries; empty: the default. */
  readonly rateLimits: string;
}

export const emptyNetworkForm: NetworkForm = { egressMode: '', egressRules: '', sharedNetwork: '', rateLimits: '' };

/** The body fields of the network settings; what is left empty is left out. */
export interface NetworkRequest {
  egress?: EgressPolicy;
  sharedNetwork?: string;
  rateLimits?: RateLimits;
}

/** Whether the mode takes a list of rules (the forms offer the rules field only then). */
export function isEgressList(mode: EgressChoice): mode is 'allow_list' | 'deny_list' {
  return mode === 'allow_list' || mode === 'deny_list';
}

/** The entries of a list field, apart by spaces or lines. */
export function entriesOf(text: string): string[] {
  return text.split(/\s+/).filter((entry) => entry !== '');
}

/**
 * The network settings the fields ask for. An egress rule or rate limit outside the notation is a
 * `NotationError` naming it, before anything is sent; the Manager checks the rest.
 */
export function networkRequest(form: NetworkForm): NetworkRequest {
  const egress: EgressPolicy | undefined = isEgressList(form.egressMode)
    ? { mode: form.egressMode, rules: entriesOf(form.egressRules).map(parseEgressRule) }
    : form.egressMode === ''
      ? undefined
      : { mode: form.egressMode };
  const sharedNetwork = form.sharedNetwork.trim();
  const rateLimits = entriesOf(form.rateLimits);
  return {
    ...(egress === undefined ? {} : { egress }),
    ...(sharedNetwork === '' ? {} : { sharedNetwork }),
    ...(rateLimits.length === 0 ? {} : { rateLimits: parseRateLimits(rateLimits) }),
  };
}

/** Published ports as `HOST:GUEST[/tcp|udp]` entries; none when the field is empty. */
export function publishedPortsOf(text: string): ReturnType<typeof parsePublishedPort>[] {
  return entriesOf(text).map(parsePublishedPort);
}
