/** Citadel's Prometheus metrics, named as Istio's CA names them (citadel_server_*). */
import { X509Certificate } from 'node:crypto';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface CitadelMetrics {
  readonly registry: Registry;
  readonly csrCount: Counter;
  readonly successCount: Counter;
  readonly csrParsingErrors: Counter;
  readonly authnFailures: Counter;
  /** Refusals by reason (Meshwork extra): identity mismatch, SAN shape, TTL, internal. */
  readonly csrRefusals: Counter<'reason'>;
}

/** citadelMetrics returns a fresh registry with citadel's metrics; `rootPem` is read at scrape time for the expiry gauges. */
export function citadelMetrics(rootPem: () => string): CitadelMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const notAfter = (): number => Date.parse(new X509Certificate(rootPem()).validTo) / 1000;
  new Gauge({
    name: 'citadel_server_root_cert_expiry_timestamp',
    help: 'The unix timestamp, in seconds, when the signing root certificate will expire.',
    registers: [registry],
    collect() {
      this.set(notAfter());
    },
  });
  new Gauge({
    name: 'citadel_server_root_cert_expiry_seconds',
    help: 'Seconds until the signing root certificate expires.',
    registers: [registry],
    collect() {
      this.set(notAfter() - Date.now() / 1000);
    },
  });
  return {
    registry,
    csrCount: new Counter({ name: 'citadel_server_csr_count', help: 'The number of CSRs received by Citadel server.', registers: [registry] }),
    successCount: new Counter({ name: 'citadel_server_success_cert_issuance_count', help: 'The number of certificates issuances that have succeeded.', registers: [registry] }),
    csrParsingErrors: new Counter({ name: 'citadel_server_csr_parsing_err_count', help: 'The number of errors occurred when parsing the CSR.', registers: [registry] }),
    authnFailures: new Counter({ name: 'citadel_server_authentication_failure_count', help: 'The number of authentication failures.', registers: [registry] }),
    csrRefusals: new Counter({ name: 'citadel_server_csr_refusal_count', help: 'CSRs refused after authentication, by reason.', labelNames: ['reason'], registers: [registry] }),
  };
}
