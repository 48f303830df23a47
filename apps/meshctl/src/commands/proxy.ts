/**
 * `meshctl proxy-status` and `meshctl proxy-config`: what pilot sent each connected proxy
 * and whether the proxy accepted it (istioctl's commands of the same names).
 */
import { X509Certificate } from 'node:crypto';
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

/** runProxyConfig prints the resources of one type pilot last generated for a proxy (secrets: what the proxy holds). */
export async function runProxyConfig(args: { type: string; proxy: string; pilot?: string; output: OutputFormat }, io: CliIO): Promise<number> {
  if (args.type === 'secret' || args.type === 'secrets') return runProxySecrets(args, io);
  const short = KIND[args.type];
  if (!short) {
    io.stderr(`error: unknown config type "${args.type}": use cluster, listener, route, endpoint or secret\n`);
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

/** One row of `proxy-config secret`, as istioctl prints it plus the SPIFFE identity. */
export interface SecretRow {
  readonly name: string;
  readonly type: 'Cert Chain' | 'CA';
  readonly status: 'ACTIVE';
  readonly validCert: boolean;
  readonly serialNumber: string;
  readonly notAfter: string;
  readonly notBefore: string;
  readonly identity: string;
}

interface DumpedSecret {
  name?: string;
  secret?: { tlsCertificate?: { certificateChain?: { inlineBytes?: string } }; validationContext?: { trustedCa?: { inlineBytes?: string } } };
}

/**
 * secretRows reads Envoy's SecretsConfigDump entries: for each secret the first certificate of
 * its chain (the leaf, or the first root of a bundle) gives serial, validity and URI SAN.
 */
export function secretRows(entries: readonly DumpedSecret[], now = new Date()): SecretRow[] {
  const rows: SecretRow[] = [];
  for (const e of entries) {
    const chain = e.secret?.tlsCertificate?.certificateChain?.inlineBytes;
    const ca = e.secret?.validationContext?.trustedCa?.inlineBytes;
    const pem = Buffer.from(chain ?? ca ?? '', 'base64').toString('utf8');
    const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    let cert: X509Certificate | undefined;
    try {
      cert = first ? new X509Certificate(first) : undefined;
    } catch {
      cert = undefined;
    }
    const notAfter = cert ? new Date(cert.validTo) : undefined;
    const notBefore = cert ? new Date(cert.validFrom) : undefined;
    rows.push({
      name: e.name ?? '',
      type: chain !== undefined ? 'Cert Chain' : 'CA',
      status: 'ACTIVE',
      validCert: !!(notAfter && notBefore && notBefore <= now && now <= notAfter),
      serialNumber: cert ? cert.serialNumber.toLowerCase() : '',
      notAfter: notAfter?.toISOString() ?? '',
      notBefore: notBefore?.toISOString() ?? '',
      identity: (cert?.subjectAltName ?? '').split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)).join(','),
    });
  }
  return rows;
}

/** adminBase turns `host:port` or a URL into the admin port's base URL. */
function adminBase(proxy: string): string {
  return /^https?:\/\//.test(proxy) ? proxy.replace(/\/+$/, '') : `http://${proxy}`;
}

/**
 * runProxySecrets prints the certificates a running proxy serves with (istioctl proxy-config
 * secret): they live only in the proxy, so `<proxy>` is its admin address (host:port of 15000).
 */
async function runProxySecrets(args: { proxy: string; output: OutputFormat }, io: CliIO): Promise<number> {
  const url = `${adminBase(args.proxy)}/config_dump?resource=dynamic_active_secrets`;
  let entries: DumpedSecret[];
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    entries = ((await res.json()) as { configs?: DumpedSecret[] }).configs ?? [];
  } catch (err) {
    io.stderr(`error: cannot read secrets from the proxy admin at ${url}: ${(err as Error).message} (give the proxy's admin address, e.g. 127.0.0.1:15000)\n`);
    return EXIT.findings;
  }
  const rows = secretRows(entries);
  if (args.output !== 'text') {
    io.stdout(render(args.output, rows));
    return EXIT.ok;
  }
  const head = ['RESOURCE NAME', 'TYPE', 'STATUS', 'VALID CERT', 'SERIAL NUMBER', 'NOT AFTER', 'NOT BEFORE', 'IDENTITY'];
  const table = [head, ...rows.map((r) => [r.name, r.type, r.status, String(r.validCert), r.serialNumber, r.notAfter, r.notBefore, r.identity])];
  const widths = head.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  for (const r of table) io.stdout(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('')}\n`);
  return EXIT.ok;
}
