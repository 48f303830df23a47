/**
 * `meshctl apply -f`: validate everything locally, then send the whole set to pilot's atomic
 * apply (`POST /meshwork/v1/apply`): pilot validates again, writes every resource or, when a
 * write fails, rolls the earlier ones back. Nothing is sent when any input is invalid, and a
 * refused batch leaves the stored config as it was. A Gateway whose credentialName names no
 * Secret the gateway can be seen to read is applied with a kubectl-style `Warning:` line (the
 * Secret may be created later).
 */
import { validateParsed, type MeshResource } from '@meshwork/api';
import { EXIT, type CliIO } from '../io.js';
import { PilotClient, PilotError, resolvePilot } from '../pilot-client.js';
import { textLines } from '../output.js';
import { credentialFindings, liveObjects, SECRET_KIND, secretNamesOf, usesCredentials } from '../secrets.js';
import { loadInputs } from './load.js';

export interface ApplyArgs {
  readonly filename: readonly string[];
  readonly namespace: string;
  readonly pilot?: string;
  readonly dryRun: boolean;
  /** The gateway's local secret directory (credentialName warnings); default MESHCTL_SECRET_DIR. */
  readonly secretDir?: string;
}

/** What pilot's atomic apply answers. */
interface ApplyResult {
  readonly items: { action: 'created' | 'configured' | 'unchanged'; object: { kind: string; metadata: { name: string } } }[];
}

/** runApply returns 0 when every resource was applied, 1 otherwise (then nothing was applied). */
export async function runApply(args: ApplyArgs, io: CliIO, env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const loaded = await loadInputs(args.filename, io, args.namespace);
  if (loaded.diagnostics.some((d) => d.severity === 'Error')) {
    io.stderr(textLines(loaded.diagnostics));
    const invalid = loaded.objects.length - loaded.resources.length;
    const unparsed = loaded.diagnostics.filter((d) => d.code === 'MESH_ERR_PARSE' || d.code === 'MESH_ERR_SOURCE_READ').length;
    io.stderr(`error: nothing applied: ${[invalid > 0 ? `${invalid} of ${loaded.objects.length} resource(s) are invalid` : '', unparsed > 0 ? `${unparsed} document error(s) where the input could not be read or parsed` : ''].filter(Boolean).join('; ')}\n`);
    return EXIT.findings;
  }
  if (loaded.resources.length === 0) {
    io.stderr('error: no objects passed to apply\n');
    return EXIT.findings;
  }
  const client = new PilotClient(await resolvePilot(args.pilot, env));
  await warnMissingCredentials(loaded.resources, client, args, io, env);
  if (args.dryRun) {
    for (const r of loaded.resources) io.stdout(`${label(r)} valid (dry run)\n`);
    return EXIT.ok;
  }
  const items = loaded.resources.map((r) => stripServerFields(r));
  try {
    const res = (await client.request<ApplyResult>('POST', `/meshwork/v1/apply?namespace=${encodeURIComponent(args.namespace)}`, { apiVersion: 'v1', kind: 'List', items })) as ApplyResult;
    res.items.forEach((item, i) => io.stdout(`${label(loaded.resources[i])} ${item.action}\n`));
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof PilotError)) throw err;
    io.stderr(`error: ${err.message}\n`);
    for (const c of err.causes) io.stderr(`  ${c.field}: ${c.message}\n`);
    if (err.httpStatus !== 0 && !/ROLLBACK INCOMPLETE/.test(err.message) && !/nothing applied/.test(err.message)) io.stderr('error: nothing applied\n');
    return EXIT.findings;
  }
}

/**
 * warnMissingCredentials prints `Warning:` for each Gateway credentialName no known Secret
 * satisfies: Secrets in the files, in the running mesh's config, and in the gateway secret
 * directory. Silent when none of those sources exists (the secrets are not visible to meshctl).
 */
async function warnMissingCredentials(resources: readonly MeshResource[], client: PilotClient, args: ApplyArgs, io: CliIO, env: Readonly<Record<string, string | undefined>>): Promise<void> {
  if (!usesCredentials(resources)) return;
  const { names: secretNames, error } = await secretNamesOf(args.secretDir, env, io.cwd);
  if (error) io.stderr(`Warning: ${error}\n`);
  let live: MeshResource[] = [];
  try {
    live = SECRET_KIND ? validateParsed(await liveObjects(client, [SECRET_KIND]), []).resources : [];
  } catch (err) {
    if (!(err instanceof PilotError)) throw err; // unreachable pilot: the apply itself says so
  }
  for (const d of credentialFindings(resources, live, { defaultNamespace: args.namespace, ...(secretNames ? { secretNames } : {}) })) {
    const ref = d.resource;
    io.stderr(`Warning: ${ref ? `${ref.kind.toLowerCase()}.networking.istio.io/${ref.name}${ref.namespace ? ` (namespace ${ref.namespace})` : ''} ` : ''}${d.path}: ${d.reason} [${d.code}]\n`);
  }
}

function label(r: MeshResource): string {
  return `${r.def.singular}${r.def.group ? `.${r.def.group}` : ''}/${r.metadata.name}`;
}

// A client-side apply replaces unconditionally: the server's resourceVersion is not sent.
function stripServerFields(r: MeshResource): Record<string, unknown> {
  const md = { ...((r.raw.metadata as Record<string, unknown>) ?? {}) };
  delete md.resourceVersion;
  delete md.uid;
  delete md.creationTimestamp;
  delete md.generation;
  delete md.managedFields;
  if (r.def.namespaced && md.namespace === undefined) md.namespace = r.metadata.namespace;
  const { status: _status, ...rest } = r.raw;
  return { ...rest, metadata: md };
}

