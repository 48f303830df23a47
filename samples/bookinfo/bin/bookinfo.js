#!/usr/bin/env node
// Entry point installed as `meshwork-bookinfo`: runs the compiled sample (built by `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write('bookinfo: not built yet; run `npm run build` in the repository root\n');
  process.exit(2);
}
await import(main.href);
