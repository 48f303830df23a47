import { mkdtemp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectorySource, startDirectorySource } from './dir-source.js';
import type { ConfigEvent, ConfigSource } from './types.js';

const vsYaml = (name: string, host: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: default
spec:
  hosts: [${host}]
  http:
  - route:
    - destination:
        host: ${host}
`;

/** nextEvent resolves with the first event matching `pred` (tests wait on events, not timers). */
function nextEvent(src: ConfigSource, pred: (e: ConfigEvent) => boolean = () => true): Promise<ConfigEvent> {
  return new Promise((resolve) => {
    const stop = src.watch((e) => {
      if (pred(e)) {
        stop();
        resolve(e);
      }
    });
  });
}

/** afterScanWhere resolves after the first completed rescan at which `cond` holds. */
function afterScanWhere(src: DirectorySource, cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const stop = src.onScan(() => {
      if (!cond()) return;
      stop();
      resolve();
    });
  });
}

const invalid = (yaml: string) => yaml.replace('  http:', '  bogusField: 1\n  http:');

/** Writes like an editor that saves atomically: a temp file renamed over the target. */
async function saveAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp~`, text);
  await rename(`${file}.tmp~`, file);
}

const hosts = (src: ConfigSource) => src.list().map((r) => `${r.metadata.name}:${(r.body.spec as { hosts: string[] }).hosts.join(',')}`);

let dirs: string[] = [];
let sources: DirectorySource[] = [];
afterEach(async () => {
  for (const s of sources) await s.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  dirs = [];
  sources = [];
});

async function setup(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'meshwork-dirsrc-'));
  dirs.push(d);
  return d;
}

describe('DirectorySource', () => {
  it('loads files recursively and skips invalid resources with a counted diagnostic', async () => {
    const d = await setup();
    await mkdir(join(d, 'sub'));
    await writeFile(join(d, 'a.yaml'), vsYaml('a', 'reviews'));
    await writeFile(join(d, 'sub', 'b.json'), JSON.stringify({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'b', namespace: 'default' }, spec: { host: 'b' } }));
    await writeFile(join(d, 'bad.yaml'), invalid(vsYaml('bad', 'reviews')));
    const src = await startDirectorySource({ path: d, watch: false });
    sources.push(src);
    expect(src.list().map((r) => r.metadata.name).sort()).toEqual(['a', 'b']);
    expect(src.rejectedTotal).toBe(1);
    expect(src.rejected()[0].origin).toBe(join(d, 'bad.yaml#0'));
    expect(src.list()[0].metadata.resourceVersion).toMatch(/^[0-9a-f]{16}$/);
  });

  it('fails to start when the directory does not exist', async () => {
    await expect(startDirectorySource({ path: '/nonexistent/meshwork-config', watch: false })).rejects.toMatchObject({ code: 'MESH_ERR_SOURCE_READ' });
  });

  it('follows edits, rename-on-save, invalid versions (last good stays), syntax errors and deletions', async () => {
    const d = await setup();
    const file = join(d, 'vs.yaml');
    await writeFile(file, vsYaml('a', 'reviews'));
    const src = await startDirectorySource({ path: d, debounceMs: 20 });
    sources.push(src);

    let ev = nextEvent(src);
    await saveAtomically(file, vsYaml('a', 'ratings'));
    expect((await ev).type).toBe('update');
    expect(hosts(src)).toEqual(['a:ratings']);

    // invalid new version: last good stays, failure counted once
    let scanned = afterScanWhere(src, () => src.rejectedTotal === 1);
    await saveAtomically(file, invalid(vsYaml('a', 'details')));
    await scanned;
    expect(hosts(src)).toEqual(['a:ratings']);
    expect(src.rejectedTotal).toBe(1);

    // syntax error: everything from the file stays
    scanned = afterScanWhere(src, () => src.rejectedTotal === 2);
    await saveAtomically(file, 'apiVersion: [unclosed\n');
    await scanned;
    expect(hosts(src)).toEqual(['a:ratings']);
    expect(src.rejected().map((r) => r.diagnostics[0].code)).toEqual(['MESH_ERR_PARSE']);

    // fixed: the fix is applied and the rejection cleared
    ev = nextEvent(src);
    await saveAtomically(file, vsYaml('a', 'productpage'));
    expect((await ev).type).toBe('update');
    expect(hosts(src)).toEqual(['a:productpage']);
    expect(src.rejected()).toEqual([]);

    // a new file in a new subdirectory
    ev = nextEvent(src, (e) => e.type === 'add');
    await mkdir(join(d, 'more'));
    await saveAtomically(join(d, 'more', 'b.yaml'), vsYaml('b', 'reviews'));
    expect((await ev).resource.metadata.name).toBe('b');

    ev = nextEvent(src);
    await rm(file);
    const del = await ev;
    expect(del.type).toBe('delete');
    expect(del.key.name).toBe('a');
    expect(hosts(src)).toEqual(['b:reviews']);
  });
});

describe('rescans read only files that changed', () => {
  it('keeps the resources of files whose stat is unchanged (same objects, no events), and still sees a same-size rewrite at once', async () => {
    const d = await mkdtemp(join(tmpdir(), 'dir-stat-'));
    try {
      await writeFile(join(d, 'a.yaml'), vsYaml('a', 'a.example.com'));
      await writeFile(join(d, 'b.yaml'), vsYaml('b', 'b.example.com'));
      // Old files (outside the racy window): their stat decides.
      const { utimes } = await import('node:fs/promises');
      const old = new Date(Date.now() - 60_000);
      await utimes(join(d, 'a.yaml'), old, old);
      await utimes(join(d, 'b.yaml'), old, old);
      const src = new DirectorySource({ path: d, watch: false });
      await src.start();
      const before = src.list().find((r) => r.metadata.name === 'a');
      const events: ConfigEvent[] = [];
      src.watch((e) => void events.push(e));
      await src.rescan();
      expect(src.list().find((r) => r.metadata.name === 'a')).toBe(before);
      expect(events).toEqual([]);
      // A rewrite of the same size right now (within the timestamp granularity window) is read.
      await writeFile(join(d, 'b.yaml'), vsYaml('b', 'c.example.com'));
      await src.rescan();
      expect(JSON.stringify(src.list().find((r) => r.metadata.name === 'b'))).toContain('c.example.com');
      expect(src.list().find((r) => r.metadata.name === 'a')).toBe(before);
      await src.close();
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
