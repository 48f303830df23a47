/** `meshctl get <kind> [name]` and `meshctl delete`: read and remove resources through pilot's config API. */
import { findKindByName, type KindDef } from '@meshwork/api';
import { EXIT, type CliIO } from '../io.js';
import { PilotClient, PilotError, resolvePilot, resourcePath } from '../pilot-client.js';
import { render, type OutputFormat } from '../output.js';
import { loadInputs } from './load.js';

export interface GetArgs {
  readonly kind: string;
  readonly name?: string;
  readonly namespace: string;
  readonly allNamespaces: boolean;
  readonly output: OutputFormat | 'wide';
  readonly pilot?: string;
}

type Obj = { metadata: { name: string; namespace?: string; creationTimestamp?: string; resourceVersion?: string }; spec?: Record<string, unknown> };

/** runGet prints one resource or a table of them; exit 1 when not found or pilot fails. */
export async function runGet(args: GetArgs, io: CliIO, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const def = findKindByName(args.kind);
  if (!def) {
    io.stderr(`error: the server doesn't have a resource type "${args.kind}"\n`);
    return EXIT.findings;
  }
  const client = new PilotClient(await resolvePilot(args.pilot, env));
  const ns = args.allNamespaces ? undefined : args.namespace;
  try {
    if (args.name) {
      const obj = await client.request<Obj>('GET', resourcePath(def, ns, args.name));
      io.stdout(args.output === 'json' || args.output === 'yaml' ? render(args.output, obj) : table(def, [obj as Obj], args.allNamespaces, args.output === 'wide'));
      return EXIT.ok;
    }
    const list = (await client.request<{ items: Obj[] }>('GET', resourcePath(def, ns))) as { items: Obj[] };
    if (args.output === 'json' || args.output === 'yaml') io.stdout(render(args.output, list));
    else if (list.items.length === 0) io.stderr(`No resources found${ns ? ` in ${ns} namespace` : ''}.\n`);
    else io.stdout(table(def, list.items, args.allNamespaces, args.output === 'wide'));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof PilotError)) throw err;
    io.stderr(`error: ${err.message}\n`);
    return EXIT.findings;
  }
}

/** table renders kubectl-like columns: NAMESPACE (with -A), NAME, the kind's printer columns (wide), AGE. */
function table(def: KindDef, items: Obj[], showNs: boolean, wide: boolean): string {
  const cols = wide ? (def.printerColumns ?? []).filter((c) => c.name !== 'Age' && c.jsonPath.startsWith('.spec.')) : [];
  const header = [...(showNs ? ['NAMESPACE'] : []), 'NAME', ...cols.map((c) => c.name.toUpperCase()), 'AGE'];
  const rows = items.map((o) => [
    ...(showNs ? [o.metadata.namespace ?? ''] : []),
    o.metadata.name,
    ...cols.map((c) => cell(pathGet(o, c.jsonPath.slice(1).split('.')))),
    age(o.metadata.creationTimestamp),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('   ').trimEnd()).join('\n') + '\n';
}

function pathGet(o: unknown, path: string[]): unknown {
  return path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), o);
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  return Array.isArray(v) ? `[${v.join(',')}]` : String(v);
}

function age(ts: string | undefined): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : s < 172800 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}

export interface DeleteArgs {
  readonly kind?: string;
  readonly names: readonly string[];
  readonly filename: readonly string[];
  readonly namespace: string;
  readonly pilot?: string;
  readonly ignoreNotFound: boolean;
}

/** runDelete deletes named resources (`delete vs a b`) or those in files (`delete -f`); exit 1 if any failed. */
export async function runDelete(args: DeleteArgs, io: CliIO, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const targets: { def: KindDef; ns?: string; name: string }[] = [];
  if (args.filename.length > 0) {
    const loaded = await loadInputs(args.filename, io, args.namespace);
    for (const r of loaded.resources) targets.push({ def: r.def, ns: r.metadata.namespace, name: r.metadata.name ?? '' });
  } else {
    const def = args.kind ? findKindByName(args.kind) : undefined;
    if (!def) {
      io.stderr(`error: the server doesn't have a resource type "${args.kind ?? ''}"\n`);
      return EXIT.findings;
    }
    for (const name of args.names) targets.push({ def, ns: args.namespace, name });
  }
  if (targets.length === 0) {
    io.stderr('error: nothing to delete: name resources or pass -f\n');
    return EXIT.usage;
  }
  const client = new PilotClient(await resolvePilot(args.pilot, env));
  let failed = 0;
  for (const t of targets) {
    const label = `${t.def.singular}${t.def.group ? `.${t.def.group}` : ''} "${t.name}"`;
    try {
      await client.request('DELETE', resourcePath(t.def, t.def.namespaced ? t.ns : undefined, t.name));
      io.stdout(`${label} deleted\n`);
    } catch (err) {
      if (!(err instanceof PilotError)) throw err;
      if (err.httpStatus === 404 && args.ignoreNotFound) continue;
      failed++;
      io.stderr(`error: ${err.message}\n`);
    }
  }
  return failed > 0 ? EXIT.findings : EXIT.ok;
}
