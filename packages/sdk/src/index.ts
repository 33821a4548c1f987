export { Hearth, type HearthOptions } from './hearth.js';
export { HearthError, isHearthError, type ProblemCode } from './hearth-error.js';
export {
  VmWaitError,
  Vms,
  isDeleteUnderWay,
  type CreateVmOptions,
  type MutationOptions,
  type RestoreVmOptions,
  type WaitOptions,
} from './vms.js';
export {
  bearerSubprotocol,
  consoleAttachUrl,
  consoleSubprotocol,
  describeConsoleEnd,
  type AttachConsoleOptions,
  type ConsoleClosed,
  type ConsoleEndReason,
  type ConsoleSession,
  type ConsoleWebSocket,
  type ConsoleWebSocketConstructor,
} from './console.js';
export {
  NotationError,
  egressRuleText,
  egressText,
  parseEgressRule,
  parsePublishedPort,
  parseRateLimitDevice,
  parseRateLimits,
  rateLimitDevices,
  rateLimitsText,
  type EgressRule,
  type PublishedPort,
  type RateLimitDevice,
} from './network-notation.js';
export { Images } from './images.js';
export { Templates, type TemplateMutationOptions } from './templates.js';
export { Snapshots } from './snapshots.js';
export { Hosts } from './hosts.js';
export { Tokens } from './tokens.js';
export { Projects } from './projects.js';
export type { EventStreamOptions } from './event-stream.js';
export type { TransportOptions } from './transport.js';
export type { ApiClient } from './api-client.js';
export type { paths, operations, components } from './generated/openapi.js';
export type * from './types.js';
