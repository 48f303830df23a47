/**
 * Envoy route `RateLimit.actions` → a function that builds one descriptor for a request, or
 * undefined when an action cannot produce its entry (then Envoy sends no descriptor for that
 * rate_limits entry). The actions translate emits (libs/translate/src/ratelimit.ts) are supported:
 * generic_key, header_value_match, request_headers, remote_address, masked_remote_address, and
 * metadata for Istio's `istio_authn` `source.principal`.
 */
import { isIP } from 'node:net';
import { headerMatcher, headerValue } from '../config/matchers.js';
import { at, bool, obj, objects, oneof, str, wrapped, type Obj, type Problems } from '../config/fields.js';
import type { HttpFilterContext } from '../model.js';
import type { RlsEntry } from './rls-client.js';

/** Builds one descriptor (its entries in order) or undefined. */
export type DescriptorBuilder = (ctx: HttpFilterContext) => RlsEntry[] | undefined;

/** An action's part: an entry, `null` for "nothing to add but go on", undefined for "no descriptor". */
type ActionFn = (ctx: HttpFilterContext) => RlsEntry | null | undefined;

const ACTIONS = ['sourceCluster', 'destinationCluster', 'requestHeaders', 'remoteAddress', 'genericKey', 'headerValueMatch', 'dynamicMetadata', 'metadata', 'extension', 'maskedRemoteAddress', 'queryParameterValueMatch', 'queryParameters'] as const;

/** compileActions returns the builder of one `rate_limits` entry; errors go to `p`. */
export function compileActions(p: Problems, entry: Obj, path: string): DescriptorBuilder | undefined {
  const before = p.errors.length;
  const fns: ActionFn[] = [];
  for (const a of objects(p, entry, 'actions', path)) {
    const kind = oneof(p, a.v, ACTIONS, a.path, '') as (typeof ACTIONS)[number] | undefined;
    if (!kind) continue;
    const body = obj(p, a.v, kind, a.path) ?? {};
    const fn = action(p, kind, body, at(a.path, kind));
    if (fn) fns.push(fn);
  }
  if (fns.length === 0 && p.errors.length === before) p.error(at(path, 'actions'), 'at least one action is required');
  if (p.errors.length !== before) return undefined;
  return (ctx) => {
    const out: RlsEntry[] = [];
    for (const f of fns) {
      const e = f(ctx);
      if (e === undefined) return undefined;
      if (e !== null) out.push(e);
    }
    return out.length > 0 ? out : undefined;
  };
}

function action(p: Problems, kind: (typeof ACTIONS)[number], b: Obj, path: string): ActionFn | undefined {
  switch (kind) {
    case 'genericKey': {
      const value = str(p, b, 'descriptorValue', path) ?? '';
      if (value === '') {
        p.error(at(path, 'descriptor_value'), 'must not be empty');
        return undefined;
      }
      const e = { key: str(p, b, 'descriptorKey', path) || 'generic_key', value };
      return () => e;
    }
    case 'headerValueMatch': {
      const value = str(p, b, 'descriptorValue', path) ?? '';
      if (value === '') {
        p.error(at(path, 'descriptor_value'), 'must not be empty');
        return undefined;
      }
      const e = { key: str(p, b, 'descriptorKey', path) || 'header_match', value };
      const expect = bool(p, b, 'expectMatch', path) ?? true;
      const preds = objects(p, b, 'headers', path).map((h) => headerMatcher(p, h.v, h.path));
      if (preds.some((x) => x === undefined)) return undefined;
      const all = preds as ((req: HttpFilterContext['req']) => boolean)[];
      return (ctx) => (all.every((m) => m(ctx.req)) === expect ? e : undefined);
    }
    case 'requestHeaders': {
      const name = (str(p, b, 'headerName', path) ?? '').toLowerCase();
      const key = str(p, b, 'descriptorKey', path) ?? '';
      if (name === '' || key === '') {
        p.error(path, 'header_name and descriptor_key are required');
        return undefined;
      }
      const skipIfAbsent = bool(p, b, 'skipIfAbsent', path) ?? false;
      // The RateLimit `path` descriptor counts the path without its query string (docs/api.md).
      const pathOnly = name === ':path' && key === 'path';
      return (ctx) => {
        let v = headerValue(ctx.req, name);
        if (v === undefined || v === '') return skipIfAbsent ? null : undefined;
        if (pathOnly) {
          const q = v.indexOf('?');
          if (q >= 0) v = v.slice(0, q);
        }
        return { key, value: v };
      };
    }
    case 'remoteAddress':
      return (ctx) => ({ key: 'remote_address', value: clientAddress(ctx) });
    case 'maskedRemoteAddress': {
      const v4 = wrapped(p, b, 'v4PrefixMaskLen', path, 0, 32) ?? 32;
      const v6 = wrapped(p, b, 'v6PrefixMaskLen', path, 0, 128) ?? 128;
      return (ctx) => {
        const a = clientAddress(ctx);
        const fam = isIP(a);
        if (fam === 4) return { key: 'masked_remote_address', value: `${maskV4(a, v4)}/${v4}` };
        if (fam === 6) return { key: 'masked_remote_address', value: `${maskV6(a, v6)}/${v6}` };
        return undefined;
      };
    }
    case 'metadata': {
      const key = str(p, b, 'descriptorKey', path) ?? '';
      const mk = obj(p, b, 'metadataKey', path) ?? {};
      const filter = str(p, mk, 'key', at(path, 'metadata_key')) ?? '';
      const segs = objects(p, mk, 'path', at(path, 'metadata_key')).map((s) => str(p, s.v, 'key', s.path) ?? '');
      const defaultValue = str(p, b, 'defaultValue', path) ?? '';
      const skipIfAbsent = bool(p, b, 'skipIfAbsent', path) ?? false;
      if (filter !== 'istio_authn' || segs.length !== 1 || segs[0] !== 'source.principal') {
        p.error(at(path, 'metadata_key'), 'not supported by this proxy (only istio_authn source.principal, the peer identity)');
        return undefined;
      }
      return (ctx) => {
        const v = sourcePrincipal(ctx);
        if (v) return { key, value: v };
        if (defaultValue) return { key, value: defaultValue };
        return skipIfAbsent ? null : undefined;
      };
    }
    default:
      p.error(path, 'not supported by this proxy');
      return undefined;
  }
}

/** The client address without Node's IPv4-mapped prefix. */
function clientAddress(ctx: HttpFilterContext): string {
  const a = ctx.down.remoteAddress;
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/** Istio's source.principal: the peer's SPIFFE ID without `spiffe://` (mTLS only). */
function sourcePrincipal(ctx: HttpFilterContext): string | undefined {
  const id = ctx.down.tls?.peerIdentities.find((x) => x.startsWith('spiffe://'));
  return id ? id.slice('spiffe://'.length) : undefined;
}

function maskV4(a: string, bits: number): string {
  const n = a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const m = (n & mask) >>> 0;
  return [m >>> 24, (m >>> 16) & 255, (m >>> 8) & 255, m & 255].join('.');
}

function maskV6(a: string, bits: number): string {
  const [head, tail = ''] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = a.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = groups.map((g, i) => {
    const v = parseInt(g || '0', 16);
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    return (v & mask).toString(16);
  });
  return out.join(':');
}
