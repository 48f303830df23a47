/**
 * RegistryState is the shared read side of every ServiceRegistry: the current services and
 * endpoints, and a diff of each new state against the last one into RegistryEvents, so a
 * registry only has to compute "what the world looks like now".
 */
import type { Endpoint, Service } from '@meshwork/api';
import type { Logger, RegistryEvent, ServiceRegistry, Unsubscribe } from './types.js';
import { silentLogger } from './types.js';

const svcKey = (hostname: string, namespace: string): string => `${hostname}\u0000${namespace}`;

/** compareServices orders services by hostname, then namespace. */
export function compareServices(a: Service, b: Service): number {
  return a.hostname < b.hostname ? -1 : a.hostname > b.hostname ? 1 : a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** compareEndpoints orders endpoints by hostname, namespace, port name, address, port. */
export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  return compareServices(a as unknown as Service, b as unknown as Service) || cmp(a.servicePortName, b.servicePortName) || cmp(a.address, b.address) || a.port - b.port;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** stableJson renders a value with sorted keys, to compare services and endpoints by content. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      return Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => cmp(a, b)));
    }
    return val;
  });
}

export class RegistryState implements ServiceRegistry {
  readonly name: string;
  private svcs = new Map<string, { svc: Service; json: string }>();
  private eps = new Map<string, { eps: Endpoint[]; json: string }>();
  private readonly handlers = new Set<(e: RegistryEvent) => void>();
  private readonly log: Logger;
  private readonly synced: Promise<void>;
  private markSynced!: () => void;

  constructor(name: string, log: Logger = silentLogger) {
    this.name = name;
    this.log = log;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  ready(): Promise<void> {
    return this.synced;
  }

  /** Marks the first full state as loaded. */
  setSynced(): void {
    this.markSynced();
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }

  services(): Service[] {
    return [...this.svcs.values()].map((e) => e.svc).sort(compareServices);
  }

  endpoints(hostname?: string, namespace?: string): Endpoint[] {
    const out: Endpoint[] = [];
    for (const e of this.eps.values()) for (const ep of e.eps) if ((hostname === undefined || ep.hostname === hostname) && (namespace === undefined || ep.namespace === namespace)) out.push(ep);
    return out.sort(compareEndpoints);
  }

  watch(handler: (event: RegistryEvent) => void): Unsubscribe {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /**
   * replace sets the whole state and emits one event per service whose definition changed
   * (`what: 'service'`) and per service whose endpoints changed (`what: 'endpoints'`).
   */
  replace(services: readonly Service[], endpoints: readonly Endpoint[]): void {
    const events: RegistryEvent[] = [];
    const nextSvcs = new Map<string, { svc: Service; json: string }>();
    for (const s of services) nextSvcs.set(svcKey(s.hostname, s.namespace), { svc: s, json: stableJson(s) });
    for (const [k, n] of nextSvcs) {
      const o = this.svcs.get(k);
      if (!o) events.push({ type: 'add', what: 'service', hostname: n.svc.hostname, namespace: n.svc.namespace });
      else if (o.json !== n.json) events.push({ type: 'update', what: 'service', hostname: n.svc.hostname, namespace: n.svc.namespace });
    }
    for (const [k, o] of this.svcs) if (!nextSvcs.has(k)) events.push({ type: 'delete', what: 'service', hostname: o.svc.hostname, namespace: o.svc.namespace });

    const grouped = new Map<string, Endpoint[]>();
    for (const ep of endpoints) {
      const k = svcKey(ep.hostname, ep.namespace);
      let list = grouped.get(k);
      if (!list) grouped.set(k, (list = []));
      list.push(ep);
    }
    const nextEps = new Map<string, { eps: Endpoint[]; json: string }>();
    for (const [k, list] of grouped) {
      list.sort(compareEndpoints);
      nextEps.set(k, { eps: list, json: stableJson(list) });
    }
    for (const [k, n] of nextEps) {
      const o = this.eps.get(k);
      if (!o || o.json !== n.json) events.push({ type: o ? 'update' : 'add', what: 'endpoints', hostname: n.eps[0].hostname, namespace: n.eps[0].namespace });
    }
    for (const [k, o] of this.eps) if (!nextEps.has(k)) events.push({ type: 'delete', what: 'endpoints', hostname: o.eps[0].hostname, namespace: o.eps[0].namespace });

    this.svcs = nextSvcs;
    this.eps = nextEps;
    for (const e of events) this.emit(e);
  }

  private emit(e: RegistryEvent): void {
    for (const h of [...this.handlers]) {
      try {
        h(e);
      } catch (err) {
        this.log.warn({ component: 'registry', registry: this.name, err: String(err) }, 'registry watch handler threw');
      }
    }
  }
}
