/**
 * The aggregate registry (Istio's aggregate controller): several ServiceRegistries seen as
 * one, merged in the order they were added, so the same inputs always give the same view.
 *
 * - A service (hostname + namespace) is defined by the first registry that has it: add
 *   Kubernetes registries first, and a ServiceEntry for the same host only adds endpoints
 *   (Istio treats it as a decorator). Registries of the same kind (`source`, e.g. two
 *   Kubernetes clusters) merge: their addresses are united in registry order.
 * - Endpoints of a service come from every registry (Istio's EDS shards), in registry
 *   order; an identical endpoint (port name, address, port) from a later registry is dropped.
 * - Events of every registry are forwarded; adding or removing a registry at run time
 *   (a remote cluster joining or leaving) emits add/delete for each of its services.
 */
import type { Endpoint, Service } from '@meshwork/api';
import { compareEndpoints, compareServices } from './registry-state.js';
import type { Logger, RegistryEvent, ServiceRegistry, Unsubscribe } from './types.js';
import { silentLogger } from './types.js';

export interface AggregateRegistryOptions {
  readonly name?: string;
  readonly log?: Logger;
  /** Close member registries on close() (default true). */
  readonly closeMembers?: boolean;
}

/** AggregateRegistry merges ServiceRegistries with a stable precedence (first added wins). */
export class AggregateRegistry implements ServiceRegistry {
  readonly name: string;
  private readonly members: { reg: ServiceRegistry; stop: Unsubscribe }[] = [];
  private readonly handlers = new Set<(e: RegistryEvent) => void>();
  private readonly log: Logger;
  private readonly closeMembers: boolean;

  constructor(registries: readonly ServiceRegistry[] = [], opts: AggregateRegistryOptions = {}) {
    this.name = opts.name ?? 'aggregate';
    this.log = opts.log ?? silentLogger;
    this.closeMembers = opts.closeMembers !== false;
    for (const r of registries) this.attach(r);
  }

  /** Member registries, in precedence order. */
  registries(): ServiceRegistry[] {
    return this.members.map((m) => m.reg);
  }

  /** addRegistry appends a registry (lowest precedence) and announces its services. */
  addRegistry(reg: ServiceRegistry): void {
    if (this.members.some((m) => m.reg.name === reg.name)) throw new Error(`registry "${reg.name}" is already a member`);
    this.attach(reg);
    for (const s of reg.services()) this.emit({ type: 'add', what: 'service', hostname: s.hostname, namespace: s.namespace });
  }

  /** removeRegistry detaches a registry by name and announces its services' removal; false when absent. */
  removeRegistry(name: string): boolean {
    const i = this.members.findIndex((m) => m.reg.name === name);
    if (i < 0) return false;
    const [m] = this.members.splice(i, 1);
    m.stop();
    for (const s of m.reg.services()) this.emit({ type: 'delete', what: 'service', hostname: s.hostname, namespace: s.namespace });
    return true;
  }

  async ready(): Promise<void> {
    await Promise.all(this.members.map((m) => m.reg.ready()));
  }

  services(): Service[] {
    const merged = new Map<string, Service>();
    for (const { reg } of this.members) {
      for (const s of reg.services()) {
        const k = `${s.hostname}\u0000${s.namespace}`;
        const first = merged.get(k);
        if (!first) merged.set(k, s);
        else if (first.source === s.source) merged.set(k, { ...first, addresses: [...new Set([...first.addresses, ...s.addresses])] });
      }
    }
    return [...merged.values()].sort(compareServices);
  }

  endpoints(hostname?: string, namespace?: string): Endpoint[] {
    const seen = new Set<string>();
    const out: Endpoint[] = [];
    for (const { reg } of this.members) {
      for (const e of reg.endpoints(hostname, namespace)) {
        const k = `${e.hostname}|${e.namespace}|${e.servicePortName}|${e.address}|${e.port}`;
        if (seen.has(k)) continue;
        seen.add(k);
        out.push(e);
      }
    }
    // Array.prototype.sort is stable: equal keys keep registry order.
    return out.sort(compareEndpoints);
  }

  watch(handler: (event: RegistryEvent) => void): Unsubscribe {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    for (const m of this.members) m.stop();
    if (this.closeMembers) await Promise.all(this.members.map((m) => m.reg.close()));
    this.handlers.clear();
  }

  private attach(reg: ServiceRegistry): void {
    this.members.push({ reg, stop: reg.watch((e) => this.emit(e)) });
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
