/**
 * Trace export targets from Istio's configuration, as Istio picks a tracing provider: the
 * mesh-wide Telemetry (root namespace, no selector) names providers in `tracing[].providers`,
 * else MeshConfig `defaultProviders.tracing` does; each name refers to a MeshConfig
 * `extensionProviders` entry. Mixer exports for the whole mesh, so only the mesh-wide choice
 * counts (namespace and workload Telemetries choose sampling, which sidecars apply).
 *
 * Supported providers: `zipkin` (`service`, `port`, `path` default `/api/v2/spans`) and
 * `opentelemetry` with `http` (`path` default `/v1/traces`): OTLP over HTTP. OpenTelemetry over
 * gRPC and other tracers are reported as warnings and skipped. MeshConfig files are read with
 * @meshwork/api's parseMeshConfigText.
 */

/** The part of Istio's MeshConfig that names tracing backends. */
export interface MeshTracingConfig {
  readonly extensionProviders?: readonly {
    readonly name: string;
    readonly zipkin?: { readonly service: string; readonly port: number; readonly path?: string };
    readonly opentelemetry?: { readonly service: string; readonly port: number; readonly http?: { readonly path?: string } };
    readonly [other: string]: unknown;
  }[];
  readonly defaultProviders?: { readonly tracing?: readonly string[] };
}

/** One place spans are exported to. */
export interface ExportTarget {
  /** The provider name (`zipkin`, `otel`). */
  readonly name: string;
  readonly kind: 'zipkin' | 'otlp';
  readonly url: string;
}

/** A Telemetry spec as far as provider choice reads it. */
export interface TelemetryTracingProviders {
  readonly tracing?: readonly { readonly providers?: readonly { readonly name: string }[] }[];
}

/** tracingExportTargets returns where spans go and why a named provider was skipped. */
export function tracingExportTargets(mesh: MeshTracingConfig, meshWideTelemetry: readonly TelemetryTracingProviders[]): { targets: ExportTarget[]; warnings: string[] } {
  let names: readonly string[] | undefined;
  // Istio: the oldest mesh-wide Telemetry applies; config order stands in for age.
  for (const t of meshWideTelemetry) {
    const p = t.tracing?.find((x) => x.providers && x.providers.length > 0)?.providers;
    if (p) {
      names = p.map((x) => x.name);
      break;
    }
    if (t.tracing && t.tracing.length > 0) break;
  }
  names ??= mesh.defaultProviders?.tracing ?? [];
  const targets: ExportTarget[] = [];
  const warnings: string[] = [];
  for (const name of names) {
    const p = mesh.extensionProviders?.find((x) => x.name === name);
    if (!p) {
      warnings.push(`tracing provider "${name}" is not in meshConfig.extensionProviders`);
      continue;
    }
    if (p.zipkin) {
      targets.push({ name, kind: 'zipkin', url: `http://${p.zipkin.service}:${p.zipkin.port}${p.zipkin.path ?? '/api/v2/spans'}` });
    } else if (p.opentelemetry?.http) {
      targets.push({ name, kind: 'otlp', url: `http://${p.opentelemetry.service}:${p.opentelemetry.port}${p.opentelemetry.http.path ?? '/v1/traces'}` });
    } else if (p.opentelemetry) {
      warnings.push(`tracing provider "${name}": OpenTelemetry over gRPC is not supported by mixer's exporter; set opentelemetry.http (OTLP/HTTP)`);
    } else {
      warnings.push(`tracing provider "${name}": only zipkin and opentelemetry (http) providers are exported by mixer`);
    }
  }
  return { targets, warnings };
}
