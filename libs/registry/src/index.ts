/**
 * @meshwork/registry — pilot's ingest stage: config sources and service registries behind
 * small interfaces (types.ts), each emitting change events. This file is the library's only
 * public door (test fakes: `@meshwork/registry/testing`).
 */
export * from './errors.js';
export * from './types.js';
export { CachedSource, ResourceCache } from './cache.js';
export { RegistryState, compareServices, compareEndpoints } from './registry-state.js';
export { keyOf, keyString, checkObject, withResourceVersion, storedObject, type CheckResult } from './resource.js';
export { DirectorySource, startDirectorySource, type DirectorySourceOptions } from './dir-source.js';
export { KvConfigStore, type KvConfigStoreOptions } from './kv-config-store.js';
export { kvKeyOf, resourceKeyOf, kvKindFilter } from './kv-keys.js';
export { KubeClient, KubeApiError, inClusterConnection, kubeconfigConnection, type KubeConnection, type KubeObject, type KubeList } from './kube-client.js';
export { KubeCollection, type KubeCollectionOptions } from './kube-collection.js';
export { KubeConfigSource, type KubeConfigSourceOptions } from './kube-config-source.js';
export { KubeServiceRegistry, type KubeServiceRegistryOptions } from './kube-registry.js';
export * from './kube-convert.js';
export { ServiceEntryRegistry, convertServiceEntry, workloadEntryInstance, parseProtocol, parseLocality, type ServiceEntryRegistryOptions, type WorkloadInstance } from './serviceentry.js';
export { register, openRegistrationBucket, registrationKey, workloadFromGroup, RegistrationRegistry, DEFAULT_REGISTRATION_TTL_MS, type RegisteredWorkload, type RegistrationHandle, type RegistrationBucketOptions, type RegistrationRegistryOptions } from './registration.js';
export { AggregateRegistry, type AggregateRegistryOptions } from './aggregate.js';
