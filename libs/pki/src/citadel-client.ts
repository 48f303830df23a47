/**
 * The gRPC transport of the certificate manager: istio.v1.auth.IstioCertificateService/CreateCertificate
 * over TLS. The first request authenticates with a bearer token (Kubernetes service-account JWT or
 * Meshwork join token); renewals present the current certificate over mutual TLS instead.
 * The two messages are tiny, so they are encoded here by hand (field numbers from Istio's ca.proto:
 * request csr=1, validity_duration=3; response repeated cert_chain=1) rather than loading the .proto.
 */
import * as grpc from '@grpc/grpc-js';
import { IssuanceError } from './errors.js';
import type { CertificateRequest, CertificateTransport } from './cert-manager.js';

/** Full method path, as Istio's agents call it. */
export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

/** encodeCertificateRequest returns the protobuf bytes of an IstioCertificateRequest. */
export function encodeCertificateRequest(csr: string, validitySeconds: number): Buffer {
  const csrBytes = Buffer.from(csr, 'utf8');
  const parts = [Buffer.from([0x0a]), varint(csrBytes.length), csrBytes];
  if (validitySeconds > 0) parts.push(Buffer.from([0x18]), varint(validitySeconds));
  return Buffer.concat(parts);
}

/** decodeCertificateResponse returns cert_chain of an IstioCertificateResponse, skipping unknown fields. */
export function decodeCertificateResponse(buf: Buffer): string[] {
  const chain: string[] = [];
  let p = 0;
  const readVarint = (): number => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      if (p >= buf.length) throw new Error('truncated varint');
      const b = buf[p++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return Number(v);
      shift += 7n;
    }
  };
  while (p < buf.length) {
    const key = readVarint();
    const field = key >> 3;
    const wire = key & 7;
    if (wire === 2) {
      const len = readVarint();
      if (p + len > buf.length) throw new Error('truncated field');
      if (field === 1) chain.push(buf.toString('utf8', p, p + len));
      p += len;
    } else if (wire === 0) readVarint();
    else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return chain;
}

export interface CitadelTransportOptions {
  /** host:port of citadel's gRPC port (8060). */
  readonly address: string;
  /** Roots that sign citadel's serving certificate (the trust bundle). */
  readonly roots: () => readonly string[];
  /** Bearer token for the first request (and for renewals when `renewWithToken`). */
  readonly token?: () => string | Promise<string>;
  /** Always authenticate with the token, never with the current certificate. */
  readonly renewWithToken?: boolean;
  /** TLS server name to expect when `address` is an IP (default: the host part). */
  readonly serverName?: string;
  readonly timeoutMs?: number;
}

type Unary = (req: CertificateRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: string[]) => void) => void;

const Client = grpc.makeGenericClientConstructor(
  {
    CreateCertificate: {
      path: CREATE_CERTIFICATE_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (r: CertificateRequest) => encodeCertificateRequest(r.csrPem, r.validitySeconds),
      requestDeserialize: () => {
        throw new Error('client only');
      },
      responseSerialize: () => {
        throw new Error('client only');
      },
      responseDeserialize: decodeCertificateResponse,
    },
  },
  'IstioCertificateService',
);

/** citadelTransport returns a CertificateTransport that calls citadel over gRPC/TLS. */
export function citadelTransport(o: CitadelTransportOptions): CertificateTransport {
  return {
    async createCertificate(req) {
      const current = o.renewWithToken ? undefined : req.current;
      const useCert = current !== undefined;
      const creds = grpc.credentials.createSsl(
        Buffer.from(o.roots().join('')),
        current ? Buffer.from(current.keyPem) : null,
        current ? Buffer.from(current.chainPems.slice(0, -1).join('')) : null,
      );
      const md = new grpc.Metadata();
      if (!useCert) {
        if (!o.token) throw new IssuanceError('no bearer token configured for the first certificate request');
        md.set('authorization', `Bearer ${await o.token()}`);
      }
      const client = new Client(o.address, creds, o.serverName ? { 'grpc.ssl_target_name_override': o.serverName, 'grpc.default_authority': o.serverName } : {});
      try {
        return await new Promise<string[]>((resolve, reject) => {
          (client as unknown as { CreateCertificate: Unary }).CreateCertificate(req, md, { deadline: Date.now() + (o.timeoutMs ?? 10_000) }, (err, res) => {
            if (err) reject(new IssuanceError(`CreateCertificate failed: ${grpc.status[err.code] ?? err.code}: ${err.details}`, { cause: err }));
            else resolve(res ?? []);
          });
        });
      } finally {
        client.close();
      }
    },
  };
}
