// Lint: TypeScript recommended rules plus nx module boundaries (STYLE.md 2).
import nx from '@nx/eslint-plugin';

// I/O packages that pure libraries must not import: translation and the API types are
// pure functions of their inputs (STYLE.md 4).
const IO_IMPORTS = ['@grpc/grpc-js', '@grpc/grpc-js-xds', 'nats', '@nats-io/*', 'fastify', 'ioredis', '@kubernetes/client-node'];
const NODE_IO = ['node:net', 'node:http', 'node:http2', 'node:https', 'node:tls', 'node:dgram', 'node:child_process', 'net', 'http', 'http2', 'https', 'tls', 'child_process'];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  { ignores: ['**/dist', '**/node_modules', '**/.nx', 'bench/results', 'deploy', '**/vitest.config.*.timestamp*'] },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          // Loaded on first use to keep a proxy's heap small, imported directly by tests: @meshwork/xds's
          // service-proto loader (libs/proxy/src/lazy-modules.ts), and @meshwork/pki (node-forge, the CA
          // client) which only a proxy with --ca-address needs (libs/agent/src/workload-identity.ts).
          checkDynamicDependenciesExceptions: ['@meshwork/xds', '@meshwork/pki', '@meshwork/registry'],
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:pilot', onlyDependOnLibsWithTags: ['scope:shared', 'scope:pilot'] },
            { sourceTag: 'scope:citadel', onlyDependOnLibsWithTags: ['scope:shared', 'scope:citadel'] },
            { sourceTag: 'scope:mixer', onlyDependOnLibsWithTags: ['scope:shared', 'scope:mixer'] },
            { sourceTag: 'scope:proxy', onlyDependOnLibsWithTags: ['scope:shared', 'scope:proxy'] },
            { sourceTag: 'scope:console', onlyDependOnLibsWithTags: ['scope:shared', 'scope:console'] },
            { sourceTag: 'scope:meshctl', onlyDependOnLibsWithTags: ['scope:shared', 'scope:meshctl'] },
            { sourceTag: 'scope:samples', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'purity:pure', bannedExternalImports: IO_IMPORTS },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Pure libraries: no sockets, no processes (STYLE.md 2 and 4).
    files: ['libs/api/src/**/*.ts', 'libs/translate/src/**/*.ts', 'libs/slo/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: NODE_IO.map((name) => ({ name, message: 'pure library: no network or process I/O' })), patterns: IO_IMPORTS }],
      'no-console': 'error',
    },
  },
];
