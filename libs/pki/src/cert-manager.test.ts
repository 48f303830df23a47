import { describe, expect, it } from 'vitest';
import { createRootCa, issueSvid, type CertificateAuthority } from './cert.js';
import { WorkloadCertManager, type CertificateRequest, type CertificateTransport, type ManagerClock, type WorkloadCredentials } from './cert-manager.js';
import { parseCsr } from './csr.js';
import { decodeCertificateResponse, encodeCertificateRequest } from './citadel-client.js';

/** must returns a value the test knows is present, failing loudly if it is not. */
function must<T>(v: T | undefined | null): T {
  if (v === undefined || v === null) throw new Error('expected a value');
  return v;
}

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';
const HOUR = 3600_000;

/** A clock whose timers fire only when the test advances it. */
class FakeClock implements ManagerClock {
  t = Date.parse('2030-06-01T00:00:00Z');
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private ids = 0;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== h);
  }
  /** nextDelay returns how far away the next timer is. */
  nextDelay(): number {
    return Math.min(...this.timers.map((x) => x.at)) - this.t;
  }
  /** fire advances to the next timer, runs it and lets the async issuance settle. */
  async fire(): Promise<void> {
    const next = this.timers.sort((a, b) => a.at - b.at).shift();
    if (!next) throw new Error('no timer');
    this.t = next.at;
    next.fn();
    await settle();
  }
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** An in-process CA behind the transport interface; `down` makes it fail like an unreachable citadel. */
class InProcessCa implements CertificateTransport {
  down = false;
  requests: CertificateRequest[] = [];
  override?: (req: CertificateRequest) => string[];
  constructor(
    public ca: CertificateAuthority,
    private readonly clock: FakeClock,
    private readonly ttlMs = 24 * HOUR,
  ) {}
  async createCertificate(req: CertificateRequest): Promise<string[]> {
    this.requests.push(req);
    if (this.down) throw new Error('14 UNAVAILABLE: connect ECONNREFUSED');
    if (this.override) return this.override(req);
    const csr = parseCsr(req.csrPem);
    return [...issueSvid(this.ca, { publicKey: csr.publicKey, spiffeId: csr.uris[0], ttlMs: this.ttlMs, now: new Date(this.clock.now()) }).chainPems];
  }
}

function setup(opts: { random?: () => number } = {}): { clock: FakeClock; ca: InProcessCa; m: WorkloadCertManager; rotations: Array<[WorkloadCredentials, WorkloadCredentials | undefined]>; errors: number[] } {
  const clock = new FakeClock();
  const ca = new InProcessCa(createRootCa({ trustDomain: 'cluster.local', now: new Date(clock.t - HOUR) }), clock);
  const m = new WorkloadCertManager({ spiffeId: ID, transport: ca, clock, random: opts.random ?? (() => 0), initialBackoffMs: 1000, maxBackoffMs: 8000 });
  const rotations: Array<[WorkloadCredentials, WorkloadCredentials | undefined]> = [];
  const errors: number[] = [];
  m.on('rotated', (c, p) => rotations.push([c, p]));
  m.on('error', (_e, wait) => errors.push(wait));
  return { clock, ca, m, rotations, errors };
}

describe('IstioCertificateService codec', () => {
  it('round-trips the request and reads repeated cert_chain, skipping unknown fields', () => {
    const req = encodeCertificateRequest('CSR-π', 86400);
    expect([...req]).toEqual([0x0a, 6, ...Buffer.from('CSR-π'), 0x18, 0x80, 0xa3, 0x05]);
    const resp = Buffer.concat([Buffer.from([0x0a, 1]), Buffer.from('a'), Buffer.from([0x10, 0x96, 0x01]), Buffer.from([0x0a, 2]), Buffer.from('bc')]);
    expect(decodeCertificateResponse(resp)).toEqual(['a', 'bc']);
    expect(() => decodeCertificateResponse(Buffer.from([0x0a, 5, 0x61]))).toThrow('truncated');
  });
});

describe('WorkloadCertManager', () => {
  it('gets a first certificate, then renews at half-life with a fresh key and its current credentials', async () => {
    const { clock, ca, m, rotations } = setup();
    await m.start();
    const first = must(m.current());
    expect(rotations).toEqual([[first, undefined]]);
    expect(ca.requests[0].current).toBeUndefined();
    expect(m.trustBundle()).toEqual([ca.ca.rootPem]);
    // Half of the remaining lifetime (notBefore's 60 s backdating does not count).
    expect(clock.nextDelay()).toBe(12 * HOUR);
    await clock.fire();
    const second = must(m.current());
    expect(rotations).toHaveLength(2);
    expect(rotations[1]).toEqual([second, first]);
    expect(second.serialHex).not.toBe(first.serialHex);
    expect(second.keyPem).not.toBe(first.keyPem);
    expect(ca.requests[1].current?.chainPems).toEqual(first.chainPems);
    m.stop();
  });

  it('spreads renewals with jitter', async () => {
    const a = setup({ random: () => 0 });
    const b = setup({ random: () => 1 });
    await a.m.start();
    await b.m.start();
    expect(b.clock.nextDelay()).toBeLessThan(a.clock.nextDelay());
    expect(a.clock.nextDelay() - b.clock.nextDelay()).toBe(24 * HOUR * 0.05);
  });

  it('backs off exponentially while citadel is down, keeps serving the valid certificate, and recovers', async () => {
    const { clock, ca, m, rotations, errors } = setup();
    await m.start();
    const held = must(m.current());
    ca.down = true;
    for (let i = 0; i < 6; i++) await clock.fire();
    // random() = 0 → half of 1 s, 2 s, 4 s, 8 s (capped) ...
    expect(errors).toEqual([500, 1000, 2000, 4000, 4000, 4000]);
    expect(m.current()).toBe(held);
    expect(rotations).toHaveLength(1);
    ca.down = false;
    await clock.fire();
    expect(rotations).toHaveLength(2);
    expect(m.current()).not.toBe(held);
    // Back on the half-life schedule.
    expect(clock.nextDelay()).toBeGreaterThan(HOUR);
  });

  it('waits with backoff for the first certificate and refuses a chain for another identity or key', async () => {
    const { clock, ca, m, errors } = setup();
    ca.down = true;
    const started = m.start();
    await settle();
    expect(errors).toHaveLength(1);
    ca.down = false;
    ca.override = (req) => {
      const csr = parseCsr(req.csrPem);
      return [...issueSvid(ca.ca, { publicKey: csr.publicKey, spiffeId: 'spiffe://cluster.local/ns/default/sa/other', now: new Date(clock.now()) }).chainPems];
    };
    await clock.fire();
    expect(errors).toHaveLength(2);
    ca.override = () => [...issueSvid(ca.ca, { publicKey: parseCsr(ca.requests[0].csrPem).publicKey, spiffeId: ID, now: new Date(clock.now()) }).chainPems];
    await clock.fire();
    expect(errors).toHaveLength(3);
    ca.override = undefined;
    await clock.fire();
    await started;
    expect(m.current()?.chainPems[0]).toContain('BEGIN CERTIFICATE');
  });

  it('follows trust-bundle updates and accepts chains from a rotated root', async () => {
    const { clock, ca, m } = setup();
    const bundles: Array<readonly string[]> = [];
    m.on('bundle', (r) => bundles.push(r));
    await m.start();
    const oldRoot = ca.ca.rootPem;
    const newCa = createRootCa({ trustDomain: 'cluster.local', now: new Date(clock.t - HOUR) });
    m.setTrustBundle([newCa.rootPem, oldRoot]);
    m.setTrustBundle([newCa.rootPem, oldRoot]);
    expect(bundles).toEqual([[oldRoot], [newCa.rootPem, oldRoot]]);
    ca.ca = newCa;
    await m.renewNow();
    expect(must(m.current()).chainPems[1] === oldRoot).toBe(false);
    expect(must(m.current()).chainPems[1]).toBe(newCa.rootPem);
    m.stop();
  });

  it('rejects start() when stopped before the first certificate', async () => {
    const m = new WorkloadCertManager({ spiffeId: ID, transport: { createCertificate: () => new Promise<string[]>(() => undefined) } });
    const started = m.start();
    m.stop();
    await expect(started).rejects.toThrow('stopped before the first certificate');
  });
});
