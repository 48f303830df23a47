/**
 * The proxy engine's compiler as the xDS agent uses it: each response is checked on its own type
 * (errors with field paths NACK it), and a complete, warm set is compiled into the engine's
 * CompiledConfig, reusing unchanged endpoint objects of the configuration in force.
 */
import { compileConfig, type CompiledConfig } from '@meshwork/proxy';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, type ResourceObject } from '@meshwork/xds';
import { rdsNames, type ConfigCompiler } from './xds-agent.js';

const EMPTY = { listeners: [], routes: [], clusters: [], endpoints: [] };

/** proxyCompiler returns the ConfigCompiler that feeds libs/proxy. */
export function proxyCompiler(): ConfigCompiler<CompiledConfig> {
  return {
    check(typeUrl, resources, held) {
      // Clusters accepted so far: a route configuration that validates its clusters (inline ones do
      // by default in Envoy) is judged against them, not against none.
      const clusters = typeUrl === CLUSTER_TYPE ? [] : [...held(CLUSTER_TYPE).values()];
      const list = [...resources.values()];
      let input;
      switch (typeUrl) {
        case CLUSTER_TYPE:
          input = { ...EMPTY, clusters: list };
          break;
        case ENDPOINT_TYPE:
          input = { ...EMPTY, endpoints: list };
          break;
        case ROUTE_TYPE:
          input = { ...EMPTY, routes: list, clusters };
          break;
        case LISTENER_TYPE: {
          // Route configurations arrive later (RDS warming): stand in empty ones for the names the
          // listeners use, so only the listeners themselves are judged here.
          const names = new Set<string>();
          for (const l of list) rdsNames(l, names);
          input = { ...EMPTY, listeners: list, clusters, routes: [...names].map((name): ResourceObject => ({ name, virtualHosts: [] })) };
          break;
        }
        default:
          return [];
      }
      const r = compileConfig(input);
      // Cluster problems belong to CDS: here only this type's own resources are judged.
      return r.ok ? [] : r.errors.filter((e) => !e.startsWith('cluster '));
    },
    build(set, previous) {
      const r = compileConfig(
        { listeners: [...set.listeners.values()], routes: [...set.routes.values()], clusters: [...set.clusters.values()], endpoints: [...set.endpoints.values()], versions: set.versions },
        previous ? { previous } : {},
      );
      return r.ok ? { ok: true, value: r.value } : { ok: false, errors: [...r.errors] };
    },
  };
}
