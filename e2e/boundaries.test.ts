/**
 * The module-boundary rules (STYLE.md 2) really fire: lint source text placed in real
 * project folders and expect the violations to be reported.
 */
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { createProjectGraphAsync } from '@nx/devkit';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
let eslint: ESLint;

beforeAll(async () => {
  process.env.NX_DAEMON = 'false';
  // The nx rule reads the cached project graph; make sure it exists.
  await createProjectGraphAsync({ exitOnError: false });
  eslint = new ESLint({ cwd: root });
}, 60_000);

async function ruleIds(file: string, code: string): Promise<string[]> {
  const [res] = await eslint.lintText(code, { filePath: join(root, file) });
  return res.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('module boundaries', () => {
  it('forbids an app importing another app', async () => {
    const msgs = await ruleIds('apps/pilot/src/x.ts', "import { runCli } from '@meshwork/meshctl';\nexport const x = runCli;\n");
    expect(msgs).toContain('@nx/enforce-module-boundaries: Imports of apps are forbidden');
  });

  it('forbids relative imports across projects', async () => {
    const msgs = await ruleIds('apps/pilot/src/x.ts', "import { runCli } from '../../meshctl/src/cli.js';\nexport const x = runCli;\n");
    expect(msgs.some((m) => m.startsWith('@nx/enforce-module-boundaries'))).toBe(true);
  });

  it('forbids network I/O in a pure library', async () => {
    const msgs = await ruleIds('libs/api/src/x.ts', "import { createServer } from 'node:net';\nexport const x = createServer;\n");
    expect(msgs.some((m) => m.startsWith('no-restricted-imports'))).toBe(true);
  });

  it('allows an app to use a shared library', async () => {
    const msgs = await ruleIds('apps/pilot/src/x.ts', "import { validateText } from '@meshwork/api';\nexport const x = validateText;\n");
    expect(msgs).toEqual([]);
  });
});
