/**
 * The ingest interfaces of pilot (STYLE.md 3): every config source and every service
 * registry implements one of these, so the snapshot builder never knows where data came from.
 */
import type { Diagnostic, Endpoint, MeshResource, Service } from '@meshwork/api';

/** Identity of a stored resource (Kubernetes' group/kind + namespace/name). */
export interface ResourceKey {
  /** API group; `''` for the core group. */
  readonly group: string;
  readonly kind: string;
  /** Empty for cluster-scoped kinds. */
  readonly namespace: string;
  readonly name: string;
}

/** A config change. `resourceVersion` is the version after the change (for delete, the last one seen). */
export interface ConfigEvent {
  readonly type: 'add' | 'update' | 'delete';
  readonly key: ResourceKey;
  /** The new resource (for delete: the resource as it was last seen). */
  readonly resource: MeshResource;
  /** The resource before an update. */
  readonly previous?: MeshResource;
  readonly resourceVersion: string;
}

/** One input a source refused (invalid, unknown kind, unparsable), with every reason. */
export interface RejectedInput {
  /** Where it came from: a file path, a KV key, `kubernetes:<plural>/<ns>/<name>`. */
  readonly origin: string;
  readonly diagnostics: readonly Diagnostic[];
}

/** Filter for list(): every field optional. */
export interface ListFilter {
  readonly group?: string;
  readonly kind?: string;
  readonly namespace?: string;
}

export type Unsubscribe = () => void;

/**
 * ConfigSource is a read side of mesh configuration: a cache of validated resources that
 * reports changes. Invalid inputs are never listed nor emitted; they are reported in
 * `rejected()` and counted in `rejectedTotal`.
 */
export interface ConfigSource {
  /** Short name for logs and debug pages (`file`, `kubernetes`, `nats-kv`, `memory`). */
  readonly name: string;
  /** Resolves once the first full listing has been loaded (Istio's HasSynced). */
  ready(): Promise<void>;
  /** Current validated resources, sorted by group, kind, namespace, name. */
  list(filter?: ListFilter): MeshResource[];
  /** The resource with this key, or undefined. */
  get(key: ResourceKey): MeshResource | undefined;
  /** Subscribes to changes after now; handlers run synchronously in event order. */
  watch(handler: (event: ConfigEvent) => void): Unsubscribe;
  /** Inputs currently refused (the latest reason per origin). */
  rejected(): RejectedInput[];
  /** How many times an input has been refused since start (a Prometheus counter's value). */
  readonly rejectedTotal: number;
  /** Stops watching the backend. */
  close(): Promise<void>;
}

export interface WriteOptions {
  /** Namespace for a namespaced resource that sets none (kubectl's default namespace). */
  readonly defaultNamespace?: string;
}

export interface DeleteOptions {
  /** Delete only if the resource is still at this version (Kubernetes preconditions.resourceVersion). */
  readonly resourceVersion?: string;
}

/**
 * ConfigStore is a writable ConfigSource (pilot's config REST API, meshctl apply). Writes are
 * validated with libs/api; a refused write changes nothing and throws InvalidResourceError.
 * Optimistic concurrency is Kubernetes': a replace whose `metadata.resourceVersion` is set
 * must name the current version or fails with ConflictError.
 */
export interface ConfigStore extends ConfigSource {
  /** Stores a new resource; AlreadyExistsError when it exists. Returns it with its resourceVersion. */
  create(object: unknown, opts?: WriteOptions): Promise<MeshResource>;
  /**
   * Replaces an existing resource; NotFoundError when absent, ConflictError when
   * `metadata.resourceVersion` is set and is not the current version (unset: unconditional).
   */
  replace(object: unknown, opts?: WriteOptions): Promise<MeshResource>;
  /** Deletes a resource; NotFoundError when absent, ConflictError on a stale resourceVersion. */
  delete(key: ResourceKey, opts?: DeleteOptions): Promise<void>;
  /** Reads one resource from the backend (not only the cache); undefined when absent. */
  fetch(key: ResourceKey): Promise<MeshResource | undefined>;
}

/** A change in a service registry: which service (by hostname) changed and what about it. */
export interface RegistryEvent {
  readonly type: 'add' | 'update' | 'delete';
  /** `service`: the Service itself; `endpoints`: only its endpoints. */
  readonly what: 'service' | 'endpoints';
  readonly hostname: string;
  readonly namespace: string;
}

/** ServiceRegistry is one service-discovery source (Istio's serviceregistry.Instance). */
export interface ServiceRegistry {
  /** Provider name (`kubernetes`, `serviceentry`, `registration`, `memory`, ...). */
  readonly name: string;
  /** Resolves once the first full listing has been loaded. */
  ready(): Promise<void>;
  /** Every service, sorted by hostname then namespace. */
  services(): Service[];
  /** Endpoints, of one service hostname (optionally one namespace) or all; sorted. */
  endpoints(hostname?: string, namespace?: string): Endpoint[];
  watch(handler: (event: RegistryEvent) => void): Unsubscribe;
  close(): Promise<void>;
}

/**
 * Logger is the pino subset libs use (fastify's logger satisfies it): structured fields
 * first, message second. Libraries never write to the console.
 */
export interface Logger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

function drop(): void {
  // intentionally silent
}

/** A logger that drops everything, for tests and callers that pass none. */
export const silentLogger: Logger = { warn: drop, info: drop };
