#!/usr/bin/env -S node --max-semi-space-size=1
// Entry point installed as `meshwork-sidecar`: runs the compiled app (built by `npm install` / `npm run build`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  process.stderr.write("meshwork-sidecar: not built yet; run `npm run build` in the repository root\n");
  process.exit(2);
}
await import(main.href);
