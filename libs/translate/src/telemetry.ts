/**
 * Telemetry (telemetry.istio.io) → the HTTP connection manager's `tracing` and `access_log`
 * (Istio's pilot/pkg/model/telemetry.go and the HCM builders that read it).
 *
 * Which Telemetry applies to a sidecar, as in Istio: the mesh-wide one (root namespace, no
 * selector), then the namespace one (no selector), then the workload one (`selector` matching the
 * proxy's labels), more specific levels overriding less specific ones. At each level the first
 * `tracing` / `accessLogging` entry whose `match.mode` covers the traffic direction counts
 * (`CLIENT`: the outbound HCMs, `SERVER`: the inbound ones, `CLIENT_AND_SERVER` or unset: both).
 * Two resources at the same level: the first in config order wins (Istio: the oldest).
 * `targetRefs` Telemetries are for gateways and waypoints and do not apply to sidecars.
 *
 * - Tracing: fields inherit level by level (`randomSamplingPercentage`, `disableSpanReporting`,
 *   `customTags` merged by tag name). Output: Envoy's `tracing` with `random_sampling` from the
 *   percentage and `client_sampling` / `overall_sampling` at 100, as Istio emits, plus
 *   `custom_tags`. `disableSpanReporting: true` becomes `random_sampling: 0`.
 * - Access logging: the most specific level with a matching entry replaces the others. Each
 *   provider of a non-`disabled` entry (none listed: MeshConfig `defaultProviders.accessLogging`)
 *   becomes one `access_log`: an `envoyFileAccessLog` extension provider is Envoy's file logger
 *   on its `path` with its `logFormat` (`text`, or `labels` as a JSON format), Istio's built-in
 *   `envoy` provider (when MeshConfig does not define one) the file logger on `/dev/stdout` with
 *   Istio's default TEXT format; `filter.expression` becomes Envoy's CEL access-log filter.
 *
 * Meshwork differences (docs/differences-from-istio.md): access-log providers other than file
 * loggers (OpenTelemetry ALS, gRPC ALS) are skipped, and no tracing `provider` is emitted
 * (sidecars send spans to mixer, which exports them to the providers: mixer's --mesh-config). The CEL
 * filter is carried in an `xds.type.v3.TypedStruct` because the ExpressionFilter proto is not
 * among the protos grpc-js-xds ships; Envoy accepts TypedStruct for any extension config.
 * Without any Telemetry for the proxy nothing is emitted and the proxy's own defaults apply
 * (`--trace-sampling`, no access log), so existing outputs do not change.
 */
import { parseDuration, type MeshConfig, type ProxyNode, type TelemetrySpec } from '@meshwork/api';
import type { EnvoyResource } from './envoy.js';
import { labelsMatch, type MeshSnapshot } from './snapshot.js';

/** Which HCMs a Telemetry entry is for: outbound (CLIENT) or inbound (SERVER). */
export type TelemetryMode = 'CLIENT' | 'SERVER';

/** Istio's default TEXT access-log format (EnvoyTextLogFormat in Istio's mesh config). */
export const ISTIO_TEXT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ' +
  '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ' +
  '%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n';

const FILE_ACCESS_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const CEL_FILTER_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter';
const TYPED_STRUCT_TYPE = 'type.googleapis.com/xds.type.v3.TypedStruct';

type Tracing = NonNullable<TelemetrySpec['tracing']>[number];
type AccessLogging = NonNullable<TelemetrySpec['accessLogging']>[number];

const covers = (m: { match?: { mode?: string } }, mode: TelemetryMode): boolean => {
  const want = m.match?.mode ?? 'CLIENT_AND_SERVER';
  return want === 'CLIENT_AND_SERVER' || want === mode;
};

/** telemetryLevels returns the Telemetry specs that apply to a sidecar, least specific first (mesh, namespace, workload). */
export function telemetryLevels(snapshot: MeshSnapshot, proxy: ProxyNode): TelemetrySpec[] {
  let root: TelemetrySpec | undefined;
  let ns: TelemetrySpec | undefined;
  let workload: TelemetrySpec | undefined;
  const rootNs = snapshot.meshConfig.rootNamespace;
  for (const r of snapshot.configs) {
    if (r.kind !== 'Telemetry' || !r.apiVersion.startsWith('telemetry.istio.io/')) continue;
    const spec = ((r.body as { spec?: TelemetrySpec }).spec ?? {}) as TelemetrySpec;
    const namespace = r.metadata.namespace ?? 'default';
    if ((spec as { targetRefs?: unknown[]; targetRef?: unknown }).targetRefs?.length || (spec as { targetRef?: unknown }).targetRef) continue;
    const sel = (spec as { selector?: { matchLabels?: Record<string, string> } }).selector?.matchLabels;
    const hasSelector = sel !== undefined && Object.keys(sel).length > 0;
    if (namespace === proxy.namespace && hasSelector) {
      if (!workload && labelsMatch(sel, proxy.labels)) workload = spec;
    } else if (!hasSelector && namespace === proxy.namespace && namespace !== rootNs) ns ??= spec;
    else if (!hasSelector && namespace === rootNs) root ??= spec;
  }
  return [root, ns, workload].filter((s): s is TelemetrySpec => s !== undefined);
}

/** The tracing settings in force for one direction, after inheritance. */
export interface EffectiveTracing {
  readonly randomSamplingPercentage?: number;
  readonly disableSpanReporting?: boolean;
  readonly customTags: Readonly<Record<string, NonNullable<Tracing['customTags']>[string]>>;
}

/** effectiveTracing returns the merged tracing settings, or undefined when no Telemetry configures tracing for this direction. */
export function effectiveTracing(levels: readonly TelemetrySpec[], mode: TelemetryMode): EffectiveTracing | undefined {
  let out: { randomSamplingPercentage?: number; disableSpanReporting?: boolean; customTags: Record<string, NonNullable<Tracing['customTags']>[string]> } | undefined;
  for (const spec of levels) {
    const t = (spec.tracing ?? []).find((x) => covers(x, mode));
    if (!t) continue;
    out ??= { customTags: {} };
    if (t.randomSamplingPercentage !== undefined) out.randomSamplingPercentage = t.randomSamplingPercentage;
    if (t.disableSpanReporting !== undefined) out.disableSpanReporting = t.disableSpanReporting;
    Object.assign(out.customTags, t.customTags ?? {});
  }
  return out;
}

/** effectiveAccessLogging returns the access-log entry in force for this direction (the most specific level's), or undefined. */
export function effectiveAccessLogging(levels: readonly TelemetrySpec[], mode: TelemetryMode): AccessLogging | undefined {
  let out: AccessLogging | undefined;
  for (const spec of levels) {
    const a = (spec.accessLogging ?? []).find((x) => covers(x, mode));
    if (a) out = a;
  }
  return out;
}

function customTag(tag: string, t: NonNullable<Tracing['customTags']>[string]): EnvoyResource | undefined {
  if (t.literal) return { tag, literal: { value: t.literal.value } };
  if (t.header) return { tag, requestHeader: { name: t.header.name, ...(t.header.defaultValue ? { defaultValue: t.header.defaultValue } : {}) } };
  if (t.environment) return { tag, environment: { name: t.environment.name, ...(t.environment.defaultValue ? { defaultValue: t.environment.defaultValue } : {}) } };
  return undefined; // formatter tags need Envoy's formatter extension: not emitted
}

/** tracingConfig returns the HCM `tracing` message for the effective settings. */
function tracingConfig(t: EffectiveTracing): EnvoyResource {
  const tags = Object.keys(t.customTags)
    .sort()
    .map((k) => customTag(k, t.customTags[k]))
    .filter((x): x is EnvoyResource => x !== undefined);
  const random = t.disableSpanReporting ? 0 : t.randomSamplingPercentage;
  return {
    clientSampling: { value: 100 },
    ...(random !== undefined ? { randomSampling: { value: random } } : {}),
    overallSampling: { value: 100 },
    ...(tags.length > 0 ? { customTags: tags } : {}),
  };
}

/** Istio's EnvoyFileAccessLogProvider as MeshConfig carries it. */
interface FileAccessLogProvider {
  readonly path?: string;
  readonly logFormat?: { readonly text?: string; readonly labels?: Record<string, unknown> };
}

/** fileLogOf returns the file logger a provider name stands for, or undefined when it is not a file logger. */
function fileLogOf(name: string, mesh: MeshConfig): FileAccessLogProvider | undefined {
  const p = mesh.extensionProviders?.find((x) => x.name === name);
  if (!p) return name === 'envoy' ? { path: '/dev/stdout' } : undefined; // Istio's built-in default provider
  return p.envoyFileAccessLog as FileAccessLogProvider | undefined;
}

function logFormatOf(f: FileAccessLogProvider): EnvoyResource {
  if (f.logFormat?.labels && Object.keys(f.logFormat.labels).length > 0) return { jsonFormat: f.logFormat.labels };
  const text = f.logFormat?.text;
  return { textFormatSource: { inlineString: text ? (text.endsWith('\n') ? text : `${text}\n`) : ISTIO_TEXT_ACCESS_LOG_FORMAT } };
}

/** accessLogConfig returns the HCM `access_log` list for an entry (empty when disabled or without a file-logger provider). */
function accessLogConfig(a: AccessLogging, mesh: MeshConfig): EnvoyResource[] {
  if (a.disabled) return [];
  const expression = a.filter?.expression;
  const filter =
    expression !== undefined
      ? { filter: { extensionFilter: { name: 'envoy.access_loggers.extension_filters.cel', typedConfig: { '@type': TYPED_STRUCT_TYPE, typeUrl: CEL_FILTER_TYPE, value: { expression } } } } }
      : {};
  const names = a.providers && a.providers.length > 0 ? a.providers.map((p) => p.name) : (mesh.defaultProviders?.accessLogging ?? []);
  return names
    .map((n) => fileLogOf(n, mesh))
    .filter((f): f is FileAccessLogProvider => f !== undefined)
    .map((f) => ({
      name: 'envoy.access_loggers.file',
      ...filter,
      typedConfig: { '@type': FILE_ACCESS_LOG_TYPE, path: f.path ?? '/dev/stdout', logFormat: logFormatOf(f) },
    }));
}

/**
 * hcmTelemetry returns the HCM fields (`tracing`, `accessLog`) the Telemetry resources give this
 * sidecar for one direction: an object to spread into the HCM's typed config, empty when no
 * Telemetry applies.
 */
export function hcmTelemetry(snapshot: MeshSnapshot, proxy: ProxyNode, mode: TelemetryMode): EnvoyResource {
  const levels = telemetryLevels(snapshot, proxy);
  if (levels.length === 0) return {};
  const out: EnvoyResource = {};
  const tracing = effectiveTracing(levels, mode);
  if (tracing) out.tracing = tracingConfig(tracing);
  const logging = effectiveAccessLogging(levels, mode);
  const logs = logging ? accessLogConfig(logging, snapshot.meshConfig) : [];
  if (logs.length > 0) out.accessLog = logs;
  return out;
}

/** The Istio stats plugin's configuration type (istio/proxy `stats.PluginConfig`), carried in a TypedStruct: grpc-js-xds ships no proto for it. */
export const STATS_PLUGIN_TYPE = 'type.googleapis.com/stats.PluginConfig';

/** effectiveReportingInterval returns the `metrics[].reportingInterval` in force (the most specific level that sets one), or undefined. */
export function effectiveReportingInterval(levels: readonly TelemetrySpec[]): string | undefined {
  let out: string | undefined;
  for (const spec of levels) {
    const m = (spec.metrics ?? []).find((x) => x.reportingInterval !== undefined);
    if (m?.reportingInterval !== undefined) out = m.reportingInterval;
  }
  return out;
}

/**
 * tcpStatsFilters returns the network filters a TCP filter chain carries ahead of its tcp_proxy
 * for the Telemetry resources of this proxy: Istio's `istio.stats` with `tcp_reporting_duration`
 * when a Telemetry sets `metrics[].reportingInterval` (how often an open connection's bytes are
 * reported), else none (the proxy's default, Istio's 5 s).
 */
export function tcpStatsFilters(snapshot: MeshSnapshot, proxy: ProxyNode): EnvoyResource[] {
  const levels = telemetryLevels(snapshot, proxy);
  const interval = levels.length > 0 ? effectiveReportingInterval(levels) : undefined;
  const d = interval !== undefined ? parseDuration(interval) : undefined;
  if (!d?.ok) return [];
  // protobuf JSON's Duration form: seconds with up to nine decimals.
  return [{ name: 'istio.stats', typedConfig: { '@type': TYPED_STRUCT_TYPE, typeUrl: STATS_PLUGIN_TYPE, value: { tcp_reporting_duration: `${d.ns / 1e9}s` } } }];
}

