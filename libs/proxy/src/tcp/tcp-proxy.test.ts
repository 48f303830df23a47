import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createLoadBalancer } from '../lb/load-balancer.js';
import type { ClusterPlan, EngineClock, Endpoint } from '../model.js';
import type { ClusterRuntime } from '../pipeline/forward.js';
import { createClusterLimits } from '../upstream/limits.js';
import { proxyTcp, type TcpRecord } from './tcp-proxy.js';

const clock: EngineClock = { now: () => Date.now(), random: Math.random, setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
const servers: Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

/** A TCP server that answers every chunk with `<name>:<chunk>`. */
async function echo(name: string): Promise<number> {
  const s = createServer((c) => c.on('data', (d: Buffer) => c.write(`${name}:${d.toString()}`)));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as { port: number }).port;
}
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}
const ep = (port: number): Endpoint => ({ address: '127.0.0.1', port, weight: 1, healthy: true });
function cluster(name: string, ports: number[], maxConnections = 1024): ClusterRuntime {
  const plan = { name, connectTimeoutMs: 500, lb: { kind: 'round-robin' }, circuitBreakers: { maxConnections, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 } } as unknown as ClusterPlan;
  return { plan, lb: createLoadBalancer(plan.lb, { priorities: [[{ locality: {}, endpoints: ports.map(ep) }]] }, { activeRequests: () => 0, isEjected: () => false }, clock), limits: createClusterLimits(plan.circuitBreakers) };
}

/** serve runs a listener that hands each connection to proxyTcp with `opts`. */
async function serve(opts: Omit<Parameters<typeof proxyTcp>[1], 'clock' | 'onClose'>, records: TcpRecord[]): Promise<number> {
  const s = createServer({ allowHalfOpen: true }, (c) => void proxyTcp(c, { ...opts, clock, onClose: (r) => records.push(r) }));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as { port: number }).port;
}

function talk(port: number, msg: string): Promise<string> {
  return new Promise((resolve) => {
    const c: Socket = connect(port, '127.0.0.1');
    let got = '';
    c.on('data', (d: Buffer) => {
      got += d.toString();
      c.end();
    });
    c.on('error', () => resolve(got));
    c.on('close', () => resolve(got));
    c.write(msg);
  });
}

describe('proxyTcp', () => {
  it('carries bytes both ways, counts them, and records the upstream', async () => {
    const a = await echo('a');
    const records: TcpRecord[] = [];
    const port = await serve({ clusters: [{ name: 'c', weight: 1 }], cluster: (n) => (n === 'c' ? c : undefined) }, records);
    const c = cluster('c', [a]);
    expect(await talk(port, 'hello')).toBe('a:hello');
    await new Promise((r) => setTimeout(r, 50));
    expect(records[0]).toMatchObject({ cluster: 'c', upstream: `127.0.0.1:${a}`, flags: [], sentBytes: 5, receivedBytes: 7 });
  });

  it('reports the open once the upstream is connected, before any byte, and marks the close as opened; a connection that never reached an upstream has no open', async () => {
    const a = await echo('a');
    const dead = await freePort();
    const events: string[] = [];
    const cs = new Map([
      ['c', cluster('c', [a])],
      ['dead', cluster('dead', [dead])],
    ]);
    const listen = async (name: string): Promise<number> => {
      const s = createServer({ allowHalfOpen: true }, (c) =>
        void proxyTcp(c, { clusters: [{ name, weight: 1 }], cluster: (n) => cs.get(n), clock, onOpen: (r) => events.push(`open ${r.upstream} ${r.sentBytes}`), onClose: (r) => events.push(`close ${r.flags.join(',')} ${r.sentBytes} ${r.opened === true}`) }),
      );
      servers.push(s);
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
      return (s.address() as { port: number }).port;
    };
    expect(await talk(await listen('c'), 'hello')).toBe('a:hello');
    expect(await talk(await listen('dead'), 'x')).toBe('');
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([`open 127.0.0.1:${a} 0`, 'close  5 true', 'close UF 0 false']);
  });

  it('reports the bytes of an open connection every reportIntervalMs (deltas), and the close says how much was reported', async () => {
    const a = await echo('a');
    const reports: TcpRecord[] = [];
    const closes: TcpRecord[] = [];
    const cs = cluster('c', [a]);
    const s = createServer({ allowHalfOpen: true }, (c) => void proxyTcp(c, { clusters: [{ name: 'c', weight: 1 }], cluster: () => cs, clock, reportIntervalMs: 40, onReport: (r) => reports.push(r), onClose: (r) => closes.push(r) }));
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as { port: number }).port;
    const c = connect(port, '127.0.0.1');
    const got = (n: number): Promise<void> =>
      new Promise((resolve) => {
        let have = 0;
        const on = (d: Buffer): void => {
          if ((have += d.length) >= n) {
            c.off('data', on);
            resolve();
          }
        };
        c.on('data', on);
      });
    c.write('hello');
    await got(7);
    await new Promise((r) => setTimeout(r, 150));
    c.write('xy');
    await got(4);
    c.end();
    await new Promise((r) => c.once('close', r));
    await new Promise((r) => setTimeout(r, 50));
    expect(reports[0]).toMatchObject({ cluster: 'c', sentBytes: 5, receivedBytes: 7 });
    const close = closes[0];
    expect(close).toMatchObject({ sentBytes: 7, receivedBytes: 11 });
    // Reports and the close's unreported rest add up to the totals, nothing counted twice.
    const sum = (k: 'sentBytes' | 'receivedBytes'): number => reports.reduce((t, r) => t + r[k], 0);
    expect([sum('sentBytes') + close.sentBytes - (close.reportedSentBytes ?? 0), sum('receivedBytes') + close.receivedBytes - (close.reportedReceivedBytes ?? 0)]).toEqual([7, 11]);
    expect(close.reportedSentBytes).toBe(sum('sentBytes'));
  });

  it('splits connections by weight across clusters', async () => {
    const a = await echo('a');
    const b = await echo('b');
    const cs = new Map([
      ['ca', cluster('ca', [a])],
      ['cb', cluster('cb', [b])],
    ]);
    const port = await serve({ clusters: [{ name: 'ca', weight: 1 }, { name: 'cb', weight: 1 }], cluster: (n) => cs.get(n) }, []);
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) seen.add((await talk(port, 'x')).split(':')[0]);
    expect(seen).toEqual(new Set(['a', 'b']));
  });

  it('closes the downstream with UF when the host refuses, tries another host when allowed, UO at the connection limit, NC for an unknown cluster', async () => {
    const dead = await freePort();
    const a = await echo('a');
    const records: TcpRecord[] = [];
    const refusing = cluster('dead', [dead]);
    const p1 = await serve({ clusters: [{ name: 'dead', weight: 1 }], cluster: () => refusing }, records);
    expect(await talk(p1, 'x')).toBe('');
    const mixed = cluster('mixed', [dead, a]);
    const p2 = await serve({ clusters: [{ name: 'mixed', weight: 1 }], cluster: () => mixed, maxConnectAttempts: 2 }, records);
    for (let i = 0; i < 4; i++) expect(await talk(p2, 'y')).toBe('a:y');
    const full = cluster('full', [a], 0);
    const p3 = await serve({ clusters: [{ name: 'full', weight: 1 }], cluster: () => full }, records);
    expect(await talk(p3, 'z')).toBe('');
    const p4 = await serve({ clusters: [{ name: 'nope', weight: 1 }], cluster: () => undefined }, records);
    expect(await talk(p4, 'z')).toBe('');
    await new Promise((r) => setTimeout(r, 50));
    expect(records.map((r) => r.flags.join(','))).toEqual(['UF', '', '', '', '', 'UO', 'NC']);
  });
});
