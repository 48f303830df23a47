/**
 * Envoy v3 type URLs and the helpers that build values in protobufjs object form
 * (camelCase fields, Durations as {seconds, nanos}, wrappers as {value}, enums by name,
 * nested Any as {'@type': ..., ...fields}) — the contract shared with libs/xds.
 */
import { parseDuration } from '@meshwork/api';

export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

/** The four xDS type URLs this library generates, in the order ADS should send them (CDS, EDS, LDS, RDS). */
export const TYPE_URLS = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE] as const;
export type TypeUrl = (typeof TYPE_URLS)[number];

/** One Envoy resource as a plain protobufjs-style object. */
export type EnvoyResource = Record<string, unknown>;

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
export const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
export const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const RAW_BUFFER_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
export const HTTP_PROTOCOL_OPTIONS_TYPE = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
export const PREVIOUS_HOSTS_TYPE = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

/** ADS as a config source, as both Envoy and grpc-js-xds accept it. */
export const ADS_SOURCE = { ads: {}, resourceApiVersion: 'V3' } as const;

/** A protobuf Duration from milliseconds. */
export function durationMs(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

/** A protobuf Duration from an Istio duration string (`1.5s`, `100ms`); undefined when unset or unparsable. */
export function duration(text: string | undefined): { seconds: number; nanos: number } | undefined {
  if (text === undefined || text === '') return undefined;
  const r = parseDuration(text);
  if (!r.ok) return undefined;
  const seconds = Math.floor(r.ns / 1e9);
  return { seconds, nanos: r.ns - seconds * 1e9 };
}

/** Milliseconds of an Istio duration string, or undefined. */
export function durationToMs(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const r = parseDuration(text);
  return r.ok ? r.ns / 1e6 : undefined;
}

/** Envoy's FractionalPercent from an Istio Percent (0..100, double), in millionths like Istio. */
export function fractionalPercent(value: number): { numerator: number; denominator: string } {
  return { numerator: Math.round(value * 10_000), denominator: 'MILLION' };
}

/** A socket address. */
export function socketAddress(address: string, port: number): EnvoyResource {
  return { socketAddress: { address, portValue: port } };
}

/** The router HTTP filter, always last in an HCM's filter list. */
export const ROUTER_FILTER = { name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } };
