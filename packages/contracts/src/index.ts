export * from './agent-api.js';
export * from './egress-policy.js';
export * from './host-api.js';
export * from './host-port.js';
export * from './trust-api.js';
export * from './published-ports.js';
export * from './rate-limits.js';
