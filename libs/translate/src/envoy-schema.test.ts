import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, test } from 'vitest';
import { generateAll } from './generators.js';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from './envoy.js';
import { loadCase } from './testing.js';

// TEST-only schema check of every generated resource against Envoy's own protos (shipped by
// @grpc/grpc-js-xds): every field name, enum name and nested @type must exist, so a
// misspelled field fails here instead of being silently dropped by an encoder.
// TODO: switch to libs/xds validateEnvoyResource once it is exported.
const require = createRequire(import.meta.url);
const DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDES = [...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(DEPS, d)), dirname(require.resolve('protobufjs/package.json'))];
const FILES = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
];

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    // protobufjs bundles the common google/protobuf types under their bare names.
    if (target in protobuf.common) return target;
    for (const inc of INCLUDES) {
      const p = join(inc, target);
      try {
        readFileSync(p);
        return p;
      } catch {
        // try the next include directory
      }
    }
    return target;
  };
  root.loadSync(FILES, { keepCase: false });
  root.resolveAll();
  return root;
}

const WELL_KNOWN_SCALAR = new Set(['google.protobuf.Struct', 'google.protobuf.Value', 'google.protobuf.ListValue']);

/** Every problem of `obj` as a `typeName` in protobufjs object form, with field paths. */
function check(root: protobuf.Root, typeName: string, obj: unknown, path: string, errors: string[]): void {
  const type = root.lookupType(typeName);
  const full = type.fullName.replace(/^\./, '');
  if (WELL_KNOWN_SCALAR.has(full)) return;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    errors.push(`${path}: expected an object for ${full}`);
    return;
  }
  const o = obj as Record<string, unknown>;
  if (full === 'google.protobuf.Any') {
    const t = o['@type'];
    if (typeof t !== 'string') {
      errors.push(`${path}: Any without @type`);
      return;
    }
    const inner = t.replace(/^type\.googleapis\.com\//, '');
    try {
      root.lookupType(inner);
    } catch {
      errors.push(`${path}: unknown @type ${t}`);
      return;
    }
    const { '@type': _t, ...rest } = o;
    check(root, inner, rest, path, errors);
    return;
  }
  const oneofsSeen = new Map<string, string>();
  for (const [k, v] of Object.entries(o)) {
    const field = type.fields[k];
    if (!field) {
      errors.push(`${path}.${k}: no such field in ${full}`);
      continue;
    }
    if (field.partOf) {
      const prev = oneofsSeen.get(field.partOf.name);
      if (prev) errors.push(`${path}.${k}: oneof ${field.partOf.name} already set by ${prev}`);
      oneofsSeen.set(field.partOf.name, k);
    }
    const resolved = field.resolve().resolvedType;
    const checkValue = (val: unknown, p: string): void => {
      if (resolved instanceof protobuf.Enum) {
        if (typeof val === 'string' ? !(val in resolved.values) : typeof val !== 'number') errors.push(`${p}: ${String(val)} is not a value of ${resolved.fullName}`);
      } else if (resolved instanceof protobuf.Type) {
        check(root, resolved.fullName, val, p, errors);
      } else if (field.type === 'string' && typeof val !== 'string') errors.push(`${p}: expected a string`);
      else if (field.type === 'bool' && typeof val !== 'boolean') errors.push(`${p}: expected a boolean`);
      else if (/int|fixed|double|float/.test(field.type) && typeof val !== 'number' && typeof val !== 'string') errors.push(`${p}: expected a number`);
    };
    if (field.map) {
      for (const [mk, mv] of Object.entries((v as Record<string, unknown>) ?? {})) checkValue(mv, `${path}.${k}[${mk}]`);
    } else if (field.repeated) {
      if (!Array.isArray(v)) errors.push(`${path}.${k}: expected a list`);
      else v.forEach((x, i) => checkValue(x, `${path}.${k}[${i}]`));
    } else checkValue(v, `${path}.${k}`);
  }
}

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');
const cases = readdirSync(TESTDATA, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
const TYPES: Record<string, string> = {
  [LISTENER_TYPE]: 'envoy.config.listener.v3.Listener',
  [ROUTE_TYPE]: 'envoy.config.route.v3.RouteConfiguration',
  [CLUSTER_TYPE]: 'envoy.config.cluster.v3.Cluster',
  [ENDPOINT_TYPE]: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
};

describe('generated resources match the Envoy protos', () => {
  const root = loadRoot();
  test('the checker catches a misspelled field, a bad enum and an unknown @type', () => {
    const errors: string[] = [];
    check(root, 'envoy.config.cluster.v3.Cluster', { name: 'x', lbPolicy: 'LEAST_REQUESTS', conectTimeout: { seconds: 1 }, transportSocket: { name: 't', typedConfig: { '@type': 'type.googleapis.com/no.Such' } } }, 'cluster', errors);
    expect(errors).toHaveLength(3);
  });
  for (const dir of cases) {
    test(dir, () => {
      const c = loadCase(readFileSync(join(TESTDATA, dir, 'input.yaml'), 'utf8'));
      const out = generateAll(c.proxy, c.snapshot, { [LISTENER_TYPE]: c.listenerNames });
      const errors: string[] = [];
      for (const [url, list] of Object.entries(out)) list.forEach((r, i) => check(root, TYPES[url], r, `${TYPES[url].split('.').pop()}[${String(r.name ?? r.clusterName ?? i)}]`, errors));
      expect(errors).toEqual([]);
    });
  }
});
