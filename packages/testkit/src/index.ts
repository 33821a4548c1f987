export {
  agentMain,
  findCommand,
  firecrackerDoubleBin,
  hasCommand,
  hasKvm,
  isRoot,
  managerMain,
  managerNodeFlags,
  nodeFlagsOfBuild,
  missingRequirements,
  repoRoot,
  sharedDir,
  type Requirements,
} from './environment.js';
export { createCleanupStack, type CleanupStack } from './cleanup-stack.js';
export { freePort } from './free-port.js';
export {
  createAgentProcess,
  createManagerProcess,
  waitForHealthyHosts,
  type AgentProcessOptions,
  type HearthProcess,
  type ManagerProcess,
  type ManagerProcessOptions,
} from './hearth-processes.js';
export { createNetns, type ExecResult, type Netns } from './netns.js';
export { descendantPids, isAlive, signalProcessTree, waitForPidsToExit } from './process-tree.js';
export { startProcess, type ProcessExit, type StartProcessOptions, type StartedProcess } from './start-process.js';
export { startSingleHostStack, type SingleHostStack, type SingleHostStackOptions } from './single-host-stack.js';
export { createTestDatabase, testDatabaseUrl, type CreateTestDatabaseOptions, type TestDatabase } from './test-database.js';
export { startSymlinkSwap, type SymlinkSwap } from './symlink-swap.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { openSse, type SseClient, type SseMessage } from './sse-client.js';
export { writeEmptyExt4, writeFakeKernel } from './image-fixtures.js';
export {
  createJoinToken,
  createTestClusterTrust,
  joinAsAgent,
  type ClientCertificate,
  type TestClusterTrust,
} from './test-cluster-trust.js';
export { parsePrometheusText, sampleValue, type PrometheusFamily, type PrometheusSample } from './prometheus-text.js';
export { findGuestImages, type GuestImages } from './guest-images.js';
