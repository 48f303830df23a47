/**
 * What a gateway can read for `credentialName`, as far as meshctl can see it: Secrets stored in
 * the running mesh's config (pilot's config API), Secrets in the analyzed files, and the
 * gateway's local secret directory (`--secret-dir`, the directory a gateway's `--secret-dir`
 * names: one subdirectory per credential). Kubernetes Secrets a gateway reads with
 * `--kube-secrets` are not visible to pilot, so without one of these sources the check is skipped.
 */
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { analyze, ALL_KINDS, findKind, type AnalyzeOptions, type Diagnostic, type MeshResource, type RawObject } from '@meshwork/api';
import { PilotClient, resourcePath } from './pilot-client.js';

/** secretDirOf returns the secret directory: the flag, else MESHCTL_SECRET_DIR. */
function secretDirOf(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  return flag ?? (env.MESHCTL_SECRET_DIR || undefined);
}

/** secretDirNames returns the credentials a gateway secret directory holds (its subdirectories). */
async function secretDirNames(dir: string, cwd: string): Promise<string[]> {
  const entries = await readdir(resolve(cwd, dir), { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

/**
 * secretNamesOf returns the credentials of the gateway secret directory the flag or
 * MESHCTL_SECRET_DIR names: `names` undefined when none is named, `error` when it cannot be read.
 */
export async function secretNamesOf(flag: string | undefined, env: Readonly<Record<string, string | undefined>>, cwd: string): Promise<{ names?: string[]; error?: string }> {
  const dir = secretDirOf(flag, env);
  if (!dir) return {};
  try {
    return { names: await secretDirNames(dir, cwd) };
  } catch (err) {
    return { error: `cannot read the gateway secret directory ${dir}: ${(err as Error).message}` };
  }
}

/** liveObjects returns the resources of `kinds` pilot's config API holds, as raw objects named `pilot:<kind>/<ns>/<name>`. */
export async function liveObjects(client: PilotClient, kinds = ALL_KINDS): Promise<RawObject[]> {
  const out: RawObject[] = [];
  for (const def of kinds) {
    const list = await client.request<{ items?: Record<string, unknown>[] }>('GET', resourcePath(def), undefined, true);
    for (const item of list?.items ?? []) {
      const meta = (item.metadata ?? {}) as { name?: string; namespace?: string };
      out.push({ object: item, file: `pilot:${def.kind}/${meta.namespace ?? ''}/${meta.name ?? ''}`, docIndex: 0, locate: () => ({ line: 0, column: 0 }) });
    }
  }
  return out;
}

/** usesCredentials says whether any Gateway among `resources` names a credential. */
export function usesCredentials(resources: readonly MeshResource[]): boolean {
  return resources.some((r) => r.kind === 'Gateway' && /"credentialNames?"/.test(JSON.stringify(r.raw.spec ?? {})));
}

/** isCredentialFinding picks the gateway.CredentialNames findings out of a full analysis. */
export function isCredentialFinding(d: Diagnostic): boolean {
  return d.code === 'IST0101' && d.resource?.kind === 'Gateway' && /\.tls\.credentialNames?(\[\d+\])?$/.test(d.path);
}

/** credentialFindings returns the missing-credential findings about `resources`, with `secrets` as the Secrets that exist. */
export function credentialFindings(resources: readonly MeshResource[], secrets: readonly MeshResource[], opts: AnalyzeOptions): Diagnostic[] {
  const names = new Set(resources.map((r) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name ?? ''}`));
  const extra = secrets.filter((s) => !names.has(`${s.kind}/${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`));
  return analyze([...resources, ...extra], opts).filter(isCredentialFinding);
}

/** SECRET_KIND is the core Secret kind. */
export const SECRET_KIND = findKind('', 'Secret');
