/**
 * AuthorizationPolicy, end to end through the real path: policies as a user writes them →
 * libs/translate (buildSnapshot + generateAll, the sidecar's inbound listener) → compileConfig →
 * the inbound chain's RBAC stages run on a request. Cases follow Istio's documentation
 * (AuthorizationPolicy reference, "Authorization" concepts, the HTTP/TCP/JWT authorization tasks).
 */
import { generateAll, LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE } from '@meshwork/translate';
import { loadCase } from '@meshwork/translate/testing';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { compileConfig } from '../config/compile.js';
import { Headers, type CompiledConfig, type DownstreamInfo, type FilterChainPlan } from '../model.js';

const POD_IP = '10.1.0.20';
const JWT = 'envoy.filters.http.jwt_authn';
const ISS = 'https://issuer.example';

interface Req {
  method?: string;
  path?: string;
  host?: string;
  port?: number;
  headers?: Record<string, string>;
  sourceIp?: string;
  /** Verified peer SPIFFE ID: the request came over mTLS. */
  peer?: string;
  sni?: string;
  destIp?: string;
  /** A verified JWT's payload, as jwt_authn leaves it in the filter state. */
  jwt?: Record<string, unknown>;
}

interface Case {
  name: string;
  /** AuthorizationPolicy documents (namespace `default` unless given). */
  policies: string;
  req: Req;
  /** `allow`, or `deny` with the policy Envoy reports (`none` for an ALLOW miss). */
  expect: 'allow' | `deny:${string}`;
  /** The workload: namespace and labels (default `default`, app=productpage). */
  workload?: { namespace?: string; labels?: Record<string, string> };
  /** MeshConfig trust domain (default cluster.local). */
  trustDomain?: string;
}

const compiled = new Map<string, CompiledConfig>();

/** The workload's inbound configuration for a set of policies, translated and compiled as a sidecar would. */
function configFor(policies: string, ns: string, labels: Record<string, string>, trustDomain = 'cluster.local'): CompiledConfig {
  const key = `${ns}|${trustDomain}|${JSON.stringify(labels)}|${policies}`;
  let c = compiled.get(key);
  if (c) return c;
  const configs = parseAllDocuments(policies)
    .map((d) => d.toJSON() as Record<string, unknown> | null)
    .filter((d): d is Record<string, unknown> => d !== null)
    .map((d) => ({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', ...d, metadata: { namespace: 'default', ...(d.metadata as object) } }));
  const kase = loadCase(
    stringify({
      meshConfig: { trustDomain },
      proxy: { id: `sidecar~${POD_IP}~productpage-v1-abc.${ns}~${ns}.svc.cluster.local`, labels },
      services: [
        {
          host: `productpage.${ns}.svc.cluster.local`,
          ports: [
            { name: 'http', port: 9080, protocol: 'HTTP' },
            { name: 'tcp-db', port: 3306, protocol: 'TCP' },
          ],
          selector: { app: labels.app },
          workloads: [{ address: POD_IP, labels, serviceAccount: 'productpage' }],
        },
      ],
      configs,
    }),
  );
  const out = generateAll(kase.proxy, kase.snapshot);
  const r = compileConfig({ listeners: out[LISTENER_TYPE], routes: out[ROUTE_TYPE], clusters: out[CLUSTER_TYPE], endpoints: out[ENDPOINT_TYPE] });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  c = r.value;
  compiled.set(key, c);
  return c;
}

function chainFor(cfg: CompiledConfig, port: number): FilterChainPlan {
  const chain = cfg.listeners.get('virtualInbound')?.filterChains.find((ch) => ch.match.destinationPort === port);
  if (!chain) throw new Error(`no inbound chain for port ${port}`);
  return chain;
}

/** decide runs the inbound chain's filters on the request: `allow` or `deny:<policy>`. */
async function decide(c: Case): Promise<string> {
  const cfg = configFor(c.policies, c.workload?.namespace ?? 'default', c.workload?.labels ?? { app: 'productpage', version: 'v1' }, c.trustDomain);
  const r = c.req;
  const port = r.port ?? 9080;
  const chain = chainFor(cfg, port);
  const tls = r.peer !== undefined || r.sni !== undefined ? { peerIdentities: r.peer ? [r.peer] : [], ...(r.sni ? { sni: r.sni } : {}) } : undefined;
  const down: DownstreamInfo = { remoteAddress: r.sourceIp ?? '10.1.0.99', remotePort: 40000, localAddress: r.destIp ?? POD_IP, localPort: port, ...(tls ? { tls } : {}) };
  if (chain.handler.kind === 'tcp') {
    for (const f of chain.networkFilters ?? []) {
      const reason = await f.run(down);
      if (reason) return `deny:${/^rbac_access_denied_matched_policy\[(.*)\]$/.exec(reason)?.[1] ?? reason}`;
    }
    return 'allow';
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(r.headers ?? {})) headers.add(k.toLowerCase(), v);
  const state = new Map<string, unknown>();
  if (r.jwt) state.set(JWT, { payload: r.jwt });
  const ctx = { req: { method: r.method ?? 'GET', path: r.path ?? '/', authority: r.host ?? 'productpage:9080', scheme: 'http' as const, headers }, down, state };
  for (const f of chain.httpFilters ?? []) {
    const d = await f.run(ctx);
    if (d) {
      expect(d.status).toBe(403);
      expect(d.body).toBe('RBAC: access denied');
      return `deny:${/^rbac_access_denied_matched_policy\[(.*)\]$/.exec(d.details)?.[1] ?? d.details}`;
    }
  }
  return 'allow';
}

const SLEEP = 'spiffe://cluster.local/ns/default/sa/sleep';
const FOO = 'spiffe://cluster.local/ns/foo/sa/client';
const BAR = 'spiffe://cluster.local/ns/bar/sa/client';

// One-rule ALLOW policy on the workload, the most common shape in Istio's tasks.
const allow = (rule: string): string => `metadata: {name: allow}\nspec:\n  rules:\n${rule.replace(/^/gm, '  ')}\n`;
const deny = (rule: string): string => `metadata: {name: deny}\nspec:\n  action: DENY\n  rules:\n${rule.replace(/^/gm, '  ')}\n`;
const A = 'ns[default]-policy[allow]-rule[0]';
const D = 'ns[default]-policy[deny]-rule[0]';

const cases: Case[] = [
  // ── which policies apply ──
  { name: 'no policy: allowed', policies: '', req: {}, expect: 'allow' },
  { name: 'ALLOW policy with no rules (allow-nothing) denies everything', policies: 'metadata: {name: allow-nothing}\nspec: {}', req: {}, expect: 'deny:none' },
  { name: 'ALLOW with rules: [{}] allows everything', policies: 'metadata: {name: allow-all}\nspec: {rules: [{}]}', req: { method: 'DELETE', path: '/x' }, expect: 'allow' },
  { name: 'DENY with rules: [{}] denies everything', policies: 'metadata: {name: deny-all}\nspec: {action: DENY, rules: [{}]}', req: {}, expect: 'deny:ns[default]-policy[deny-all]-rule[0]' },
  { name: 'an ALLOW policy applies: a request matching no rule is denied', policies: allow('- to: [{operation: {methods: [GET]}}]'), req: { method: 'POST' }, expect: 'deny:none' },
  { name: 'root namespace policy is mesh-wide', policies: 'metadata: {name: allow-nothing, namespace: istio-system}\nspec: {}', req: {}, expect: 'deny:none' },
  { name: 'root namespace policy with a selector applies in every namespace', policies: 'metadata: {name: pp, namespace: istio-system}\nspec: {selector: {matchLabels: {app: productpage}}, action: DENY, rules: [{}]}', req: {}, expect: 'deny:ns[istio-system]-policy[pp]-rule[0]', workload: { namespace: 'shop', labels: { app: 'productpage' } } },
  { name: "another namespace's policy does not apply", policies: 'metadata: {name: allow-nothing, namespace: foo}\nspec: {}', req: {}, expect: 'allow' },
  { name: 'namespace policy applies to every workload of the namespace', policies: 'metadata: {name: allow-nothing, namespace: shop}\nspec: {}', req: {}, expect: 'deny:none', workload: { namespace: 'shop', labels: { app: 'productpage' } } },
  { name: 'selector that does not match: not applied', policies: 'metadata: {name: reviews}\nspec: {selector: {matchLabels: {app: reviews}}}', req: {}, expect: 'allow' },
  { name: 'selector that matches: applied', policies: 'metadata: {name: pp}\nspec: {selector: {matchLabels: {app: productpage, version: v1}}}', req: {}, expect: 'deny:none' },
  { name: 'targetRefs to a Gateway: not applied to a sidecar', policies: 'metadata: {name: gw}\nspec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: ingress}], action: DENY, rules: [{}]}', req: {}, expect: 'allow' },

  // ── evaluation order ──
  { name: 'DENY wins over a matching ALLOW', policies: `${allow('- {}')}---\n${deny('- to: [{operation: {paths: [/admin]}}]')}`, req: { path: '/admin' }, expect: `deny:${D}` },
  { name: 'DENY not matching, ALLOW matching: allowed', policies: `${allow('- {}')}---\n${deny('- to: [{operation: {paths: [/admin]}}]')}`, req: { path: '/home' }, expect: 'allow' },
  { name: 'CUSTOM comes first; with no extension provider configured its rules deny (Istio)', policies: `${allow('- {}')}---\nmetadata: {name: ext}\nspec: {action: CUSTOM, provider: {name: opa}, rules: [{to: [{operation: {paths: [/secure/*]}}]}]}`, req: { path: '/secure/x' }, expect: 'deny:istio-ext-authz-opa-ns[default]-policy[ext]-rule[0]-deny-due-to-bad-CUSTOM-action' },
  { name: 'CUSTOM not matching: the next layers decide', policies: `metadata: {name: ext}\nspec: {action: CUSTOM, provider: {name: opa}, rules: [{to: [{operation: {paths: [/secure/*]}}]}]}`, req: { path: '/open' }, expect: 'allow' },
  { name: 'AUDIT never denies', policies: 'metadata: {name: audit}\nspec: {action: AUDIT, rules: [{}]}', req: {}, expect: 'allow' },
  { name: 'AUDIT does not count as an ALLOW policy', policies: `metadata: {name: audit}\nspec: {action: AUDIT, rules: [{to: [{operation: {methods: [GET]}}]}]}`, req: { method: 'POST' }, expect: 'allow' },
  { name: 'istio.io/dry-run DENY is not enforced', policies: 'metadata: {name: dry, annotations: {istio.io/dry-run: "true"}}\nspec: {action: DENY, rules: [{}]}', req: {}, expect: 'allow' },
  { name: 'several matching DENY policies: Envoy names the first by name', policies: `metadata: {name: b-deny}\nspec: {action: DENY, rules: [{}]}\n---\nmetadata: {name: a-deny}\nspec: {action: DENY, rules: [{}]}`, req: {}, expect: 'deny:ns[default]-policy[a-deny]-rule[0]' },

  // ── from: principals ──
  { name: 'principals: exact identity allowed', policies: allow('- from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]'), req: { peer: SLEEP }, expect: 'allow' },
  { name: 'principals: another identity denied', policies: allow('- from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]'), req: { peer: FOO }, expect: 'deny:none' },
  { name: 'principals: plain text has no principal', policies: allow('- from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]'), req: {}, expect: 'deny:none' },
  { name: 'principals: prefix wildcard', policies: allow('- from: [{source: {principals: [cluster.local/ns/foo/*]}}]'), req: { peer: FOO }, expect: 'allow' },
  { name: 'principals: suffix wildcard', policies: allow('- from: [{source: {principals: ["*/sa/sleep"]}}]'), req: { peer: SLEEP }, expect: 'allow' },
  { name: 'principals "*": any mTLS peer', policies: allow('- from: [{source: {principals: ["*"]}}]'), req: { peer: BAR }, expect: 'allow' },
  { name: 'principals "*": plain text denied', policies: allow('- from: [{source: {principals: ["*"]}}]'), req: {}, expect: 'deny:none' },
  { name: 'notPrincipals in DENY: other identities denied', policies: deny('- from: [{source: {notPrincipals: [cluster.local/ns/default/sa/sleep]}}]'), req: { peer: FOO }, expect: `deny:${D}` },
  { name: 'notPrincipals in DENY: the named identity passes', policies: deny('- from: [{source: {notPrincipals: [cluster.local/ns/default/sa/sleep]}}]'), req: { peer: SLEEP }, expect: 'allow' },

  { name: 'principals: cluster.local means this mesh, whatever its trust domain', policies: allow('- from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]'), req: { peer: 'spiffe://example.org/ns/default/sa/sleep' }, expect: 'allow', trustDomain: 'example.org' },
  { name: 'principals: with another trust domain configured, a cluster.local peer is not it', policies: allow('- from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]'), req: { peer: SLEEP }, expect: 'deny:none', trustDomain: 'example.org' },

  // ── from: namespaces, service accounts ──
  { name: 'namespaces: peer in foo allowed', policies: allow('- from: [{source: {namespaces: [foo]}}]'), req: { peer: FOO }, expect: 'allow' },
  { name: 'namespaces: peer in bar denied', policies: allow('- from: [{source: {namespaces: [foo]}}]'), req: { peer: BAR }, expect: 'deny:none' },
  { name: 'namespaces with a wildcard', policies: allow('- from: [{source: {namespaces: ["f*"]}}]'), req: { peer: FOO }, expect: 'allow' },
  { name: 'notNamespaces in DENY: another namespace denied', policies: deny('- from: [{source: {notNamespaces: [default]}}]'), req: { peer: FOO }, expect: `deny:${D}` },
  { name: 'notNamespaces in DENY: plain text (no namespace) is denied too', policies: deny('- from: [{source: {notNamespaces: [default]}}]'), req: {}, expect: `deny:${D}` },
  { name: 'serviceAccounts: name in the policy namespace', policies: allow('- from: [{source: {serviceAccounts: [sleep]}}]'), req: { peer: SLEEP }, expect: 'allow' },
  { name: 'serviceAccounts: same name in another namespace denied', policies: allow('- from: [{source: {serviceAccounts: [sleep]}}]'), req: { peer: 'spiffe://cluster.local/ns/other/sa/sleep' }, expect: 'deny:none' },
  { name: 'notServiceAccounts in DENY', policies: deny('- from: [{source: {notServiceAccounts: [foo/client]}}]'), req: { peer: BAR }, expect: `deny:${D}` },

  // ── from: IP blocks ──
  { name: 'ipBlocks: source inside the CIDR', policies: allow('- from: [{source: {ipBlocks: [10.0.0.0/8]}}]'), req: { sourceIp: '10.2.3.4' }, expect: 'allow' },
  { name: 'ipBlocks: source outside the CIDR', policies: allow('- from: [{source: {ipBlocks: [10.0.0.0/8, 192.168.1.1]}}]'), req: { sourceIp: '192.168.1.2' }, expect: 'deny:none' },
  { name: 'ipBlocks: x-forwarded-for is not the direct peer', policies: allow('- from: [{source: {ipBlocks: [1.2.3.4]}}]'), req: { sourceIp: '10.2.3.4', headers: { 'x-forwarded-for': '1.2.3.4' } }, expect: 'deny:none' },
  { name: 'notIpBlocks in DENY', policies: deny('- from: [{source: {notIpBlocks: [10.0.0.0/8]}}]'), req: { sourceIp: '172.16.0.1' }, expect: `deny:${D}` },
  { name: 'remoteIpBlocks: the original client from x-forwarded-for', policies: allow('- from: [{source: {remoteIpBlocks: [1.2.3.0/24]}}]'), req: { sourceIp: '10.2.3.4', headers: { 'x-forwarded-for': '9.9.9.9, 1.2.3.4' } }, expect: 'allow' },
  { name: 'remoteIpBlocks: without x-forwarded-for the peer address', policies: allow('- from: [{source: {remoteIpBlocks: [1.2.3.0/24]}}]'), req: { sourceIp: '10.2.3.4' }, expect: 'deny:none' },
  { name: 'notRemoteIpBlocks in DENY', policies: deny('- from: [{source: {notRemoteIpBlocks: [1.2.3.0/24]}}]'), req: { headers: { 'x-forwarded-for': '5.6.7.8' } }, expect: `deny:${D}` },

  // ── from: request principals (JWT) ──
  { name: 'requestPrincipals: iss/sub of the verified JWT', policies: allow(`- from: [{source: {requestPrincipals: [${ISS}/alice]}}]`), req: { jwt: { iss: ISS, sub: 'alice' } }, expect: 'allow' },
  { name: 'requestPrincipals: another subject denied', policies: allow(`- from: [{source: {requestPrincipals: [${ISS}/alice]}}]`), req: { jwt: { iss: ISS, sub: 'bob' } }, expect: 'deny:none' },
  { name: 'requestPrincipals "*": a request without JWT is denied', policies: allow('- from: [{source: {requestPrincipals: ["*"]}}]'), req: {}, expect: 'deny:none' },
  { name: 'requestPrincipals "*": any verified JWT', policies: allow('- from: [{source: {requestPrincipals: ["*"]}}]'), req: { jwt: { iss: 'x', sub: 'y' } }, expect: 'allow' },
  { name: 'requestPrincipals with an issuer wildcard', policies: allow('- from: [{source: {requestPrincipals: ["*/alice"]}}]'), req: { jwt: { iss: 'https://any.example', sub: 'alice' } }, expect: 'allow' },
  { name: 'notRequestPrincipals "*" in DENY: require a JWT', policies: deny('- from: [{source: {notRequestPrincipals: ["*"]}}]'), req: {}, expect: `deny:${D}` },
  { name: 'notRequestPrincipals "*" in DENY: with a JWT passes', policies: deny('- from: [{source: {notRequestPrincipals: ["*"]}}]'), req: { jwt: { iss: ISS, sub: 'alice' } }, expect: 'allow' },

  // ── to: hosts, methods, ports ──
  { name: 'hosts: exact, case-insensitive', policies: allow('- to: [{operation: {hosts: [bookinfo.example.com]}}]'), req: { host: 'BookInfo.Example.com' }, expect: 'allow' },
  { name: 'hosts: the port is part of the authority', policies: allow('- to: [{operation: {hosts: [bookinfo.example.com]}}]'), req: { host: 'bookinfo.example.com:9080' }, expect: 'deny:none' },
  { name: 'hosts: suffix wildcard', policies: allow('- to: [{operation: {hosts: ["*.example.com"]}}]'), req: { host: 'api.example.com' }, expect: 'allow' },
  { name: 'notHosts in DENY', policies: deny('- to: [{operation: {notHosts: ["*.internal"]}}]'), req: { host: 'public.example.com' }, expect: `deny:${D}` },
  { name: 'methods: GET allowed', policies: allow('- to: [{operation: {methods: [GET, HEAD]}}]'), req: { method: 'HEAD' }, expect: 'allow' },
  { name: 'methods: POST denied', policies: allow('- to: [{operation: {methods: [GET, HEAD]}}]'), req: { method: 'POST' }, expect: 'deny:none' },
  { name: 'notMethods in DENY', policies: deny('- to: [{operation: {notMethods: [GET]}}]'), req: { method: 'PUT' }, expect: `deny:${D}` },
  { name: 'ports: the destination port', policies: allow('- to: [{operation: {ports: ["9080"]}}]'), req: {}, expect: 'allow' },
  { name: 'notPorts in DENY', policies: deny('- to: [{operation: {notPorts: ["8080"]}}]'), req: {}, expect: `deny:${D}` },

  // ── to: paths ──
  { name: 'paths: exact', policies: allow('- to: [{operation: {paths: [/info]}}]'), req: { path: '/info' }, expect: 'allow' },
  { name: 'paths: exact does not match a longer path', policies: allow('- to: [{operation: {paths: [/info]}}]'), req: { path: '/info/x' }, expect: 'deny:none' },
  { name: 'paths: the query string is not part of the path', policies: allow('- to: [{operation: {paths: [/info]}}]'), req: { path: '/info?user=1' }, expect: 'allow' },
  { name: 'paths: prefix', policies: allow('- to: [{operation: {paths: [/api/*]}}]'), req: { path: '/api/v1/items' }, expect: 'allow' },
  { name: 'paths: suffix', policies: allow('- to: [{operation: {paths: ["*.png"]}}]'), req: { path: '/img/logo.png' }, expect: 'allow' },
  { name: 'paths: "*" matches any path', policies: allow('- to: [{operation: {paths: ["*"]}}]'), req: { path: '/anything' }, expect: 'allow' },
  { name: 'notPaths in DENY', policies: deny('- to: [{operation: {notPaths: [/healthz]}}]'), req: { path: '/private' }, expect: `deny:${D}` },
  { name: 'path template {*}: one segment', policies: allow("- to: [{operation: {paths: ['/api/{*}/reviews']}}]"), req: { path: '/api/v1/reviews' }, expect: 'allow' },
  { name: 'path template {*}: not two segments', policies: allow("- to: [{operation: {paths: ['/api/{*}/reviews']}}]"), req: { path: '/api/v1/x/reviews' }, expect: 'deny:none' },
  { name: 'path template {**}: any depth', policies: allow("- to: [{operation: {paths: ['/files/{**}']}}]"), req: { path: '/files/a/b/c.txt' }, expect: 'allow' },
  { name: 'normalization: dot segments cannot slip past a DENY', policies: deny('- to: [{operation: {paths: [/admin]}}]'), req: { path: '/public/../admin' }, expect: `deny:${D}` },
  { name: 'normalization: percent-encoded unreserved characters are decoded', policies: deny('- to: [{operation: {paths: [/admin]}}]'), req: { path: '/%61dmin' }, expect: `deny:${D}` },

  // ── when ──
  { name: 'when request.headers: value matches', policies: allow('- when: [{key: "request.headers[x-token]", values: [secret]}]'), req: { headers: { 'x-token': 'secret' } }, expect: 'allow' },
  { name: 'when request.headers: header absent', policies: allow('- when: [{key: "request.headers[x-token]", values: [secret]}]'), req: {}, expect: 'deny:none' },
  { name: 'when request.headers notValues in DENY', policies: deny('- when: [{key: "request.headers[user-agent]", notValues: ["curl/*"]}]'), req: { headers: { 'user-agent': 'wget/1.0' } }, expect: `deny:${D}` },
  { name: 'when source.ip', policies: allow('- when: [{key: source.ip, values: [10.1.0.0/16]}]'), req: { sourceIp: '10.1.7.7' }, expect: 'allow' },
  { name: 'when remote.ip', policies: allow('- when: [{key: remote.ip, notValues: [6.6.6.6]}]'), req: { headers: { 'x-forwarded-for': '6.6.6.6' } }, expect: 'deny:none' },
  { name: 'when source.namespace', policies: allow('- when: [{key: source.namespace, values: [foo]}]'), req: { peer: FOO }, expect: 'allow' },
  { name: 'when source.principal', policies: allow('- when: [{key: source.principal, values: [cluster.local/ns/foo/sa/client]}]'), req: { peer: BAR }, expect: 'deny:none' },
  { name: 'when request.auth.principal', policies: allow(`- when: [{key: request.auth.principal, values: [${ISS}/alice]}]`), req: { jwt: { iss: ISS, sub: 'alice' } }, expect: 'allow' },
  { name: 'when request.auth.audiences (aud as a list)', policies: allow('- when: [{key: request.auth.audiences, values: [bookinfo]}]'), req: { jwt: { iss: ISS, sub: 'a', aud: ['web', 'bookinfo'] } }, expect: 'allow' },
  { name: 'when request.auth.audiences (aud as a string)', policies: allow('- when: [{key: request.auth.audiences, values: [bookinfo]}]'), req: { jwt: { iss: ISS, sub: 'a', aud: 'other' } }, expect: 'deny:none' },
  { name: 'when request.auth.presenter', policies: allow('- when: [{key: request.auth.presenter, values: [web-app]}]'), req: { jwt: { iss: ISS, sub: 'a', azp: 'web-app' } }, expect: 'allow' },
  { name: 'when request.auth.claims[groups] contains a value', policies: allow('- when: [{key: "request.auth.claims[groups]", values: [admin]}]'), req: { jwt: { iss: ISS, sub: 'a', groups: ['dev', 'admin'] } }, expect: 'allow' },
  { name: 'when nested claims request.auth.claims[realm][roles]', policies: allow('- when: [{key: "request.auth.claims[realm][roles]", values: [editor]}]'), req: { jwt: { iss: ISS, sub: 'a', realm: { roles: ['viewer'] } } }, expect: 'deny:none' },
  { name: 'when destination.ip', policies: allow('- when: [{key: destination.ip, values: [10.1.0.0/24]}]'), req: {}, expect: 'allow' },
  { name: 'when destination.port', policies: allow('- when: [{key: destination.port, values: ["8080"]}]'), req: {}, expect: 'deny:none' },
  { name: 'when connection.sni', policies: allow('- when: [{key: connection.sni, values: ["*.svc.cluster.local"]}]'), req: { peer: SLEEP, sni: 'outbound_.9080_._.productpage.default.svc.cluster.local' }, expect: 'allow' },

  // ── combining ──
  { name: 'fields of one source are ANDed', policies: allow('- from: [{source: {namespaces: [foo], ipBlocks: [10.0.0.0/8]}}]'), req: { peer: FOO, sourceIp: '192.168.0.1' }, expect: 'deny:none' },
  { name: 'sources of one rule are ORed', policies: allow('- from: [{source: {namespaces: [foo]}}, {source: {ipBlocks: [192.168.0.0/16]}}]'), req: { peer: BAR, sourceIp: '192.168.0.1' }, expect: 'allow' },
  { name: 'from, to and when of a rule are ANDed', policies: allow('- from: [{source: {namespaces: [foo]}}]\n  to: [{operation: {methods: [GET]}}]\n  when: [{key: "request.headers[x-v]", values: ["1"]}]'), req: { peer: FOO, method: 'GET' }, expect: 'deny:none' },
  { name: 'rules of a policy are ORed', policies: allow('- to: [{operation: {methods: [GET]}}]\n- to: [{operation: {paths: [/upload]}}]'), req: { method: 'POST', path: '/upload' }, expect: 'allow' },

  // ── TCP ports (network RBAC) ──
  { name: 'TCP: principals allow the right peer', policies: allow('- from: [{source: {principals: [cluster.local/ns/foo/sa/client]}}]'), req: { port: 3306, peer: FOO }, expect: 'allow' },
  { name: 'TCP: principals refuse another peer', policies: allow('- from: [{source: {principals: [cluster.local/ns/foo/sa/client]}}]'), req: { port: 3306, peer: BAR }, expect: 'deny:none' },
  { name: 'TCP: an ALLOW rule with an HTTP-only field is dropped (never matches)', policies: allow('- to: [{operation: {methods: [GET], ports: ["3306"]}}]'), req: { port: 3306, peer: FOO }, expect: 'deny:none' },
  { name: 'TCP: a DENY rule loses only its HTTP-only values (wider deny)', policies: deny('- from: [{source: {namespaces: [foo]}}]\n  to: [{operation: {paths: [/admin]}}]'), req: { port: 3306, peer: FOO }, expect: `deny:${D}` },
  { name: 'TCP: ports in DENY', policies: deny('- to: [{operation: {ports: ["3306"]}}]'), req: { port: 3306 }, expect: `deny:${D}` },
  { name: 'TCP: allow-nothing', policies: 'metadata: {name: allow-nothing}\nspec: {}', req: { port: 3306 }, expect: 'deny:none' },
];

describe('AuthorizationPolicy table (translate → compile → RBAC stages)', () => {
  test('has at least 60 cases with distinct names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });
  for (const c of cases) {
    test(c.name, async () => {
      expect(await decide(c)).toBe(c.expect === 'allow' ? 'allow' : c.expect);
    });
  }
  test('the default allow-matching policy name is reported as Istio names it', async () => {
    // A DENY on the first rule of a policy named "deny" in "default".
    expect(await decide({ name: 'x', policies: deny('- {}'), req: {}, expect: 'allow' })).toBe(`deny:${D}`);
    expect(A).toBe('ns[default]-policy[allow]-rule[0]');
  });
});
