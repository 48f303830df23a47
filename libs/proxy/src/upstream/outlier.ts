/**
 * Envoy outlier detection (consecutive errors), per cluster: a host that returns N consecutive
 * 5xx or N consecutive gateway errors (502/503/504) is ejected from load balancing for
 * baseEjectionTime × its ejection multiplier; an interval timer returns hosts to service and
 * decays the multiplier of hosts that stayed in. Success-rate and failure-percentage detection
 * are not implemented (Istio turns success-rate enforcement off).
 */
import type { AttemptOutcome, Endpoint, EngineClock, OutlierConfig, OutlierDetector } from '../model.js';

/** Envoy's default max_ejection_time (the cap on base × multiplier); Istio does not set it. */
export const DEFAULT_MAX_EJECTION_TIME_MS = 300_000;
const DEFAULT_INTERVAL_MS = 10_000;

/** An OutlierDetector whose `version` changes on every ejection and return (VersionedHostStats for the balancer). */
export interface VersionedOutlierDetector extends OutlierDetector {
  readonly version: number;
  /** Ejections refused because max ejection percent was reached (Envoy's ejections_overflow). */
  readonly overflows: number;
}

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  ejected: boolean;
  ejectedAt: number;
  /** The ejection time multiplier: +1 per ejection (bounded by the max time), −1 per interval spent in service. */
  multiplier: number;
  /** Ejections so far (for /clusters). */
  times: number;
}

/**
 * createOutlierDetector returns the detector of one cluster. Hosts count once setEndpoints has
 * named them (records for other hosts are ignored, as Envoy has no monitor for them). A threshold
 * that is unset or 0 does not eject; a set one ejects every time it trips (config compilation has
 * already applied Envoy's defaults and enforcement percentages, which Istio sets to 0 or 100).
 *
 * Local-origin failures (connect failure, reset, timeout) count as a gateway error and a 5xx
 * (Envoy maps them to 503/504) unless splitExternalLocalOriginErrors, which counts them apart
 * against consecutiveLocalOriginFailures.
 *
 * Max ejection percent follows current Envoy: a host is ejected only if the ejected share after
 * ejecting it stays ≤ maxEjectionPercent, so with 10% fewer than 10 hosts eject nothing.
 */
export function createOutlierDetector(cfg: OutlierConfig, clock: EngineClock): VersionedOutlierDetector {
  const hosts = new Map<Endpoint, HostState>();
  const base = Math.max(0, cfg.baseEjectionTimeMs);
  const maxTime = Math.max(base, DEFAULT_MAX_EJECTION_TIME_MS);
  const interval = cfg.intervalMs > 0 ? cfg.intervalMs : DEFAULT_INTERVAL_MS;
  const threshold5xx = cfg.consecutive5xx || 0;
  const thresholdGateway = cfg.consecutiveGatewayErrors || 0;
  const thresholdLocal = cfg.splitExternalLocalOriginErrors ? cfg.consecutiveLocalOriginFailures || 0 : 0;
  let ejectedCount = 0;
  let version = 0;
  let overflows = 0;
  let timer: unknown;
  let closed = false;

  const durationOf = (s: HostState) => Math.min(base * s.multiplier, maxTime);

  function eject(s: HostState): void {
    if (s.ejected) return;
    if ((100 * (ejectedCount + 1)) / hosts.size > cfg.maxEjectionPercent) {
      overflows++;
      return;
    }
    // The multiplier grows while base × multiplier is below max + base, so the time saturates at the max.
    if (base * s.multiplier < maxTime + base) s.multiplier++;
    s.ejected = true;
    s.ejectedAt = clock.now();
    s.times++;
    ejectedCount++;
    version++;
  }

  /** A counter reached its threshold: reset it (so a new run of errors is needed) and try to eject. */
  function tripped(s: HostState, which: 'consecutive5xx' | 'consecutiveGateway' | 'consecutiveLocal'): void {
    if (s.ejected) return;
    s[which] = 0;
    eject(s);
  }

  function onInterval(): void {
    const now = clock.now();
    for (const s of hosts.values()) {
      if (!s.ejected) {
        if (s.multiplier > 0) s.multiplier--;
        continue;
      }
      if (now - s.ejectedAt >= durationOf(s)) {
        s.ejected = false;
        // Envoy resets every counter on return so a counter left near its threshold does not re-eject on one error.
        s.consecutive5xx = s.consecutiveGateway = s.consecutiveLocal = 0;
        ejectedCount--;
        version++;
      }
    }
    arm();
  }

  function arm(): void {
    if (!closed) timer = clock.setTimeout(onInterval, interval);
  }
  arm();

  return {
    get version() {
      return version;
    },
    get overflows() {
      return overflows;
    },
    isEjected(e) {
      return hosts.get(e)?.ejected ?? false;
    },
    record(e, outcome: AttemptOutcome) {
      const s = hosts.get(e);
      if (!s) return;
      if (outcome === 'local-origin-failure' && cfg.splitExternalLocalOriginErrors) {
        if (++s.consecutiveLocal === thresholdLocal) tripped(s, 'consecutiveLocal');
        return;
      }
      // With split errors, an HTTP response means the connection worked: the local-origin run ends.
      s.consecutiveLocal = 0;
      if (outcome === 'success') {
        s.consecutive5xx = 0;
        s.consecutiveGateway = 0;
        return;
      }
      // 5xx, gateway error, or (unsplit) a local-origin failure, which Envoy counts as 503/504.
      if (outcome === '5xx') s.consecutiveGateway = 0;
      else if (++s.consecutiveGateway === thresholdGateway) tripped(s, 'consecutiveGateway');
      if (++s.consecutive5xx === threshold5xx) tripped(s, 'consecutive5xx');
    },
    ejected() {
      const out: { endpoint: Endpoint; until: number; times: number }[] = [];
      for (const [endpoint, s] of hosts) if (s.ejected) out.push({ endpoint, until: s.ejectedAt + durationOf(s), times: s.times });
      return out;
    },
    setEndpoints(all) {
      const keep = new Set(all);
      for (const [e, s] of hosts) {
        if (keep.has(e)) continue;
        hosts.delete(e);
        if (s.ejected) {
          ejectedCount--;
          version++;
        }
      }
      for (const e of all) {
        if (!hosts.has(e)) hosts.set(e, { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocal: 0, ejected: false, ejectedAt: 0, multiplier: 0, times: 0 });
      }
    },
    close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    },
  };
}
