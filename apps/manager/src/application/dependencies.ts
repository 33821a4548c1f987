import type { PlacementPolicy } from '../domain/placement.js';
import type { AgentClient } from './ports/agent-client.js';
import type { Clock } from './ports/clock.js';
import type { HostRepository } from './ports/host-repository.js';
import type { IdGenerator } from './ports/id-generator.js';
import type { ImageInspector } from './ports/image-inspector.js';
import type { ImageRepository } from './ports/image-repository.js';
import type { Log } from './ports/log.js';
import type { VmRepository } from './ports/vm-repository.js';

/** Everything the use cases may need; each use case takes only its slice (`Pick<…>`). */
export interface UseCaseDependencies {
  readonly vms: VmRepository;
  readonly images: ImageRepository;
  readonly hosts: HostRepository;
  readonly agents: AgentClient;
  readonly inspector: ImageInspector;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly log: Log;
  readonly settings: UseCaseSettings;
}

export interface UseCaseSettings extends PlacementPolicy {
  /** New VMs get a metrics FIFO. */
  readonly isMetricsEnabled: boolean;
}
