/**
 * Table-driven tests of the VirtualService and Gateway rules that are easy to get wrong:
 * each case is a spec, and the exact set of `path | reason` errors Istio-compatible
 * validation must report for it (empty for specs Istio accepts).
 */
import { describe, expect, it } from 'vitest';
import { validateText } from '../validate.js';
import { checkGatewayHost, checkHeaderValue, checkRetryOn, checkWildcardDomain } from './networking-routing.js';

function errorsOf(kind: 'VirtualService' | 'Gateway', spec: unknown, version = 'v1'): string[] {
  const doc = { apiVersion: `networking.istio.io/${version}`, kind, metadata: { name: 'x', namespace: 'default' }, spec };
  return validateText(JSON.stringify(doc)).diagnostics.map((d) => `${d.path} | ${d.reason}`).sort();
}

const to = (host = 'reviews') => [{ destination: { host } }];
const vs = (http: unknown[], extra: Record<string, unknown> = {}) => ({ hosts: ['reviews'], http, ...extra });
const gw = (server: Record<string, unknown>) => ({ servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'], ...server }] });

type Case = [name: string, spec: unknown, expected: string[]];

describe('VirtualService validation', () => {
  const cases: Case[] = [
    ['plain route', vs([{ route: to() }]), []],
    // Hosts and delegates.
    ['no hosts makes a delegate VirtualService', { http: [{ route: to() }] }, []],
    ['delegate VirtualService with gateways and tcp', { gateways: ['gw'], http: [{ route: to() }], tcp: [{ route: to() }] }, [
      'spec.gateways | a delegate VirtualService (one without hosts) must not set gateways',
      'spec.tcp | a delegate VirtualService (one without hosts) must not have tcp routes',
    ]],
    ['route of a delegate VirtualService delegating again', { http: [{ delegate: { name: 'a', namespace: 'b' } }] }, [
      'spec.http[0] | an HTTP route must have a route, a redirect or a directResponse',
      'spec.http[0].delegate | a route of a delegate VirtualService cannot delegate again',
    ]],
    ['root route with delegate and route', vs([{ delegate: { name: 'a' }, route: to() }]), ['spec.http[0].route | a route with delegate must not set route']],
    ['root route with only a delegate', vs([{ delegate: { name: 'a', namespace: 'b' } }], { gateways: ['gw'] }), []],
    ['no routes at all', { hosts: ['reviews'] }, ['spec | a VirtualService must have at least one http, tcp or tls route']],
    ['wildcard host for the mesh', vs([{ route: to() }], { hosts: ['*'] }), [
      'spec.hosts[0] | host "*" is not allowed for a VirtualService that applies to sidecars (the mesh gateway); name the services',
    ]],
    ['wildcard host on a gateway', vs([{ route: to() }], { hosts: ['*'], gateways: ['istio-system/ingress'] }), []],
    ['wildcard host on a gateway and the mesh', vs([{ route: to() }], { hosts: ['*'], gateways: ['gw', 'mesh'] }), [
      'spec.hosts[0] | host "*" is not allowed for a VirtualService that applies to sidecars (the mesh gateway); name the services',
    ]],
    ['IP address hosts are allowed', vs([{ route: to() }], { hosts: ['10.0.0.1', '2001:db8::1'] }), []],
    ['overlapping hosts', vs([{ route: to() }], { hosts: ['*.example.com', 'a.example.com', 'b.com'] }), [
      'spec.hosts[1] | duplicate hosts in virtual service: "*.example.com" and "a.example.com" overlap',
    ]],
    ['invalid host label', vs([{ route: to() }], { hosts: ['foo_bar.com'] }), [
      'spec.hosts[0] | domain name "foo_bar.com" is invalid: label "foo_bar" is not a valid DNS label (a wildcard may only start the first label)',
    ]],
    ['all-numeric top-level domain', vs([{ route: to() }], { hosts: ['foo.123'] }), [
      'spec.hosts[0] | domain name "foo.123" is invalid: top-level domain "123" cannot be all-numeric',
    ]],
    ['trailing dot and upper case are Istio-valid', vs([{ route: to() }], { hosts: ['Reviews.Prod.svc.cluster.local.'] }), []],
    // Gateway references.
    ['gateway references', vs([{ route: to() }], { gateways: ['mesh', 'gw', 'gw.istio-system', 'istio-system/gw', 'ns/Bad_Name', '/gw'] }), [
      'spec.gateways[4] | invalid gateway "ns/Bad_Name": gateway name "Bad_Name" is not a valid DNS label',
      'spec.gateways[5] | invalid gateway "/gw": the namespace and the gateway name must both be non-empty',
    ]],
    // exportTo.
    ['exportTo rules', vs([{ route: to() }], { exportTo: ['.', 'ns1', 'ns1', '~', 'Bad_ns'] }), [
      'spec.exportTo[2] | duplicate exportTo entry "ns1"',
      'spec.exportTo[3] | exportTo "~" (visible to no one) is only allowed for ServiceEntry',
      'spec.exportTo[4] | exportTo entry "Bad_ns" must be ".", "*" or a namespace name (DNS label)',
    ]],
    ['exportTo star with others', vs([{ route: to() }], { exportTo: ['*', '.'] }), ['spec.exportTo | exportTo "*" (all namespaces) cannot be combined with other entries']],
    // Route kinds.
    ['route and redirect', vs([{ route: to(), redirect: { uri: '/x' } }]), ['spec.http[0].redirect | an HTTP route cannot have both route and redirect']],
    ['redirect with fault and rewrite', vs([{ redirect: { uri: '/x' }, fault: { abort: { httpStatus: 503 } }, rewrite: { uri: '/y' } }]), [
      'spec.http[0].fault | an HTTP route cannot have both fault and redirect',
      'spec.http[0].rewrite | an HTTP route cannot have both rewrite and redirect',
    ]],
    ['directResponse with route', vs([{ route: to(), directResponse: { status: 503 } }]), ['spec.http[0].directResponse | an HTTP route cannot have both route and directResponse']],
    ['redirect with directResponse', vs([{ redirect: { uri: '/x' }, directResponse: { status: 503 } }]), ['spec.http[0].directResponse | an HTTP route cannot have both directResponse and redirect']],
    ['nothing to do', vs([{ match: [{ uri: { prefix: '/' } }] }]), ['spec.http[0] | an HTTP route must have a route, a redirect, a directResponse or a delegate']],
    ['mirror and mirrors', vs([{ route: to(), mirror: { host: 'b' }, mirrors: [{ destination: { host: 'c' } }] }]), ['spec.http[0].mirrors | an HTTP route cannot have both mirror and mirrors']],
    // Weights: Istio no longer requires a sum of 100 (the analyzer warns), but all-zero is an error.
    ['weights not adding up to 100', vs([{ route: [{ destination: { host: 'a' }, weight: 30 }, { destination: { host: 'b' }, weight: 30 }] }]), []],
    ['weights all zero', vs([{ route: [{ destination: { host: 'a' }, weight: 0 }, { destination: { host: 'b' } }] }]), [
      'spec.http[0].route | the total weight of the destinations is 0; at least one weight must be positive',
    ]],
    ['negative weight', vs([{ route: [{ destination: { host: 'a' }, weight: -10 }, { destination: { host: 'b' }, weight: 110 }] }]), [
      'spec.http[0].route[0].weight | weight must not be negative, got -10',
    ]],
    // Destinations.
    ['destination rules', vs([{ route: [{ destination: { host: '*', subset: 'v1.0', port: {} } }] }]), [
      'spec.http[0].route[0].destination.host | invalid destination host "*": a destination must name one service',
      'spec.http[0].route[0].destination.port.number | port number 0 must be in the range 1..65535',
      'spec.http[0].route[0].destination.subset | subset name "v1.0" is invalid: it must be a DNS label',
    ]],
    // Matches.
    ['match rules', vs([{
      match: [{
        uri: { prefix: '' },
        method: { prefix: '' },
        headers: { 'bad header': { exact: 'x' }, ':authority': { exact: 'a' }, 'x-re': { regex: '(' } },
        withoutHeaders: { 'x-present': { regex: '*' } },
        port: 70000,
        sourceLabels: { 'app/x/y': 'v', version: 'bad value' },
        sourceNamespace: 'Bad_NS',
        queryParams: { q: { regex: '' } },
      }],
      route: to(),
    }]), [
      'spec.http[0].match[0].headers["bad header"] | "bad header" is not a valid header name',
      'spec.http[0].match[0].headers.x-re.regex | invalid RE2 regex "(": error parsing regexp: missing closing ): `(`',
      'spec.http[0].match[0].method.prefix | prefix string match must not be empty',
      'spec.http[0].match[0].port | port number 70000 must be in the range 1..65535',
      'spec.http[0].match[0].queryParams.q.regex | regex string match must not be empty',
      'spec.http[0].match[0].sourceLabels["app/x/y"] | invalid label key "app/x/y"',
      'spec.http[0].match[0].sourceLabels.version | invalid label value "bad value": it must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and start and end with an alphanumeric character',
      'spec.http[0].match[0].sourceNamespace | sourceNamespace "Bad_NS" is not a valid namespace name (DNS label)',
    ]],
    ['match with both exact and prefix', vs([{ match: [{ uri: { exact: '/a', prefix: '/b' } }], route: to() }]), [
      'spec.http[0].match[0].uri.prefix | only one of exact, prefix, regex may be set, found exact and prefix',
    ]],
    ['JWT claim routing needs a gateway', vs([{ match: [{ headers: { '@request.auth.claims.group': { exact: 'admin' } } }], route: to() }]), [
      'spec.http[0].match[0].headers["@request.auth.claims.group"] | routing on JWT claims ("@request.auth.claims.group") is only supported for VirtualServices bound to gateways',
    ]],
    ['JWT claim routing on a gateway', vs([{ match: [{ headers: { '@request.auth.claims[group]': { exact: 'admin' } } }], route: to() }], { gateways: ['gw'] }), []],
    // Header operations.
    ['header operations', vs([{
      route: to(),
      headers: {
        request: { set: { ':path': '/x', host: 'a.example.com' }, add: { 'x-pct': '100%' }, remove: ['host'] },
        response: { set: { ':status': '200' }, add: { 'x-v': '%HOSTNAME%', 'x-r': '%REQ(x-id)%', 'x-100': '100%%' } },
      },
    }]), [
      'spec.http[0].headers.request.add.x-pct | header value "100%" has an unescaped "%" (write "%%" for a literal percent sign)',
      'spec.http[0].headers.request.remove[0] | invalid header "host": the Host header cannot be modified here',
      'spec.http[0].headers.request.set[":path"] | invalid header ":path": pseudo-headers (":" prefix) cannot be modified',
      'spec.http[0].headers.response.set[":status"] | invalid header ":status": pseudo-headers (":" prefix) cannot be modified',
    ]],
    ['authority rewritten twice', vs([{ route: to(), rewrite: { authority: 'a.com' }, headers: { request: { set: { ':authority': 'b.com' } } } }]), [
      'spec.http[0].headers.request.set[":authority"] | the authority is already rewritten to "a.com"; it cannot also be set to "b.com"',
    ]],
    // Redirects.
    ['redirect rules', vs([{ redirect: { uri: '/a', prefixRewrite: '/b', redirectCode: 200, scheme: 'ftp', port: 70000 } }]), [
      'spec.http[0].redirect.port | port number 70000 must be in the range 1..65535',
      'spec.http[0].redirect.prefixRewrite | redirect may set only one of uri and prefixRewrite',
      'spec.http[0].redirect.redirectCode | redirect code 200 is invalid: it must be a 3xx status',
      'spec.http[0].redirect.scheme | invalid redirect scheme "ftp": must be "http" or "https"',
    ]],
    ['empty redirect', vs([{ redirect: { redirectCode: 308 } }]), ['spec.http[0].redirect | redirect must set at least one of uri, prefixRewrite, authority, scheme, port or derivePort']],
    ['redirect port and derivePort', vs([{ redirect: { port: 8443, derivePort: 'FROM_REQUEST_PORT' } }]), [
      'spec.http[0].redirect.derivePort | only one of port, derivePort may be set, found port and derivePort',
    ]],
    ['prefixRewrite needs prefix matches', vs([{ match: [{ uri: { exact: '/a' } }, { uri: { prefix: '/b' } }], redirect: { prefixRewrite: '/c' } }]), [
      'spec.http[0].match[0].uri | redirect.prefixRewrite requires every uri match to be a prefix match',
    ]],
    // Direct responses.
    ['direct response status and body', vs([{ directResponse: { status: 600, body: { bytes: 'not base64!' } } }]), [
      'spec.http[0].directResponse.body.bytes | must be base64-encoded bytes (standard alphabet with padding)',
      'spec.http[0].directResponse.status | HTTP status 600 must be in the range 200..599',
    ]],
    ['direct response without status', vs([{ directResponse: { body: { string: 'x' } } }]), ['spec.http[0].directResponse.status | required field is missing']],
    // Rewrites.
    ['rewrite rules', vs([{ route: to(), rewrite: { uri: '/a', uriRegexRewrite: { match: '(', rewrite: '/b' } } }]), [
      'spec.http[0].rewrite.uriRegexRewrite | rewrite may set only one of uri and uriRegexRewrite',
      'spec.http[0].rewrite.uriRegexRewrite.match | invalid RE2 regex "(": error parsing regexp: missing closing ): `(`',
    ]],
    ['empty rewrite', vs([{ route: to(), rewrite: {} }]), ['spec.http[0].rewrite | rewrite must set at least one of uri, uriRegexRewrite or authority']],
    ['regex rewrite without rewrite', vs([{ route: to(), rewrite: { uriRegexRewrite: { match: '^/a' } } }]), ['spec.http[0].rewrite.uriRegexRewrite | uriRegexRewrite requires both match and rewrite']],
    // Timeouts and retries.
    ['timeouts must be at least 1ms', vs([{ route: to(), timeout: '0s' }]), ['spec.http[0].timeout | duration must be at least 1ms, got "0s"']],
    ['retry rules', vs([{ route: to(), retries: { attempts: -1, perTryTimeout: '500us', retryOn: '5xx,503,reset, connect-failure,bogus' } }]), [
      'spec.http[0].retries.attempts | attempts must not be negative, got -1',
      'spec.http[0].retries.perTryTimeout | duration must be at least 1ms, got "500us"',
      'spec.http[0].retries.retryOn | " connect-failure" is not a valid retryOn policy: use Envoy retry policies (5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, ...) or HTTP status codes, separated by commas without spaces',
      'spec.http[0].retries.retryOn | "bogus" is not a valid retryOn policy: use Envoy retry policies (5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream, retriable-status-codes, ...) or HTTP status codes, separated by commas without spaces',
    ]],
    ['retry settings with zero attempts', vs([{ route: to(), retries: { attempts: 0, retryOn: '5xx' } }]), [
      'spec.http[0].retries.attempts | retry settings are configured but attempts is 0, which disables retries',
    ]],
    ['retries disabled', vs([{ route: to(), retries: { attempts: 0 } }]), []],
    // Faults.
    ['fault rules', vs([{ route: to(), fault: { delay: { fixedDelay: '1s', percentage: { value: 0.00001 } }, abort: { grpcStatus: 'NOPE', percentage: { value: 101 } } } }]), [
      'spec.http[0].fault.abort.grpcStatus | gRPC status "NOPE" is not supported; use a code name such as NOT_FOUND or UNAVAILABLE (https://github.com/grpc/grpc/blob/master/doc/statuscodes.md)',
      'spec.http[0].fault.abort.percentage.value | percentage 101 must be 0 or in the range [0.0001, 100]',
      'spec.http[0].fault.delay.percentage.value | percentage 0.00001 must be 0 or in the range [0.0001, 100]',
    ]],
    ['empty fault', vs([{ route: to(), fault: {} }]), ['spec.http[0].fault | fault injection must set an abort, a delay or both']],
    ['unsupported fault kinds', vs([{ route: to(), fault: { delay: { exponentialDelay: '1s' }, abort: { http2Error: 'REFUSED_STREAM' } } }]), [
      'spec.http[0].fault.abort.http2Error | HTTP/2 abort fault injection is not supported yet',
      'spec.http[0].fault.delay.exponentialDelay | exponentialDelay is not supported yet; use fixedDelay',
    ]],
    ['abort status 199', vs([{ route: to(), fault: { abort: { httpStatus: 199 } } }]), ['spec.http[0].fault.abort.httpStatus | HTTP status 199 must be in the range 200..599']],
    ['deprecated delay percent is accepted', vs([{ route: to(), fault: { delay: { fixedDelay: '5s', percent: 50 } } }]), []],
    // Mirrors.
    ['mirror percentages', vs([{ route: to(), mirror: { host: 'b' }, mirrorPercentage: { value: 150 }, mirrorPercent: 101 }]), [
      'spec.http[0].mirrorPercent | mirrorPercent 101 must be at most 100',
      'spec.http[0].mirrorPercentage.value | mirror percentage 150 must be in the range [0, 100]',
    ]],
    ['mirrors need a destination', vs([{ route: to(), mirrors: [{ percentage: { value: 5 } }] }]), ['spec.http[0].mirrors[0].destination | required field is missing']],
    // CORS.
    ['cors rules', vs([{ route: to(), corsPolicy: { allowOrigins: [{ exact: '' }, { regex: 'https://.*\\.example\\.com' }], allowMethods: ['GET', 'get'], allowHeaders: ['*', ''], maxAge: '1.5s', unmatchedPreflights: 'IGNORE' } }]), [
      'spec.http[0].corsPolicy.allowHeaders[1] | header name must not be empty',
      'spec.http[0].corsPolicy.allowMethods[1] | "get" is not a supported HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE or *)',
      'spec.http[0].corsPolicy.allowOrigins[0] | an allowed origin must set a non-empty exact, prefix or regex',
      'spec.http[0].corsPolicy.maxAge | maxAge is sent in whole seconds, got "1.5s"',
    ]],
    // TLS and TCP routes.
    ['tls route rules', {
      hosts: ['*.bookinfo.com'],
      gateways: ['gw'],
      tls: [
        { match: [{ sniHosts: ['login.bookinfo.com', 'other.com', '10.0.0.1'] }], route: to('login') },
        { match: [{ sniHosts: [], destinationSubnets: ['10.0.0.0/33', '1.2.3'] }] },
        { match: [] , route: to('x') },
      ],
    }, [
      'spec.tls[0].match[0].sniHosts[1] | SNI host "other.com" is not covered by any of the VirtualService hosts [*.bookinfo.com]',
      'spec.tls[1].match[0].destinationSubnets[0] | "10.0.0.0/33" is not a valid CIDR block',
      'spec.tls[1].match[0].destinationSubnets[1] | "1.2.3" is not a valid IP address',
      'spec.tls[1].match[0].sniHosts | a TLS match must have at least one SNI host',
      'spec.tls[1].route | a TLS route must have at least one route destination',
      'spec.tls[2].match | a TLS route must have at least one match',
    ]],
    ['tls match needs sniHosts', { hosts: ['a.com'], tls: [{ match: [{ port: 443 }], route: to('a.com') }] }, ['spec.tls[0].match[0].sniHosts | required field is missing']],
    ['auto-passthrough SNI names on a gateway', { hosts: ['outbound_.80_._.reviews.default.svc.cluster.local'], gateways: ['gw'], tls: [{ match: [{ sniHosts: ['outbound_.80_._.reviews.default.svc.cluster.local'] }], route: to() }] }, []],
    ['tcp route without destinations', vs([], { http: undefined, tcp: [{ match: [{ port: 27017, sourceSubnet: 'anything' }] }] }), ['spec.tcp[0].route | a TCP route must have at least one route destination']],
    ['unknown field', vs([{ route: to(), websocketUpgrade: true }]), ['spec.http[0].websocketUpgrade | unknown field "websocketUpgrade"']],
  ];
  it.each(cases)('%s', (_name, spec, expected) => {
    expect(errorsOf('VirtualService', spec)).toEqual([...expected].sort());
  });

  it('serves v1, v1beta1 and v1alpha3 with the same rules', () => {
    for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
      expect(errorsOf('VirtualService', vs([{ route: to(), timeout: '0s' }]), v)).toEqual(['spec.http[0].timeout | duration must be at least 1ms, got "0s"']);
    }
  });
});

describe('Gateway validation', () => {
  const https = (tls: unknown) => gw({ port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls });
  const cases: Case[] = [
    ['plain HTTP server', gw({}), []],
    ['https redirect on an HTTP server', gw({ tls: { httpsRedirect: true } }), []],
    ['no servers', { selector: { istio: 'ingressgateway' } }, ['spec.servers | a Gateway must have at least one server']],
    ['server hosts', gw({ hosts: ['ns1/*', './foo.example.com', '*/bar.example.com', 'foo', 'foo.*.example.com', '1.1.1.1', 'ns/', '~/x.example.com', 'Bad_NS/a.example.com'] }), [
      'spec.servers[0].hosts[3] | host "foo" is a short name; Gateway hosts must be fully qualified (or "*")',
      'spec.servers[0].hosts[4] | domain name "foo.*.example.com" is invalid: label "*" is not a valid DNS label',
      'spec.servers[0].hosts[4] | partial wildcard "foo.*.example.com" is not allowed; use "*" or a "*." prefix',
      'spec.servers[0].hosts[6] | host "ns/": the namespace and the host name must both be non-empty',
      'spec.servers[0].hosts[7] | host "~/x.example.com": invalid namespace "~" (use "*", "." or a namespace name)',
      'spec.servers[0].hosts[8] | host "Bad_NS/a.example.com": invalid namespace "Bad_NS" (use "*", "." or a namespace name)',
    ]],
    ['empty hosts', gw({ hosts: [] }), ['spec.servers[0].hosts | a server must have at least one host']],
    ['port rules', gw({ port: { number: 70000, name: '', protocol: 'KAFKA', targetPort: 8080 } }), [
      'spec.servers[0].port.name | port name must not be empty',
      'spec.servers[0].port.number | port number 70000 must be in the range 1..65535',
      'spec.servers[0].port.protocol | invalid protocol "KAFKA": use one of HTTP, HTTPS, HTTP2, GRPC, GRPC-WEB, HTTP_PROXY, TCP, TLS, UDP, MONGO, REDIS, MYSQL',
      'spec.servers[0].port.targetPort | targetPort has no effect on Gateway servers; remove it',
    ]],
    ['protocols are case-insensitive', gw({ port: { number: 80, name: 'http', protocol: 'grpc-web' } }), []],
    ['duplicate port names', { servers: [
      { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['a.example.com'] },
      { port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['b.example.com'] },
    ] }, ['spec.servers[1].port.name | port name "http" is already used by servers[0]; port names must be unique within a Gateway']],
    ['unix socket bind', gw({ port: { number: 0, name: 'http', protocol: 'HTTP' }, bind: 'unix:///var/run/gw.sock' }), []],
    ['unix socket with a port number', gw({ bind: 'unix://relative/path' }), [
      'spec.servers[0].bind | "relative/path" is not an absolute path to a file',
      'spec.servers[0].port.number | port number must be 0 for a server bound to a Unix domain socket',
    ]],
    ['bind must be an IP', gw({ bind: 'localhost' }), ['spec.servers[0].bind | bind address "localhost" is not a valid IP address']],
    ['HTTPS needs tls', gw({ port: { number: 443, name: 'https', protocol: 'HTTPS' } }), ['spec.servers[0] | a server with protocol HTTPS must have tls settings']],
    ['HTTP cannot terminate TLS', gw({ tls: { mode: 'SIMPLE', credentialName: 'c' } }), [
      'spec.servers[0].tls | a plain-text HTTP server cannot have TLS settings (only httpsRedirect); use protocol HTTPS to terminate TLS',
    ]],
    ['TCP cannot have tls', gw({ port: { number: 27017, name: 'mongo', protocol: 'MONGO' }, tls: { httpsRedirect: true } }), [
      'spec.servers[0].tls | a MONGO server cannot have TLS settings; only HTTPS and TLS servers can',
    ]],
    ['SIMPLE with a credential', https({ mode: 'SIMPLE', credentialName: 'cert' }), []],
    ['SIMPLE with files', https({ mode: 'SIMPLE', serverCertificate: '/c.pem', privateKey: '/k.pem' }), []],
    ['SIMPLE without certificates', https({ mode: 'SIMPLE' }), [
      'spec.servers[0].tls.privateKey | SIMPLE mode requires serverCertificate and privateKey, or a credentialName',
      'spec.servers[0].tls.serverCertificate | SIMPLE mode requires serverCertificate and privateKey, or a credentialName',
    ]],
    ['MUTUAL without a CA', https({ mode: 'MUTUAL', serverCertificate: '/c.pem', privateKey: '/k.pem' }), [
      'spec.servers[0].tls.caCertificates | MUTUAL mode requires caCertificates (the client CA bundle) or a credentialName',
    ]],
    ['MUTUAL with a credential needs nothing else', https({ mode: 'MUTUAL', credentialName: 'cert' }), []],
    ['two certificate sources', https({ mode: 'SIMPLE', credentialName: 'a', serverCertificate: '/c.pem', privateKey: '/k.pem' }), [
      'spec.servers[0].tls | only one certificate source may be set: credentialName, credentialNames, serverCertificate/privateKey or tlsCertificates',
    ]],
    ['tlsCertificates entries need both files', https({ mode: 'SIMPLE', tlsCertificates: [{ serverCertificate: '/rsa.pem', privateKey: '/rsa.key' }, { serverCertificate: '/ec.pem' }] }), [
      'spec.servers[0].tls.tlsCertificates[1].privateKey | SIMPLE mode requires a private key',
    ]],
    ['at most two credentialNames', https({ mode: 'SIMPLE', credentialNames: ['a', 'b', 'c'] }), ['spec.servers[0].tls.credentialNames | must have at most 2 item(s)']],
    ['ISTIO_MUTUAL with certificates', gw({ port: { number: 15443, name: 'tls', protocol: 'TLS' }, tls: { mode: 'ISTIO_MUTUAL', credentialName: 'x', caCertificates: '/ca.pem' } }), [
      'spec.servers[0].tls.caCertificates | ISTIO_MUTUAL mode uses Istio\'s workload certificates and cannot set caCertificates',
      'spec.servers[0].tls.credentialName | ISTIO_MUTUAL mode uses Istio\'s workload certificates and cannot set credentialName',
    ]],
    ['passthrough with certificates is only a warning', gw({ port: { number: 443, name: 'tls', protocol: 'TLS' }, tls: { mode: 'PASSTHROUGH', credentialName: 'x' } }), []],
    ['CRL with SIMPLE', https({ mode: 'SIMPLE', serverCertificate: '/c.pem', privateKey: '/k.pem', caCrl: '/crl.pem' }), [
      'spec.servers[0].tls.caCrl | caCrl is not supported in SIMPLE mode (no client certificates are checked)',
    ]],
    ['TLS enums', https({ mode: 'SIMPLE', credentialName: 'c', minProtocolVersion: 'TLSV1_2', maxProtocolVersion: 'TLSV1_4', cipherSuites: ['NOT-A-CIPHER'] }), [
      'spec.servers[0].tls.maxProtocolVersion | must be one of "TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"; got string "TLSV1_4"',
    ]],
  ];
  it.each(cases)('%s', (_name, spec, expected) => {
    expect(errorsOf('Gateway', spec)).toEqual([...expected].sort());
  });
});

describe('value rules', () => {
  it.each([
    ['reviews', undefined],
    ['*', undefined],
    ['*.example.com', undefined],
    ['*example.com', undefined],
    ['*-svc.example.com', undefined],
    ['example.com.', undefined],
    ['', 'domain name must not be empty'],
    ['a..b', 'domain name "a..b" is invalid: label "" is not a valid DNS label'],
    ['-a.com', 'domain name "-a.com" is invalid: label "-a" is not a valid DNS label (a wildcard may only start the first label)'],
    [`${'a'.repeat(64)}.com`, `domain name "${'a'.repeat(64)}.com" is invalid: label "${'a'.repeat(64)}" is not a valid DNS label (a wildcard may only start the first label)`],
  ])('wildcard domain %j', (host, reason) => {
    expect(checkWildcardDomain(host)).toBe(reason);
  });

  it.each([
    ['plain', undefined],
    ['', undefined],
    ['100%%', undefined],
    ['%HOSTNAME%', undefined],
    ['pre %START_TIME(%s)% post', undefined],
    ['%REQ(x-request-id)%', undefined],
    ['%ENVIRONMENT(["A", "B"])%', undefined],
    ['abc%123', 'header value "abc%123" has an unterminated %VARIABLE% expression'],
    ['%START_TIME%%', 'header value "%START_TIME%%" has an unescaped "%" (write "%%" for a literal percent sign)'],
    ['%X(["a" "b"])%', 'header value "%X(["a" "b"])%" is invalid: expected \',\' or \']\' after an argument'],
    ['a\nb', 'header value "a\\nb" contains control characters'],
  ])('header value %j', (value, reason) => {
    expect(checkHeaderValue(value)).toBe(reason);
  });

  it.each([
    ['5xx,gateway-error,reset,connect-failure,retriable-4xx,refused-stream,retriable-status-codes', 0],
    ['cancelled,deadline-exceeded,internal,resource-exhausted,unavailable', 0],
    ['503,429,418', 0],
    ['306', 1],
    ['5xx,', 1],
  ])('retryOn %j', (retryOn, n) => {
    expect(checkRetryOn(retryOn)).toHaveLength(n);
  });

  it.each([
    ['*', 0],
    ['ns/*', 0],
    ['*/*.example.com', 0],
    ['2001:db8::1', 1], // no dot: a short name to Istio
    ['*foo.example.com', 1],
  ])('gateway host %j', (host, n) => {
    expect(checkGatewayHost(host)).toHaveLength(n);
  });
});
