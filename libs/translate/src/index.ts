/**
 * @meshwork/translate — pure translation of a mesh snapshot and a proxy into Envoy v3
 * resources (see docs/architecture.md). This file is the library's only public door.
 */
export { buildSnapshot, resolveHost, hostMatches, exportedTo, visibleServices, virtualServicesFor, destinationRuleFor, sidecarFor, gatewaysFor, serviceFor, contentHash, stableJson } from './snapshot.js';
export type { MeshSnapshot, MeshSnapshotInput, SnapshotIndex, IndexedVirtualService, IndexedDestinationRule, IndexedGateway, IndexedSidecar, EffectiveDestinationRule } from './snapshot.js';
export { parseNode, type XdsNode } from './node.js';
export { generateListeners, generateRoutes, generateClusters, generateEndpoints, generateAll, GENERATORS, cacheKey, proxyView, simulateFor, type Generator } from './generators.js';
export { LISTENER_TYPE, ROUTE_TYPE, CLUSTER_TYPE, ENDPOINT_TYPE, TYPE_URLS, type TypeUrl, type EnvoyResource } from './envoy.js';
export { clusterName, parseClusterName, istioSni, BLACKHOLE_CLUSTER, PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_OUTBOUND_PORT, VIRTUAL_INBOUND_PORT } from './names.js';
export { simulate, type SimulatedRequest, type SimulationResult } from './simulate.js';
export { MeshTranslateError, InvalidNodeError, NoListenerError, NoRouteError, NoClusterError } from './errors.js';
export { inboundRateLimitFilters, ruleId, rateLimitServiceCluster, isRateLimit, pathRegex, RATELIMIT_DOMAIN, RULE_DESCRIPTOR_KEY, RATELIMIT_SERVICE_PORT, GLOBAL_RATELIMIT_CONFIG_TYPE, LOCAL_RATELIMIT_CONFIG_TYPE } from './ratelimit.js';
export { hcmTelemetry, telemetryLevels, effectiveTracing, effectiveAccessLogging, ISTIO_TEXT_ACCESS_LOG_FORMAT, type TelemetryMode, type EffectiveTracing } from './telemetry.js';
