/**
 * The proxies' module footprint: every module a proxy loads stays in its heap for good (source
 * text, bytecode), so packages that only other deployables or optional features need must not be
 * pulled in by the sidecar's or the gateway's imports (issue 5's memory target). This loads, in a
 * fresh node process, the built entry points an app's main.ts imports statically and lists the
 * npm packages that came with them. (In e2e: it reads two apps and loads the built libraries.)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Each app's main.ts static imports of workspace libraries (kept in step with it: see the check below).
const APPS = {
  sidecar: ['@meshwork/agent', '@meshwork/registry/registration', '@meshwork/bus', '@meshwork/telemetry', '@meshwork/settings', '@meshwork/proxy'],
  gateway: ['@meshwork/agent', '@meshwork/bus', '@meshwork/telemetry', '@meshwork/settings', '@meshwork/proxy'],
};

/** packagesLoadedBy returns the npm packages a fresh node process loads when importing `specs`. */
function packagesLoadedBy(specs: readonly string[]): string[] {
  // A module-resolution hook (it runs on node's loader thread) that posts each npm package it resolves.
  const hook = [
    'let port;',
    'export function initialize(data) { port = data.port; }',
    'export async function resolve(s, c, next) {',
    '  const r = await next(s, c);',
    '  const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(r.url);',
    '  if (m) port.postMessage(m[1]);',
    '  return r;',
    '}',
  ].join('\n');
  const script = [
    `import { register } from 'node:module';`,
    `const seen = new Set();`,
    `const { port1, port2 } = new MessageChannel();`,
    `port1.on('message', (m) => seen.add(m)); port1.unref();`,
    `register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}), { data: { port: port2 }, transferList: [port2] });`,
    ...specs.map((s) => `await import(${JSON.stringify(s)});`),
    `await new Promise((r) => setTimeout(r, 100));`,
    `console.log(JSON.stringify([...seen].sort()));`,
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop() ?? '[]') as string[];
}

describe.each(Object.entries(APPS))('%s module footprint', (app, entryPoints) => {
  it('main.ts imports exactly the entry points this test loads', () => {
    const main = readFileSync(join(root, 'apps', app, 'src/main.ts'), 'utf8');
    // value imports only: `import type` is erased from the built code
    const imported = [...main.matchAll(/^import (?!type )[^;]*from '(@meshwork\/[^']+)';/gm)].map((m) => m[1]).sort();
    expect(imported).toEqual([...entryPoints].sort());
  });

  it('loads no validation, YAML, Kubernetes-client or certificate-authority packages', () => {
    const loaded = packagesLoadedBy(entryPoints);
    // sanity: the hook sees what the proxy does need
    expect(loaded).toContain('@grpc/grpc-js');
    expect(loaded).toContain('prom-client');
    // @meshwork/api's schemas (zod, yaml, js-yaml, re2js) are pilot's and meshctl's; node-forge is
    // loaded only with --ca-address (startWorkloadIdentity imports @meshwork/pki on first use), the
    // registry's Kubernetes client only with the gateway's --kube-secrets.
    for (const pkg of ['zod', 'yaml', 'js-yaml', 're2js', 'node-forge', 'ipaddr.js']) expect(loaded, pkg).not.toContain(pkg);
  });
});
