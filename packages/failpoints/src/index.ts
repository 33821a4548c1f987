export { failpoint, parseFailpoints, type FailpointAction } from './failpoint.js';
