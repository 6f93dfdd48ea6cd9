/**
 * Import rules, checked by dependency-cruiser in `npm test` (test/layers.test.ts).
 * - Layers (CONTRIBUTING.md "Layers", docs/architecture.md): a lower layer never imports a higher one. The one exception is
 *   src/proxy/interface.ts, the header the driver ships to its user-mode provider.
 * - No runtime cycles: two modules may name each other's types (`import type`), but a cycle of
 *   value imports makes load order matter and is refused.
 */
const LAYERS = ['bus', 'wire', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host', 'report', 'cli'];

/** Which layers each layer may import (itself always allowed). */
const ALLOWED = {
  bus: [],
  wire: ['bus'],
  kernel: ['bus'],
  nic: ['bus', 'wire'],
  proxy: ['bus', 'kernel', 'nic'],
  provider: ['bus', 'kernel', 'nic'],
  switch: ['bus', 'kernel', 'nic', 'provider'],
  host: ['bus', 'wire', 'kernel', 'nic', 'proxy', 'provider', 'switch'],
  report: ['bus', 'wire', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host'],
  cli: ['bus', 'wire', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host', 'report', 'bench'],
  bench: ['bus', 'wire', 'kernel', 'nic', 'proxy', 'provider', 'switch', 'host', 'report'],
};

const SHARED_HEADERS = ['^src/proxy/interface\\.ts$'];
const folderOf = (layer) => (layer === 'bench' ? '^bench/' : `^src/${layer}/`);

const layerRules = Object.entries(ALLOWED).flatMap(([layer, allowed]) => {
  const forbidden = [...LAYERS, 'bench'].filter((l) => l !== layer && !allowed.includes(l));
  if (forbidden.length === 0) return [];
  return [{
    name: `layer-${layer}`,
    comment: `${layer} may import only ${allowed.length ? allowed.join(', ') : 'itself'} (CONTRIBUTING.md "Layers", docs/architecture.md)`,
    severity: 'error',
    from: { path: folderOf(layer) },
    to: { path: forbidden.map(folderOf), pathNot: SHARED_HEADERS },
  }];
});

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'sockets-in-the-link',
      comment: 'only the UDP link opens sockets (src/nic/udp-link.ts: the NIC\'s port on the network); bench/ measures raw dgram',
      severity: 'error',
      from: { pathNot: ['^src/nic/udp-link\\.ts$', '^bench/'] },
      to: { dependencyTypes: ['core'], path: '^(node:)?dgram$' },
    },
    {
      name: 'no-runtime-cycle',
      comment: 'a cycle of value imports (type-only imports may go both ways)',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] }, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['\\.test\\.ts$', '^dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
