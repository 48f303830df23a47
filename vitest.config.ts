import { defineConfig } from 'vitest/config';

// One vitest run covers every project; `--project <name>` runs one.
const projects = ['libs/api', 'libs/xds', 'libs/translate', 'libs/bus', 'libs/registry', 'libs/pki', 'libs/proxy', 'libs/agent', 'libs/telemetry', 'libs/settings', 'libs/discovery', 'libs/mixer-core', 'libs/ratelimit', 'libs/slo', 'libs/local', 'apps/meshctl', 'apps/pilot', 'apps/citadel', 'apps/mixer', 'apps/gateway', 'apps/sidecar', 'apps/console', 'samples/bookinfo'];

export default defineConfig({
  resolve: { conditions: ['@meshwork/source'] },
  ssr: { resolve: { conditions: ['@meshwork/source'] } },
  test: {
    projects: [
      ...projects.map((p) => ({
        extends: true as const,
        test: { name: p.split('/')[1], include: [`${p}/src/**/*.test.ts`], environment: 'node' },
      })),
      { extends: true as const, test: { name: 'e2e', include: ['e2e/**/*.test.ts'], environment: 'node', testTimeout: 60_000, hookTimeout: 30_000 } },
    ],
  },
});
