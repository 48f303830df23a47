#!/usr/bin/env -S node --max-semi-space-size=32
// Entry point installed as `meshwork-mixer`: runs the compiled app (built by `npm install` / `npm run build`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write("meshwork-mixer: not built yet; run `npm run build` in the repository root\n");
  process.exit(2);
}
await import(main.href);
