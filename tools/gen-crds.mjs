#!/usr/bin/env node
// Writes deploy/k8s/crds/<group>.yaml (one CustomResourceDefinition per kind Meshwork ships)
// and deploy/k8s/crds/kustomization.yaml from the built @meshwork/api, so the API server
// validates with the same schemas as meshctl. Run through `npm run gen:crds` (builds first).
// Refuses to write a CRD whose schema is not structural: the API server would reject it.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const crd = await import('@meshwork/api');

const outDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'deploy', 'k8s', 'crds');

const problems = [];
for (const c of crd.buildAllCrds()) {
  for (const v of c.spec.versions) {
    for (const e of crd.structuralErrors(v.schema.openAPIV3Schema)) problems.push(`${c.metadata.name} ${v.name}: ${e}`);
  }
}
if (problems.length > 0) {
  process.stderr.write(`gen-crds: schemas are not structural, nothing written:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}

const files = crd.renderCrdFiles();
mkdirSync(outDir, { recursive: true });
// A group that no longer has CRDs must not leave its old file behind.
for (const f of readdirSync(outDir)) if (f.endsWith('.yaml') && !files.has(f)) rmSync(join(outDir, f));
for (const [name, text] of files) writeFileSync(join(outDir, name), text);
process.stdout.write(`gen-crds: wrote ${files.size} files to ${outDir}\n`);
