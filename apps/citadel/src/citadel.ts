/**
 * Wiring of a citadel: key store → CA state → authenticators → gRPC, admin and monitoring servers.
 * `startCitadel` is what main.ts and the end-to-end tests run.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishTrustBundle } from '@meshwork/bus';
import { generateKeyPair, issueCertificate, MemoryCertificateProvider, privateKeyToPem, type CaMaterial, type KeyAlgorithm } from '@meshwork/pki';
import { authenticator } from './authn.js';
import { CaState } from './ca-state.js';
import { createCertificateHandler, startCaServer } from './ca-server.js';
import { buildAdminApp, buildMonitoringApp } from './http.js';
import { parseControlPlaneDnsNames, signForCaller } from './issuer.js';
import { joinTokens } from './join-token.js';
import { kubeApiFromKubeconfig, tokenReviewAuthenticator, type KubeApiConfig } from './k8s-authn.js';
import { directoryKeyStore, kubernetesSecretKeyStore, type KeyStore } from './key-store.js';
import { citadelMetrics } from './metrics.js';

/** What startCitadel needs; main.ts fills it from settings.ts. */
export interface CitadelOptions {
  readonly stateDir: string;
  /** `directory` (default) or `kubernetes`. */
  readonly keyStore?: string;
  /** namespace/name of the CA Secret (kubernetes key store). */
  readonly caSecret?: string;
  readonly cacertsDir?: string;
  readonly trustDomain: string;
  readonly listenAddress: string;
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly monitoringPort: number;
  readonly caKeyAlgorithm: string;
  readonly rootTtl: number;
  readonly workloadCertTtl: number;
  readonly maxWorkloadCertTtl: number;
  readonly serverDnsNames: readonly string[];
  readonly joinTokenMaxTtl: number;
  /** `<ns>/<sa>=<dns name>` entries (see settings.ts); none when absent. */
  readonly controlPlaneDnsNames?: readonly string[];
  readonly kubeconfig?: string;
  readonly k8sApi?: string;
  readonly k8sTokenFile?: string;
  readonly k8sCaFile?: string;
  readonly tokenAudiences: readonly string[];
  readonly rootOverlap: number;
  /** NATS server to publish the trust bundle on (mesh.ca.roots + mesh-ca KV). */
  readonly natsUrl?: string;
  readonly shutdownGrace: number;
  readonly logLevel: string;
  /** Tests pass a silent logger. */
  readonly logger?: FastifyBaseLogger;
}

/** A running citadel. */
export interface Citadel {
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly monitoringPort: number;
  readonly state: CaState;
  /** Root of the trust bundle citadel's own TLS certificate chains to (what clients should trust). */
  roots(): string[];
  /** close drains in-flight requests (up to the shutdown grace) and stops every server. */
  close(): Promise<void>;
}

const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA_P256', 'ECDSA_P384', 'RSA_2048', 'RSA_3072', 'RSA_4096'];

async function pluggedCa(dir: string): Promise<CaMaterial> {
  const read = (f: string): Promise<string> => readFile(join(dir, f), 'utf8');
  const optional = (f: string): Promise<string | undefined> => read(f).catch(() => undefined);
  return { certPem: await read('ca-cert.pem'), key: await read('ca-key.pem'), rootPem: await read('root-cert.pem'), chainPem: await optional('cert-chain.pem') };
}

/** startCitadel returns a running citadel after opening (or creating) its CA and binding every port. */
export async function startCitadel(o: CitadelOptions): Promise<Citadel> {
  if (!KEY_ALGORITHMS.includes(o.caKeyAlgorithm as KeyAlgorithm)) throw new Error(`--ca-key-algorithm must be one of ${KEY_ALGORITHMS.join(', ')}; got "${o.caKeyAlgorithm}"`);
  let kubeApi: KubeApiConfig | undefined;
  if (o.k8sApi) {
    kubeApi = { server: o.k8sApi, token: o.k8sTokenFile ? (await readFile(o.k8sTokenFile, 'utf8')).trim() : undefined, caPem: o.k8sCaFile ? await readFile(o.k8sCaFile, 'utf8') : undefined };
  } else if (o.kubeconfig) kubeApi = kubeApiFromKubeconfig(o.kubeconfig);
  let store: KeyStore;
  if ((o.keyStore ?? 'directory') === 'kubernetes') {
    const [ns, name] = (o.caSecret ?? 'istio-system/meshwork-ca-secret').split('/');
    if (!kubeApi) throw new Error('--key-store kubernetes needs --kubeconfig or --k8s-api');
    if (!ns || !name) throw new Error(`--ca-secret must be <namespace>/<name>, got "${o.caSecret}"`);
    store = kubernetesSecretKeyStore(kubeApi, ns, name);
  } else if (o.keyStore === undefined || o.keyStore === 'directory') store = await directoryKeyStore(o.stateDir);
  else throw new Error(`--key-store must be directory or kubernetes, got "${o.keyStore}"`);
  const state = await CaState.open(store, {
    trustDomain: o.trustDomain,
    keyAlgorithm: o.caKeyAlgorithm as KeyAlgorithm,
    rootTtlMs: o.rootTtl,
    plugged: o.cacertsDir ? await pluggedCa(o.cacertsDir) : undefined,
  });
  let adminToken = (await store.read('admin-token'))?.trim();
  if (!adminToken) {
    adminToken = randomBytes(32).toString('base64url');
    await store.write('admin-token', `${adminToken}\n`);
  }
  const tokens = await joinTokens(store, o.trustDomain);

  const metrics = citadelMetrics(() => state.signer.rootPem);
  let ready = false;
  const monitoring = buildMonitoringApp({ metrics, ready: () => ready, roots: () => state.roots(), logger: o.logger ?? { level: o.logLevel } });
  const log = monitoring.log;
  const mainLog = log.child({ component: 'citadel' });

  // Citadel's own serving certificate: DNS SANs (plus loopback IPs for local use), key only in memory.
  // Re-issued at half-life and when the root rotates, so it is always fresh and chains to the signing root.
  const certificates = new MemoryCertificateProvider();
  const serverIdentity = (): { cert: string; key: string; renewAt: number } => {
    const serverKey = generateKeyPair();
    const now = Date.now();
    const serverCert = issueCertificate(state.signer, { publicKey: serverKey.publicKey, dnsNames: o.serverDnsNames, ipAddresses: ['127.0.0.1', '::1'], ttlMs: o.workloadCertTtl, now: new Date(now) });
    return { cert: serverCert.chainPems.join(''), key: privateKeyToPem(serverKey.privateKey), renewAt: now + (serverCert.notAfter.getTime() - now) / 2 };
  };
  let identity = serverIdentity();
  certificates.setIdentity(identity.cert, identity.key);
  certificates.setCa(state.roots().join(''));

  const authenticate = authenticator({ trustDomain: o.trustDomain, state, joinTokens: tokens, kubernetes: kubeApi ? tokenReviewAuthenticator(kubeApi, o.trustDomain, o.tokenAudiences) : undefined });
  const policy = { trustDomain: o.trustDomain, defaultTtlMs: o.workloadCertTtl, maxTtlMs: o.maxWorkloadCertTtl, controlPlaneDnsNames: parseControlPlaneDnsNames(o.trustDomain, o.controlPlaneDnsNames ?? []) };
  const handler = createCertificateHandler({
    authenticate,
    sign: (caller, req) => [...signForCaller(state.signer, policy, caller.spiffeId, req.csr, req.validity_duration).chainPems],
    metrics,
    log: log.child({ component: 'citadel-ca' }),
  });

  const admin = buildAdminApp({ state, joinTokens: tokens, adminToken, joinTokenMaxTtlMs: o.joinTokenMaxTtl, rootOverlapMs: o.rootOverlap, https: { key: identity.key, cert: identity.cert }, logger: log });
  const host = o.listenAddress;
  const grpcServer = await startCaServer({ address: host, port: o.grpcPort, certificates, handler });
  const refreshIdentity = (why: string): void => {
    identity = serverIdentity();
    certificates.setIdentity(identity.cert, identity.key);
    const httpsServer = admin.server as unknown as { setSecureContext?: (o: { key: string; cert: string }) => void };
    httpsServer.setSecureContext?.({ key: identity.key, cert: identity.cert });
    mainLog.info({ why }, 'serving certificate re-issued');
  };
  state.onRootsChanged((roots) => {
    certificates.setCa(roots.join(''));
    refreshIdentity(`trust bundle changed (${roots.length} roots)`);
  });
  await admin.listen({ host, port: o.adminPort });
  await monitoring.listen({ host, port: o.monitoringPort });
  const portOf = (app: typeof admin): number => {
    const a = app.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  };
  const pruneTimer = setInterval(() => {
    void state.prune().catch((e: unknown) => mainLog.error({ err: e }, 'pruning the trust bundle failed'));
    if (Date.now() >= identity.renewAt) refreshIdentity('half-life reached');
  }, 60_000);
  pruneTimer.unref();
  let nc: NatsConnection | undefined;
  if (o.natsUrl) {
    nc = await connect({ servers: o.natsUrl, name: 'meshwork-citadel' });
    const conn = nc;
    const publish = (roots: string[]): Promise<void> =>
      publishTrustBundle(conn, { trustDomain: o.trustDomain, roots, updatedAt: new Date().toISOString() }).catch((e: unknown) => mainLog.error({ err: e }, 'publishing the trust bundle on NATS failed'));
    await publish(state.roots());
    state.onRootsChanged((roots) => void publish(roots));
  }
  ready = true;
  mainLog.info({ grpcPort: grpcServer.port, adminPort: portOf(admin), monitoringPort: portOf(monitoring), trustDomain: o.trustDomain, keyStore: store.description, plugged: state.plugged }, 'citadel ready');
  return {
    grpcPort: grpcServer.port,
    adminPort: portOf(admin),
    monitoringPort: portOf(monitoring),
    state,
    roots: () => state.roots(),
    async close() {
      ready = false;
      clearInterval(pruneTimer);
      await Promise.all([grpcServer.close(o.shutdownGrace), admin.close()]);
      await nc?.drain();
      await monitoring.close();
    },
  };
}
