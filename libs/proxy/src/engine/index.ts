/** The engine: what binds compiled configuration, clusters and listeners together. */
export { ClusterManager, endpointsOf, trackActive, type ClusterManagerOptions, type ManagedCluster } from './clusters.js';
export { ListenerManager, listenerStatName, type BindFn, type Binding, type EngineExchangeRecord, type EngineTcpRecord, type ListenerManagerOptions, type ListenerStat } from './listeners.js';
export { inspectClientHello, type ClientHelloInfo } from './tls-inspector.js';
