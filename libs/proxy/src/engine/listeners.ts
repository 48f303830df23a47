/**
 * The engine's listeners (Envoy's listener manager): binds the listeners a configuration asks
 * for (where the app says — explicit mode maps `virtualOutbound` to the outbound port), and for
 * each connection inspects its first bytes (TLS ClientHello: SNI and ALPN; HTTP/2 preface; else
 * HTTP/1.1 or opaque), selects the filter chain as Envoy does, and hands the connection to the
 * HTTP/2, HTTP/1.1 or TCP handler of that chain. An update keeps listeners whose binding did not
 * change (open connections are not disturbed; chains and routes are read per connection/request
 * from the configuration in force), binds new ones and drains removed ones.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { selectFilterChain, type ConnectionFacts, type FilterChainTls, type ListenerPlanExt } from '../config/listeners.js';
import { H2Proxy } from '../http2/h2-proxy.js';
import { Http1Proxy } from '../listeners/http1-proxy.js';
import type { CompiledConfig, EngineClock, ExchangeRecord, FilterChainPlan, FilterDenial, HttpFilterContext, HttpFilterStage, ListenerPlan, DownstreamInfo, RequestHead, RouteTable } from '../model.js';
import { DownstreamTls, type TlsRefusal } from '../security/downstream-tls.js';
import type { SecretProvider } from '../security/secrets.js';
import { proxyTcp, type TcpRecord } from '../tcp/tcp-proxy.js';
import type { ClusterManager } from './clusters.js';
import { inspectClientHello } from './tls-inspector.js';

/**
 * One socket a listener is served on. `destinationPort`: the port its connections count as
 * addressed to for filter chain matching (explicit inbound capture: the sidecar binds each
 * inbound port itself, where iptables would redirect it to 15006 keeping the original port).
 */
export interface Binding {
  readonly host: string;
  readonly port: number;
  readonly destinationPort?: number;
}

/** Where a listener binds (several sockets allowed), or undefined/[] not to bind it (bind_to_port false, API listeners). */
export type BindFn = (plan: ListenerPlanExt, config: CompiledConfig) => Binding | readonly Binding[] | undefined;

/**
 * An exchange as the listener manager reports it: the transport's record plus what only the
 * engine knows — the HCM stat prefix of its chain and, when a filter answered it (RBAC 403, JWT
 * 401), Envoy's %RESPONSE_CODE_DETAILS% of that answer.
 */
export type EngineExchangeRecord = ExchangeRecord & { readonly responseCodeDetails?: string; readonly statPrefix?: string };

/**
 * A TCP connection as the listener manager reports it: the proxy's record plus the downstream
 * connection (peer identities after mTLS) and, for a connection a network filter closed (network
 * RBAC), Envoy's %CONNECTION_TERMINATION_DETAILS%.
 */
export type EngineTcpRecord = TcpRecord & { readonly downstream?: DownstreamInfo; readonly connectionTerminationDetails?: string; readonly statPrefix?: string };

/**
 * Connection counters under Envoy's listener stat names (`listener.<address>_<port>.<stat>`): `ssl.handshake`,
 * `ssl.fail_verify_no_cert`, `ssl.fail_verify_error`, `ssl.fail_verify_san`, `ssl.connection_error`,
 * `ssl.no_certificate`, `no_filter_chain_match`.
 */
export type ListenerStat = `ssl.${TlsRefusal | 'handshake'}` | 'no_filter_chain_match';

export interface ListenerManagerOptions {
  readonly clusters: ClusterManager;
  readonly clock: EngineClock;
  readonly bind: BindFn;
  /** Finished exchanges, with the listener they came through (its traffic direction says who reports). */
  /** `chain`: the HTTP filter chain the exchange ran on (its HCM's access logs and tracing settings). */
  readonly onHttp1?: (rec: EngineExchangeRecord, listener: ListenerPlanExt, chain: FilterChainPlan | undefined) => void;
  readonly onHttp2?: (rec: EngineExchangeRecord, listener: ListenerPlanExt, chain: FilterChainPlan | undefined) => void;
  readonly onTcp?: (rec: EngineTcpRecord, listener: ListenerPlanExt) => void;
  /** A proxied TCP connection's upstream is connected (its close still comes to onTcp, with `opened`). */
  readonly onTcpOpen?: (rec: EngineTcpRecord, listener: ListenerPlanExt) => void;
  /** A proxied TCP connection's bytes since its last report, every 5 s while it is open (proxyTcp's onReport). */
  readonly onTcpReport?: (rec: EngineTcpRecord, listener: ListenerPlanExt) => void;
  /** SDS secrets for filter chains that terminate TLS (`default`, `ROOTCA`, gateway credentials); without it such chains refuse connections. */
  readonly secrets?: SecretProvider;
  /** Told once per distinct problem (a secret not yet pushed, an unreadable certificate file), not per connection. */
  readonly onWarning?: (message: string) => void;
  /** A TLS handshake not done by then is refused; default 10 s. */
  readonly tlsHandshakeTimeoutMs?: number;
  /**
   * Stages the engine runs first on every HTTP chain of a listener, before the chain's own filters
   * (tracing: the span must exist before authentication can refuse the request). Asked once per
   * chain of each configuration, with that chain (its HCM's tracing sampling, say), and once per
   * listener for a connection no chain matched.
   */
  readonly systemFilters?: (listener: ListenerPlanExt, chain?: FilterChainPlan) => readonly HttpFilterStage[];
  /** How long a removed listener's connections may finish (Envoy drain). */
  readonly drainMs?: number;
}

/** One bound socket of a listener. */
interface Bound {
  readonly listener: string;
  readonly key: string;
  readonly server: Server;
  readonly port: number;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

/** isH2Preface tells whether bytes start (or could start, when short) the HTTP/2 client preface. */
function isH2Preface(first: Buffer): boolean {
  return first.length >= H2_PREFACE.length ? first.subarray(0, H2_PREFACE.length).equals(H2_PREFACE) : H2_PREFACE.subarray(0, first.length).equals(first);
}

/** How long a connection's first bytes may take to complete a TLS ClientHello record before a chain is picked with what arrived. */
const CLIENT_HELLO_WAIT_MS = 5_000;

/**
 * clientHelloLength returns how many bytes the TLS record starting `buf` spans (header included),
 * or undefined when `buf` does not start a TLS handshake record.
 */
function clientHelloLength(buf: Buffer): number | undefined {
  if (buf[0] !== 0x16) return undefined;
  if (buf.length < 5) return 5;
  return 5 + Math.min(buf.readUInt16BE(3), 16_384);
}

/**
 * readFirst calls `done` with a connection's first bytes (null: it ended first). A TLS
 * ClientHello is read whole, as Envoy's TLS inspector waits for it: a large ClientHello (post-
 * quantum key shares) spans several segments, and SNI/ALPN may sit in a later one.
 */
function readFirst(socket: Socket, done: (first: Buffer | null) => void): void {
  let buf: Buffer | null = null;
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    if (timer) clearTimeout(timer);
    socket.off('readable', onReadable);
    socket.off('end', onEnd);
    done(buf);
  };
  const onEnd = (): void => finish();
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while ((chunk = socket.read() as Buffer | null) !== null) buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    if (buf === null) return;
    const need = clientHelloLength(buf);
    if (need === undefined || buf.length >= need) return finish();
    timer ??= setTimeout(finish, CLIENT_HELLO_WAIT_MS);
  };
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
}

/** ALPN values after which the decrypted bytes are HTTP/1.x (Istio's client sidecars send `istio-http/1.x` only in the ClientHello, never negotiated). */
const HTTP1_ALPN = new Set(['http/1.1', 'http/1.0']);

/** listenerStatName returns Envoy's stat name of a listener: its address and port, `:` made `_` (`0.0.0.0_15006`). */
export function listenerStatName(plan: ListenerPlan): string {
  return `${plan.address.replace(/:/g, '_')}_${plan.port}`;
}

function plainDownstream(socket: Socket): DownstreamInfo {
  return { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, localAddress: socket.localAddress ?? '', localPort: socket.localPort ?? 0 };
}

/** ListenerManager binds and serves the listeners of the configuration in force. */
export class ListenerManager {
  private config: CompiledConfig | undefined;
  private readonly bound = new Map<string, Bound>();
  /** One HTTP/1.1 and one HTTP/2 proxy per route configuration name (their route table is read per request). */
  private readonly h1 = new Map<string, Http1Proxy>();
  private readonly h2 = new Map<string, H2Proxy>();
  /** The engine's own stages per listener name, made once. */
  /** System stages per filter chain (a new configuration brings new chain objects), or per listener name when no chain matched. */
  private readonly systemStages = new WeakMap<FilterChainPlan, readonly HttpFilterStage[]>();
  private readonly chainlessStages = new Map<string, readonly HttpFilterStage[]>();
  /** Stages per (listener, route configuration) for the configuration they were computed from. */
  /** The local answer a filter gave to a request, read back when its exchange is reported. */
  private readonly denials = new WeakMap<RequestHead, FilterDenial>();
  private readonly tls: DownstreamTls;
  private readonly counters = new Map<string, number>();
  private readonly warned = new Set<string>();

  constructor(private readonly opts: ListenerManagerOptions) {
    this.tls = new DownstreamTls({ ...(opts.secrets ? { secrets: opts.secrets } : {}), ...(opts.tlsHandshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: opts.tlsHandshakeTimeoutMs } : {}) });
  }

  /** stats returns the connection counters as Envoy names them (`listener.0.0.0.0_15006.ssl.handshake` …), for /stats. */
  stats(): ReadonlyMap<string, number> {
    return this.counters;
  }

  private count(plan: ListenerPlan, stat: ListenerStat): void {
    const k = `listener.${listenerStatName(plan)}.${stat}`;
    this.counters.set(k, (this.counters.get(k) ?? 0) + 1);
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.opts.onWarning?.(message);
  }

  /** Ports bound, by listener name (the first socket of each; for logs, tests and /config_dump). */
  ports(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const b of this.bound.values()) if (!out.has(b.listener)) out.set(b.listener, b.port);
    return out;
  }

  /** Every bound socket as `listener → [host:port]`. */
  bindings(): ReadonlyMap<string, string[]> {
    const out = new Map<string, string[]>();
    for (const b of this.bound.values()) out.set(b.listener, [...(out.get(b.listener) ?? []), `${b.key.split('#')[1]}`]);
    return out;
  }

  /**
   * apply moves to a new configuration: sockets whose binding is unchanged stay open, new ones
   * are bound, removed ones drain. Returns the sockets that could not be bound (with why);
   * the others serve regardless.
   */
  async apply(config: CompiledConfig): Promise<{ listener: string; error: string }[]> {
    this.config = config;
    const failures: { listener: string; error: string }[] = [];
    const want = new Map<string, { listener: string; b: Binding }>();
    for (const [name, plan] of config.listeners) {
      const r = this.opts.bind(plan as ListenerPlanExt, config);
      for (const b of r === undefined ? [] : Array.isArray(r) ? (r as readonly Binding[]) : [r as Binding]) want.set(`${name}#${b.host}:${b.port}#${b.destinationPort ?? ''}`, { listener: name, b });
    }
    for (const [key, b] of this.bound) {
      if (want.has(key)) continue;
      this.bound.delete(key);
      void this.closeServer(b.server);
    }
    for (const [key, { listener, b }] of want) {
      if (this.bound.has(key)) continue;
      try {
        this.bound.set(key, await this.listen(listener, key, b));
      } catch (err) {
        failures.push({ listener, error: `cannot bind ${b.host}:${b.port}: ${(err as Error).message}` });
      }
    }
    return failures;
  }

  /** close stops every listener and lets open exchanges drain. */
  async close(): Promise<void> {
    const servers = [...this.bound.values()].map((b) => this.closeServer(b.server));
    this.bound.clear();
    this.tls.close();
    await Promise.all([...servers, ...[...this.h1.values()].map((p) => p.close()), ...[...this.h2.values()].map((p) => p.close())]);
  }

  private listen(name: string, key: string, b: Binding): Promise<Bound> {
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (s) => this.onConnection(name, s, b.destinationPort));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(b.port, b.host, () => {
        server.off('error', reject);
        resolve({ listener: name, key, server, port: (server.address() as { port: number }).port });
      });
    });
  }

  private closeServer(server: Server): Promise<void> {
    return new Promise((resolve) => {
      server.close(() => resolve());
      setTimeout(() => resolve(), this.opts.drainMs ?? 5000).unref();
    });
  }

  private onConnection(name: string, socket: Socket, destinationPort: number | undefined): void {
    socket.on('error', () => undefined);
    readFirst(socket, (first) => {
      if (!first) return socket.destroy();
      const plan = this.config?.listeners.get(name);
      if (!plan) return socket.destroy();
      const facts = this.facts(socket, first, plan, destinationPort);
      const chain = selectFilterChain(plan, facts);
      if (!chain) {
        // STRICT mTLS has no plaintext chain: a plaintext connection matches nothing and is closed, as in Envoy.
        this.count(plan, 'no_filter_chain_match');
        return socket.destroy();
      }
      if (chain.tls) void this.terminate(socket, plan as ListenerPlanExt, chain, facts, first);
      else this.dispatch(socket, plan as ListenerPlanExt, chain, plainDownstream(socket), first, facts.applicationProtocols?.includes('h2c') === true);
    });
  }

  private facts(socket: Socket, first: Buffer, plan: ListenerPlan, destinationPort: number | undefined): ConnectionFacts {
    const base = { destinationPort: destinationPort ?? (plan.port !== 0 ? plan.port : socket.localPort), destinationIp: socket.localAddress };
    if (first[0] === 0x16) {
      const hello = inspectClientHello(first);
      return { ...base, transportProtocol: 'tls', ...(hello?.serverName ? { serverName: hello.serverName } : {}), applicationProtocols: hello?.alpn ?? [] };
    }
    return { ...base, transportProtocol: 'raw_buffer', applicationProtocols: [isH2Preface(first) ? 'h2c' : 'http/1.1'] };
  }

  /**
   * terminate runs the chain's downstream TLS handshake (the peeked ClientHello replayed into it),
   * refuses what the chain's TLS context refuses, and dispatches the decrypted connection with its
   * SNI, ALPN and peer identities.
   */
  private async terminate(socket: Socket, listener: ListenerPlanExt, chain: FilterChainPlan, facts: ConnectionFacts, first: Buffer): Promise<void> {
    const r = await this.tls.accept(socket, first, chain.tls as FilterChainTls, facts.applicationProtocols ?? []);
    if (!r.ok) {
      this.count(listener, `ssl.${r.reason}`);
      if (r.reason === 'no_certificate') this.warnOnce(`listener ${listener.name} chain ${chain.name ?? '?'}: TLS refused: ${r.error}`);
      socket.destroy();
      return;
    }
    this.count(listener, 'ssl.handshake');
    const t = r.socket;
    t.on('error', () => undefined);
    const down: DownstreamInfo = { ...plainDownstream(socket), tls: r.peer };
    const alpn = r.peer.alpn;
    if (chain.handler.kind === 'tcp' || alpn === 'h2' || (alpn !== undefined && HTTP1_ALPN.has(alpn))) {
      this.dispatch(t, listener, chain, down, undefined, alpn === 'h2');
      return;
    }
    // No ALPN (or istio-peer-exchange): the HTTP connection manager's AUTO codec looks at the decrypted preface.
    t.once('readable', () => {
      const head = t.read() as Buffer | null;
      if (!head) return t.destroy();
      this.dispatch(t, listener, chain, down, head, isH2Preface(head));
    });
  }

  /**
   * dispatch hands the connection to its chain's handler after the chain's network filters.
   * `first`: bytes already read from it (given back to the handler); `h2`: it speaks HTTP/2.
   */
  private dispatch(socket: Socket, listener: ListenerPlanExt, chain: FilterChainPlan, down: DownstreamInfo, first: Buffer | undefined, h2: boolean): void {
    const h = chain.handler;
    // Network filters (network RBAC) decide on the connection before any handler sees it.
    const nf = chain.networkFilters ?? [];
    if (nf.length > 0) {
      void (async () => {
        for (const f of nf) {
          const reason = await f.run(down);
          if (reason !== undefined) {
            socket.destroy();
            this.opts.onTcp?.({ ...(h.kind === 'tcp' ? { cluster: h.clusters[0]?.name } : {}), flags: [], sentBytes: 0, receivedBytes: 0, durationMs: 0, downstream: down, connectionTerminationDetails: reason, ...(h.statPrefix ? { statPrefix: h.statPrefix } : {}) }, listener);
            return;
          }
        }
        this.dispatch(socket, listener, { ...chain, networkFilters: [] }, down, first, h2);
      })();
      return;
    }
    if (h2 && h.kind === 'http') {
      this.h2For(listener, h.routeConfig).handle(socket, first, down);
      socket.resume();
      return;
    }
    // The other handlers read the socket as a stream: give the bytes back.
    if (first) socket.unshift(first);
    if (h.kind === 'tcp') {
      // proxyTcp resumes the socket itself once the upstream is connected.
      const { onTcp, onTcpOpen, onTcpReport } = this.opts;
      const sp = h.statPrefix ? { statPrefix: h.statPrefix } : {};
      void proxyTcp(socket, {
        clusters: h.clusters,
        cluster: (n) => this.opts.clusters.get(n),
        clock: this.opts.clock,
        ...(h.reportIntervalMs !== undefined ? { reportIntervalMs: h.reportIntervalMs } : {}),
        ...(onTcp ? { onClose: (r: TcpRecord) => onTcp({ ...r, downstream: down, ...sp }, listener) } : {}),
        ...(onTcpOpen ? { onOpen: (r: TcpRecord) => onTcpOpen({ ...r, downstream: down, ...sp }, listener) } : {}),
        ...(onTcpReport ? { onReport: (r: TcpRecord) => onTcpReport({ ...r, downstream: down, ...sp }, listener) } : {}),
      });
      return;
    }
    this.h1For(listener, h.routeConfig).handle(socket, down);
    socket.resume();
  }

  /** One HTTP/2 proxy per (listener, route configuration): its route table is read per request from the configuration in force. */
  private h2For(listener: ListenerPlanExt, routeConfig: string): H2Proxy {
    const key = `${listener.name}|${routeConfig}`;
    let p = this.h2.get(key);
    if (!p) {
      const on = this.opts.onHttp2;
      const name = listener.name;
      const view = this.chainView(listener, name, routeConfig);
      p = new H2Proxy({
        engine: { routeTable: view.routeTable, filters: view.filters, cluster: (n) => this.opts.clusters.get(n), clock: this.opts.clock },
        ...(on ? { onExchange: (r: ExchangeRecord) => on(this.reported(r, name, routeConfig), view.listener(), view.chain()) } : {}),
      });
      this.h2.set(key, p);
    }
    return p;
  }

  /** systemStagesOf returns the system stages of a chain (made once per chain object), or of a listener whose connection no chain matched. */
  private systemStagesOf(listener: ListenerPlanExt, name: string, chain: FilterChainPlan | undefined): readonly HttpFilterStage[] {
    const make = this.opts.systemFilters;
    if (!make) return [];
    if (!chain) {
      let sys = this.chainlessStages.get(name);
      if (!sys) this.chainlessStages.set(name, (sys = make(listener)));
      return sys;
    }
    let sys = this.systemStages.get(chain);
    if (!sys) this.systemStages.set(chain, (sys = make(listener, chain)));
    return sys;
  }

  /**
   * chainView returns what the HTTP proxy of one (listener, route configuration) reads per
   * request — its filter chain, the stages it runs before routing (the engine's, then the
   * chain's), its route table and listener plan — recomputed only when the configuration in force
   * changes (no per-request key or map lookup).
   */
  private chainView(listener: ListenerPlanExt, name: string, routeConfig: string): { chain(): FilterChainPlan | undefined; filters(): readonly HttpFilterStage[]; routeTable(): RouteTable | undefined; listener(): ListenerPlanExt } {
    let at: CompiledConfig | undefined | null = null;
    let chain: FilterChainPlan | undefined;
    let stages: readonly HttpFilterStage[] = [];
    let table: RouteTable | undefined;
    let plan: ListenerPlanExt = listener;
    const refresh = (): void => {
      if (at === this.config) return;
      at = this.config;
      chain = this.chainOf(name, routeConfig);
      table = this.config?.routeTables.get(routeConfig);
      plan = (this.config?.listeners.get(name) as ListenerPlanExt | undefined) ?? listener;
      const own = (chain?.httpFilters ?? []).map((f) => this.remembering(f));
      const sys = this.systemStagesOf(listener, name, chain);
      stages = sys.length === 0 ? own : own.length === 0 ? sys : [...sys, ...own];
    };
    return {
      chain: () => (refresh(), chain),
      filters: () => (refresh(), stages),
      routeTable: () => (refresh(), table),
      listener: () => (refresh(), plan),
    };
  }

  /**
   * remembering wraps a filter stage so that its local answer (a 403 from RBAC, a 401 from JWT) is
   * remembered by request, for the exchange's record; synchronous answers stay synchronous.
   */
  private remembering(stage: HttpFilterStage): HttpFilterStage {
    const denials = this.denials;
    return {
      name: stage.name,
      run(ctx: HttpFilterContext) {
        const r = stage.run(ctx);
        if (r instanceof Promise)
          return r.then((d) => {
            if (d !== undefined) denials.set(ctx.req, d);
            return d;
          });
        if (r !== undefined) denials.set(ctx.req, r);
        return r;
      },
    };
  }

  /** reported adds to a transport's record what the engine knows: the details of a filter's local answer and the chain's stat prefix. */
  private reported(rec: ExchangeRecord, listener: string, routeConfig: string): EngineExchangeRecord {
    const d = this.denials.get(rec.request);
    if (d === undefined) return rec;
    // Read once: should a transport ever reuse its request object, the next exchange starts clean.
    this.denials.delete(rec.request);
    const h = this.chainOf(listener, routeConfig)?.handler;
    return { ...rec, responseCodeDetails: d.details, ...(h?.statPrefix ? { statPrefix: h.statPrefix } : {}) };
  }


  /** chainOf returns the current configuration's HTTP chain of a listener that uses `routeConfig`. */
  private chainOf(listener: string, routeConfig: string): FilterChainPlan | undefined {
    return this.config?.listeners.get(listener)?.filterChains.find((c) => c.handler.kind === 'http' && c.handler.routeConfig === routeConfig);
  }

  /** One HTTP/1.1 proxy per (listener, route configuration), with the same engine view as HTTP/2's. */
  private h1For(listener: ListenerPlanExt, routeConfig: string): Http1Proxy {
    const key = `${listener.name}|${routeConfig}`;
    let p = this.h1.get(key);
    if (!p) {
      const on = this.opts.onHttp1;
      const name = listener.name;
      const view = this.chainView(listener, name, routeConfig);
      p = new Http1Proxy({
        engine: { routeTable: view.routeTable, filters: view.filters, cluster: (n) => this.opts.clusters.get(n), clock: this.opts.clock },
        ...(on ? { onExchange: (r: ExchangeRecord) => on(this.reported(r, name, routeConfig), view.listener(), view.chain()) } : {}),
      });
      this.h1.set(key, p);
    }
    return p;
  }
}

export { originalDestination } from '../listeners/http1-proxy.js';
