export {
  agentMain,
  findCommand,
  firecrackerDoubleBin,
  hasCommand,
  hasKvm,
  isRoot,
  missingRequirements,
  repoRoot,
  sharedDir,
  type Requirements,
} from './environment.js';
export { freePort } from './free-port.js';
export { createNetns, type ExecResult, type Netns } from './netns.js';
export { descendantPids, isAlive, signalProcessTree, waitForPidsToExit } from './process-tree.js';
export { startProcess, type ProcessExit, type StartProcessOptions, type StartedProcess } from './start-process.js';
export { createTestDatabase, testDatabaseUrl, type CreateTestDatabaseOptions, type TestDatabase } from './test-database.js';
export { waitFor, type WaitForOptions } from './wait-for.js';
export { openSse, type SseClient, type SseMessage } from './sse-client.js';
export { writeEmptyExt4, writeFakeKernel } from './image-fixtures.js';
