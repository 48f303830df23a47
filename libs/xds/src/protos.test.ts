import { describe, expect, test } from 'vitest';
import { envoyRoot, lookupMessage } from './protos.js';

describe('envoyRoot', () => {
  test('loads the Envoy v3 messages pilot generates, once', () => {
    const root = envoyRoot();
    expect(envoyRoot()).toBe(root);
    for (const name of [
      'envoy.config.listener.v3.Listener',
      'envoy.config.route.v3.RouteConfiguration',
      'envoy.config.cluster.v3.Cluster',
      'envoy.config.endpoint.v3.ClusterLoadAssignment',
      'envoy.extensions.transport_sockets.tls.v3.Secret',
      'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      'envoy.extensions.filters.http.router.v3.Router',
      'envoy.extensions.filters.http.rbac.v3.RBAC',
      'envoy.extensions.filters.http.fault.v3.HTTPFault',
      'envoy.extensions.filters.http.cors.v3.Cors',
      'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
      'envoy.service.discovery.v3.DeltaDiscoveryRequest',
    ]) {
      expect(lookupMessage(name), name).toBeDefined();
    }
    expect(lookupMessage('envoy.no.Such')).toBeUndefined();
    // camelCase field names (the contract with libs/translate)
    expect(Object.keys(root.lookupType('envoy.service.discovery.v3.DiscoveryRequest').fields)).toContain('responseNonce');
  });
});
