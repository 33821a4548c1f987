// Import rules that keep the architecture of STYLE.md true (run by `npm run lint`).
// Paths are relative to the repository root; `$1` refers to the app captured by `from.path`.

const npmDependencyTypes = ['npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-bundled', 'npm-no-pkg', 'npm-unknown'];

/** Node built-ins that do I/O or reach the process: never in domain code. */
const ioCoreModules =
  '^(node:)?(child_process|cluster|dgram|dns|fs|fs/promises|http|http2|https|inspector|net|os|process|readline|repl|tls|tty|v8|vm|worker_threads)$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'apps-are-independent',
      comment: 'An app never imports another app: they talk over HTTP (contracts live in packages/contracts).',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'packages-do-not-import-apps',
      comment: 'packages/* is shared by apps, so it cannot depend on any of them.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^apps/' },
    },
    {
      name: 'tools-do-not-import-apps',
      comment: 'tools/* (the Firecracker double, ...) stand alone: they never import app code.',
      severity: 'error',
      from: { path: '^tools/' },
      to: { path: '^apps/' },
    },
    {
      name: 'domain-is-pure',
      comment: 'Domain code knows no use case, adapter, HTTP, config or composition root.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/src/domain/', pathNot: '\\.test\\.ts$' },
      to: { path: '^apps/$1/src/(application|adapters|http)/|^apps/$1/src/(config|main|run-agent|run-manager)\\.ts$' },
    },
    {
      name: 'domain-has-no-npm-dependencies',
      comment: 'Domain code imports no npm package (workspace packages such as @hearth/errors are ours and allowed).',
      severity: 'error',
      from: { path: '^apps/[^/]+/src/domain/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: npmDependencyTypes },
    },
    {
      name: 'domain-does-no-io',
      comment: 'Domain code does no I/O: no fs, net, child_process, ... (inject a port instead).',
      severity: 'error',
      from: { path: '^apps/[^/]+/src/domain/', pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['core'], path: ioCoreModules },
    },
    {
      name: 'application-does-not-import-adapters',
      comment: 'Use cases depend on ports (application/ports), never on adapters, HTTP routes or the composition root.',
      severity: 'error',
      from: { path: '^apps/([^/]+)/src/application/', pathNot: '\\.test\\.ts$' },
      to: { path: '^apps/$1/src/(adapters|http)/|^apps/$1/src/(main|run-agent|run-manager)\\.ts$' },
    },
    {
      name: 'nothing-imports-main',
      comment:
        'main.ts is the entry point and nothing imports it. The composition roots (run-agent.ts, run-manager.ts) are loaded by their main.ts only, after the heap flags are set.',
      severity: 'error',
      from: { pathNot: '^apps/[^/]+/src/main\\.ts$' },
      to: { path: '^apps/[^/]+/src/(main|run-agent|run-manager)\\.ts$' },
    },
    {
      name: 'testkit-only-in-tests',
      comment:
        '@hearth/testkit is dev-only: only test files and their support modules (test/), e2e/, bench/ and testkit itself may import it.',
      severity: 'error',
      from: { pathNot: '\\.test\\.ts$|^(apps|packages)/[^/]+/test/|^e2e/|^bench/|^packages/testkit/' },
      to: { path: '^packages/testkit/' },
    },
    {
      name: 'no-circular',
      comment: 'Cycles make the layering meaningless and the load order fragile.',
      severity: 'warn',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '/dist/'] },
    exclude: { path: '\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      mainFields: ['module', 'main'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
