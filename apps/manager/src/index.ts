export { buildApp, type BuildAppOptions } from './build-app.js';
export { loadManagerConfig, ConfigError, type ManagerConfig } from './config.js';
