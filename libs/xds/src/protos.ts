/**
 * Envoy v3 protos, loaded once and lazily from the `.proto` files that @grpc/grpc-js-xds ships
 * under `deps/` (envoy-api, xds, googleapis, protoc-gen-validate): nothing is vendored, so the
 * schema moves with the installed package.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';
import { ProtoLoadError } from './errors.js';

/** Files whose messages pilot generates or an xDS client reads; imports come along. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  // RBAC path templates ({*}, {**}) in AuthorizationPolicy paths.
  'envoy/extensions/path/match/uri_template/v3/uri_template_match.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'udpa/type/v1/typed_struct.proto',
  'xds/type/v3/typed_struct.proto',
  'google/rpc/status.proto',
];

const DEP_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];

/** The include directories: grpc-js-xds's deps/*, found from the installed package location. */
export function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('@grpc/grpc-js-xds/package.json');
  } catch (cause) {
    throw new ProtoLoadError('@grpc/grpc-js-xds is not installed: it ships the Envoy protos', { cause });
  }
  // protobufjs ships google/protobuf/descriptor.proto (imported by validate/annotations) beside its JSON bundle.
  return [...DEP_DIRS.map((d) => join(dirname(pkg), 'deps', d)), dirname(require.resolve('protobufjs/package.json'))];
}

let cached: protobuf.Root | undefined;

/** A protobufjs Root that resolves imports from the shipped Envoy/xDS protos (and protobufjs's bundled google/protobuf). */
function newRoot(): protobuf.Root {
  const includes = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (target in protobuf.common) return target;
    for (const inc of includes) {
      const p = join(inc, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  return root;
}

const serviceRoots = new Map<string, protobuf.Root>();

/**
 * serviceProtoTypes returns message types of one shipped proto file that envoyRoot does not load
 * (gRPC service protos: `envoy/service/ratelimit/v3/rls.proto`, `envoy/service/auth/v3/external_auth.proto`),
 * loaded once per file. Throws ProtoLoadError naming the file when it cannot be loaded.
 */
export function serviceProtoTypes(file: string, names: readonly string[]): protobuf.Type[] {
  let root = serviceRoots.get(file);
  if (!root) {
    const r = newRoot();
    try {
      r.loadSync(file, { keepCase: false });
      r.resolveAll();
    } catch (cause) {
      throw new ProtoLoadError(`loading ${file}: ${(cause as Error).message}`, { cause });
    }
    serviceRoots.set(file, (root = r));
  }
  const loaded = root;
  return names.map((n) => loaded.lookupType(n));
}

/**
 * envoyRoot returns the resolved protobufjs Root holding every Envoy/xDS message this library
 * knows (field names camelCase). Loaded on first call, then shared.
 */
export function envoyRoot(): protobuf.Root {
  if (cached) return cached;
  const includes = protoIncludeDirs();
  const root = newRoot();
  try {
    root.loadSync([...ENVOY_PROTO_FILES], { keepCase: false });
    root.resolveAll();
  } catch (cause) {
    throw new ProtoLoadError(`loading the Envoy protos from ${includes[0]}: ${(cause as Error).message}`, { cause });
  }
  cached = root;
  return root;
}

/** lookupMessage returns the message type named `fullName` (no leading dot), or undefined. */
export function lookupMessage(fullName: string): protobuf.Type | undefined {
  const found = envoyRoot().lookup(fullName);
  return found instanceof protobuf.Type ? found : undefined;
}
