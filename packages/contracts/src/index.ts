export * from './agent-api.js';
export * from './host-api.js';
export * from './host-port.js';
