// The layering of DESIGN §2: a module imports only from layers below it, and spokes of the
// same layer never import each other (they talk through the store).
const layer = (name, allowed) => ({
  name: `layer-${name}`,
  comment: `src/${name} may import only: ${allowed.join(', ') || 'nothing inside src'}`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

module.exports = {
  forbidden: [
    layer('errors', []),
    layer('pki', ['errors']),
    layer('api', ['errors']),
    layer('telemetry', ['errors']),
    layer('store', ['errors', 'api']),
    layer('issuers', ['errors', 'pki', 'api']),
    layer('controller', ['errors', 'pki', 'api', 'store', 'issuers', 'telemetry']),
    layer('ca-server', ['errors', 'pki', 'api', 'store', 'issuers', 'telemetry']),
    layer('agent', ['errors', 'pki', 'api', 'telemetry']),
    layer('http', ['errors', 'pki', 'api', 'store', 'issuers', 'telemetry', 'controller', 'ca-server', 'agent']),
    layer('web', ['errors', 'pki', 'api', 'store', 'issuers', 'telemetry', 'controller', 'ca-server', 'agent']),
    layer('cli', ['errors', 'pki', 'api', 'store', 'issuers', 'telemetry', 'controller', 'ca-server', 'agent']),
    {
      name: 'only-the-composition-root-imports-app',
      comment: 'src/app is layer 4 with src/main.ts: it wires concrete parts and nothing below imports it',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(app/|main\\.ts$)' },
      to: { path: '^src/app/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'production-not-to-tests',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$|/testing/' },
      to: { path: '\\.test\\.ts$|/testing/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.test\\.ts$' },
  },
};
