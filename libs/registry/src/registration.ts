/**
 * Workload auto-registration in the NATS KV bucket `mesh-registry` (Istio's WorkloadEntry
 * auto-registration, without Kubernetes): a workload (a sidecar off Kubernetes) puts its
 * entry and refreshes it every TTL/3; the registry side watches the bucket and turns live
 * entries into Endpoints of the services whose selector matches the workload's labels.
 *
 * Liveness: the bucket's max_age is the TTL, so the server removes entries whose heartbeat
 * stopped (nats-server 2.9 has bucket-level max_age but no per-key TTL). The server does
 * not tell watchers when max_age removes a message, so each registry replica also expires
 * an entry itself one TTL after its last heartbeat (measured from the entry's server
 * timestamp, clamped to [0, TTL] against clock skew). A clean shutdown deletes the key,
 * which watchers see at once.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { Endpoint, MeshResource, Service } from '@meshwork/api';
import { MESH_REGISTRY_BUCKET } from '@meshwork/bus';
import { BackendError } from './errors.js';
import { LABEL_TLS_MODE } from './kube-convert.js';
import { RegistryState, stableJson } from './registry-state.js';
import { parseLocality, type WorkloadInstance } from './serviceentry.js';
import type { ConfigSource, Logger, Unsubscribe } from './types.js';
import { silentLogger } from './types.js';

/**
 * What a workload registers: a selectable workload (name unique within its namespace, e.g.
 * a VM's hostname; tlsMode defaults to `istio`, registering workloads being Meshwork
 * sidecars), plus the WorkloadGroup it belongs to.
 */
export interface RegisteredWorkload extends WorkloadInstance {
  /** The WorkloadGroup it belongs to, for telemetry and debugging. */
  readonly group?: string;
}

/** Default TTL (Istio's WorkloadEntry cleanup grace is 10 s; heartbeats every TTL/3). */
export const DEFAULT_REGISTRATION_TTL_MS = 30_000;

export interface RegistrationBucketOptions {
  readonly nc: NatsConnection;
  readonly bucket?: string;
  /** Entry time-to-live = the bucket's max_age (default 30 s). Registrar and registry must agree. */
  readonly ttlMs?: number;
}

/** registrationKey returns a workload's KV key `<namespace>.<name>` (dots in names become `_`). */
export function registrationKey(namespace: string, name: string): string {
  return `${namespace}.${name.replace(/\./g, '_')}`;
}

/**
 * openRegistrationBucket creates (or binds to) the registration bucket with max_age = TTL and
 * no history, and returns it with its effective TTL: an existing bucket keeps the max_age it
 * was created with, and everyone must heartbeat and expire by that one.
 */
export async function openRegistrationBucket(opts: RegistrationBucketOptions & { log?: Logger }): Promise<{ kv: KV; ttlMs: number }> {
  const bucket = opts.bucket ?? MESH_REGISTRY_BUCKET;
  const wanted = opts.ttlMs ?? DEFAULT_REGISTRATION_TTL_MS;
  try {
    const kv = await new Kvm(opts.nc).create(bucket, { ttl: wanted, history: 1 });
    const actual = (await kv.status()).ttl;
    if (!actual) throw new BackendError(`KV bucket ${bucket} has no max_age: registrations would never expire; recreate it with a TTL`);
    if (actual !== wanted) (opts.log ?? silentLogger).warn({ component: 'registry', bucket, wantedMs: wanted, actualMs: actual }, 'registration bucket exists with another TTL; using the bucket\'s');
    return { kv, ttlMs: actual };
  } catch (err) {
    if (err instanceof BackendError) throw err;
    throw new BackendError(`cannot open KV bucket ${bucket}: ${(err as Error).message}`, { cause: err });
  }
}

/** A live registration. */
export interface RegistrationHandle {
  readonly key: string;
  /** Stops heartbeats and deletes the entry (clean shutdown). */
  deregister(): Promise<void>;
  /** Stops heartbeats without deleting (what a crash looks like; the entry expires after one TTL). */
  abandon(): void;
  /** Replaces what is registered (e.g. health changed) and heartbeats now. */
  update(workload: RegisteredWorkload): Promise<void>;
}

/**
 * register puts the workload's entry and refreshes it every TTL/3 until deregistered.
 * Heartbeat failures are logged and retried at the next tick (the entry survives two missed beats).
 */
export async function register(workload: RegisteredWorkload, opts: RegistrationBucketOptions & { log?: Logger }): Promise<RegistrationHandle> {
  const { kv, ttlMs: ttl } = await openRegistrationBucket(opts);
  const log = opts.log ?? silentLogger;
  const key = registrationKey(workload.namespace, workload.name);
  let current = workload;
  const beat = async (): Promise<void> => {
    await kv.put(key, JSON.stringify(current));
  };
  await beat();
  const timer = setInterval(() => {
    beat().catch((err: unknown) => log.warn({ component: 'registry', key, err: String(err) }, 'registration heartbeat failed'));
  }, Math.max(1, Math.floor(ttl / 3)));
  timer.unref();
  let stopped = false;
  return {
    key,
    abandon: () => {
      stopped = true;
      clearInterval(timer);
    },
    deregister: async () => {
      stopped = true;
      clearInterval(timer);
      await kv.delete(key);
    },
    update: async (w) => {
      if (stopped) throw new BackendError(`registration ${key} was stopped`);
      current = w;
      await beat();
    },
  };
}

/**
 * workloadFromGroup applies a WorkloadGroup to a registered workload as Istio's
 * auto-registration builds a WorkloadEntry: the group's template supplies ports, service
 * account, network, locality and weight the workload did not set; labels merge as
 * template < group metadata < the workload's own.
 */
export function workloadFromGroup(w: RegisteredWorkload, group: MeshResource): RegisteredWorkload {
  const spec = (group.body.spec ?? {}) as { metadata?: { labels?: Record<string, string> }; template?: { ports?: Record<string, number>; labels?: Record<string, string>; serviceAccount?: string; network?: string; locality?: string; weight?: number } };
  const t = spec.template ?? {};
  return {
    ...w,
    labels: { ...(t.labels ?? {}), ...(spec.metadata?.labels ?? {}), ...w.labels },
    ports: w.ports ?? t.ports,
    serviceAccount: w.serviceAccount ?? t.serviceAccount,
    network: w.network ?? t.network,
    locality: w.locality ?? t.locality,
    weight: w.weight ?? t.weight,
  };
}

export interface RegistrationRegistryOptions extends RegistrationBucketOptions {
  /**
   * Where WorkloadGroups are read (the config source). When set, a workload naming a `group`
   * gets the group's template applied, and one whose group does not exist is left out
   * (Istio refuses such a registration).
   */
  readonly groups?: ConfigSource;
  /** Services whose selector picks registered workloads (e.g. Kubernetes services); call refresh() when they change. */
  readonly services?: () => readonly Service[];
  readonly log?: Logger;
}

/**
 * RegistrationRegistry is the ServiceRegistry of auto-registered workloads: it defines no
 * services of its own, only endpoints of the services given to it. Its workloads() also feed
 * ServiceEntry workloadSelectors (ServiceEntryRegistry's `workloads` option).
 */
export class RegistrationRegistry extends RegistryState {
  private readonly opts: RegistrationRegistryOptions;
  private ttl: number;
  private readonly entries = new Map<string, { workload: RegisteredWorkload; json: string; revision: number; timer: NodeJS.Timeout }>();
  private readonly workloadListeners = new Set<() => void>();
  private stopWatch?: () => void;
  private stopGroups?: Unsubscribe;
  private readonly missingGroups = new Set<string>();
  private watchDone?: Promise<void>;
  private scheduled = false;

  constructor(opts: RegistrationRegistryOptions) {
    super('registration', opts.log);
    this.opts = opts;
    this.ttl = opts.ttlMs ?? DEFAULT_REGISTRATION_TTL_MS;
  }

  /** start opens the bucket, loads the live entries and follows changes. */
  async start(): Promise<void> {
    if (this.opts.groups) {
      await this.opts.groups.ready();
      this.stopGroups = this.opts.groups.watch((e) => {
        if (e.key.kind !== 'WorkloadGroup') return;
        this.missingGroups.clear();
        this.refresh();
      });
    }
    const { kv, ttlMs } = await openRegistrationBucket(this.opts);
    this.ttl = ttlMs;
    const iter = await kv.watch({ key: '>' });
    this.stopWatch = () => iter.stop();
    let synced = false;
    const markSynced = (): void => {
      if (synced) return;
      synced = true;
      this.recompute();
      this.setSynced();
    };
    this.watchDone = (async () => {
      for await (const e of iter) {
        const changed = this.apply(e);
        if (!synced && (e.delta === 0 || e.isUpdate)) markSynced();
        // Heartbeats only move the expiry; recompute (and wake ServiceEntry selectors) on real changes.
        else if (synced && changed) this.refresh();
      }
    })().catch((err: unknown) => (this.opts.log ?? silentLogger).warn({ component: 'registry', err: String(err) }, 'mesh-registry watch ended'));
    // An empty bucket sends no initial values (asked after the watch exists, see KvConfigStore).
    // Entries can also expire between the two calls: after one TTL nothing of the initial
    // listing can still be pending, so the registry counts as synced then at the latest.
    if ((await kv.status()).values === 0) markSynced();
    const fallback = setTimeout(markSynced, this.ttl);
    fallback.unref();
    await this.ready();
    clearTimeout(fallback);
  }

  /** Live registrations as the workloads wrote them (for debug pages), sorted by key. */
  registrations(): RegisteredWorkload[] {
    return [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e.workload);
  }

  /** Live registered workloads (WorkloadGroup applied), as selectable workload instances. */
  workloads(): WorkloadInstance[] {
    return this.effectiveWorkloads().map((w) => ({
      name: w.name, namespace: w.namespace, address: w.address, labels: w.labels, ports: w.ports, serviceAccount: w.serviceAccount,
      locality: w.locality, network: w.network, weight: w.weight, healthy: w.healthy, tlsMode: w.tlsMode ?? tlsFromLabels(w.labels),
    }));
  }

  private effectiveWorkloads(): RegisteredWorkload[] {
    const out: RegisteredWorkload[] = [];
    for (const { workload: w } of this.entries.values()) {
      if (!w.group || !this.opts.groups) {
        out.push(w);
        continue;
      }
      const g = this.opts.groups.get({ group: 'networking.istio.io', kind: 'WorkloadGroup', namespace: w.namespace, name: w.group });
      if (g) out.push(workloadFromGroup(w, g));
      else if (!this.missingGroups.has(`${w.namespace}/${w.name}`)) {
        this.missingGroups.add(`${w.namespace}/${w.name}`);
        (this.opts.log ?? silentLogger).warn({ component: 'registry', workload: `${w.namespace}/${w.name}`, group: w.group }, 'registered workload names a WorkloadGroup that does not exist; left out');
      }
    }
    return out;
  }

  /** Calls `fn` whenever the set of live workloads changed (e.g. to refresh a ServiceEntryRegistry). */
  onWorkloads(fn: () => void): Unsubscribe {
    this.workloadListeners.add(fn);
    return () => this.workloadListeners.delete(fn);
  }

  /** refresh schedules a recomputation (after the services provider changed). */
  refresh(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.recompute();
    });
  }

  override async close(): Promise<void> {
    this.stopGroups?.();
    this.stopWatch?.();
    await this.watchDone;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
    await super.close();
  }

  /** apply folds one KV entry in; returns whether the set of workloads changed (a bare heartbeat does not). */
  private apply(e: KvEntry): boolean {
    const cur = this.entries.get(e.key);
    if (cur && cur.revision >= e.revision) return false;
    if (cur) clearTimeout(cur.timer);
    const drop = (): boolean => {
      this.entries.delete(e.key);
      return cur !== undefined;
    };
    if (e.operation !== 'PUT') return drop();
    let w: RegisteredWorkload;
    try {
      w = e.json<RegisteredWorkload>();
    } catch {
      (this.opts.log ?? silentLogger).warn({ component: 'registry', key: e.key }, 'ignoring a registration that is not JSON');
      return drop();
    }
    if (!w || typeof w.address !== 'string' || typeof w.name !== 'string' || typeof w.namespace !== 'string' || typeof w.labels !== 'object') {
      (this.opts.log ?? silentLogger).warn({ component: 'registry', key: e.key }, 'ignoring a malformed registration');
      return drop();
    }
    const age = Math.min(Math.max(Date.now() - e.created.getTime(), 0), this.ttl);
    const timer = setTimeout(() => {
      const still = this.entries.get(e.key);
      if (still?.revision !== e.revision) return;
      this.entries.delete(e.key);
      this.recompute();
    }, this.ttl - age);
    timer.unref();
    const json = stableJson(w);
    this.entries.set(e.key, { workload: w, json, revision: e.revision, timer });
    return cur?.json !== json;
  }

  private recompute(): void {
    const endpoints: Endpoint[] = [];
    const services = this.opts.services?.() ?? [];
    for (const w of this.effectiveWorkloads()) {
      for (const svc of services) {
        if (svc.namespace !== w.namespace || !svc.selector || Object.keys(svc.selector).length === 0) continue;
        if (!Object.entries(svc.selector).every(([k, v]) => w.labels[k] === v)) continue;
        for (const p of svc.ports) {
          const locality = parseLocality(w.locality);
          endpoints.push({
            hostname: svc.hostname, namespace: svc.namespace, servicePortName: p.name, address: w.address,
            port: w.ports?.[p.name] ?? p.targetPort ?? p.port, labels: w.labels,
            ...(w.serviceAccount ? { serviceAccount: w.serviceAccount } : {}),
            ...(locality ? { locality } : {}),
            ...(w.weight ? { weight: w.weight } : {}),
            ...(w.network ? { network: w.network } : {}),
            healthy: w.healthy !== false, tlsMode: w.tlsMode ?? 'istio', workloadName: w.name,
          });
        }
      }
    }
    this.replace([], endpoints);
    for (const fn of [...this.workloadListeners]) fn();
  }
}

function tlsFromLabels(labels: Readonly<Record<string, string>>): 'istio' | 'disabled' {
  const l = labels[LABEL_TLS_MODE];
  return l === undefined || l === 'istio' ? 'istio' : 'disabled';
}
