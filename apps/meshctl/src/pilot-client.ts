/**
 * meshctl's client of pilot's config REST API (Kubernetes-style paths, Status errors).
 * The address comes from --pilot, then MESHCTL_PILOT, then the context file `meshctl up`
 * writes, then the local default; mixer's likewise (--mixer, MESHCTL_MIXER, context, default).
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { apiVersionOf, type KindDef } from '@meshwork/api';

/** Where pilot's config API listens when nothing else is said (pilot's monitoring/API port). */
export const DEFAULT_PILOT = 'http://127.0.0.1:15014';

/** contextFile is where `meshctl up` records the local mesh's addresses. */
export function contextFile(env: Readonly<Record<string, string | undefined>>): string {
  return env.MESHCTL_CONTEXT ?? join(env.HOME ?? homedir(), '.meshwork', 'context.json');
}

/** DEFAULT_MIXER is mixer's HTTP API when nothing else is said (mixer's --metrics-port default, docs/mixer.md). */
export const DEFAULT_MIXER = 'http://127.0.0.1:15014';

/** contextValue returns one address `meshctl up` recorded (`pilot`, `mixer`, ...), or undefined. */
async function contextValue(env: Readonly<Record<string, string | undefined>>, key: string): Promise<string | undefined> {
  try {
    const v = (JSON.parse(await readFile(contextFile(env), 'utf8')) as Record<string, unknown>)[key];
    return typeof v === 'string' && v ? v : undefined;
  } catch {
    return undefined; // no context file
  }
}

/** resolveMixer returns mixer's HTTP base URL: the flag, MESHCTL_MIXER, the context file of `meshctl up`, then the default. */
export async function resolveMixer(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<string> {
  return (flag || env.MESHCTL_MIXER || (await contextValue(env, 'mixer')) || DEFAULT_MIXER).replace(/\/$/, '');
}

/** resolvePilot returns the config API base URL. */
export async function resolvePilot(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): Promise<string> {
  if (flag) return flag.replace(/\/$/, '');
  if (env.MESHCTL_PILOT) return env.MESHCTL_PILOT.replace(/\/$/, '');
  return ((await contextValue(env, 'pilot')) ?? DEFAULT_PILOT).replace(/\/$/, '');
}

/** A Kubernetes Status error from pilot, or a transport failure. */
export class PilotError extends Error {
  readonly code = 'MESH_ERR_PILOT';
  constructor(
    message: string,
    readonly httpStatus: number,
    readonly reason?: string,
    readonly causes: readonly { field: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'PilotError';
  }
}

/** resourcePath returns the API path of a kind (optionally one namespace and one name). */
export function resourcePath(def: KindDef, namespace?: string, name?: string): string {
  const base = def.group ? `/apis/${apiVersionOf(def)}` : `/api/${def.versions[0]}`;
  const ns = def.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${def.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}

/** PilotClient does JSON requests and turns Status failures into PilotError. */
export class PilotClient {
  constructor(readonly base: string) {}

  /** request returns the parsed body, or undefined for 404 when `allow404`. */
  async request<T>(method: string, path: string, body?: unknown, allow404 = false): Promise<T | undefined> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new PilotError(`cannot reach pilot at ${this.base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message} (is the mesh running? see meshctl up, or pass --pilot)`, 0);
    }
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.status === 404 && allow404) return undefined;
    if (!res.ok) {
      const details = parsed.details as { causes?: { field: string; message: string }[] } | undefined;
      throw new PilotError(String(parsed.message ?? `HTTP ${res.status}`), res.status, parsed.reason as string | undefined, details?.causes ?? []);
    }
    return parsed as T;
  }
}
