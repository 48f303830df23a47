import { describe, expect, it } from 'vitest';
import type { AttemptOutcome, Endpoint, OutlierConfig } from '../model.js';
import { createLoadBalancer } from '../lb/load-balancer.js';
import { manualClock } from '../lb/test-clock.js';
import { createOutlierDetector } from './outlier.js';

const ep = (n: number): Endpoint => ({ address: `10.0.0.${n}`, port: 8080, weight: 1, healthy: true });
const hostsN = (n: number) => Array.from({ length: n }, (_, i) => ep(i + 1));
const cfg = (o: Partial<OutlierConfig> = {}): OutlierConfig => ({
  consecutive5xx: 3,
  splitExternalLocalOriginErrors: false,
  intervalMs: 10_000,
  baseEjectionTimeMs: 30_000,
  maxEjectionPercent: 100,
  minHealthPercent: 0,
  ...o,
});

function setup(o: Partial<OutlierConfig> = {}, n = 4) {
  const clock = manualClock();
  const od = createOutlierDetector(cfg(o), clock);
  const hosts = hostsN(n);
  od.setEndpoints(hosts);
  const record = (h: Endpoint, ...outcomes: AttemptOutcome[]) => outcomes.forEach((x) => od.record(h, x));
  return { clock, od, hosts, record };
}

describe('consecutive error counting', () => {
  const E5: AttemptOutcome = '5xx';
  const GW: AttemptOutcome = 'gateway-error';
  const LO: AttemptOutcome = 'local-origin-failure';
  const OK: AttemptOutcome = 'success';
  const cases: { name: string; cfg: Partial<OutlierConfig>; outcomes: AttemptOutcome[]; ejected: boolean }[] = [
    { name: '3 consecutive 5xx eject', cfg: {}, outcomes: [E5, E5, E5], ejected: true },
    { name: 'a success breaks the run', cfg: {}, outcomes: [E5, E5, OK, E5, E5], ejected: false },
    { name: 'gateway errors are 5xx too', cfg: {}, outcomes: [GW, E5, GW], ejected: true },
    { name: 'unsplit: local-origin failures count as 5xx', cfg: {}, outcomes: [LO, LO, LO], ejected: true },
    { name: 'consecutive5xx unset: never ejects on 5xx', cfg: { consecutive5xx: undefined }, outcomes: Array<AttemptOutcome>(50).fill(E5), ejected: false },
    { name: 'consecutive5xx 0: disabled (Istio)', cfg: { consecutive5xx: 0 }, outcomes: Array<AttemptOutcome>(50).fill(E5), ejected: false },
    { name: 'gateway errors: 2 consecutive 502/503/504 eject', cfg: { consecutive5xx: undefined, consecutiveGatewayErrors: 2 }, outcomes: [GW, GW], ejected: true },
    { name: 'gateway run broken by a plain 500', cfg: { consecutive5xx: undefined, consecutiveGatewayErrors: 2 }, outcomes: [GW, E5, GW, E5], ejected: false },
    { name: 'unsplit: local-origin failures count as gateway errors', cfg: { consecutive5xx: undefined, consecutiveGatewayErrors: 2 }, outcomes: [LO, LO], ejected: true },
    { name: 'split: local-origin failures do not count as 5xx', cfg: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 10 }, outcomes: [LO, LO, LO, LO], ejected: false },
    { name: 'split: their own threshold ejects', cfg: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2 }, outcomes: [LO, LO], ejected: true },
    { name: 'split: an HTTP response (even 5xx) ends a local-origin run', cfg: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2, consecutive5xx: 5 }, outcomes: [LO, E5, LO], ejected: false },
    { name: 'split: local-origin failures do not break a 5xx run', cfg: { splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 10 }, outcomes: [E5, LO, E5, LO, E5], ejected: true },
    { name: 'split without a local threshold: local-origin failures never eject', cfg: { splitExternalLocalOriginErrors: true }, outcomes: Array<AttemptOutcome>(20).fill(LO), ejected: false },
    { name: 'unsplit: the local-origin threshold is not used', cfg: { consecutive5xx: undefined, consecutiveLocalOriginFailures: 1 }, outcomes: [LO, LO, LO], ejected: false },
  ];
  it.each(cases)('$name', ({ cfg: c, outcomes, ejected }) => {
    const { od, hosts, record } = setup(c);
    record(hosts[0], ...outcomes);
    expect(od.isEjected(hosts[0])).toBe(ejected);
    expect(od.isEjected(hosts[1])).toBe(false);
  });
});

describe('ejection timeline (interval 10 s, base 30 s)', () => {
  it('ejected at 5 s, returned at the first interval tick at least 30 s later (40 s)', () => {
    const { clock, od, hosts, record } = setup();
    clock.advance(5_000);
    const v0 = od.version;
    record(hosts[0], '5xx', '5xx', '5xx');
    expect(od.version).toBeGreaterThan(v0);
    expect(od.ejected()).toEqual([{ endpoint: hosts[0], until: 35_000, times: 1 }]);
    clock.advance(34_999); // t = 39,999: ticks at 10, 20, 30 s found it ejected for < 30 s
    expect(od.isEjected(hosts[0])).toBe(true);
    clock.advance(1); // t = 40 s tick
    expect(od.isEjected(hosts[0])).toBe(false);
    expect(od.ejected()).toEqual([]);
  });

  it('ejected again before the multiplier decays: 2 × base; after quiet intervals back to 1 ×', () => {
    const { clock, od, hosts, record } = setup();
    clock.advance(5_000);
    record(hosts[0], '5xx', '5xx', '5xx'); // multiplier 1, out until the 40 s tick
    clock.advance(36_000); // t = 41 s, returned at 40 s
    expect(od.isEjected(hosts[0])).toBe(false);
    record(hosts[0], '5xx', '5xx', '5xx'); // multiplier 2: 60 s
    expect(od.ejected()[0]).toMatchObject({ until: 101_000, times: 2 });
    clock.advance(68_999); // t = 109,999: the 100 s tick saw 59 s
    expect(od.isEjected(hosts[0])).toBe(true);
    clock.advance(1); // 110 s tick
    expect(od.isEjected(hosts[0])).toBe(false);
    clock.advance(20_000); // ticks at 120 and 130 s in service: multiplier 2 → 0
    record(hosts[0], '5xx', '5xx', '5xx');
    expect(od.ejected()[0]).toMatchObject({ until: 130_000 + 30_000, times: 3 });
  });

  it('errors while ejected do not extend the ejection; counters restart on return', () => {
    const { clock, od, hosts, record } = setup();
    record(hosts[0], '5xx', '5xx', '5xx');
    record(hosts[0], '5xx', '5xx', '5xx', '5xx');
    expect(od.ejected()[0].times).toBe(1);
    clock.advance(30_000);
    expect(od.isEjected(hosts[0])).toBe(false);
    record(hosts[0], '5xx', '5xx');
    expect(od.isEjected(hosts[0])).toBe(false);
    record(hosts[0], '5xx');
    expect(od.isEjected(hosts[0])).toBe(true);
  });

  it('the ejection time is capped at the max ejection time (Envoy default 300 s)', () => {
    const { clock, od, hosts, record } = setup({ baseEjectionTimeMs: 100_000 });
    const untils: number[] = [];
    for (let i = 0; i < 6; i++) {
      const at = clock.now();
      record(hosts[0], '5xx', '5xx', '5xx');
      untils.push(od.ejected()[0].until - at);
      while (od.isEjected(hosts[0])) clock.advance(10_000);
    }
    expect(untils).toEqual([100_000, 200_000, 300_000, 300_000, 300_000, 300_000]);
  });
});

describe('max ejection percent', () => {
  it.each([
    { n: 10, percent: 10, ejectable: 1 },
    { n: 9, percent: 10, ejectable: 0 },
    { n: 5, percent: 10, ejectable: 0 },
    { n: 4, percent: 50, ejectable: 2 },
    { n: 3, percent: 50, ejectable: 1 },
    { n: 1, percent: 100, ejectable: 1 },
    { n: 4, percent: 0, ejectable: 0 },
  ])('$n hosts at $percent%: $ejectable can be ejected', ({ n, percent, ejectable }) => {
    const { od, hosts, record } = setup({ maxEjectionPercent: percent }, n);
    for (const h of hosts) record(h, '5xx', '5xx', '5xx');
    expect(od.ejected().length).toBe(ejectable);
    expect(od.overflows).toBe(n - ejectable);
  });

  it('a host refused by the cap needs a new run of errors once room frees up (the counter restarted)', () => {
    const { clock, od, hosts, record } = setup({ maxEjectionPercent: 10 }, 10);
    record(hosts[0], '5xx', '5xx', '5xx');
    record(hosts[1], '5xx', '5xx', '5xx');
    expect(od.isEjected(hosts[1])).toBe(false);
    clock.advance(30_000);
    record(hosts[1], '5xx', '5xx');
    expect(od.isEjected(hosts[1])).toBe(false);
    record(hosts[1], '5xx');
    expect(od.isEjected(hosts[1])).toBe(true);
  });
});

describe('endpoint set changes and lifecycle', () => {
  it('hosts that leave are forgotten (their ejection frees room); unknown hosts are ignored', () => {
    const { od, hosts, record } = setup({ maxEjectionPercent: 34 }, 3);
    record(hosts[0], '5xx', '5xx', '5xx');
    record(hosts[1], '5xx', '5xx', '5xx');
    expect(od.ejected().length).toBe(1);
    const v = od.version;
    od.setEndpoints([hosts[1], hosts[2], ep(9)]);
    expect(od.version).toBeGreaterThan(v);
    expect(od.isEjected(hosts[0])).toBe(false);
    record(hosts[1], '5xx', '5xx', '5xx');
    expect(od.isEjected(hosts[1])).toBe(true);
    record(ep(77), '5xx', '5xx', '5xx');
    expect(od.isEjected(ep(77))).toBe(false);
  });

  it('close stops the interval timer', () => {
    const { clock, od } = setup();
    expect(clock.pending).toBe(1);
    clock.advance(25_000);
    expect(clock.pending).toBe(1);
    od.close();
    expect(clock.pending).toBe(0);
  });
});

describe('with the load balancer', () => {
  it('an ejected host gets no traffic until it returns', () => {
    const clock = manualClock(3);
    const od = createOutlierDetector(cfg(), clock);
    const hosts = hostsN(4);
    od.setEndpoints(hosts);
    const lb = createLoadBalancer({ kind: 'round-robin' }, { priorities: [[{ locality: {}, endpoints: hosts }]] }, { activeRequests: () => 0, isEjected: (e) => od.isEjected(e), get version() { return od.version; } }, clock, { panicThresholdPercent: 0 });
    const picked = () => new Set(Array.from({ length: 40 }, () => lb.pick({})));
    expect(picked().size).toBe(4);
    for (let i = 0; i < 3; i++) od.record(hosts[2], '5xx');
    expect(picked().has(hosts[2])).toBe(false);
    clock.advance(30_000);
    expect(picked().has(hosts[2])).toBe(true);
  });
});
