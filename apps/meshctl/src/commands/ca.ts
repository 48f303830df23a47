/**
 * `meshctl ca ...`: talks to citadel's admin API (HTTPS). Credentials come from citadel's state
 * directory locally (admin-token, root-cert.pem), or from explicit files.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { resolve } from 'node:path';
import { EXIT, type CliIO } from '../io.js';

/** How to reach and authenticate to citadel's admin API. */
export interface CitadelAdminOptions {
  /** HOST:PORT of citadel's admin API (default port 8061). */
  readonly citadel: string;
  /** Citadel state directory holding admin-token and root-cert.pem. */
  readonly stateDir?: string;
  readonly adminTokenFile?: string;
  /** Roots that sign citadel's serving certificate (default: <state-dir>/root-cert.pem). */
  readonly caFile?: string;
}

/** stateDirOf returns the state directory to read credentials from: the flag, CITADEL_STATE_DIR, or citadel's default. */
function stateDirOf(o: CitadelAdminOptions, io: CliIO): string {
  return resolve(io.cwd, o.stateDir ?? io.env?.CITADEL_STATE_DIR ?? '.meshwork/citadel');
}

/** A failed admin call, printed as one line. */
export class CitadelAdminError extends Error {}

/** citadelAdmin returns the parsed JSON answer of one admin API call, or throws CitadelAdminError saying why. */
export async function citadelAdmin(o: CitadelAdminOptions, io: CliIO, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(o.citadel);
  if (!m) throw new CitadelAdminError(`--citadel must be HOST:PORT, got "${o.citadel}"`);
  const dir = stateDirOf(o, io);
  const tokenPath = resolve(io.cwd, o.adminTokenFile ?? resolve(dir, 'admin-token'));
  const caPath = resolve(io.cwd, o.caFile ?? resolve(dir, 'root-cert.pem'));
  const read = async (p: string, what: string): Promise<string> => {
    try {
      return await readFile(p, 'utf8');
    } catch (e) {
      throw new CitadelAdminError(`cannot read ${what} ${p}: ${(e as Error).message} (use --state-dir, --admin-token-file or --ca-file)`);
    }
  };
  const token = (await read(tokenPath, 'admin credential')).trim();
  const ca = await read(caPath, 'citadel root certificate');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolveP, reject) => {
    const req = request(
      {
        host: m[1].replace(/^\[|\]$/g, ''),
        port: Number(m[2]),
        method,
        path,
        ca,
        // The serving certificate names localhost and the citadel service; connecting by IP works too (IP SANs).
        servername: /^[\d.]+$|:/.test(m[1]) ? undefined : m[1],
        headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
        timeout: 15_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let json: Record<string, unknown> = {};
          try {
            json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            json = { error: text };
          }
          if ((res.statusCode ?? 0) >= 300) reject(new CitadelAdminError(`citadel ${o.citadel} refused: HTTP ${res.statusCode}: ${String(json.error ?? text)}`));
          else resolveP(json);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => reject(new CitadelAdminError(`cannot reach citadel at ${o.citadel}: ${e.message}`)));
    req.end(payload);
  });
}

/** runCaRotateRoot asks citadel for a new root, prints its fingerprint and when the old roots leave the bundle; returns the exit code. */
export async function runCaRotateRoot(o: CitadelAdminOptions, io: CliIO): Promise<number> {
  try {
    const r = await citadelAdmin(o, io, 'POST', '/v1/ca/rotate-root', {});
    const root = new X509Certificate(String(r.rootPem));
    io.stdout(`new root ${root.fingerprint256} (valid until ${root.validTo}); previous roots stay trusted until ${String(r.oldRootsRemovedAfter)}\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CitadelAdminError) {
      io.stderr(`meshctl ca rotate-root: ${e.message}\n`);
      return EXIT.findings;
    }
    throw e;
  }
}
