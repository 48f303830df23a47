/**
 * `meshctl apply -f`: validate everything locally first, then create or replace each
 * resource through pilot's config API. Nothing is sent when any input is invalid, so a
 * bad file never half-applies.
 */
import { formatRef, type MeshResource } from '@meshwork/api';
import { EXIT, type CliIO } from '../io.js';
import { PilotClient, PilotError, resolvePilot, resourcePath } from '../pilot-client.js';
import { textLines } from '../output.js';
import { loadInputs } from './load.js';

export interface ApplyArgs {
  readonly filename: readonly string[];
  readonly namespace: string;
  readonly pilot?: string;
  readonly dryRun: boolean;
}

/** runApply returns 0 when every resource was applied, 1 otherwise (invalid input applies nothing). */
export async function runApply(args: ApplyArgs, io: CliIO, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const loaded = await loadInputs(args.filename, io, args.namespace);
  if (loaded.diagnostics.some((d) => d.severity === 'Error')) {
    io.stderr(textLines(loaded.diagnostics));
    const invalid = loaded.objects.length - loaded.resources.length;
    const unparsed = loaded.diagnostics.filter((d) => d.code === 'MESH_ERR_PARSE' || d.code === 'MESH_ERR_SOURCE_READ').length;
    io.stderr(`error: nothing applied: ${[invalid > 0 ? `${invalid} of ${loaded.objects.length} resource(s) are invalid` : '', unparsed > 0 ? `${unparsed} document error(s) where the input could not be read or parsed` : ''].filter(Boolean).join('; ')}\n`);
    return EXIT.findings;
  }
  if (args.dryRun) {
    for (const r of loaded.resources) io.stdout(`${label(r)} valid (dry run)\n`);
    return EXIT.ok;
  }
  const client = new PilotClient(await resolvePilot(args.pilot, env));
  let failed = 0;
  for (const r of loaded.resources) {
    const ns = r.def.namespaced ? r.metadata.namespace : undefined;
    const name = r.metadata.name ?? '';
    const body = stripServerFields(r.raw);
    try {
      const existing = await client.request<Record<string, unknown>>('GET', resourcePath(r.def, ns, name), undefined, true);
      if (!existing) {
        await client.request('POST', resourcePath(r.def, ns), body);
        io.stdout(`${label(r)} created\n`);
      } else if (sameSpec(existing, body)) {
        io.stdout(`${label(r)} unchanged\n`);
      } else {
        await client.request('PUT', resourcePath(r.def, ns, name), body);
        io.stdout(`${label(r)} configured\n`);
      }
    } catch (err) {
      if (!(err instanceof PilotError)) throw err;
      failed++;
      io.stderr(`error: ${formatRef({ kind: r.kind, namespace: ns, name })}: ${err.message}\n`);
      for (const c of err.causes) io.stderr(`  ${c.field}: ${c.message}\n`);
      if (err.httpStatus === 0) return EXIT.findings; // pilot unreachable: no point trying the rest
    }
  }
  return failed > 0 ? EXIT.findings : EXIT.ok;
}

function label(r: MeshResource): string {
  return `${r.def.singular}${r.def.group ? `.${r.def.group}` : ''}/${r.metadata.name}`;
}

// A client-side apply replaces unconditionally: the server's resourceVersion is not sent.
function stripServerFields(raw: Record<string, unknown>): Record<string, unknown> {
  const md = { ...((raw.metadata as Record<string, unknown>) ?? {}) };
  delete md.resourceVersion;
  delete md.uid;
  delete md.creationTimestamp;
  delete md.generation;
  delete md.managedFields;
  const { status: _status, ...rest } = raw;
  return { ...rest, metadata: md };
}

function sameSpec(existing: Record<string, unknown>, body: Record<string, unknown>): boolean {
  const pick = (o: Record<string, unknown>) => {
    const md = (o.metadata ?? {}) as Record<string, unknown>;
    const { apiVersion: _a, kind: _k, metadata: _m, status: _s, ...rest } = o;
    return JSON.stringify(sortKeys({ rest, labels: md.labels ?? {}, annotations: md.annotations ?? {} }));
  };
  return pick(existing) === pick(body);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}
