/**
 * The Kubernetes objects the mesh reads: core/v1 Service, Endpoints, Namespace, Pod, Secret,
 * ConfigMap, ServiceAccount; discovery.k8s.io/v1 EndpointSlice; apps/v1 Deployment.
 *
 * These objects are large. The parts the mesh reads (Service ports and selector, endpoint
 * addresses and ports, Pod ports, service account and IPs, Secret data, …) are validated with
 * the Kubernetes API server's own rules (pkg/apis/core/validation, pkg/apis/discovery/validation)
 * as they apply to what a user writes, i.e. before the API server's defaulting; everything
 * else is accepted as is (loose objects, `status` of any shape except the Pod fields the
 * registry reads), so that `kubectl get -o yaml` output validates unchanged.
 */
import * as z from 'zod';
import ipaddr from 'ipaddr.js';
import type { KindDef } from './kind.js';
import { nameIsDnsLabel, type ObjectMeta } from './meta.js';
import { anyJson, checkedString, crdHints, crossCheck, labelMap, obj, port, stringMap } from './dsl.js';
import { arr, isObj, issue, type Ctx, type Path } from './values.js';
import { checkDns1123Label, checkDns1123Subdomain } from '../fields/host.js';
import { checkCidr, checkIp } from '../fields/net.js';
import { checkLabelKey } from '../fields/labels.js';


// ---------------------------------------------------------------------------------------
// Field rules shared by several kinds (k8s.io/apimachinery/pkg/util/validation).

/** checkIanaPortName returns why `s` is not an IANA service name (container port names, named targetPorts). */
export function checkIanaPortName(s: string): string | undefined {
  if (s.length > 15) return `port name "${s}" must be no more than 15 characters`;
  if (!/^[-a-z0-9]+$/.test(s)) return `port name "${s}" must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`;
  if (!/[a-z]/.test(s)) return `port name "${s}" must contain at least one letter (a-z)`;
  if (s.includes('--')) return `port name "${s}" must not contain consecutive hyphens`;
  if (s.startsWith('-') || s.endsWith('-')) return `port name "${s}" must not begin or end with a hyphen`;
  return undefined;
}

/** checkK8sQualifiedName returns why `s` is not a Kubernetes qualified name (`kubernetes.io/h2c`, `http`). */
export function checkK8sQualifiedName(s: string): string | undefined {
  const r = checkLabelKey(s);
  return r ? r.replace(/^label key/, 'name') : undefined;
}

/** checkConfigMapKey returns why `key` cannot be a ConfigMap or Secret data key. */
export function checkConfigMapKey(key: string): string | undefined {
  if (key.length > 253) return `key "${key}" must be no more than 253 characters`;
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) return `key "${key}" must consist of alphanumeric characters, '-', '_' or '.'`;
  if (key === '.' || key === '..') return `key "${key}" must not be '.' or '..'`;
  if (key.startsWith('..')) return `key "${key}" must not start with '..'`;
  return undefined;
}

/** checkBase64Data returns why `s` is not standard base64 as Go's encoding/json decodes []byte. */
export function checkBase64Data(s: string): string | undefined {
  // Go's StdEncoding skips CR and LF; everything else must be the padded standard alphabet.
  const t = s.replace(/[\r\n]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) return 'value must be base64-encoded (standard alphabet, padded)';
  return undefined;
}

/** base64 decoded length, for the 1 MiB size limit. */
function decodedLength(s: string): number {
  const t = s.replace(/[\r\n]/g, '');
  return Math.floor((t.length * 3) / 4) - (t.endsWith('==') ? 2 : t.endsWith('=') ? 1 : 0);
}

/** checkEndpointIp returns why `s` cannot be an endpoint IP (ValidateNonSpecialIP). */
export function checkEndpointIp(s: string): string | undefined {
  const bad = checkIp(s);
  if (bad) return bad;
  // Like Go's net.IP, an IPv4-mapped IPv6 address is judged as the IPv4 address.
  const a = ipaddr.process(s);
  const inRange = (cidr: string): boolean => {
    const [net, bits] = ipaddr.parseCIDR(cidr);
    return a.kind() === net.kind() && a.match([net, bits] as [typeof a, number]);
  };
  if (inRange('0.0.0.0/32') || inRange('::/128')) return `may not be unspecified (${s})`;
  if (inRange('127.0.0.0/8') || inRange('::1/128')) return 'may not be in the loopback range (127.0.0.0/8, ::1/128)';
  if (inRange('169.254.0.0/16') || inRange('fe80::/10')) return 'may not be in the link-local range (169.254.0.0/16, fe80::/10)';
  if (inRange('224.0.0.0/24') || (a.kind() === 'ipv6' && (a as ipaddr.IPv6).parts[0] % 16 === 2 && (a as ipaddr.IPv6).parts[0] >> 8 === 0xff)) {
    return 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)';
  }
  return undefined;
}

const ipFamilyOf = (ip: string): 'IPv4' | 'IPv6' => (ip.includes(':') ? 'IPv6' : 'IPv4');

const Protocol = z.enum(['TCP', 'UDP', 'SCTP']);
const portName = (): z.ZodString => checkedString(checkIanaPortName);
const qualifiedName = (): z.ZodString => checkedString(checkK8sQualifiedName);
const dnsLabel = (): z.ZodString => checkedString(checkDns1123Label);
const dnsSubdomain = (): z.ZodString => checkedString(checkDns1123Subdomain);
const ip = (): z.ZodString => checkedString(checkIp);

/** A port number or an IANA port name (Service targetPort). */
function portNumberOrName(): z.ZodType<number | string> {
  const s = z.union([port(), portName()]);
  crdHints.add(s, { intOrString: true });
  return s;
}

/** A Kubernetes LabelSelector (ValidateLabelSelector): label keys/values and operator rules. */
const LabelSelector = obj({
    matchLabels: labelMap().optional(),
    matchExpressions: z
      .array(
        crossCheck(
          obj({ key: checkedString(checkLabelKey), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).optional() }),
          (e, ctx) => {
            const n = arr(e.values).length;
            if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) issue(ctx as Ctx, ['values'], "must be specified when `operator` is 'In' or 'NotIn'");
            if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) issue(ctx as Ctx, ['values'], "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
          },
        ),
      )
      .optional(),
});

/** ObjectReference (targetRef of an endpoint): only loosely checked, the mesh reads kind/name/namespace. */
const ObjectReference = z.looseObject({ kind: z.string().optional(), namespace: z.string().optional(), name: z.string().optional(), uid: z.string().optional() });

/** Reports a later list item whose key repeats an earlier one. */
function checkUnique(ctx: Ctx, items: unknown, key: (item: unknown) => string | undefined, path: (i: number) => Path, message: (k: string) => string): void {
  const seen = new Set<string>();
  arr(items).forEach((it, i) => {
    const k = key(it);
    if (k === undefined) return;
    if (seen.has(k)) issue(ctx, path(i), message(k));
    seen.add(k);
  });
}

// ---------------------------------------------------------------------------------------
// Service.

const ServicePort = obj({
  name: z.string().optional(),
  protocol: Protocol.optional(),
  appProtocol: qualifiedName().optional(),
  port: port(),
  targetPort: portNumberOrName().optional(),
  // 0 means "allocate one" for NodePort/LoadBalancer Services.
  nodePort: z.number().int().min(0).max(65535).optional(),
});

const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'] as const;

/** core/v1 ServiceSpec: the fields the registry reads, checked as ValidateService checks them. */
export const ServiceSpec = crossCheck(
  z.looseObject({
    type: z.enum(SERVICE_TYPES).optional(),
    selector: labelMap().optional(),
    ports: z.array(ServicePort).optional(),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])).optional(),
    ipFamilyPolicy: z.enum(['SingleStack', 'PreferDualStack', 'RequireDualStack']).optional(),
    externalName: z.string().optional(),
    externalIPs: z.array(z.string()).optional(),
    sessionAffinity: z.enum(['None', 'ClientIP']).optional(),
    sessionAffinityConfig: z
      .looseObject({ clientIP: z.looseObject({ timeoutSeconds: z.number().int().min(1, { error: 'must be greater than 0 and less than 86400' }).max(86400, { error: 'must be greater than 0 and less than 86400' }).optional() }).optional() })
      .optional(),
    externalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
    internalTrafficPolicy: z.enum(['Cluster', 'Local']).optional(),
    healthCheckNodePort: z.number().int().min(0).max(65535).optional(),
    publishNotReadyAddresses: z.boolean().optional(),
    loadBalancerIP: z.string().optional(),
    loadBalancerSourceRanges: z.array(z.string()).optional(),
    loadBalancerClass: qualifiedName().optional(),
    allocateLoadBalancerNodePorts: z.boolean().optional(),
    trafficDistribution: z.enum(['PreferClose', 'PreferSameZone', 'PreferSameNode']).optional(),
  }),
  (s, c) => {
    const ctx = c as Ctx;
    const type = s.type ?? 'ClusterIP';
    const ports = arr(s.ports).filter(isObj);
    const clusterIPs = arr(s.clusterIPs).filter((x): x is string => typeof x === 'string');
    const headless = s.clusterIP === 'None' || (clusterIPs.length === 1 && clusterIPs[0] === 'None');
    const ipPath: Path = s.clusterIP !== undefined && s.clusterIP !== '' ? ['clusterIP'] : ['clusterIPs', 0];

    if (ports.length === 0 && !headless && type !== 'ExternalName') {
      issue(ctx, ['ports'], 'at least one port is required unless the Service is headless (clusterIP: None) or of type ExternalName');
    }
    if (headless && (type === 'LoadBalancer' || type === 'NodePort')) issue(ctx, ipPath, `may not be set to 'None' for ${type} services`);

    if (type === 'ExternalName') {
      if (s.clusterIP) issue(ctx, ['clusterIP'], 'may not be set for ExternalName services');
      else if (clusterIPs.length > 0) issue(ctx, ['clusterIPs'], 'may not be set for ExternalName services');
      if (arr(s.ipFamilies).length > 0) issue(ctx, ['ipFamilies'], 'may not be set for ExternalName services');
      if (s.ipFamilyPolicy !== undefined) issue(ctx, ['ipFamilyPolicy'], 'may not be set for ExternalName services');
      // The value is a CNAME and may end with a dot.
      const cname = typeof s.externalName === 'string' ? s.externalName.replace(/\.$/, '') : '';
      if (cname === '') issue(ctx, ['externalName'], 'required for ExternalName services');
      else {
        const r = checkDns1123Subdomain(cname);
        if (r) issue(ctx, ['externalName'], r);
      }
    } else {
      checkClusterIPs(ctx, s.clusterIP, clusterIPs, arr(s.ipFamilies), headless);
    }

    // Ports: names (required and unique when there are several), (port, protocol) and
    // (nodePort, protocol) unique, nodePort only where Kubernetes allocates one.
    const names = new Set<string>();
    const portKeys = new Set<string>();
    const nodePortKeys = new Set<string>();
    arr(s.ports).forEach((p, i) => {
      if (!isObj(p)) return;
      const protocol = typeof p.protocol === 'string' ? p.protocol : 'TCP';
      if (p.name === undefined || p.name === '') {
        if (ports.length > 1) issue(ctx, ['ports', i, 'name'], 'required when the Service has more than one port');
      } else if (typeof p.name === 'string') {
        const r = checkDns1123Label(p.name);
        if (r) issue(ctx, ['ports', i, 'name'], r);
        else if (names.has(p.name)) issue(ctx, ['ports', i, 'name'], `duplicate port name "${p.name}"`);
        names.add(p.name);
      }
      if (typeof p.port === 'number') {
        const key = `${p.port}/${protocol}`;
        if (portKeys.has(key)) issue(ctx, ['ports', i], `duplicate port ${key}: each (port, protocol) pair may appear only once`);
        portKeys.add(key);
      }
      if (typeof p.nodePort === 'number' && p.nodePort !== 0) {
        if (type === 'ClusterIP') issue(ctx, ['ports', i, 'nodePort'], "may not be used when `type` is 'ClusterIP'");
        const key = `${p.nodePort}/${protocol}`;
        if (nodePortKeys.has(key)) issue(ctx, ['ports', i, 'nodePort'], `duplicate nodePort ${key}`);
        nodePortKeys.add(key);
      }
    });

    if (s.sessionAffinity !== 'ClientIP' && s.sessionAffinityConfig !== undefined) {
      issue(ctx, ['sessionAffinityConfig'], 'must not be set when session affinity is None');
    }

    arr(s.externalIPs).forEach((x, i) => {
      const r = typeof x === 'string' ? checkEndpointIp(x) : undefined;
      if (r) issue(ctx, ['externalIPs', i], r);
    });

    const lbOnly = (field: string, set: boolean): void => {
      if (set && type !== 'LoadBalancer') issue(ctx, [field], "may only be used when `type` is 'LoadBalancer'");
    };
    lbOnly('loadBalancerSourceRanges', arr(s.loadBalancerSourceRanges).length > 0);
    lbOnly('allocateLoadBalancerNodePorts', s.allocateLoadBalancerNodePorts !== undefined);
    lbOnly('loadBalancerClass', s.loadBalancerClass !== undefined);
    arr(s.loadBalancerSourceRanges).forEach((x, i) => {
      // Space padding is tolerated for historical reasons (the annotation form).
      const r = typeof x === 'string' ? checkCidr(x.trim()) : undefined;
      if (r) issue(ctx, ['loadBalancerSourceRanges', i], r);
    });

    const externallyAccessible = type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && arr(s.externalIPs).length > 0);
    if (!externallyAccessible && s.externalTrafficPolicy !== undefined) {
      issue(ctx, ['externalTrafficPolicy'], 'may only be set for externally-accessible services');
    }
    if (s.healthCheckNodePort !== undefined && s.healthCheckNodePort !== 0 && !(type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local')) {
      issue(ctx, ['healthCheckNodePort'], "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'");
    }
  },
);
export type ServiceSpec = z.output<typeof ServiceSpec>;

/** ValidateServiceClusterIPsRelatedFields, for what a user writes (clusterIP and clusterIPs). */
function checkClusterIPs(ctx: Ctx, clusterIP: unknown, clusterIPs: string[], families: unknown[], headless: boolean): void {
  if (typeof clusterIP === 'string' && clusterIP !== '' && clusterIP !== 'None' && checkIp(clusterIP)) {
    issue(ctx, ['clusterIP'], "must be empty, 'None', or a valid IP address");
  }
  if (typeof clusterIP === 'string' && clusterIP !== '' && clusterIPs.length > 0 && clusterIPs[0] !== clusterIP) {
    issue(ctx, ['clusterIPs'], 'first value must match `clusterIP`');
  }
  let invalid = false;
  clusterIPs.forEach((x, i) => {
    if (i === 0 && x === 'None') {
      if (clusterIPs.length > 1) {
        invalid = true;
        issue(ctx, ['clusterIPs'], "'None' must be the first and only value");
      }
      return;
    }
    const r = checkIp(x);
    if (r) {
      invalid = true;
      issue(ctx, ['clusterIPs', i], r);
    }
  });
  if (clusterIPs.length > 2) issue(ctx, ['clusterIPs'], 'may only hold up to 2 values');
  if (invalid) return;
  if (clusterIPs.length === 2 && ipFamilyOf(clusterIPs[0]) === ipFamilyOf(clusterIPs[1])) {
    issue(ctx, ['clusterIPs'], 'may specify no more than one IP for each IP family');
  }
  checkUnique(ctx, families, (f) => (typeof f === 'string' ? f : undefined), (i) => ['ipFamilies', i], (f) => `duplicate IP family "${f}"`);
  if (!headless) {
    clusterIPs.forEach((x, i) => {
      const f = families[i];
      if (typeof f === 'string' && f !== ipFamilyOf(x)) issue(ctx, ['clusterIPs', i], `expected an ${f} value as indicated by \`ipFamilies[${i}]\``);
    });
  }
}

// ---------------------------------------------------------------------------------------
// Endpoints and EndpointSlice.

const EndpointAddress = crossCheck(
  obj({ ip: z.string(), hostname: dnsLabel().optional(), nodeName: dnsSubdomain().optional(), targetRef: ObjectReference.optional() }),
  (a, ctx) => {
    const r = typeof a.ip === 'string' ? checkEndpointIp(a.ip) : undefined;
    if (r) issue(ctx as Ctx, ['ip'], r);
  },
);

const EndpointPort = obj({ name: dnsLabel().optional(), port: port(), protocol: Protocol.optional(), appProtocol: qualifiedName().optional() });

const EndpointSubset = crossCheck(
  obj({ addresses: z.array(EndpointAddress).optional(), notReadyAddresses: z.array(EndpointAddress).optional(), ports: z.array(EndpointPort).optional() }),
  (ss, ctx) => {
    if (arr(ss.addresses).length === 0 && arr(ss.notReadyAddresses).length === 0) issue(ctx as Ctx, [], 'must specify `addresses` or `notReadyAddresses`');
    const ports = arr(ss.ports);
    ports.forEach((p, i) => {
      if (ports.length > 1 && isObj(p) && (p.name === undefined || p.name === '')) issue(ctx as Ctx, ['ports', i, 'name'], 'required when the subset has more than one port');
    });
  },
);

const EndpointConditions = z.looseObject({ ready: z.boolean().nullable().optional(), serving: z.boolean().nullable().optional(), terminating: z.boolean().nullable().optional() });

const SliceEndpoint = obj({
  addresses: z.array(z.string()).min(1, { error: 'must contain at least 1 address' }).max(100),
  conditions: EndpointConditions.optional(),
  hostname: dnsLabel().optional(),
  targetRef: ObjectReference.optional(),
  nodeName: dnsSubdomain().optional(),
  zone: z.string().optional(),
  hints: z.looseObject({}).optional(),
  deprecatedTopology: stringMap().optional(),
});

const SlicePort = obj({
  name: z.string().optional(),
  protocol: Protocol.optional(),
  port: z.number().int().min(0).max(65535).nullable().optional(),
  appProtocol: qualifiedName().optional(),
});

/** IsFullyQualifiedDomainName: lower-case DNS subdomain of at least two labels. */
function checkFqdnAddress(s: string): string | undefined {
  const name = s.replace(/\.$/, '');
  const r = checkDns1123Subdomain(name);
  if (r) return r;
  if (name.split('.').length < 2) return `"${s}" should be a domain with at least two segments separated by dots`;
  return undefined;
}

/** discovery.k8s.io/v1 EndpointSlice body (top-level fields). */
export const EndpointSliceBody = crossCheck(
  obj({
    addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
    // kubectl prints `endpoints: null` for a slice without endpoints; null reads as unset.
    endpoints: z.array(SliceEndpoint).max(1000).nullable().optional(),
    ports: z.array(SlicePort).max(20000).nullable().optional(),
  }),
  (s, ctx) => {
    arr(s.endpoints).forEach((e, i) => {
      if (!isObj(e)) return;
      arr(e.addresses).forEach((a, j) => {
        if (typeof a !== 'string') return;
        let r: string | undefined;
        if (s.addressType === 'FQDN') r = checkFqdnAddress(a);
        else if (s.addressType === 'IPv4' || s.addressType === 'IPv6') {
          r = checkIp(a) ?? (ipFamilyOf(a) !== s.addressType ? `must be a valid ${s.addressType} address` : checkEndpointIp(a));
        }
        if (r) issue(ctx as Ctx, ['endpoints', i, 'addresses', j], r);
      });
    });
    // Names must be unique, the empty name included.
    const names = new Set<string>();
    arr(s.ports).forEach((p, i) => {
      if (!isObj(p)) return;
      const name = typeof p.name === 'string' ? p.name : '';
      if (name !== '') {
        const r = checkDns1123Label(name);
        if (r) issue(ctx as Ctx, ['ports', i, 'name'], r);
      }
      if (names.has(name)) issue(ctx as Ctx, ['ports', i, 'name'], name === '' ? 'duplicate unnamed port' : `duplicate port name "${name}"`);
      names.add(name);
    });
  },
);
export type EndpointSliceBody = z.output<typeof EndpointSliceBody>;

// ---------------------------------------------------------------------------------------
// Pods and Deployments.

const ContainerPort = obj({
  name: portName().optional(),
  containerPort: port(),
  hostPort: z.number().int().min(0).max(65535).optional(),
  hostIP: ip().optional(),
  protocol: Protocol.optional(),
});

/** A container: its name and ports are checked; image, env, probes, … are accepted as they are. */
const Container = crossCheck(z.looseObject({ name: dnsLabel(), ports: z.array(ContainerPort).optional() }), (c, ctx) =>
  checkUnique(ctx as Ctx, c.ports, (p) => (isObj(p) && typeof p.name === 'string' ? p.name : undefined), (i) => ['ports', i, 'name'], (n) => `duplicate port name "${n}"`),
);

/** core/v1 PodSpec: service account and containers (with their ports) are checked. */
export const PodSpec = crossCheck(
  z.looseObject({
    serviceAccountName: dnsSubdomain().optional(),
    // Deprecated alias of serviceAccountName, still printed by kubectl.
    serviceAccount: z.string().optional(),
    containers: z.array(Container).min(1),
    initContainers: z.array(Container).optional(),
    hostNetwork: z.boolean().optional(),
    nodeName: z.string().optional(),
  }),
  (s, ctx) => {
    const seen = new Set<string>();
    for (const field of ['initContainers', 'containers'] as const) {
      arr(s[field]).forEach((c, i) => {
        if (!isObj(c) || typeof c.name !== 'string') return;
        if (seen.has(c.name)) issue(ctx as Ctx, [field, i, 'name'], `duplicate container name "${c.name}"`);
        seen.add(c.name);
      });
    }
  },
);
export type PodSpec = z.output<typeof PodSpec>;

/** core/v1 PodStatus: phase and IPs are checked (the registry reads them); the rest is free. */
const PodStatus = crossCheck(
  z.looseObject({
    phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']).optional(),
    podIP: ip().optional(),
    podIPs: z.array(z.looseObject({ ip: ip() })).optional(),
    hostIP: ip().optional(),
  }),
  (s, ctx) => {
    const ips = arr(s.podIPs).map((p) => (isObj(p) && typeof p.ip === 'string' ? p.ip : undefined));
    if (ips.length > 2) issue(ctx as Ctx, ['podIPs'], 'may only hold up to 2 values');
    else if (ips.length === 2 && ips[0] && ips[1] && !checkIp(ips[0]) && !checkIp(ips[1]) && ipFamilyOf(ips[0]) === ipFamilyOf(ips[1])) {
      issue(ctx as Ctx, ['podIPs'], 'may specify no more than one IP for each IP family');
    }
  },
);

const TemplateMeta = z.looseObject({ labels: labelMap().optional(), annotations: stringMap().optional() });

/** apps/v1 DeploymentSpec: selector, template labels and the pod template's spec are checked. */
export const DeploymentSpec = crossCheck(
  z.looseObject({
    replicas: z.number().int().min(0).optional(),
    selector: LabelSelector,
    template: z.looseObject({ metadata: TemplateMeta.optional(), spec: PodSpec }),
  }),
  (d, ctx) => {
    const sel = isObj(d.selector) ? d.selector : {};
    const matchLabels = isObj(sel.matchLabels) ? (sel.matchLabels as Record<string, unknown>) : {};
    const exprs = arr(sel.matchExpressions).filter(isObj);
    if (Object.keys(matchLabels).length === 0 && exprs.length === 0) {
      issue(ctx as Ctx, ['selector'], 'empty selector is invalid for deployment');
      return;
    }
    const labels = isObj(d.template) && isObj(d.template.metadata) && isObj(d.template.metadata.labels) ? (d.template.metadata.labels as Record<string, unknown>) : {};
    if (!labelSelectorMatches(matchLabels, exprs, labels)) issue(ctx as Ctx, ['template', 'metadata', 'labels'], '`selector` does not match template `labels`');
  },
);
export type DeploymentSpec = z.output<typeof DeploymentSpec>;

/** Whether a label selector selects a label set (metav1.LabelSelectorAsSelector semantics). */
export function labelSelectorMatches(matchLabels: Record<string, unknown>, exprs: Record<string, unknown>[], labels: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(matchLabels)) if (labels[k] !== v) return false;
  for (const e of exprs) {
    const key = String(e.key);
    const values = arr(e.values);
    const has = Object.hasOwn(labels, key);
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(labels[key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Secret, ConfigMap, Namespace.

const MAX_DATA_BYTES = 1024 * 1024;

/** Secret types and the data keys each requires (after stringData is merged into data). */
const SECRET_REQUIRED_KEYS: Record<string, { keys: string[]; all: boolean }> = {
  'kubernetes.io/tls': { keys: ['tls.crt', 'tls.key'], all: true },
  'kubernetes.io/dockercfg': { keys: ['.dockercfg'], all: true },
  'kubernetes.io/dockerconfigjson': { keys: ['.dockerconfigjson'], all: true },
  'kubernetes.io/basic-auth': { keys: ['username', 'password'], all: false },
  'kubernetes.io/ssh-auth': { keys: ['ssh-privatekey'], all: true },
};

function checkDataKeys(ctx: Ctx, field: string, m: unknown): void {
  if (!isObj(m)) return;
  for (const k of Object.keys(m)) {
    const r = checkConfigMapKey(k);
    if (r) issue(ctx, [field, k], r);
  }
}

/** core/v1 Secret body: keys, base64 data, size and the keys its type requires. */
export const SecretBody = crossCheck(
  obj({
    type: z.string().optional(),
    data: z
      .record(z.string(), z.string())
      .superRefine((m, ctx) => {
        for (const [k, v] of Object.entries(m)) {
          const r = checkBase64Data(v);
          if (r) ctx.addIssue({ code: 'custom', message: r, path: [k], input: v });
        }
      })
      .optional(),
    stringData: z.record(z.string(), z.string()).optional(),
    immutable: z.boolean().optional(),
  }),
  (s, c) => {
    const ctx = c as Ctx;
    checkDataKeys(ctx, 'data', s.data);
    checkDataKeys(ctx, 'stringData', s.stringData);
    const data = isObj(s.data) ? (s.data as Record<string, string>) : {};
    const stringData = isObj(s.stringData) ? (s.stringData as Record<string, string>) : {};
    // The API server merges stringData into data before it validates.
    const merged = new Map<string, number>();
    for (const [k, v] of Object.entries(data)) if (typeof v === 'string' && !checkBase64Data(v)) merged.set(k, decodedLength(v));
    for (const [k, v] of Object.entries(stringData)) if (typeof v === 'string') merged.set(k, Buffer.byteLength(v));
    let total = 0;
    for (const n of merged.values()) total += n;
    if (total > MAX_DATA_BYTES) issue(ctx, ['data'], `too long: must have at most ${MAX_DATA_BYTES} bytes`);
    const req = typeof s.type === 'string' ? SECRET_REQUIRED_KEYS[s.type] : undefined;
    if (req) {
      const missing = req.keys.filter((k) => !merged.has(k) && !Object.hasOwn(data, k));
      if (req.all) for (const k of missing) issue(ctx, ['data', k], `required for a Secret of type ${s.type}`);
      else if (missing.length === req.keys.length) issue(ctx, ['data'], `one of ${req.keys.map((k) => `"${k}"`).join(', ')} is required for a Secret of type ${s.type}`);
    }
  },
);
export type SecretBody = z.output<typeof SecretBody>;

/** core/v1 ConfigMap body: keys, base64 binaryData, no key in both maps, size. */
export const ConfigMapBody = crossCheck(
  obj({
    data: z.record(z.string(), z.string()).optional(),
    binaryData: z
      .record(z.string(), z.string())
      .superRefine((m, ctx) => {
        for (const [k, v] of Object.entries(m)) {
          const r = checkBase64Data(v);
          if (r) ctx.addIssue({ code: 'custom', message: r, path: [k], input: v });
        }
      })
      .optional(),
    immutable: z.boolean().optional(),
  }),
  (cm, c) => {
    const ctx = c as Ctx;
    checkDataKeys(ctx, 'data', cm.data);
    checkDataKeys(ctx, 'binaryData', cm.binaryData);
    const data = isObj(cm.data) ? (cm.data as Record<string, string>) : {};
    const bin = isObj(cm.binaryData) ? (cm.binaryData as Record<string, string>) : {};
    let total = 0;
    for (const [k, v] of Object.entries(data)) {
      if (Object.hasOwn(bin, k)) issue(ctx, ['data', k], 'duplicate of key present in binaryData');
      if (typeof v === 'string') total += Buffer.byteLength(v);
    }
    for (const v of Object.values(bin)) if (typeof v === 'string' && !checkBase64Data(v)) total += decodedLength(v);
    if (total > MAX_DATA_BYTES) issue(ctx, [], `too long: data and binaryData must have at most ${MAX_DATA_BYTES} bytes`);
  },
);

const STANDARD_FINALIZERS = ['kubernetes', 'orphan', 'foregroundDeletion'];

const NamespaceSpec = z.looseObject({
  finalizers: z
    .array(
      checkedString((f) => {
        const r = checkK8sQualifiedName(f);
        if (r) return r;
        if (!f.includes('/') && !STANDARD_FINALIZERS.includes(f)) return `finalizer "${f}" is neither a standard finalizer name nor is it fully qualified`;
        return undefined;
      }),
    )
    .optional(),
});

// ---------------------------------------------------------------------------------------
// Kinds.

const core = (kind: string, plural: string, shortNames: string[], namespaced: boolean, body: z.ZodObject, metadataRules?: KindDef['metadataRules']): KindDef => ({
  group: '',
  kind,
  versions: ['v1'],
  plural,
  singular: kind.toLowerCase(),
  ...(shortNames.length > 0 ? { shortNames } : {}),
  namespaced,
  crd: false,
  body,
  ...(metadataRules ? { metadataRules } : {}),
});

// A service-account-token Secret must name its ServiceAccount (core validation ValidateSecret).
function secretRules(meta: ObjectMeta, body: Record<string, unknown>): { path: (string | number)[]; reason: string }[] {
  if (body.type !== 'kubernetes.io/service-account-token') return [];
  if (meta.annotations?.['kubernetes.io/service-account.name']) return [];
  return [{ path: ['metadata', 'annotations'], reason: 'a kubernetes.io/service-account-token Secret requires the annotation "kubernetes.io/service-account.name"' }];
}

/** The Kubernetes kinds the mesh reads (not CRDs: the API server serves them). */
export const CORE_KINDS: KindDef[] = [
  core('Service', 'services', ['svc'], true, obj({ spec: ServiceSpec, status: anyJson().optional() }), nameIsDnsLabel('Service', '1035')),
  core('Endpoints', 'endpoints', ['ep'], true, obj({ subsets: z.array(EndpointSubset).optional() })),
  core('Namespace', 'namespaces', ['ns'], false, obj({ spec: NamespaceSpec.optional(), status: anyJson().optional() }), nameIsDnsLabel('Namespace')),
  core('Pod', 'pods', ['po'], true, obj({ spec: PodSpec, status: PodStatus.optional() })),
  core('Secret', 'secrets', [], true, SecretBody, secretRules),
  core('ConfigMap', 'configmaps', ['cm'], true, ConfigMapBody),
  core(
    'ServiceAccount',
    'serviceaccounts',
    ['sa'],
    true,
    obj({ secrets: z.array(ObjectReference).optional(), imagePullSecrets: z.array(z.looseObject({ name: z.string().optional() })).optional(), automountServiceAccountToken: z.boolean().optional() }),
  ),
  {
    group: 'discovery.k8s.io',
    kind: 'EndpointSlice',
    versions: ['v1'],
    plural: 'endpointslices',
    singular: 'endpointslice',
    namespaced: true,
    crd: false,
    body: EndpointSliceBody,
  },
  {
    group: 'apps',
    kind: 'Deployment',
    versions: ['v1'],
    plural: 'deployments',
    singular: 'deployment',
    shortNames: ['deploy'],
    namespaced: true,
    crd: false,
    body: obj({ spec: DeploymentSpec, status: anyJson().optional() }),
  },
];
