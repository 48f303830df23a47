/** The engine: what binds compiled configuration, clusters and listeners together. */
export { ClusterManager, endpointsOf, trackActive, type ManagedCluster } from './clusters.js';
