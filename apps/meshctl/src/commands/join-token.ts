/** `meshctl join-token create`: a join token for one namespace + service account, printed alone on stdout. */
import { parseDuration } from '@meshwork/api';
import { EXIT, type CliIO } from '../io.js';
import { citadelAdmin, CitadelAdminError, type CitadelAdminOptions } from './ca.js';

export interface JoinTokenCreateOptions extends CitadelAdminOptions {
  readonly ns: string;
  readonly sa: string;
  /** Lifetime, Go duration syntax (1h, 30m). */
  readonly ttl: string;
}

/** runJoinTokenCreate prints a new join token (and nothing else) on stdout; returns the exit code. */
export async function runJoinTokenCreate(o: JoinTokenCreateOptions, io: CliIO): Promise<number> {
  const d = parseDuration(o.ttl);
  if (!d.ok || d.ns < 1e9) {
    io.stderr(`meshctl join-token create: --ttl ${d.ok ? 'must be at least 1s' : `"${o.ttl}": ${d.reason}`}\n`);
    return EXIT.usage;
  }
  try {
    const r = await citadelAdmin(o, io, 'POST', '/v1/join-tokens', { namespace: o.ns, serviceAccount: o.sa, ttlSeconds: Math.floor(d.ns / 1e9) });
    io.stdout(`${String(r.token)}\n`);
    io.stderr(`join token for ${String(r.spiffeId)}, expires ${String(r.expiresAt)}\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CitadelAdminError) {
      io.stderr(`meshctl join-token create: ${e.message}\n`);
      return EXIT.findings;
    }
    throw e;
  }
}
