/**
 * `meshctl proxy-status` and `meshctl proxy-config`: what pilot sent each connected proxy
 * and whether the proxy accepted it (istioctl's commands of the same names).
 */
import { EXIT, type CliIO } from '../io.js';
import { PilotClient, PilotError, resolvePilot } from '../pilot-client.js';
import { render, type OutputFormat } from '../output.js';

interface TypeSync {
  sent?: string;
  acked?: string;
  nacked?: string;
  error?: string;
}
interface ProxySync {
  proxy: string;
  namespace?: string;
  types: Record<string, TypeSync>;
}

/** syncState says what istioctl says: SYNCED (acked what was sent), NACKED (rejected), STALE (sent, not yet acked), NOT SENT. */
export function syncState(t: TypeSync | undefined): string {
  if (!t || !t.sent) return 'NOT SENT';
  if (t.nacked && t.nacked === t.sent) return 'NACKED';
  if (t.acked === t.sent) return 'SYNCED';
  return 'STALE';
}

const TYPES = ['cds', 'lds', 'eds', 'rds'] as const;

/** runProxyStatus prints one row per connected proxy; exit 1 when pilot cannot be asked. */
export async function runProxyStatus(args: { pilot?: string; output: OutputFormat }, io: CliIO): Promise<number> {
  const client = new PilotClient(await resolvePilot(args.pilot, io.env ?? {}));
  try {
    const proxies = (await client.request<ProxySync[]>('GET', '/debug/syncz')) ?? [];
    if (args.output !== 'text') {
      io.stdout(render(args.output, proxies.map((p) => ({ ...p, status: Object.fromEntries(TYPES.map((t) => [t, syncState(p.types[t])])) }))));
      return EXIT.ok;
    }
    const header = ['NAME', 'CDS', 'LDS', 'EDS', 'RDS'];
    const rows = proxies.map((p) => [p.proxy, ...TYPES.map((t) => syncState(p.types[t]))]);
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    io.stdout([header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('   ').trimEnd()).join('\n') + '\n');
    for (const p of proxies) for (const t of TYPES) if (syncState(p.types[t]) === 'NACKED') io.stderr(`${p.proxy} rejected ${t.toUpperCase()} ${p.types[t].nacked}: ${p.types[t].error ?? ''}\n`);
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof PilotError)) throw err;
    io.stderr(`error: ${err.message}\n`);
    return EXIT.findings;
  }
}

const KIND: Record<string, string> = { cluster: 'cds', clusters: 'cds', listener: 'lds', listeners: 'lds', route: 'rds', routes: 'rds', endpoint: 'eds', endpoints: 'eds' };

/** runProxyConfig prints the resources of one type pilot last generated for a proxy. */
export async function runProxyConfig(args: { type: string; proxy: string; pilot?: string; output: OutputFormat }, io: CliIO): Promise<number> {
  const short = KIND[args.type];
  if (!short) {
    io.stderr(`error: unknown config type "${args.type}": use cluster, listener, route or endpoint\n`);
    return EXIT.usage;
  }
  const client = new PilotClient(await resolvePilot(args.pilot, io.env ?? {}));
  try {
    const dump = await client.request<Record<string, Record<string, unknown>[]>>('GET', `/debug/config_dump?proxyID=${encodeURIComponent(args.proxy)}`);
    const items = dump?.[short] ?? [];
    if (args.output !== 'text') {
      io.stdout(render(args.output, items));
      return EXIT.ok;
    }
    for (const r of items) io.stdout(`${String(r.name ?? r.clusterName ?? '')}\n`);
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof PilotError)) throw err;
    io.stderr(`error: ${err.message}\n`);
    return EXIT.findings;
  }
}
