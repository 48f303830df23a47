/**
 * The gRPC edge: istio.v1.auth.IstioCertificateService/CreateCertificate over TLS. Reads the
 * credentials from metadata or the TLS session, runs authentication and the signing decision, and
 * maps named errors to gRPC statuses in one place.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { AuthenticationError, CsrParseError, CsrSanError, CsrSignatureError, IdentityMismatchError, SpiffeIdError, TtlError, type MemoryCertificateProvider, type PkiError } from '@meshwork/pki';
import type { Caller, Credentials } from './authn.js';
import type { CitadelMetrics } from './metrics.js';

/** Path of citadel's copy of Istio's ca.proto (same place relative to src/ and dist/). */
export const CA_PROTO_PATH = fileURLToPath(new URL('../proto/ca.proto', import.meta.url));

export interface IstioCertificateRequest {
  csr: string;
  validity_duration: number;
  metadata?: unknown;
}
export interface IstioCertificateResponse {
  cert_chain: string[];
}

/** loadCaService returns grpc-js's service definition and client constructor for IstioCertificateService. */
export function loadCaService(): { service: grpc.ServiceDefinition; Client: grpc.ServiceClientConstructor } {
  const def = protoLoader.loadSync(CA_PROTO_PATH, { keepCase: true, longs: Number, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { istio: { v1: { auth: { IstioCertificateService: grpc.ServiceClientConstructor } } } };
  const Client = pkg.istio.v1.auth.IstioCertificateService;
  return { service: Client.service, Client };
}

/** Log sink (a pino logger fits). */
export interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface CaHandlerDeps {
  readonly authenticate: (creds: Credentials) => Promise<Caller>;
  readonly sign: (caller: Caller, req: IstioCertificateRequest) => string[];
  readonly metrics: CitadelMetrics;
  readonly log: Log;
}

/** statusOf returns the gRPC status for a refusal (the one place errors become statuses). */
export function statusOf(e: unknown): grpc.status {
  if (e instanceof AuthenticationError) return grpc.status.UNAUTHENTICATED;
  if (e instanceof IdentityMismatchError) return grpc.status.PERMISSION_DENIED;
  if (e instanceof CsrParseError || e instanceof CsrSignatureError || e instanceof CsrSanError || e instanceof TtlError || e instanceof SpiffeIdError) return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

function credentialsOf(call: grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>): Credentials {
  const auth = call.metadata.get('authorization')[0];
  const text = typeof auth === 'string' ? auth : auth?.toString('utf8');
  const m = text ? /^Bearer\s+(\S+)\s*$/i.exec(text) : null;
  const peer = call.getAuthContext().sslPeerCertificate;
  return { bearer: m ? m[1] : undefined, peerCertDer: peer?.raw && peer.raw.length > 0 ? peer.raw : undefined };
}

/** createCertificateHandler returns the unary handler of CreateCertificate. */
export function createCertificateHandler(deps: CaHandlerDeps): grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> {
  return (call, callback) => {
    deps.metrics.csrCount.inc();
    const peer = call.getPeer();
    void (async () => {
      let caller: Caller;
      try {
        caller = await deps.authenticate(credentialsOf(call));
      } catch (e) {
        deps.metrics.authnFailures.inc();
        deps.log.warn({ peer, err: (e as Error).message }, 'certificate request refused: authentication failed');
        callback({ code: statusOf(e), details: (e as Error).message });
        return;
      }
      try {
        const chain = deps.sign(caller, call.request);
        deps.metrics.successCount.inc();
        deps.log.info({ peer, identity: caller.spiffeId, method: caller.method }, 'certificate issued');
        callback(null, { cert_chain: chain });
      } catch (e) {
        const code = statusOf(e);
        if (e instanceof CsrParseError || e instanceof CsrSignatureError) deps.metrics.csrParsingErrors.inc();
        deps.metrics.csrRefusals.inc({ reason: (e as PkiError).code ?? 'internal' });
        const fields = { peer, identity: caller.spiffeId, method: caller.method, code: grpc.status[code], err: (e as Error).message };
        if (code === grpc.status.INTERNAL) deps.log.error(fields, 'certificate request failed');
        else deps.log.warn(fields, 'certificate request refused');
        callback({ code, details: code === grpc.status.INTERNAL ? 'internal error' : (e as Error).message });
      }
    })();
  };
}

/** A running gRPC server. */
export interface RunningGrpcServer {
  readonly port: number;
  /** close stops accepting, waits up to graceMs for in-flight calls, then forces. */
  close(graceMs: number): Promise<void>;
}

/** startCaServer returns the TLS gRPC server serving CreateCertificate on address:port (0 picks one). */
export async function startCaServer(opts: { address: string; port: number; certificates: MemoryCertificateProvider; handler: grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> }): Promise<RunningGrpcServer> {
  const server = new grpc.Server();
  server.addService(loadCaService().service, { CreateCertificate: opts.handler });
  // Client certificates are requested but not required (token callers have none); renewals present one
  // and authn.ts verifies it against the trust bundle.
  const creds = grpc.experimental.createCertificateProviderServerCredentials(opts.certificates, opts.certificates, false);
  const host = opts.address.includes(':') ? `[${opts.address}]` : opts.address;
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${host}:${opts.port}`, creds, (err, p) => (err ? reject(new Error(`gRPC port ${host}:${opts.port}: ${/EADDRINUSE/.test(err.message) ? 'address already in use' : err.message}`)) : resolve(p))));
  return {
    port,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
