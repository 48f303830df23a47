/**
 * Shared test fixtures of @meshwork/xds (STYLE.md 17): small, valid Envoy resources that refer to
 * each other (listener → route → cluster → endpoints), in the object form libs/translate emits.
 */
import { CLUSTER_TYPE, ENDPOINT_TYPE, HCM_TYPE, LISTENER_TYPE, ROUTER_TYPE, ROUTE_TYPE, type ResourceObject } from './resources.js';

/** sampleResources returns a consistent set for one service `name` served at `address:port`. */
export function sampleResources(name = 'echo', address = '127.0.0.1', port = 8080, routeVersion = 'v1'): Record<string, ResourceObject[]> {
  const cluster = `outbound|${port}||${name}.default.svc.cluster.local`;
  const hcm = {
    '@type': HCM_TYPE,
    statPrefix: name,
    rds: { routeConfigName: `${name}-route`, configSource: { ads: {}, resourceApiVersion: 'V3' } },
    httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } }],
  };
  return {
    [LISTENER_TYPE]: [{ name, apiListener: { apiListener: hcm } }],
    [ROUTE_TYPE]: [
      {
        name: `${name}-route`,
        virtualHosts: [{ name, domains: ['*'], routes: [{ name: routeVersion, match: { prefix: '' }, route: { cluster } }] }],
      },
    ],
    [CLUSTER_TYPE]: [{ name: cluster, type: 'EDS', edsClusterConfig: { edsConfig: { ads: {}, resourceApiVersion: 'V3' } }, connectTimeout: { seconds: 1 } }],
    [ENDPOINT_TYPE]: [
      {
        clusterName: cluster,
        endpoints: [{ locality: {}, loadBalancingWeight: { value: 1 }, lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } }, healthStatus: 'HEALTHY' }] }],
      },
    ],
  };
}
