/**
 * An ingress/egress gateway, wired: the same proxy agent as the sidecar (startProxyAgent: xDS,
 * engine, admin/health/stats ports, telemetry, tracing, SDS) with a router's bindings. Pilot
 * sends a router one listener per Gateway server port (`0.0.0.0_8080`); the gateway binds each on
 * its own address at that port — or at a mapped one, for machines where ports below 1024 need
 * root (`--port-map 80=8080`, `--port-offset 10000`). Its listeners are OUTBOUND, so its
 * telemetry reports `reporter=source` as Istio's gateways do.
 */
import type { BindFn, CompiledConfig, SecretProvider } from '@meshwork/proxy';
import { AgentError } from './errors.js';
import { startProxyAgent, type ProxyAgentOptions, type RunningSidecar, type SidecarLog } from './sidecar.js';

/** A --port-map entry or --port-offset that cannot be used. */
export class GatewayPortError extends AgentError {
  constructor(message: string) {
    super('MESH_ERR_AGENT_GATEWAY_PORT', message);
  }
}

/** How Gateway server ports become local ports. */
export interface GatewayPorts {
  /** Explicit mappings, Gateway port → local port (`80 → 8080`); they win over the offset. */
  readonly map: ReadonlyMap<number, number>;
  /** Added to every unmapped Gateway port (0: bind the port the Gateway names). */
  readonly offset: number;
}

/** parsePortMap returns the mapping of `--port-map` entries `80=8080`; throws GatewayPortError naming a bad entry. */
export function parsePortMap(entries: readonly string[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of entries) {
    const m = /^\s*(\d+)\s*=\s*(\d+)\s*$/.exec(e);
    const from = Number(m?.[1]);
    const to = Number(m?.[2]);
    if (!m || from < 1 || from > 65535 || to < 0 || to > 65535) throw new GatewayPortError(`--port-map: "${e}" is not <gateway port>=<local port> (1-65535)`);
    if (out.has(from)) throw new GatewayPortError(`--port-map: port ${from} is mapped twice`);
    out.set(from, to);
  }
  return out;
}

/** localPort returns the port a Gateway server port is bound on, or a GatewayPortError when the offset pushes it past 65535. */
export function localPort(ports: GatewayPorts, gatewayPort: number): number {
  const mapped = ports.map.get(gatewayPort);
  if (mapped !== undefined) return mapped;
  const p = gatewayPort + ports.offset;
  if (p < 1 || p > 65535) throw new GatewayPortError(`Gateway port ${gatewayPort} with --port-offset ${ports.offset} is ${p}, outside 1-65535`);
  return p;
}

/**
 * gatewayBind returns where a router binds each listener: every listener that binds to a port, on
 * `address` at its (mapped) port. API listeners and bind_to_port false are not bound. A port the
 * mapping cannot place is logged and skipped, the other listeners still serve.
 */
export function gatewayBind(o: { readonly address: string; readonly ports: GatewayPorts; readonly log?: SidecarLog }): BindFn {
  return (plan) => {
    if (plan.apiListener || !plan.bindToPort) return undefined;
    try {
      return { host: o.address, port: localPort(o.ports, plan.port) };
    } catch (err) {
      o.log?.error({ listener: plan.name, err: (err as Error).message }, 'listener not bound');
      return undefined;
    }
  };
}

/** What startGateway takes: the proxy agent's options plus where listeners bind. */
export interface GatewayOptions extends ProxyAgentOptions {
  /** The address Gateway listeners bind on (the gateway's own address; 127.0.0.1 locally). */
  readonly address: string;
  readonly ports: GatewayPorts;
}

/** A TLS filter chain naming an SDS secret the gateway does not hold. */
export interface MissingSecret {
  readonly listener: string;
  readonly secret: string;
}

/**
 * missingSecrets returns the secrets the configuration's TLS servers name that `secrets` does not
 * hold (a credentialName with no Secret yet): their handshakes are refused until it appears.
 */
export function missingSecrets(config: CompiledConfig, secrets: SecretProvider | undefined): MissingSecret[] {
  const out: MissingSecret[] = [];
  for (const [name, plan] of config.listeners) {
    for (const c of plan.filterChains) {
      for (const s of [c.tls?.certificateSds, c.tls?.validationSds]) {
        if (s !== undefined && secrets?.get(s) === undefined && !out.some((m) => m.listener === name && m.secret === s)) out.push({ listener: name, secret: s });
      }
    }
  }
  return out;
}

/** startGateway returns a running gateway: admin/health/stats ports up, listeners bound as pilot's configuration names them. */
export function startGateway(o: GatewayOptions): Promise<RunningSidecar> {
  return startProxyAgent({
    ...o,
    bind: gatewayBind(o),
    dataPlaneTls: true,
    // Istio reports a Gateway whose credentialName has no Secret; so do we, once per configuration.
    onApplied: (config) => {
      for (const m of missingSecrets(config, o.secrets)) o.log.warn(m, 'TLS server names a secret the gateway does not have; its handshakes are refused until the secret appears');
    },
  });
}

/** gatewayNodeId returns Istio's node id for a gateway: `router~<ip>~<pod>.<ns>~<ns>.svc.<domain>`. */
export function gatewayNodeId(ip: string, pod: string, namespace: string, domainSuffix: string): string {
  return `router~${ip}~${pod}.${namespace}~${namespace}.svc.${domainSuffix}`;
}
